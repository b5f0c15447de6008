"""Tiles to one grid image, with the rectangle of every tile (for hover and clicks)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Mosaic:
    image: np.ndarray  # uint8 (H, W) or (H, W, C)
    boxes: list  # (x, y, w, h) of each tile, in mosaic pixels, in tile order
    cols: int
    rows: int


def grid_shape(n, aspect=1.0):
    """(rows, cols) for ``n`` tiles, about ``aspect`` times wider than tall."""
    if n <= 0:
        return 0, 0
    cols = max(1, math.ceil(math.sqrt(n * aspect)))
    rows = math.ceil(n / cols)
    return rows, cols


def mosaic(tiles, cols=None, pad=1, pad_value=255):
    """Arrange uint8 tiles ``(N, h, w)`` or ``(N, h, w, C)`` in a grid separated by ``pad`` pixels."""
    tiles = np.asarray(tiles)
    if tiles.dtype != np.uint8:
        raise TypeError(f"mosaic needs uint8 tiles, got {tiles.dtype}")
    if tiles.ndim not in (3, 4) or tiles.shape[0] == 0:
        raise ValueError(f"mosaic needs tiles shaped (N, h, w[, C]) with N > 0, got {tiles.shape}")
    n, h, w = tiles.shape[:3]
    if cols is None:
        rows, cols = grid_shape(n)
    else:
        cols = max(1, min(int(cols), n))
        rows = math.ceil(n / cols)
    height = rows * h + (rows + 1) * pad
    width = cols * w + (cols + 1) * pad
    image = np.full((height, width) + tiles.shape[3:], pad_value, np.uint8)
    boxes = []
    for i in range(n):
        r, c = divmod(i, cols)
        y = pad + r * (h + pad)
        x = pad + c * (w + pad)
        image[y : y + h, x : x + w] = tiles[i]
        boxes.append((x, y, w, h))
    return Mosaic(image, boxes, cols, rows)
