"""Convolution kernels as one uint8 RGB mosaic image (pure numpy).

Colours, grids and upscaling come from :mod:`nbinterp.render`; this module
decides what to draw for a filter bank and on which scale. Signed weights use
a symmetric scale so that 0 always looks the same: the diverging ``RdBu_r``
map for single-channel slices (blue negative, white zero, red positive), and
``0.5 + w / (2 * scale)`` per colour channel for kernels over an RGB input
(zero is mid-grey). Pass the same ``scale`` to two mosaics to make them
comparable (the same colour means the same weight), e.g. one filter bank at
two points in training.

Kernel layouts follow Keras: Conv2D ``(kh, kw, in, out)``, Conv1D
``(k, in, out)`` (drawn as ``1 x k`` strips), DepthwiseConv2D
``(kh, kw, in, multiplier)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInputError
from ..render import colorize, mosaic, to_unit, upscale_nearest

__all__ = [
    "FilterMosaic",
    "diverging_colors",
    "filter_change_mosaics",
    "filter_mosaic",
    "sequential_colors",
    "symmetric_scale",
]

DIVERGING_CMAP = "RdBu_r"
SEQUENTIAL_CMAP = "viridis"
BACKGROUND = 64  # dark grey between tiles, so white (zero) tiles keep their edges


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


def _valid_scale(scale) -> float:
    return float(scale) if scale is not None and np.isfinite(scale) and scale > 0 else 1.0


def diverging_colors(values, scale: float) -> np.ndarray:
    """Map values in ``[-scale, scale]`` to uint8 RGB (``values.shape + (3,)``)
    through the diverging map; values outside are clipped, NaN is drawn as 0."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0, posinf=np.inf, neginf=-np.inf)
    values = np.clip(values, -_valid_scale(scale), _valid_scale(scale))
    return colorize(values, DIVERGING_CMAP, vmax=_valid_scale(scale), symmetric=True)


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
    scale = _valid_scale(scale)
    zoom = max(1, int(np.ceil(min_tile_px / max(kh, kw))))
    rgb = (cin == 3) if rgb is None else bool(rgb)
    if rgb and cin != 3:
        raise InvalidInputError(f"colour tiles need a kernel over 3 input channels, this one has {cin}")
    if rgb:
        tiles = np.nan_to_num(np.moveaxis(k, 3, 0)[:max_tiles])  # (out, kh, kw, 3)
        total = cout
        colored = np.round(to_unit(tiles, vmax=scale, symmetric=True) * 255).astype(np.uint8)
        columns = None
    else:
        tiles = np.transpose(k, (3, 2, 0, 1)).reshape(cout * cin, kh, kw)  # filter-major
        total = len(tiles)
        colored = diverging_colors(tiles[:max_tiles], scale)
        columns = cin if 2 <= cin <= 16 else None
    big = np.stack([upscale_nearest(tile, zoom) for tile in colored])
    grid = mosaic(big, cols=columns, pad=gap, pad_value=BACKGROUND)
    image, rows, cols, n = grid.image, grid.rows, grid.cols, len(colored)
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


def sequential_colors(n: int) -> list[str]:
    """``n`` hex colours ordered from dark purple (first) to yellow (last)."""
    if n <= 0:
        return []
    positions = np.linspace(0.0, 1.0, n) if n > 1 else np.array([1.0])
    rgb = colorize(positions, SEQUENTIAL_CMAP, vmin=0.0, vmax=1.0)
    return ["#%02x%02x%02x" % tuple(int(x) for x in row) for row in rgb]


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
