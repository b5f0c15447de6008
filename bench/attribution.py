"""Benchmark of the attribution methods against an "ideal" compiled pass.

For each model, batch size and method this measures

* first call: the first ``attribute()`` call (tracing and graph optimisation
  included);
* steady: the median time of later calls with new images (at least
  ``--repeats`` calls; fast rows repeat until about a second is spent);
* cpu: the same ratio in process CPU time (all threads), which a busy
  machine disturbs less than wall time;
* traces: how many functions the first call compiled (0 when an earlier
  batch size already compiled the method: new batch sizes do not retrace);
* ideal: the median time, measured in the same run and interleaved with the
  method's calls, of a plain compiled ``tf.function`` doing what the method
  cannot avoid: a forward+backward pass (``tape.gradient`` of the model
  output with respect to its input) - or a forward pass only, for CAM,
  occlusion, KernelSHAP, LIME and RISE - on as many images as the method evaluates the model on
  (SmoothGrad-50 on one image <-> one forward+backward on 50 images). When
  that number exceeds the method's batch size, the ideal is the pass on one
  batch scaled to the number of images.

Targets: steady <= 1.1x ideal (Grad-CAM, which needs only part of the
backward pass, <= 0.75x; KernelSHAP, LIME and RISE, whose ideal is N
forwards for N model evaluations, <= 1.2x; LRP, whose rules other than
epsilon evaluate modified copies of the layers, <= 1.5x), first call <= 2x steady.

Usage::

    python bench/attribution.py            # demo CNN, ResNet50, VGG16; batches 1 and 8
    python bench/attribution.py --quick    # demo CNN (batches 1, 8) and ResNet50 (batch 1), 2 repeats
    python bench/attribution.py --methods kernel_shap lime rise --batches 1 --size 96   # perturbation methods

Runs on CPU or GPU, whatever TensorFlow finds. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import nbinterp  # noqa: E402
from nbinterp.attribution import METHODS, trace_count  # noqa: E402
from nbinterp.errors import MethodNotApplicableError  # noqa: E402

# method options for the ImageNet-sized models, smaller than the defaults so a
# run takes minutes; the ratio to the ideal barely depends on them (the ideal
# scales the same way), except that explaining the top class costs one
# forward row per image: about 1/(3 * samples) more work
BIG_OPTIONS = {
    1: {
        "smoothgrad": {"samples": 32},
        "vargrad": {"samples": 32},
        "squaregrad": {"samples": 32},
        "integrated_gradients": {"steps": 32},
        "interior_gradients": {"alpha": [0.25, 0.5, 0.75, 1.0]},
        "occlusion": {"patch": 32, "stride": 32},
        "kernel_shap": {"samples": 128},
        "lime": {"samples": 128},
        "rise": {"masks": 128},
    },
    8: {
        "smoothgrad": {"samples": 8},
        "vargrad": {"samples": 8},
        "squaregrad": {"samples": 8},
        "integrated_gradients": {"steps": 8},
        "interior_gradients": {"alpha": [0.25, 0.5, 0.75, 1.0]},
        "occlusion": {"patch": 56, "stride": 56},
        "kernel_shap": {"samples": 32},
        "lime": {"samples": 32},
        "rise": {"masks": 32},
    },
}
FORWARD_ONLY = {"cam", "occlusion", "kernel_shap", "lime", "rise"}
PERTURBATION = {"kernel_shap", "lime", "rise"}
PARTIAL_BACKWARD = {"gradcam", "gradcam_plus_plus"}
LRP = {"lrp_epsilon", "lrp_gamma", "lrp_alpha_beta", "lrp_composite"}


def demo_model():
    """The shipped demo CNN if available, else the same architecture untrained."""
    try:
        from nbinterp import demo

        try:
            return demo.load_model(), "demo CNN (trained)"
        except Exception:
            return demo.build_digits_cnn(), "demo CNN (untrained)"
    except Exception:
        import keras
        from keras import layers

        inputs = keras.Input((28, 28, 1))
        x = layers.Rescaling(1.0 / 255.0)(inputs)
        x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(x)
        x = layers.MaxPooling2D()(x)
        x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(x)
        x = layers.MaxPooling2D()(x)
        x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv3")(x)
        x = layers.GlobalAveragePooling2D(name="gap")(x)
        outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
        return keras.Model(inputs, outputs), "demo CNN architecture (untrained)"


def imagenet_model(name, size=224):
    import keras

    build = {"resnet50": keras.applications.ResNet50, "vgg16": keras.applications.VGG16}[name]
    return build(weights=None, input_shape=(size, size, 3)), f"{name} {size}px (weights=None)"


def evaluations(method, options, n, image_shape, images=None):
    """How many images the method runs the model on (not counting target resolution)."""
    options = {**METHODS[method].options, **options}
    if method == "rise":
        return n * options["masks"]
    if method == "lime":
        return n * options["samples"]
    if method == "kernel_shap":  # every coalition for few segments, else the samples
        from nbinterp.attribution.kernel_shap import EXACT_SEGMENTS
        from nbinterp.attribution.perturbation import segment_labels

        info = METHODS[method](_BENCH_MODEL[0]).info
        labels = segment_labels(info, images, options["segments"], options["n_segments"], options["grid"])
        total = 0
        for lab in labels:
            m = int(lab.max()) + 1
            total += 2**m if m <= EXACT_SEGMENTS or 2**m <= options["samples"] else options["samples"]
        return total
    if method in ("smoothgrad", "vargrad", "squaregrad"):
        return n * options["samples"]
    if method == "integrated_gradients":
        return n * options["steps"]
    if method == "interior_gradients":
        return n * len(np.atleast_1d(options["alpha"]))
    if method == "occlusion":
        from nbinterp.attribution.occlusion import patch_grid

        def pair(value):
            return None if value is None else (value, value)

        _, starts = patch_grid(image_shape[:2], pair(options["patch"]), pair(options["stride"]))
        return n * len(starts[0]) * len(starts[1])
    return n


def ideal_functions(model):
    spec = tf.TensorSpec((None,) + tuple(model.input_shape[1:]), tf.float32)

    @tf.function(input_signature=[spec])
    def forward_backward(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(model(x, training=False)[:, 0])
        return tape.gradient(score, x)

    @tf.function(input_signature=[spec])
    def forward(x):
        return model(x, training=False)

    return forward_backward, forward


_CPU = []  # process CPU seconds of the last timed() call


def timed(fn):
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    _CPU[:] = [time.process_time() - cpu]
    return time.perf_counter() - start


_BENCH_MODEL = [None]  # the model being measured, for evaluations() that depend on segmentations


def bench_model(model, label, batches, methods, repeats, min_time, big, out):
    _BENCH_MODEL[0] = model
    forward_backward, forward = ideal_functions(model)
    shape = tuple(model.input_shape[1:])
    rng = np.random.default_rng(0)
    ideal_first = {}
    for n in batches:
        for name in methods:
            options = dict(BIG_OPTIONS[1 if n == 1 else 8].get(name, {})) if big else {}
            try:
                method = METHODS[name](model)
            except MethodNotApplicableError as err:
                print(f"{label:<28} {n:>2} {name:<21} n/a: {str(err).split(';')[0]}")
                continue
            inputs = [rng.uniform(0, 255, (n,) + shape).astype("float32") for _ in range(4)]
            work = evaluations(name, options, n, shape, inputs[0])
            chunk = min(work, method.batch_size)
            scale = work / chunk
            ideal_fn = forward if name in FORWARD_ONLY else forward_backward
            ideal_input = (rng.uniform(0, 255, (chunk,) + shape)).astype("float32")

            def run_ideal():
                ideal_fn(ideal_input).numpy()

            key = (ideal_fn is forward, chunk)
            if key not in ideal_first:
                ideal_first[key] = timed(run_ideal)
            traces = trace_count()
            first = timed(lambda: method.attribute(inputs[0], **options))
            traces = trace_count() - traces
            steady, ideal, steady_cpu, ideal_cpu = [], [], [], []
            spent, i = 0.0, 0
            # interleaved, so load changes hit both alike; fast rows repeat until min_time is spent
            while i < repeats or (spent < min_time and i < 500):
                ideal.append(timed(run_ideal) * scale)
                ideal_cpu.append(_CPU[0] * scale)
                steady.append(timed(lambda: method.attribute(inputs[1 + i % 3], **options)))
                steady_cpu.append(_CPU[0])
                spent += steady[-1] + ideal[-1] / scale
                i += 1
            row = {
                "model": label,
                "n": n,
                "method": name,
                "evals": work,
                "batch": method.batch_size,
                "first": first,
                "steady": statistics.median(steady),
                "ideal": statistics.median(ideal),
                "ideal_first": ideal_first[key],
                "traces": traces,
                "repeats": i,
            }
            row["ratio"] = row["steady"] / row["ideal"]
            row["cpu_ratio"] = statistics.median(steady_cpu) / statistics.median(ideal_cpu)
            row["first_ratio"] = row["first"] / row["steady"]
            row["target"] = (
                0.75 if name in PARTIAL_BACKWARD else 1.2 if name in PERTURBATION else 1.5 if name in LRP else 1.1
            )
            row["steady_ok"] = row["ratio"] <= row["target"]
            row["first_ok"] = row["first_ratio"] <= 2
            out.append(row)
            print_row(row)


HEADER = (
    f"{'model':<28} {'N':>2} {'method':<21} {'evals':>5} {'bs':>3} {'traces':>6} {'first s':>8} {'steady s':>9} "
    f"{'ideal s':>8} {'steady/ideal':>12} {'cpu':>5} {'first/steady':>12} {'ideal 1st s':>11} {'reps':>4}  steady<=target  first<=2x"
)


def print_row(row):
    steady = f"{'ok' if row['steady_ok'] else 'MISS'} (<={row['target']})"
    first = "ok" if row["first_ok"] else "MISS"
    print(
        f"{row['model']:<28} {row['n']:>2} {row['method']:<21} {row['evals']:>5} {row['batch']:>3} "
        f"{row['traces']:>6} {row['first']:>8.3f} {row['steady']:>9.4f} {row['ideal']:>8.4f} "
        f"{row['ratio']:>12.2f} {row['cpu_ratio']:>5.2f} "
        f"{row['first_ratio']:>12.1f} {row['ideal_first']:>11.3f} {row['repeats']:>4}  {steady:<14}  {first}",
        flush=True,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="demo CNN and ResNet50 batch 1 only, 2 repeats")
    parser.add_argument("--models", nargs="*", default=None, help="demo, resnet50, vgg16")
    parser.add_argument("--methods", nargs="*", default=None, help="subset of METHODS")
    parser.add_argument("--batches", nargs="*", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--size", type=int, default=224, help="input side of the ImageNet models (default 224)")
    parser.add_argument(
        "--defaults", action="store_true", help="use the methods' default options on the ImageNet models too (slow)"
    )
    args = parser.parse_args(argv)

    methods = args.methods or list(METHODS)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {list(METHODS)}")
    if args.quick:
        plan = [("demo", [1, 8]), ("resnet50", [1])]
        repeats = args.repeats or 2
        min_time = 0.5
    else:
        plan = [("demo", [1, 8]), ("resnet50", [1, 8]), ("vgg16", [1, 8])]
        repeats = args.repeats or 3
        min_time = 2.0
    if args.models:
        plan = [(name, batches) for name, batches in plan if name in args.models] or [
            (name, [1, 8]) for name in args.models
        ]
    if args.batches:
        plan = [(name, args.batches) for name, _ in plan]

    print(f"TensorFlow {tf.__version__}, devices: {[d.device_type for d in tf.config.list_logical_devices()]}")
    print(f"nbinterp {nbinterp.__version__}; {repeats} repeats; times in seconds\n")
    print(HEADER)
    rows = []
    for name, batches in plan:
        if name == "demo":
            model, label = demo_model()
            big = False
        else:
            model, label = imagenet_model(name, args.size)
            big = True
        bench_model(model, label, batches, methods, repeats, min_time, big and not args.defaults, rows)
    steady = sum(r["steady_ok"] for r in rows)
    first = sum(r["first_ok"] for r in rows)
    print(f"\nsteady within target: {steady}/{len(rows)} rows; first call within 2x steady: {first}/{len(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
