"""Regenerate ``nbinterp/demo/photos.npz`` from scikit-image's sample photos.

Each photo is centre-cropped to a square, resized to 224x224 and stored as
JPEG bytes (keeps the file small). Needs scikit-image (test extra).

    python scripts/make_demo_photos.py
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "nbinterp" / "demo" / "photos.npz"
NAMES = ["astronaut", "coffee", "chelsea", "rocket"]
SIZE = 224
QUALITY = 88


def centre_square(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return img[top : top + side, left : left + side]


def main() -> int:
    from skimage import data

    arrays = {}
    for i, name in enumerate(NAMES):
        img = np.asarray(getattr(data, name)())[..., :3]
        im = Image.fromarray(centre_square(img)).resize((SIZE, SIZE), Image.LANCZOS)
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=QUALITY, optimize=True)
        arrays[f"jpeg_{i}"] = np.frombuffer(buf.getvalue(), dtype=np.uint8)
    np.savez(OUT, names=np.array(NAMES), **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.1f} KiB, {len(NAMES)} photos)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
