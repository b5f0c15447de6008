"""Regenerate the demo digits data and the trained digits CNN.

Writes ``nbinterp/demo/digits.npz`` and ``nbinterp/demo/digits_cnn.keras``
and prints the held-out accuracy. Deterministic for a given software stack:
every random source is seeded. Needs scikit-learn (test extra).

    python scripts/train_demo.py
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = ROOT / "nbinterp" / "demo"
sys.path.insert(0, str(ROOT))

SEED = 1234
SIZE = 28


def upsample_digits(images_8x8: np.ndarray) -> np.ndarray:
    """(N, 8, 8) values 0-16 -> (N, 28, 28, 1) uint8 0-255, bilinear (Pillow)."""
    from PIL import Image

    out = np.empty((len(images_8x8), SIZE, SIZE), dtype=np.uint8)
    for i, img in enumerate(images_8x8):
        small = Image.fromarray(img.astype(np.float32) * (255.0 / 16.0), mode="F")
        big = np.asarray(small.resize((SIZE, SIZE), Image.BILINEAR))
        out[i] = np.clip(np.rint(big), 0, 255).astype(np.uint8)
    return out[..., None]


def make_digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    raw = load_digits()
    images = upsample_digits(raw.images)
    labels = raw.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=0.2, stratify=labels, random_state=SEED
    )
    return x_train, y_train, x_test, y_test


def seed_everything(seed: int) -> None:
    import keras

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=120)
    parser.add_argument("--out", type=Path, default=DEMO_DIR, help="output folder")
    args = parser.parse_args(argv)

    seed_everything(SEED)
    import keras

    from nbinterp.demo import build_digits_cnn

    x_train, y_train, x_test, y_test = make_digits()
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out / "digits.npz",
        train_images=x_train,
        train_labels=y_train,
        test_images=x_test,
        test_labels=y_test,
    )
    print(f"digits: {len(x_train)} train, {len(x_test)} test images of shape {x_train.shape[1:]}")

    model = build_digits_cnn()
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    model.fit(
        x_train.astype("float32"),
        y_train,
        batch_size=32,
        epochs=args.epochs,
        shuffle=True,
        verbose=0,
    )
    took = time.perf_counter() - start
    _, acc = model.evaluate(x_test.astype("float32"), y_test, verbose=0)

    # Ship weights only (no optimizer state, uncompiled): copy them into a
    # freshly built model of the same architecture and save that.
    shipped = build_digits_cnn()
    shipped.set_weights(model.get_weights())
    path = args.out / "digits_cnn.keras"
    shipped.save(path)
    size = path.stat().st_size
    print(f"trained {args.epochs} epochs in {took:.1f} s")
    print(f"held-out accuracy: {acc:.4f} ({len(x_test)} images)")
    print(f"weights file: {path} ({size / 1024:.1f} KiB)")
    if acc < 0.93:
        print("held-out accuracy below 0.93", file=sys.stderr)
        return 1
    if size >= 2 * 1024 * 1024:
        print("weights file is not under 2 MB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
