"""Backend speed, measured against plain TensorFlow in the same run.

For every conv layer of VGG16 (weights=None, 224x224) on one image:
  first   Inspector.activations on an image not seen before (after the one-time trace)
  repeat  the same request again (a cache hit)
  plain   a compiled keras sub-model forward to that layer (tf.function, same signature)
  kresp   Inspector.kernel_response for one kernel, and a single-kernel tf.nn.conv2d on the
          same layer input (compiled), the reference for it.
Targets: repeat <= 1 ms; first <= 1.2x plain; kernel_response <= 1.2x the single-kernel conv.

    python bench/backend.py [--layers N] [--repeats R]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from nbinterp import Inspector  # noqa: E402


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=0, help="only the first N conv layers (0 = all)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    model = keras.applications.VGG16(weights=None, input_shape=(224, 224, 3))
    ins = Inspector(model, preprocess=keras.applications.vgg16.preprocess_input)
    rng = np.random.default_rng(0)
    conv_layers = [info.name for info in ins.layers if info.kind == "Conv2D"]
    if args.layers:
        conv_layers = conv_layers[: args.layers]
    spec = tf.TensorSpec((None, 224, 224, 3), tf.float32)

    def new_image():
        return rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)

    print(f"VGG16 (weights=None), one 224x224 image, median of {args.repeats}; times in ms")
    header = f"{'layer':<16}{'plain':>8}{'first':>8}{'ratio':>7}{'repeat':>8}  {'conv1k':>7}{'kresp':>8}{'ratio':>7}"
    print(header)
    print("-" * len(header))
    ratios_first, repeats_ms, ratios_k = [], [], []
    for name in conv_layers:
        layer = model.get_layer(name)
        sub = keras.Model(model.inputs, layer.output)
        plain_fn = tf.function(lambda x, sub=sub: sub(x, training=False), input_signature=[spec])
        batch = ins.batch(new_image())
        plain_fn(tf.constant(batch))  # trace
        ins.activations(name, new_image())  # one-time trace for ours
        ins.kernel_response(name, 0, new_image())

        plain = timed(lambda: np.asarray(plain_fn(tf.constant(ins.batch(new_image())))), args.repeats)
        first = timed(lambda: ins.activations(name, new_image()), args.repeats)
        image = new_image()
        ins.activations(name, image)
        repeat = timed(lambda: ins.activations(name, image), max(args.repeats, 20))

        # kernel response vs a compiled single-kernel conv of the same layer input
        layer_in = ins.layer_input(name, image)
        kernel = layer.kernel
        bias = layer.bias

        @tf.function(input_signature=[tf.TensorSpec((None, None, None, None), tf.float32), tf.TensorSpec([], tf.int32)])
        def one_kernel_conv(x, k):
            w = tf.gather(tf.convert_to_tensor(kernel), [k], axis=-1)
            return tf.nn.conv2d(x, w, strides=1, padding="SAME")[..., 0] + tf.gather(tf.convert_to_tensor(bias), k)

        one_kernel_conv(tf.constant(layer_in), tf.constant(0))
        conv1k = timed(lambda: np.asarray(one_kernel_conv(tf.constant(layer_in), tf.constant(3))), max(args.repeats, 20))
        kresp = timed(lambda: ins.kernel_response(name, 3, image), max(args.repeats, 20))

        ratios_first.append(first / plain)
        repeats_ms.append(repeat * 1e3)
        ratios_k.append(kresp / conv1k)
        print(
            f"{name:<16}{plain * 1e3:8.2f}{first * 1e3:8.2f}{first / plain:7.2f}{repeat * 1e3:8.3f}"
            f"  {conv1k * 1e3:7.2f}{kresp * 1e3:8.2f}{kresp / conv1k:7.2f}"
        )
    print("-" * len(header))
    print(f"first / plain forward:        median {statistics.median(ratios_first):.2f}x  (max {max(ratios_first):.2f}x; target <= 1.2x)")
    print(f"repeat (cache hit):           median {statistics.median(repeats_ms):.3f} ms (max {max(repeats_ms):.3f} ms; target <= 1 ms)")
    print(f"kernel_response / 1-kernel conv: median {statistics.median(ratios_k):.2f}x (max {max(ratios_k):.2f}x; target <= 1.2x)")


if __name__ == "__main__":
    main()
