"""Feature-visualisation speed against plain compiled TensorFlow, measured in the same run.

ResNet50 (weights=None), one 224x224 image, class-logit objective:
  plain  a compiled tf.function computing the model's output and the gradient of one
         class score with respect to the input (forward + backward), called N times
         and its value fetched every time, as the ascent does;
  ours   nbinterp.maximize for N steps with its default regularisers (jitter, L2,
         Gaussian blur every 4 steps), progress display off.
Target: ours <= 1.05x plain.

Two measurements: "sequential" runs N plain steps, then N ascent steps (R rounds,
median); "interleaved" runs one plain step inside the ascent's per-step callback
and subtracts its time from the ascent's, so both see the same machine load
(the fair one on a shared or throttled machine).

    python bench/maximize.py [--steps N] [--rounds R] [--size S]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import nbinterp  # noqa: E402
from nbinterp.units import maximize as mx  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2, help="alternating plain/ours rounds; the median is reported")
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()

    size = args.size
    model = keras.applications.ResNet50(weights=None, input_shape=(size, size, 3))
    target_class = 1

    @tf.function(input_signature=[tf.TensorSpec((1, size, size, 3), tf.float32)])
    def plain_step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = model(x, training=False)[0, target_class]
        return value, tape.gradient(value, x)

    x = tf.constant(np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)).astype(np.float32))

    def run_plain():
        for _ in range(args.steps):
            value, grad = plain_step(x)
            float(value)

    def run_ours():
        res = nbinterp.maximize(model, target_class, steps=args.steps, progress=False)
        assert res.steps_done == args.steps

    # one-time traces, outside the timings
    plain_step(x)
    nbinterp.maximize(model, target_class, steps=2, progress=False)
    traces = mx.trace_count(model)

    plain_times, our_times = [], []
    for _ in range(args.rounds):
        for fn, times in ((run_plain, plain_times), (run_ours, our_times)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    assert mx.trace_count(model) == traces, "the ascent step was retraced"

    inside = []

    def plain_in_callback(step, value):
        t0 = time.perf_counter()
        v, _ = plain_step(x)
        float(v)
        inside.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    nbinterp.maximize(model, target_class, steps=args.steps, progress=False, callback=plain_in_callback)
    both = time.perf_counter() - t0
    plain_i = sum(inside)
    ours_i = both - plain_i

    plain = statistics.median(plain_times)
    ours = statistics.median(our_times)
    print(f"ResNet50 (weights=None), one {size}x{size} image, {args.steps} steps")
    print(f"sequential (median of {args.rounds} rounds)")
    print(f"  plain forward+backward : {plain:8.2f} s  ({1000 * plain / args.steps:7.1f} ms/step)")
    print(f"  nbinterp.maximize      : {ours:8.2f} s  ({1000 * ours / args.steps:7.1f} ms/step)")
    print(f"  ratio ours/plain       : {ours / plain:8.3f}   (target <= 1.05)")
    print("interleaved (one plain step per ascent step)")
    print(f"  plain forward+backward : {plain_i:8.2f} s  ({1000 * plain_i / args.steps:7.1f} ms/step)")
    print(f"  nbinterp.maximize      : {ours_i:8.2f} s  ({1000 * ours_i / args.steps:7.1f} ms/step)")
    print(f"  ratio ours/plain       : {ours_i / plain_i:8.3f}   (target <= 1.05)")


if __name__ == "__main__":
    main()
