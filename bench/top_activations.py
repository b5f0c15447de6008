"""Top-k scan speed and memory, against a plain compiled forward pass in the same run.

Throughput: nbinterp.top_activations over a dataset versus a compiled keras sub-model
forward to the same layer over the same batches (float conversion included, outputs
left on the device), both reading the batches from memory. Measured two ways:
"sequential" (a plain pass and our pass, order alternating between rounds), and
"interleaved" (the plain forward of each batch runs inside our per-batch callback and
its time is subtracted from ours, so both see the same machine load); medians over rounds.
Target: ours >= 0.9x plain throughput.

Memory: peak host memory (tracemalloc) of a scan over 1x and 10x the data, streamed
from a generator so the data itself is never resident: it should not grow with the data.

Models: the digits demo CNN on the digits test set (tiled), and a small VGG-style
CNN on synthetic 64x64 RGB images.

    python bench/top_activations.py [--repeat N]
"""

import argparse
import os
import statistics
import time
import tracemalloc

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from nbinterp.demo import load_digits, load_model  # noqa: E402
from nbinterp.units.top_activations import top_activations  # noqa: E402


def synthetic_cnn():
    keras.utils.set_random_seed(0)
    inp = keras.Input((64, 64, 3))
    x = keras.layers.Rescaling(1 / 255)(inp)
    for i, width in enumerate((32, 64, 96)):
        x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv{i + 1}")(x)
        x = keras.layers.MaxPooling2D(name=f"pool{i + 1}")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(10)(x), name="synthetic_cnn")


def batches_of(images, batch_size, repeat):
    for _ in range(repeat):
        for start in range(0, len(images), batch_size):
            yield images[start : start + batch_size]


def synthetic_batches(n_batches, batch_size, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(n_batches):
        yield rng.integers(0, 256, (batch_size, 64, 64, 3), dtype=np.uint8)


def throughput(name, model, layer, channel, make_data, batch_size, rounds):
    sub = keras.Model(model.inputs, model.get_layer(layer).output)
    spec = tf.TensorSpec((None,) + tuple(model.inputs[0].shape[1:]), tf.float32)
    plain_fn = tf.function(lambda x: sub(x, training=False), input_signature=[spec])
    batches = list(make_data())  # in memory, so reading the data costs neither side anything
    n = sum(len(b) for b in batches)

    def plain_forward(batch):
        plain_fn(tf.constant(batch.astype(np.float32)))

    def plain_pass():
        for batch in batches:
            plain_forward(batch)

    def our_pass(callback=None):
        top_activations(model, layer, channel, iter(batches), k=9, batch_size=batch_size, callback=callback)

    plain_forward(batches[0])  # traces outside the timings
    top_activations(model, layer, channel, batches[0], k=9, batch_size=batch_size)

    seq_plain, seq_ours, int_plain, int_ours = [], [], [], []
    for r in range(rounds):
        order = [(plain_pass, seq_plain), (our_pass, seq_ours)]
        for fn, times in order if r % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        # interleaved: the plain forward of the batch just scored runs inside our callback
        inside = []
        position = [0]

        def callback(seen, total):
            batch = batches[position[0]]
            position[0] += 1
            t = time.perf_counter()
            plain_forward(batch)
            inside.append(time.perf_counter() - t)

        t0 = time.perf_counter()
        our_pass(callback)
        both = time.perf_counter() - t0
        int_plain.append(sum(inside))
        int_ours.append(both - sum(inside))

    med = statistics.median
    print(f"{name}: layer {layer}, channel {channel}, {n} examples, batch {batch_size}, median of {rounds} rounds")
    for label, plain, ours in (("sequential ", seq_plain, seq_ours), ("interleaved", int_plain, int_ours)):
        ratio = med(plain) / med(ours)
        print(
            f"  {label} plain {n / med(plain):9.0f} ex/s   ours {n / med(ours):9.0f} ex/s   "
            f"throughput ratio {ratio:5.2f}  (target >= 0.9)"
        )


def peak_memory(model, layer, channel, make_data):
    top_activations(model, layer, channel, make_data(1), k=9)  # warm caches
    peaks = []
    for factor in (1, 10):
        tracemalloc.start()
        res = top_activations(model, layer, channel, make_data(factor), k=9)
        peaks.append((factor, res.seen, tracemalloc.get_traced_memory()[1]))
        tracemalloc.stop()
    return peaks


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=10, help="how many times the digits test set is tiled")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    digits_model = load_model()
    digits = load_digits("test").images
    throughput("digits CNN", digits_model, "conv3", 6, lambda: batches_of(digits, 64, args.repeat), 64, args.rounds)
    synth = synthetic_cnn()
    throughput("synthetic CNN", synth, "conv3", 5, lambda: synthetic_batches(24, 64), 64, args.rounds)

    print("peak host memory (tracemalloc) of a streamed scan, k=9")
    for name, model, layer, channel, make in (
        ("digits CNN", digits_model, "conv3", 6, lambda f: batches_of(digits, 64, f)),
        ("synthetic CNN", synth, "conv3", 5, lambda f: synthetic_batches(8 * f, 64)),
    ):
        for factor, seen, peak in peak_memory(model, layer, channel, make):
            print(f"  {name:<14} {factor:>3}x data ({seen:>6} examples): peak {peak / 2**20:7.2f} MiB")


if __name__ == "__main__":
    main()
