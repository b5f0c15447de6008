"""Histograms and summary statistics of weight values across snapshots.

Both functions take ``snapshot_values``: one array of weight values per
snapshot (any shape; they are flattened), oldest first.

Bins are shared by all snapshots so their histograms can be drawn on one set
of axes. Non-finite values (NaN, +-Inf, e.g. after a diverged training run) are
left out of the histograms and statistics and counted separately, so one bad
value does not hide the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import InvalidInputError

__all__ = ["Histogram", "SummaryStats", "auto_bins", "histogram", "summary_stats", "DEFAULT_NEAR_ZERO_EPS"]

#: Default threshold for "near zero", as a fraction of the largest |weight| of
#: the layer in the same snapshot. See :func:`summary_stats`.
DEFAULT_NEAR_ZERO_EPS = 1e-3


@dataclass(frozen=True)
class Histogram:
    """Counts of several snapshots over one shared set of bins."""

    edges: np.ndarray  # (n_bins + 1,) increasing
    counts: np.ndarray  # (n_snapshots, n_bins) int64
    nonfinite: np.ndarray  # (n_snapshots,) values left out because NaN/Inf

    @property
    def centers(self) -> np.ndarray:
        return (self.edges[:-1] + self.edges[1:]) / 2

    @property
    def widths(self) -> np.ndarray:
        return np.diff(self.edges)

    @property
    def n_bins(self) -> int:
        return len(self.edges) - 1

    def __len__(self):
        return len(self.counts)


@dataclass(frozen=True)
class SummaryStats:
    """Per-snapshot mean, standard deviation and fraction of weights near zero."""

    mean: np.ndarray
    std: np.ndarray
    fraction_near_zero: np.ndarray
    thresholds: np.ndarray  # the |w| below which a weight counted as near zero
    eps: float
    relative: bool

    def __len__(self):
        return len(self.mean)


def _flat_float(values, index):
    array = np.asarray(values)
    if array.dtype.kind not in "fiub":
        raise InvalidInputError(f"snapshot {index}: weight values must be numbers, got dtype {array.dtype}")
    return array.reshape(-1)


def _finite(values):
    """``values`` without NaN/Inf (no copy when there are none)."""
    if values.dtype.kind != "f":
        return values
    mask = np.isfinite(values)
    return values if mask.all() else values[mask]


def _float64(values):
    return values if values.dtype == np.float64 else values.astype(np.float64)


def _as_list(snapshot_values):
    if isinstance(snapshot_values, np.ndarray) and snapshot_values.dtype != object:
        snapshot_values = [snapshot_values] if snapshot_values.ndim <= 1 else list(snapshot_values)
    values = [_flat_float(v, i) for i, v in enumerate(snapshot_values)]
    if not values:
        raise InvalidInputError("no snapshots given: need at least one array of weight values")
    return values


def auto_bins(n_values: int) -> int:
    """Bins for ``n_values`` values: the Rice rule ``2 * n**(1/3)``, kept
    within 10..60 so small layers are not all noise and big ones stay readable."""
    return int(np.clip(round(2 * max(int(n_values), 1) ** (1 / 3)), 10, 60))


def histogram(snapshot_values: Sequence[np.ndarray], bins="auto", range=None) -> Histogram:
    """Histogram each snapshot's values over bins shared by all snapshots.

    ``bins`` is a number of equal-width bins spanning ``range`` (default: the
    smallest to the largest finite value over *all* snapshots), ``"auto"``
    (:func:`auto_bins` of the largest snapshot), or an explicit increasing
    array of edges. A 2-D array is taken as one row per snapshot.
    Counts equal ``numpy.histogram(values, bins=result.edges)`` per snapshot.
    """
    values = _as_list(snapshot_values)
    finite = [_finite(v) for v in values]
    nonfinite = np.array([v.size - f.size for v, f in zip(values, finite)], dtype=np.int64)
    if isinstance(bins, str):
        if bins != "auto":
            raise InvalidInputError(f"bins must be 'auto', a positive integer or an array of edges, got {bins!r}")
        bins = auto_bins(max(f.size for f in finite))

    if np.ndim(bins) == 0:
        n_bins = int(bins)
        if n_bins < 1 or n_bins != bins:
            raise InvalidInputError(f"bins must be a positive integer or an array of edges, got {bins!r}")
        if range is None:
            nonempty = [f for f in finite if f.size]
            if nonempty:
                lo = float(min(f.min() for f in nonempty))
                hi = float(max(f.max() for f in nonempty))
            else:
                lo, hi = 0.0, 1.0
        else:
            lo, hi = (float(r) for r in range)
            if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
                raise InvalidInputError(f"range must be two finite numbers, low <= high; got {range!r}")
        if not (hi - lo) > 4 * n_bins * np.spacing(max(abs(lo), abs(hi), np.finfo(np.float64).tiny)):
            # all values equal (a fresh zero bias), or too close to split into n_bins:
            # centre a span on them that is wide enough (one unit, or a millionth of their size)
            center = lo / 2 + hi / 2
            pad = max(0.5, abs(center) * 1e-6)
            lo, hi = center - pad, center + pad
        edges = np.linspace(lo, hi, n_bins + 1)
        # numpy's equal-width path is exact for these edges and much faster than a search;
        # it works in the data's precision, so give it float64 data to match the float64 edges
        counts = np.stack([np.histogram(_float64(f), bins=n_bins, range=(lo, hi))[0] for f in finite])
    else:
        edges = np.asarray(bins, dtype=np.float64).reshape(-1)
        if edges.size < 2 or not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
            raise InvalidInputError("bin edges must be at least two finite, strictly increasing numbers")
        if range is not None:
            raise InvalidInputError("give either explicit bin edges or a range, not both")
        counts = np.stack([np.histogram(f, bins=edges)[0] for f in finite])
    return Histogram(edges=edges, counts=counts.astype(np.int64), nonfinite=nonfinite)


def summary_stats(snapshot_values: Sequence[np.ndarray], eps: float = DEFAULT_NEAR_ZERO_EPS, relative: bool = True) -> SummaryStats:
    """Mean, standard deviation and fraction of near-zero weights per snapshot.

    A weight counts as near zero when ``|w| < threshold``. With
    ``relative=True`` (the default) the threshold is ``eps`` times the largest
    ``|w|`` of the same values in the same snapshot, so the measure does not
    depend on a layer's scale: layers are initialised with very different
    magnitudes (a 3x3x1 kernel and a 1024x10 Dense kernel), and an absolute
    cut-off would call most of one layer "zero" and none of the other. Weights
    that all shrink by the same factor keep the same fraction; weights that are
    actually pruned or decayed to nothing, relative to the rest, raise it. With
    ``relative=False`` the threshold is ``eps`` itself. Weights that are
    exactly zero always count (so a freshly zero-initialised bias is 100 %
    near zero even though its largest ``|w|`` is 0).

    The default ``eps=1e-3`` marks weights a thousand times smaller than the
    layer's largest, i.e. ones that contribute nothing visible to its output.
    """
    eps = float(eps)
    if not np.isfinite(eps) or eps < 0:
        raise InvalidInputError(f"eps must be a finite number >= 0, got {eps!r}")
    values = _as_list(snapshot_values)
    means, stds, fractions, thresholds = [], [], [], []
    for v in values:
        f = _finite(v)
        if f.size == 0:
            means.append(np.nan)
            stds.append(np.nan)
            fractions.append(np.nan)
            thresholds.append(np.nan)
            continue
        f64 = f.astype(np.float64, copy=False)
        magnitude = np.abs(f64)
        threshold = eps * float(magnitude.max()) if relative else eps
        means.append(float(f64.mean()))
        stds.append(float(f64.std()))
        near = np.count_nonzero((magnitude < threshold) | (magnitude == 0))
        fractions.append(float(near) / f.size)
        thresholds.append(threshold)
    return SummaryStats(
        mean=np.array(means),
        std=np.array(stds),
        fraction_near_zero=np.array(fractions),
        thresholds=np.array(thresholds),
        eps=eps,
        relative=bool(relative),
    )
