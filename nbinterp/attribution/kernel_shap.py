"""KernelSHAP: Shapley values of image segments, exact for few segments, estimated otherwise."""

from __future__ import annotations

import math

import numpy as np

from ..core.options import IntOption, SeedOption
from .base import Attribution
from .perturbation import (
    segmented,
    BaselineOption,
    SegmentsOption,
    cross_products,
    evaluate_coalitions,
    paint,
    solve_normal_equations,
)

#: most model evaluations per image: more would not change a map visibly, and a mistyped
#: value (10**7) would run for hours and fill memory with coalitions
MAX_SAMPLES = 20_000
#: up to this many segments the Shapley values are computed exactly from all 2**M coalitions
EXACT_SEGMENTS = 12

SEGMENT_OPTIONS = (
    SegmentsOption("segments", "slic", "how to split the image",
                   "regions switched on and off: SLIC superpixels, a regular grid, or your own integer label map"),
    IntOption("n_segments", 50, "superpixels", "about how many SLIC superpixels (segments='slic')", low=1, high=2_000),
    IntOption("grid", 8, "grid cells", "cells per side (segments='grid')", low=1, high=64),
    BaselineOption("baseline", "mean", "baseline",
                   "what hidden segments are set to: 'mean' (each image's mean per channel) or a number"),
)


def shapley_kernel_sizes(m):
    """Probabilities of coalition sizes ``1 .. m - 1`` under the Shapley kernel
    (kernel weight times the number of coalitions of each size)."""
    sizes = np.arange(1, m)
    weights = (m - 1) / (sizes * (m - sizes))
    return sizes, weights / weights.sum()


def all_coalitions(m):
    """Every coalition of ``m`` segments: a bool matrix ``(2**m, m)``, row ``b`` holding the bits of ``b``."""
    codes = np.arange(2**m)
    return ((codes[:, None] >> np.arange(m)[None, :]) & 1).astype(np.bool_)


def exact_shapley(values, m):
    """Shapley values from the value of every coalition (``values[b]``: coalition with bits ``b``)."""
    codes = np.arange(2**m)
    sizes = np.zeros(2**m, np.int64)
    for j in range(m):
        sizes += (codes >> j) & 1
    factorial = [math.factorial(k) for k in range(m + 1)]
    weight = np.array([factorial[s] * factorial[m - s - 1] / factorial[m] for s in range(m)])
    phi = np.empty(m)
    for j in range(m):
        without = codes[((codes >> j) & 1) == 0]
        phi[j] = np.sum(weight[sizes[without]] * (values[without | (1 << j)] - values[without]))
    return phi


def sampled_coalitions(m, samples, seed):
    """The coalitions KernelSHAP evaluates for ``m`` segments: all on, all off, then
    ``samples - 2`` drawn from the Shapley kernel in complementary pairs (a bool matrix).

    Seeded by ``(seed, m)``, so examples with as many segments get the same draw
    whatever batch they are in."""
    rng = np.random.default_rng([seed, m])
    count = max(samples - 2, 0)
    pairs = (count + 1) // 2
    sizes, probability = shapley_kernel_sizes(m)
    size = rng.choice(sizes, size=pairs, p=probability)
    ranks = np.argsort(np.argsort(rng.random((pairs, m)), axis=1), axis=1)
    drawn = ranks < size[:, None]
    paired = np.empty((2 * pairs, m), np.bool_)
    paired[0::2], paired[1::2] = drawn, ~drawn
    ends = np.stack([np.ones(m, np.bool_), np.zeros(m, np.bool_)])
    return np.concatenate([ends, paired[:count]])


def constrained_fit(coalitions, values):
    """KernelSHAP's weighted least squares with the efficiency constraint.

    ``coalitions`` (rows 0 and 1: all on, all off; the others drawn from the
    Shapley kernel, so each has the same weight) and their ``values``.
    Minimises ``sum_k (v_k - v_empty - phi . z_k)**2`` subject to
    ``sum(phi) = v_full - v_empty``, by eliminating the last segment's value.
    """
    m = coalitions.shape[1]
    full, empty = values[0], values[1]
    total = full - empty
    if m == 1:
        return np.array([total])
    z = coalitions[2:].astype(np.float64)
    y = values[2:] - empty - z[:, -1] * total
    design = z[:, :-1] - z[:, -1:]
    if len(z):
        head = solve_normal_equations(cross_products(design, design), cross_products(design, y), len(design))
    else:
        head = np.zeros(m - 1)
    return np.append(head, total - head.sum())


class KernelSHAP(Attribution):
    """KernelSHAP over image segments.

    Lundberg & Lee, "A Unified Approach to Interpreting Model Predictions",
    NeurIPS 2017.

    The players are segments (``segments``: ``"slic"`` superpixels - about
    ``n_segments`` of them -, a ``grid`` x ``grid`` grid, or an integer label
    array of shape (H, W) or (N, H, W)); a coalition keeps its segments'
    pixels and sets the others to ``baseline`` (``"mean"``: each image's
    mean per channel, or a number). The value of a coalition is the target
    class *logit* of that masked image, like every other method here.

    With at most 12 segments (or when ``2**M <= samples``) every coalition
    is evaluated and the values are the exact Shapley values. Otherwise
    ``samples`` model evaluations per image (default 512, counting the full
    and the empty coalition) are drawn from the Shapley kernel in
    complementary pairs, seeded by ``seed``, and the values come from the
    kernel-weighted least squares constrained so that they sum to
    ``f(x) - f(baseline)`` exactly. Each pixel carries the value of its
    segment. Sequence and token models are segmented along the sequence
    (SLIC one row high, or ``grid`` windows).
    """

    name = "kernel_shap"
    prefetch = False
    label = "KernelSHAP"
    engines = ("forward",)
    option_table = (
        IntOption("samples", 512, "model evaluations", "model evaluations per image (all 2**M when M <= 12 segments)",
                  low=2, high=MAX_SAMPLES),
        *SEGMENT_OPTIONS,
        SeedOption("seed", 0, "random seed", "the same seed gives the same coalitions"),
    )

    def _explain(self, x, targets, options, run):
        targets, z, labels, fill = segmented(self, x, targets, options, run)
        segments = [int(lab.max()) + 1 for lab in labels]
        samples = options["samples"]
        exact = [m <= EXACT_SEGMENTS or 2**m <= samples for m in segments]
        coalitions = [all_coalitions(m) if e else sampled_coalitions(m, samples, options["seed"])
                      for m, e in zip(segments, exact)]
        values = evaluate_coalitions(self, z, fill, labels, coalitions, targets, run)
        phi = [exact_shapley(v, m) if e else constrained_fit(c, v)
               for v, m, e, c in zip(values, segments, exact, coalitions)]
        return paint(labels, phi), targets
