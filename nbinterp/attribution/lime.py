"""LIME: a local linear surrogate of the model over image segments."""

from __future__ import annotations

import numpy as np

from ..core.options import FloatOption, IntOption, SeedOption
from .base import Attribution
from .kernel_shap import MAX_SAMPLES, SEGMENT_OPTIONS
from .perturbation import (
    segmented,
    cross_products,
    evaluate_coalitions,
    paint,
    solve_normal_equations,
)


def lime_coalitions(m, samples, seed):
    """The perturbations LIME evaluates for ``m`` segments: the unperturbed image first, then
    ``samples - 1`` rows with each segment kept with probability 1/2 (a bool matrix).

    Seeded by ``(seed, m)``, so examples with as many segments get the same draw."""
    rng = np.random.default_rng([seed, m])
    drawn = rng.random((samples - 1, m)) < 0.5
    return np.concatenate([np.ones((1, m), np.bool_), drawn])


def cosine_weights(coalitions, kernel_width):
    """``exp(-d**2 / kernel_width**2)`` with ``d`` the cosine distance of each row to all-ones
    (the unperturbed image); an empty row is at distance 1."""
    m = coalitions.shape[1]
    kept = coalitions.sum(axis=1)
    distance = 1.0 - np.sqrt(kept / m)
    return np.exp(-np.square(distance) / kernel_width**2)


def weighted_ridge(features, y, weights, ridge):
    """Coefficients of ``y ~ a + features @ c`` minimising
    ``sum_k w_k (y_k - a - features_k @ c)**2 + ridge * |c|**2`` (the intercept is not penalised)."""
    features = np.asarray(features, np.float64)
    w = weights / weights.sum()
    centre = cross_products(features, w)
    features = features - centre
    y = y - np.dot(w, y)
    gram = cross_products(features, features * w[:, None]) + (ridge / weights.sum()) * np.eye(features.shape[1])
    rhs = cross_products(features, w * y)
    return solve_normal_equations(gram, rhs, len(features) if ridge == 0 else len(gram))


class LIME(Attribution):
    """LIME over image segments.

    Ribeiro, Singh & Guestrin, "'Why Should I Trust You?': Explaining the
    Predictions of Any Classifier", KDD 2016.

    The interpretable features are segments (``segments``, ``n_segments``,
    ``grid``, ``baseline`` as for ``kernel_shap``). ``samples`` perturbed
    images (default 512, the first one unperturbed) keep each segment with
    probability 1/2 and set the others to the baseline; each is weighted by
    ``exp(-d**2 / kernel_width**2)`` with ``d`` the cosine distance of its
    on/off vector to the unperturbed one (``kernel_width`` 0.25), and a
    weighted ridge regression (``ridge`` 1.0; the intercept is not
    penalised) fits the target class *logit* - like every other method here
    - on the on/off vectors. Each pixel carries its segment's coefficient:
    how much keeping that segment raises the logit, locally. Seeded by
    ``seed``.
    """

    name = "lime"
    prefetch = False
    label = "LIME"
    engines = ("forward",)
    option_table = (
        IntOption("samples", 512, "perturbed copies", "perturbed images per image", low=2, high=MAX_SAMPLES),
        *SEGMENT_OPTIONS,
        FloatOption("kernel_width", 0.25, "kernel width",
                    "width of the exponential kernel on the cosine distance to the image", low=1e-3, high=100.0,
                    step=0.05),
        FloatOption("ridge", 1.0, "ridge penalty", "L2 penalty of the weighted ridge regression", low=0.0,
                    high=1e6, step=0.1),
        SeedOption("seed", 0, "random seed", "the same seed gives the same perturbations"),
    )

    def _explain(self, x, targets, options, run):
        targets, z, labels, fill = segmented(self, x, targets, options, run)
        coalitions = [lime_coalitions(int(lab.max()) + 1, options["samples"], options["seed"]) for lab in labels]
        values = evaluate_coalitions(self, z, fill, labels, coalitions, targets, run)
        coefficients = [
            weighted_ridge(c, v, cosine_weights(c, options["kernel_width"]), options["ridge"])
            for c, v in zip(coalitions, values)
        ]
        return paint(labels, coefficients), targets
