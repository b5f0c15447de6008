"""Explorer responsiveness, measured against references in the same run.

Python side, VGG16 (weights=None) on one 224x224 photo:
  channel   Channel change on a cached layer (block1_conv1, 64x224x224) until every
            view's bytes are ready (explorer.wait()); target median <= 20 ms
  layer     Layer change until ready, vs a compiled forward to that layer; target
            <= forward + 50 ms
  grid      the activation grid rendered our way (colormap + mosaic to uint8 bytes)
            vs the usual matplotlib way (one subplot + imshow per channel, saved
            as PNG); target speed-up >= 30x

    python bench/explorer.py [--repeats R]

The browser-side figure (key press on the Channel slider -> canvas pixels
changed) is measured by bench/explorer_browser.py.
"""

import argparse
import io
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import nbinterp  # noqa: E402
from nbinterp import demo, views  # noqa: E402


def median_ms(samples):
    return statistics.median(samples) * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    model = demo.build_vgg16()
    photos = demo.load_photos()
    ex = nbinterp.Explorer(model, photos.images[:2], preprocess=demo.vgg16_preprocess)
    ex.tabs.selected_index = 2  # Activations
    ex.layer.value = "block1_conv1"
    ex.wait()
    ins = ex.inspector

    # --- Channel change on a cached layer
    times = []
    for i in range(args.repeats):
        t0 = time.perf_counter()
        ex.channel.value = (i * 7 + 1) % 64
        ex.wait()
        times.append(time.perf_counter() - t0)
    channel_ms = median_ms(times)

    # --- Layer change vs compiled forward to that layer
    spec = tf.TensorSpec((None, 224, 224, 3), tf.float32)
    rows = []
    for name in ["block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3"]:
        sub = keras.Model(model.inputs, model.get_layer(name).output)
        forward = tf.function(lambda x, sub=sub: sub(x, training=False), input_signature=[spec])
        batch = tf.constant(ins.batch(photos.images[0]))
        forward(batch)
        fwd = []
        for _ in range(5):
            t0 = time.perf_counter()
            np.asarray(forward(batch))
            fwd.append(time.perf_counter() - t0)
        # warm the compiled functions for this layer once (one-time traces), then time a
        # change whose activations are not cached
        ins.activations(name, photos.images[1])
        ins.kernel_response(name, 0, photos.images[1])
        for key in ins.cache.keys():  # forget this layer's activations (other views stay cached)
            if key[1] == name:
                ins.cache.discard(key)
        t0 = time.perf_counter()
        ex.layer.value = name
        ex.wait()
        change = time.perf_counter() - t0
        ex.layer.value = "block1_conv1"
        ex.wait()
        rows.append((name, median_ms(fwd), change * 1e3))

    # --- Activation grid: ours vs matplotlib subplots
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    acts = ins.activations("block1_conv1", photos.images[0])[0]
    ours, theirs = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        picture = views.activation_grid(ins, "block1_conv1", photos.images[0], True, 0)
        picture.image.tobytes()
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        fig, axes = plt.subplots(8, 8, figsize=(12, 12))
        for c, ax in enumerate(axes.flat):
            ax.imshow(acts[:, :, c], cmap="viridis")
            ax.axis("off")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        plt.close(fig)
        theirs.append(time.perf_counter() - t0)

    print("VGG16 (weights=None), 224x224 photo; times in ms (median)")
    print(f"Channel change, block1_conv1 cached:  {channel_ms:7.2f} ms   (target <= 20 ms)")
    print(f"{'Layer change to':<20}{'forward':>10}{'change':>10}{'overhead':>10}")
    for name, fwd, change in rows:
        print(f"{name:<20}{fwd:10.1f}{change:10.1f}{change - fwd:10.1f}")
    worst = max(change - fwd for _, fwd, change in rows)
    print(f"largest overhead over the forward: {worst:.1f} ms (target <= 50 ms)")
    print(f"Activation grid, 64 channels: ours {median_ms(ours):.1f} ms, matplotlib subplots {median_ms(theirs):.0f} ms"
          f" -> speed-up {statistics.median(theirs) / statistics.median(ours):.0f}x (target >= 30x)")
    ex.close()


if __name__ == "__main__":
    main()
