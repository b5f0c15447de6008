"""Kernels to pictures: colour tiles for RGB first layers, signed tiles otherwise."""

from __future__ import annotations

import numpy as np

from .colormap import colorize, to_unit


def kernel_tiles(kernels, mode="auto", input_channel=0, cmap="RdBu_r"):
    """uint8 tiles ``(O, h, w, 3)`` for a kernel array in Keras layout.

    * Conv2D ``(kh, kw, in, out)``: with ``mode='rgb'`` (the default for 3 input
      channels) each tile shows the kernel's three input channels as colours,
      scaled together around 0 (grey = 0), the classic first-layer picture;
      otherwise the slice for ``input_channel`` through a diverging colormap
      whose range is shared by all tiles.
    * Conv1D ``(k, in, out)``: each tile is ``in x k`` (input channels as rows).
    * DepthwiseConv2D kernels are passed as ``(kh, kw, in, mult)`` and shown per
      (channel, multiplier) pair, i.e. ``in * mult`` tiles of the matching slice.
    """
    k = np.asarray(kernels, dtype=np.float32)
    if k.ndim == 3:  # Conv1D
        tiles = np.transpose(k, (2, 1, 0))  # (out, in, k)
        return colorize(tiles, cmap, symmetric=True)
    if k.ndim != 4:
        raise ValueError(f"kernel_tiles expects a 3-D or 4-D kernel, got shape {k.shape}")
    n_in = k.shape[2]
    if mode == "auto":
        mode = "rgb" if n_in == 3 else "channel"
    if mode == "rgb":
        if n_in != 3:
            raise ValueError("mode='rgb' needs kernels with 3 input channels")
        tiles = np.transpose(k, (3, 0, 1, 2))  # (out, kh, kw, 3)
        unit = to_unit(tiles, symmetric=True)
        return np.round(unit * 255).astype(np.uint8)
    if mode == "depthwise":
        tiles = np.transpose(k, (2, 3, 0, 1)).reshape(-1, k.shape[0], k.shape[1])
        return colorize(tiles, cmap, symmetric=True)
    if not 0 <= input_channel < n_in:
        raise IndexError(f"input channel {input_channel} out of range 0..{n_in - 1}")
    tiles = np.transpose(k[:, :, input_channel, :], (2, 0, 1))  # (out, kh, kw)
    return colorize(tiles, cmap, symmetric=True)


def kernel_cells(kernel_2d, cell=24):
    """Regions for hovering the cells of one enlarged 2-D kernel slice:
    ``[{"id": (i, j), "x", "y", "w", "h", "title": "w[i, j] = value"}]``."""
    kernel_2d = np.asarray(kernel_2d)
    regions = []
    for i in range(kernel_2d.shape[0]):
        for j in range(kernel_2d.shape[1]):
            value = kernel_2d[i, j]
            if np.ndim(value):
                title = f"[{i}, {j}] = (" + ", ".join(f"{v:+.4f}" for v in value) + ")"
            else:
                title = f"[{i}, {j}] = {float(value):+.4f}"
            regions.append({"id": [i, j], "x": j * cell, "y": i * cell, "w": cell, "h": cell, "title": title})
    return regions
