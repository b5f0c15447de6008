"""Convolution kernels as one uint8 RGB mosaic image (pure numpy).

Signed weights are drawn with a symmetric scale so that 0 always looks the
same: a diverging blue-white-red map for single-channel slices (blue
negative, white zero, red positive), and ``0.5 + w / (2 * scale)`` per colour
channel for kernels over an RGB input (zero is mid-grey). Pass the same
``scale`` to two mosaics to make them comparable (the same colour means the
same weight), e.g. one filter bank at two points in training.

Kernel layouts follow Keras: Conv2D ``(kh, kw, in, out)``, Conv1D
``(k, in, out)`` (drawn as ``1 x k`` strips), DepthwiseConv2D
``(kh, kw, in, multiplier)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInputError

__all__ = [
    "FilterMosaic",
    "diverging_colors",
    "filter_change_mosaics",
    "filter_mosaic",
    "sequential_colors",
    "symmetric_scale",
]

# blue -> white -> red anchors at -1, -0.5, 0, 0.5, 1 (a colour-blind-safe diverging ramp)
_ANCHOR_POSITIONS = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
_ANCHOR_COLORS = np.array(
    [
        [33, 102, 172],
        [146, 197, 222],
        [247, 247, 247],
        [244, 165, 130],
        [178, 24, 43],
    ],
    dtype=np.float64,
)
BACKGROUND = (64, 64, 64)


@dataclass(frozen=True)
class FilterMosaic:
    """A kernel bank drawn as a grid of tiles."""

    image: np.ndarray  # (H, W, 3) uint8
    scale: float  # |weight| drawn at full colour
    grid: tuple  # (rows, cols) of tiles
    tile_shape: tuple  # (height, width) of one kernel slice, in weights
    zoom: int  # screen pixels per weight
    shown: int  # tiles drawn
    total: int  # tiles the kernel has (shown < total when capped)
    rgb: bool  # True: one colour tile per filter over an RGB input


def symmetric_scale(*arrays) -> float:
    """Largest finite |value| over ``arrays`` (1.0 when all are zero or empty)."""
    top = 0.0
    for a in arrays:
        a = np.asarray(a, dtype=np.float64)
        finite = a[np.isfinite(a)]
        if finite.size:
            top = max(top, float(np.abs(finite).max()))
    return top if top > 0 else 1.0


def diverging_colors(values, scale: float) -> np.ndarray:
    """Map values in ``[-scale, scale]`` to uint8 RGB (``values.shape + (3,)``);
    values outside are clipped, NaN is drawn black."""
    values = np.asarray(values, dtype=np.float64)
    scale = float(scale) if scale and np.isfinite(scale) and scale > 0 else 1.0
    t = np.clip(np.nan_to_num(values / scale, nan=0.0), -1.0, 1.0)
    out = np.empty(values.shape + (3,), dtype=np.float64)
    for c in range(3):
        out[..., c] = np.interp(t, _ANCHOR_POSITIONS, _ANCHOR_COLORS[:, c])
    out[np.isnan(values)] = 0
    return np.round(out).astype(np.uint8)


def _as_4d(kernel) -> np.ndarray:
    kernel = np.asarray(kernel)
    if kernel.ndim == 3:  # Conv1D (k, in, out) -> (1, k, in, out)
        kernel = kernel[np.newaxis]
    if kernel.ndim != 4:
        raise InvalidInputError(
            f"expected a convolution kernel of shape (kh, kw, in, out) or (k, in, out), got shape {kernel.shape}"
        )
    if kernel.dtype.kind not in "fiu":
        raise InvalidInputError(f"kernel values must be numbers, got dtype {kernel.dtype}")
    return kernel.astype(np.float64)


def _grid(n, columns=None):
    if columns is None:
        columns = int(np.ceil(np.sqrt(n)))
    columns = max(1, min(columns, n))
    return int(np.ceil(n / columns)), columns


def filter_mosaic(
    kernel,
    scale: float | None = None,
    max_tiles: int = 256,
    min_tile_px: int = 24,
    gap: int = 2,
    rgb: bool | None = None,
) -> FilterMosaic:
    """Draw every filter of a convolution kernel in one image.

    Over an RGB input (3 input channels) each output filter is one colour
    tile. Otherwise each (filter, input channel) slice is one tile in the
    diverging map; filters are rows when there are 2-16 input channels, and a
    near-square grid otherwise. At most ``max_tiles`` tiles are drawn (the
    first filters). ``rgb=False`` forces per-channel tiles for a 3-channel
    input (``None``: colour tiles exactly when there are 3 input channels).
    Each weight becomes a ``zoom x zoom`` block so tiles are at
    least ``min_tile_px`` pixels; ``gap`` pixels of dark grey separate tiles.
    """
    k = _as_4d(kernel)
    kh, kw, cin, cout = k.shape
    if scale is None:
        scale = symmetric_scale(k)
    scale = float(scale) if scale and np.isfinite(scale) and scale > 0 else 1.0
    zoom = max(1, int(np.ceil(min_tile_px / max(kh, kw))))
    rgb = (cin == 3) if rgb is None else bool(rgb)
    if rgb and cin != 3:
        raise InvalidInputError(f"colour tiles need a kernel over 3 input channels, this one has {cin}")
    if rgb:
        tiles = np.moveaxis(k, 3, 0)  # (out, kh, kw, 3)
        total = cout
        tiles = tiles[:max_tiles]
        colored = np.clip(0.5 + np.nan_to_num(tiles) / (2 * scale), 0.0, 1.0)
        colored = np.round(colored * 255).astype(np.uint8)
        rows, cols = _grid(len(colored))
    else:
        tiles = np.transpose(k, (3, 2, 0, 1)).reshape(cout * cin, kh, kw)  # filter-major
        total = len(tiles)
        tiles = tiles[:max_tiles]
        colored = diverging_colors(tiles, scale)
        rows, cols = _grid(len(colored), columns=cin if 2 <= cin <= 16 else None)
    n = len(colored)
    th, tw = kh * zoom, kw * zoom
    height = rows * th + (rows + 1) * gap
    width = cols * tw + (cols + 1) * gap
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = BACKGROUND
    big = colored.repeat(zoom, axis=1).repeat(zoom, axis=2)
    for i in range(n):
        r, c = divmod(i, cols)
        y = gap + r * (th + gap)
        x = gap + c * (tw + gap)
        image[y : y + th, x : x + tw] = big[i]
    return FilterMosaic(
        image=image,
        scale=scale,
        grid=(rows, cols),
        tile_shape=(kh, kw),
        zoom=zoom,
        shown=n,
        total=total,
        rgb=rgb,
    )


# dark purple -> teal -> yellow, perceptually ordered: old snapshots dark, recent bright
_SEQUENTIAL_ANCHORS = np.array(
    [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float64
)


def sequential_colors(n: int) -> list[str]:
    """``n`` hex colours ordered from dark purple (first) to yellow (last)."""
    if n <= 0:
        return []
    t = np.linspace(0.0, 1.0, n) if n > 1 else np.array([1.0])
    positions = np.linspace(0.0, 1.0, len(_SEQUENTIAL_ANCHORS))
    rgb = np.stack([np.interp(t, positions, _SEQUENTIAL_ANCHORS[:, c]) for c in range(3)], axis=1)
    return ["#%02x%02x%02x" % tuple(int(round(x)) for x in row) for row in rgb]


def filter_change_mosaics(kernel_before, kernel_after, **options) -> tuple[FilterMosaic, FilterMosaic, FilterMosaic]:
    """Mosaics of one kernel at two moments and of their difference (after - before).

    The two moments share one scale (the largest |weight| in either) so equal
    colours mean equal weights; the difference has its own symmetric scale, so
    small changes stay visible (read it from ``result[2].scale``).
    """
    before = np.asarray(kernel_before, dtype=np.float64)
    after = np.asarray(kernel_after, dtype=np.float64)
    if before.shape != after.shape:
        raise InvalidInputError(f"kernels differ in shape: {before.shape} and {after.shape}")
    shared = symmetric_scale(before, after)
    diff = after - before
    return (
        filter_mosaic(before, scale=shared, **options),
        filter_mosaic(after, scale=shared, **options),
        # a difference has no colour meaning: draw RGB kernels channel by channel
        filter_mosaic(diff, scale=symmetric_scale(diff), rgb=False, **options),
    )
