"""Kernel banks to pictures: the one renderer for convolution filters (pure numpy).

:func:`kernel_tiles` colours a kernel in Keras layout into one uint8 RGB tile
per kernel (or per slice); :func:`kernel_bank` lays those tiles out in one
grid image with the rectangle of every tile, for the Explorer's Filters view
and the weights views alike. :func:`kernel_change_banks` draws one kernel at
two moments and their difference.

Signed weights use a symmetric scale so that 0 always looks the same: the
diverging ``RdBu_r`` map for single-channel slices (blue negative, white
zero, red positive), and ``0.5 + w / (2 * scale)`` per colour channel for
kernels over an RGB input (zero is mid-grey). ``scale``, the ``|w|`` drawn at
full colour, is by default the largest finite ``|w|`` of the whole kernel, so
every tile of a bank shares it; pass the same ``scale`` to two banks to make
them comparable. NaN weights are drawn as 0. Tiles are separated by dark grey,
so white (zero) tiles keep their edges.

Every bank also carries the weights it draws (``KernelBank.values``, one
array per tile, NaN kept) and their names, so a view can give each tile a
colour legend (:meth:`KernelBank.legend`) and a per-pixel readout of the true
weights (:meth:`KernelBank.readout`; three values per cell for colour tiles).

Layouts: Conv2D ``(kh, kw, in, out)``, Conv1D ``(k, in, out)`` (one
``in x k`` tile per kernel: input channels as rows, taps as columns; or
``1 x k`` strips in ``"slices"`` mode), DepthwiseConv2D ``(kh, kw, in, multiplier)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInputError, check_index
from .colormap import colorize, to_unit
from .images import upscale_nearest
from .legend import Legend
from .mosaic import mosaic

__all__ = [
    "BACKGROUND",
    "DIVERGING_CMAP",
    "MODES",
    "KernelBank",
    "diverging_colors",
    "kernel_bank",
    "kernel_cells",
    "kernel_change_banks",
    "kernel_tiles",
    "symmetric_scale",
]

DIVERGING_CMAP = "RdBu_r"
BACKGROUND = 64  # the grey between tiles
MODES = ("auto", "rgb", "channel", "slices", "depthwise")


def symmetric_scale(*arrays) -> float:
    """Largest finite |value| over ``arrays`` (1.0 when all are zero or empty)."""
    top = 0.0
    for a in arrays:
        a = np.asarray(a, dtype=np.float64)
        finite = a[np.isfinite(a)]
        if finite.size:
            top = max(top, float(np.abs(finite).max()))
    return top if top > 0 else 1.0


def _valid_scale(scale) -> float:
    return float(scale) if scale is not None and np.isfinite(scale) and scale > 0 else 1.0


def diverging_colors(values, scale: float) -> np.ndarray:
    """Map values in ``[-scale, scale]`` to uint8 RGB (``values.shape + (3,)``)
    through the diverging map; values outside are clipped, NaN is drawn as 0."""
    scale = _valid_scale(scale)
    values = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0), -scale, scale)
    return colorize(values, DIVERGING_CMAP, vmax=scale, symmetric=True)


def _kernel_array(kernels) -> np.ndarray:
    k = np.asarray(kernels)
    if k.ndim not in (3, 4):
        raise InvalidInputError(
            f"expected a convolution kernel of shape (kh, kw, in, out) or (k, in, out), got shape {k.shape}"
        )
    if k.dtype.kind not in "fiu":
        raise InvalidInputError(f"kernel values must be numbers, got dtype {k.dtype}")
    return k.astype(np.float64)


def _resolve_mode(k, mode):
    if mode not in MODES:
        raise InvalidInputError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if k.ndim == 3:
        return "conv1d"
    if mode == "auto":
        return "rgb" if k.shape[2] == 3 else "channel"
    if mode == "rgb" and k.shape[2] != 3:
        raise InvalidInputError(f"colour tiles need a kernel over 3 input channels, this one has {k.shape[2]}")
    return mode


def _tile_values(k, mode, input_channel):
    """(mode, float tiles, tile names): the weights each tile shows, in tile order."""
    if k.ndim == 3 and mode == "slices":  # Conv1D slices are 1 x k strips
        k = k[np.newaxis]
    mode = _resolve_mode(k, mode)
    if mode == "conv1d":  # (out, in, k)
        return mode, np.transpose(k, (2, 1, 0)), [f"kernel {i}" for i in range(k.shape[2])]
    if mode == "rgb":  # (out, kh, kw, 3)
        return mode, np.transpose(k, (3, 0, 1, 2)), [f"kernel {i}" for i in range(k.shape[3])]
    if mode == "channel":
        c = check_index(input_channel, k.shape[2], "input channel")
        return mode, np.transpose(k[:, :, c, :], (2, 0, 1)), [f"kernel {i}, input channel {c}" for i in range(k.shape[3])]
    # "slices" and "depthwise": every (kernel, input channel) slice, kernel-major for
    # Conv2D, (input channel, multiplier)-major for a depthwise kernel
    order = (3, 2, 0, 1) if mode == "slices" else (2, 3, 0, 1)
    tiles = np.transpose(k, order).reshape(-1, k.shape[0], k.shape[1])
    outer, inner = k.shape[order[0]], k.shape[order[1]]
    if mode == "slices":
        names = [f"kernel {i}, input channel {j}" for i in range(outer) for j in range(inner)]
    else:
        names = [f"depthwise kernel {i * inner + j} (input channel {i}, multiplier {j})"
                 for i in range(outer) for j in range(inner)]
    return mode, tiles, names


def _colour_tiles(values, mode, scale):
    """uint8 tiles of float tiles drawn at ``±scale``."""
    if mode == "rgb":
        return np.round(to_unit(np.nan_to_num(values), vmax=scale, symmetric=True) * 255).astype(np.uint8)
    return diverging_colors(values, scale)


def _tiles(k, mode, input_channel, scale):
    """(mode, uint8 tiles) for a float64 kernel."""
    mode, values, _ = _tile_values(k, mode, input_channel)
    return mode, _colour_tiles(values, mode, scale)


def kernel_tiles(kernels, mode: str = "auto", input_channel: int = 0, scale: float | None = None) -> np.ndarray:
    """uint8 RGB tiles ``(N, h, w, 3)`` of a kernel bank in Keras layout.

    ``mode`` (a Conv1D kernel gives one ``in x k`` tile per kernel in every
    mode but ``"slices"``, where each slice is a ``1 x k`` strip):

    * ``"rgb"``: one colour tile per kernel over 3 input channels (the classic
      first-layer picture);
    * ``"channel"``: one tile per kernel, the slice for ``input_channel``;
    * ``"slices"``: every (kernel, input channel) slice, kernel by kernel;
    * ``"depthwise"``: a DepthwiseConv2D kernel's ``in * multiplier`` slices,
      ordered by input channel, then multiplier;
    * ``"auto"``: ``"rgb"`` for 3 input channels, else ``"channel"``.
    """
    k = _kernel_array(kernels)
    return _tiles(k, mode, input_channel, _valid_scale(symmetric_scale(k) if scale is None else scale))[1]


@dataclass(frozen=True)
class KernelBank:
    """A kernel bank drawn as one grid of tiles."""

    image: np.ndarray  # (H, W, 3) uint8
    boxes: list  # (x, y, w, h) of each tile, in image pixels, in tile order
    scale: float  # |weight| drawn at full colour
    grid: tuple  # (rows, cols) of tiles
    tile_shape: tuple  # (height, width) of one tile, in weights
    zoom: int  # image pixels per weight
    shown: int  # tiles drawn
    total: int  # tiles the bank has (shown < total when capped by max_tiles)
    mode: str  # "rgb", "channel", "slices", "depthwise" or "conv1d"
    values: np.ndarray | None = None  # float32 weights of the shown tiles, (shown, h, w) or (shown, h, w, 3) for "rgb"
    names: tuple = ()  # what each shown tile is ("kernel 3, input channel 1")

    @property
    def rgb(self) -> bool:
        """True when each tile is one kernel's colour picture over an RGB input."""
        return self.mode == "rgb"

    def legend(self, what: str = "weight", note: str = "") -> Legend:
        """The colour legend of this bank: ``±scale`` on the diverging palette
        (white = 0), or for colour tiles on a grey ramp per colour channel
        (mid-grey = 0); ``note`` is added to the legend's note."""
        if self.rgb:
            base = "per colour channel R, G, B; mid-grey = 0"
            return Legend(what, -self.scale, self.scale, "gray", True, f"{base}; {note}" if note else base)
        base = "white = 0"
        return Legend(what, -self.scale, self.scale, DIVERGING_CMAP, True, f"{note}; {base}" if note else base)

    def readout(self) -> list[dict]:
        """Per-pixel readout patches of the shown tiles (``{"x", "y", "w", "h",
        "values", "name"}``, with ``"parts": ["R", "G", "B"]`` for colour tiles),
        for :meth:`nbinterp.widgets.canvas.ImageCanvas.set_readout`."""
        if self.values is None:
            return []
        parts = {"parts": ["R", "G", "B"]} if self.rgb else {}
        return [{"x": x, "y": y, "w": w, "h": h, "values": values, "name": name, **parts}
                for (x, y, w, h), values, name in zip(self.boxes, self.values, self.names)]


def kernel_bank(
    kernels,
    mode: str = "auto",
    input_channel: int = 0,
    scale: float | None = None,
    max_tiles: int | None = None,
    min_tile_px: int = 24,
    gap: int = 2,
) -> KernelBank:
    """Every tile of :func:`kernel_tiles` in one image, ``gap`` pixels of dark grey apart.

    Each weight becomes a ``zoom x zoom`` block so tiles are at least
    ``min_tile_px`` pixels. In ``"slices"`` mode with 2 to 16 input channels,
    each kernel is one row (one tile per input channel); otherwise the grid is
    near-square. At most ``max_tiles`` tiles are drawn (the first ones; None:
    all).
    """
    k = _kernel_array(kernels)
    scale = _valid_scale(symmetric_scale(k) if scale is None else scale)
    mode, values, names = _tile_values(k, mode, input_channel)
    n_in = k.shape[-2]
    total = len(values)
    if max_tiles is not None:
        values, names = values[: max(1, int(max_tiles))], names[: max(1, int(max_tiles))]
    tiles = _colour_tiles(values, mode, scale)
    h, w = tiles.shape[1:3]
    zoom = max(1, -(-int(min_tile_px) // max(h, w)))
    columns = n_in if mode == "slices" and 2 <= n_in <= 16 else None
    grid = mosaic(np.stack([upscale_nearest(t, zoom) for t in tiles]), cols=columns, pad=gap, pad_value=BACKGROUND)
    return KernelBank(
        image=grid.image,
        boxes=grid.boxes,
        scale=scale,
        grid=(grid.rows, grid.cols),
        tile_shape=(h, w),
        zoom=zoom,
        shown=len(tiles),
        total=total,
        mode=mode,
        values=values.astype(np.float32),
        names=tuple(names),
    )


def kernel_change_banks(kernel_before, kernel_after, mode: str = "auto", **options) -> tuple[KernelBank, KernelBank, KernelBank]:
    """Banks of one kernel at two moments and of their difference (after - before).

    The two moments share one scale (the largest |weight| in either) so equal
    colours mean equal weights; the difference has its own symmetric scale, so
    small changes stay visible (read it from ``result[2].scale``). A difference
    has no colour meaning, so where the moments are drawn as colour tiles it
    is drawn slice by slice. ``options`` go to :func:`kernel_bank`.
    """
    before = _kernel_array(kernel_before)
    after = _kernel_array(kernel_after)
    if before.shape != after.shape:
        raise InvalidInputError(f"kernels differ in shape: {before.shape} and {after.shape}")
    shared = symmetric_scale(before, after)
    first = kernel_bank(before, mode=mode, scale=shared, **options)
    diff = after - before
    diff_mode = "slices" if first.mode == "rgb" else mode
    return (
        first,
        kernel_bank(after, mode=mode, scale=shared, **options),
        kernel_bank(diff, mode=diff_mode, scale=symmetric_scale(diff), **options),
    )


def kernel_cells(kernel_2d, cell: int = 24) -> list[dict]:
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
