"""Benchmark of the faithfulness metrics against the forward passes they cannot avoid.

For each model this measures the steady time (median of ``--repeats`` calls
after a warm-up call) of

* ``deletion`` and ``insertion`` with ``--steps`` steps: ``N * (steps + 1)``
  model evaluations (the top class is read from the curve's clean point);
* ``mu_fidelity`` with ``--samples`` subsets: ``N * samples`` evaluations,
  plus the clean row per image;

and an *ideal*, measured in the same run and interleaved with the calls: a
plain compiled ``tf.function`` forward pass over the same number of rows, in
the same chunks of the metric's batch size. The ratio is what the metric's
host work (ranking, masks, fills, softmax) adds. Target: <= 1.2x.

Usage::

    python bench/metrics.py            # demo CNN, VGG16, ResNet50 (weights=None); one image
    python bench/metrics.py --quick    # demo CNN only

Runs on CPU or GPU, whatever TensorFlow finds. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import nbinterp  # noqa: E402
from nbinterp import demo, metrics  # noqa: E402
from nbinterp.attribution.base import model_info  # noqa: E402
from nbinterp.core.graph import plan_for  # noqa: E402


def ideal_forward(model):
    shape = (None,) + tuple(model.inputs[0].shape[1:])
    return tf.function(lambda x: model(x, training=False), input_signature=[tf.TensorSpec(shape, tf.float32)])


def time_ideal(forward, image, rows, batch):
    start = time.perf_counter()
    for first in range(0, rows, batch):
        size = min(batch, rows - first)
        forward(tf.convert_to_tensor(np.broadcast_to(image, (size,) + image.shape).copy())).numpy()
    return time.perf_counter() - start


def bench(name, model, image, steps, samples, repeats):
    image = np.asarray(image, np.float32)
    batch = model_info(plan_for(model), 0, 0).default_batch_size
    heat = nbinterp.attribute(model, image[None], method="gradient")
    forward = ideal_forward(model)
    calls = {
        "deletion": (lambda: metrics.deletion(model, image[None], heat, steps=steps), steps + 1),
        "insertion": (lambda: metrics.insertion(model, image[None], heat, steps=steps), steps + 1),
        "mu_fidelity": (lambda: metrics.mu_fidelity(model, image[None], heat, samples=samples), samples + 1),
    }
    for label, (call, rows) in calls.items():
        call()  # warm-up: traces the forward engine once
        time_ideal(forward, image, rows, batch)
        times, ideals = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
            ideals.append(time_ideal(forward, image, rows, batch))
        steady, ideal = statistics.median(times), statistics.median(ideals)
        print(f"{name:<10} {label:<12} rows {rows:>4}  batch {batch:>3}  steady {steady * 1e3:8.1f} ms  "
              f"ideal {ideal * 1e3:8.1f} ms  ratio {steady / ideal:5.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the demo CNN only")
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"TensorFlow {tf.__version__} on {'GPU' if tf.config.list_physical_devices('GPU') else 'CPU'}")
    digit = demo.load_digits().images[0]
    bench("demo CNN", demo.load_model(), digit, args.steps, args.samples, args.repeats)
    if args.quick:
        return
    photo = demo.load_photos().images[0].astype(np.float32)
    for name, build in (("VGG16", demo.build_vgg16), ("ResNet50", demo.build_resnet50)):
        repeats = max(1, math.ceil(args.repeats / 2))
        bench(name, build(), photo, args.steps, args.samples, repeats)


if __name__ == "__main__":
    main()
