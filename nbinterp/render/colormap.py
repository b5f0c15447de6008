"""Scalar fields to uint8 colours through 256-entry colormap tables."""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=32)
def _table(name: str) -> np.ndarray:
    if name == "gray":
        ramp = np.arange(256, dtype=np.uint8)
        return np.stack([ramp] * 3, axis=1)
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(f"unknown colormap {name!r}") from None
    table = cmap(np.linspace(0.0, 1.0, 256))[:, :3]
    return np.round(table * 255).astype(np.uint8)


def to_unit(values, vmin=None, vmax=None, symmetric=False):
    """Scale ``values`` to [0, 1]. ``symmetric`` centres zero at 0.5 (for signed data).

    A constant field maps to 0 (or 0.5 when symmetric); NaN maps to 0.
    """
    values = np.asarray(values, dtype=np.float32)
    if symmetric:
        bound = float(np.nanmax(np.abs(values))) if vmax is None else float(vmax)
        if not np.isfinite(bound) or bound <= 0:
            return np.full(values.shape, 0.5, np.float32)
        return np.clip(values / (2 * bound) + 0.5, 0.0, 1.0)
    lo = float(np.nanmin(values)) if vmin is None else float(vmin)
    hi = float(np.nanmax(values)) if vmax is None else float(vmax)
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        return np.zeros(values.shape, np.float32)
    out = (values - lo) / (hi - lo)
    return np.clip(np.nan_to_num(out, nan=0.0), 0.0, 1.0)


def colorize(values, cmap="viridis", vmin=None, vmax=None, symmetric=False):
    """uint8 RGB ``(..., 3)`` for a scalar field; ``cmap='gray'`` gives the same gray ramp as RGB."""
    unit = to_unit(values, vmin, vmax, symmetric)
    index = np.round(unit * 255).astype(np.uint8)
    return _table(cmap)[index]
