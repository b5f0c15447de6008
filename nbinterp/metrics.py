"""Faithfulness metrics: does an attribution map say what the model actually uses?

* :func:`deletion` and :func:`insertion` (Petsiuk, Das & Saenko, "RISE:
  Randomized Input Sampling for Explanation of Black-box Models", BMVC 2018):
  pixels are removed from the image (set to a baseline) or added to a
  baseline image in the order of the map, most important first, and the
  model's score for the target class is read after every step. A faithful
  map makes the deletion curve fall fast (low area under the curve) and the
  insertion curve rise fast (high area).
* :func:`mu_fidelity` (Bhatt, Weller & Moura, "Evaluating and Aggregating
  Feature-based Model Explanations", IJCAI 2020): over random subsets of the
  pixels, the correlation between the sum of the map over the subset and the
  drop of the score when that subset is set to the baseline.
* :func:`randomization_check` (Adebayo et al., "Sanity Checks for Saliency
  Maps", NeurIPS 2018): the layers' weights are re-initialised from the top
  layer down (cascading) or one at a time, and the maps of the randomised
  models are compared with the original maps (Spearman rank correlation and
  SSIM). A map that stays the same when the weights it should explain are
  destroyed does not explain the model.

**Scores** are the target class *probability*: the softmax of the model's
logits (the output before a final softmax/sigmoid, as the attribution methods
explain), or the sigmoid of a single logit for one-output models. ``target``
is a class index or one per image; None means each image's top class on the
clean image.

**Inputs.** ``model``: a Keras model, an Inspector (its ``preprocess`` is
used unless one is given) or a path to a model file. ``images`` are what the
model takes before ``preprocess``; perturbations (baseline fill, blur) happen
on them, then ``preprocess`` runs on every perturbed batch. ``maps``: one
value per pixel, ``(N, H, W)`` for ``(N, H, W, C)`` images (``(N, T)`` for
sequences), as :func:`nbinterp.attribute` returns them; a single ``(H, W)``
map for a single image is accepted too.

**Running.** Every perturbed copy goes through the model's shared compiled
forward engine (:mod:`nbinterp.core.engines`) in chunks of ``batch_size``;
between chunks ``progress(fraction)`` is called and ``cancel`` (a
``threading.Event`` or a callable returning True) is honoured by raising
:class:`~nbinterp.errors.CancelledError`. Random draws are seeded, so a call
repeats exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .attribution.base import Run, choose_input, choose_output, model_info, resolve_targets
from .core import compiled
from .core.engines import engines_for
from .core.graph import plan_for
from .core.inputs import as_inputs
from .core.model_spec import model_spec
from .core.models import resolve_model
from .core.options import whole_number
from .errors import (
    InputShapeError,
    InvalidInputError,
    NotSupportedError,
)

__all__ = [
    "PerturbationCurve",
    "MuFidelity",
    "Randomization",
    "deletion",
    "insertion",
    "mu_fidelity",
    "randomization_check",
    "spearman",
    "ssim",
    "gaussian_blur",
    "subsets",
    "trapezoid",
]

#: default number of deletion/insertion steps (the curve has ``steps + 1`` points)
DEFAULT_STEPS = 32
#: SSIM window side (as in Wang et al. 2004 and scikit-image's default)
SSIM_WINDOW = 7


# ---------------------------------------------------------------------------
# results


@dataclass
class PerturbationCurve:
    """A deletion or insertion curve per image.

    ``fractions``: ``(steps + 1,)`` fraction of the pixels removed (deletion)
    or inserted (insertion) at each point, from 0 to 1; ``scores``:
    ``(N, steps + 1)`` target-class probability at each point; ``targets``:
    the class explained per image; ``kind``: ``"deletion"`` or ``"insertion"``.
    """

    kind: str
    fractions: np.ndarray
    scores: np.ndarray
    targets: np.ndarray

    @property
    def curve(self) -> tuple:
        """``(fractions, scores)``."""
        return self.fractions, self.scores

    @property
    def auc(self) -> np.ndarray:
        """Area under each image's curve (trapezoidal rule over the fractions), ``(N,)``."""
        return trapezoid(self.scores, self.fractions)

    @property
    def mean_auc(self) -> float:
        """The mean of :attr:`auc` over the images."""
        return float(np.mean(self.auc))

    @property
    def mean_curve(self) -> np.ndarray:
        """The scores averaged over the images, ``(steps + 1,)``."""
        return self.scores.mean(axis=0)


@dataclass
class MuFidelity:
    """What :func:`mu_fidelity` measured.

    ``correlation``: ``(N,)`` Pearson correlation per image between
    ``attribution_sums`` and ``drops`` (0 where either is constant);
    ``attribution_sums``: ``(N, samples)`` sum of the map over each subset;
    ``drops``: ``(N, samples)`` clean score minus the score with the subset
    set to the baseline; ``targets``: the class explained per image.
    """

    correlation: np.ndarray
    attribution_sums: np.ndarray
    drops: np.ndarray
    targets: np.ndarray

    @property
    def mean(self) -> float:
        """The mean correlation over the images."""
        return float(np.mean(self.correlation))


@dataclass
class Randomization:
    """What :func:`randomization_check` measured.

    ``layers``: the randomised layers' names in the order they were
    randomised (top layer first); ``original``: ``(N, ...)`` maps of the
    model; ``maps``: ``(L, N, ...)`` maps after randomising ``layers[:l+1]``
    (cascading) or ``layers[l]`` alone (independent); ``rank_correlation``
    and ``ssim``: ``(L, N)`` between each randomised map and the original;
    ``targets``: the classes explained (the original model's, kept for every
    randomised model); ``cascade``: which kind of check it was.
    """

    layers: list
    original: np.ndarray
    maps: np.ndarray
    rank_correlation: np.ndarray
    ssim: np.ndarray
    targets: np.ndarray
    cascade: bool

    @property
    def mean_rank_correlation(self) -> np.ndarray:
        """``(L,)`` rank correlation averaged over the images."""
        return self.rank_correlation.mean(axis=1)

    @property
    def mean_ssim(self) -> np.ndarray:
        """``(L,)`` SSIM averaged over the images."""
        return self.ssim.mean(axis=1)


# ---------------------------------------------------------------------------
# numeric helpers (numpy only)


def trapezoid(values, x) -> np.ndarray:
    """Trapezoidal integral of ``values`` (last axis) over the points ``x``."""
    values = np.asarray(values, np.float64)
    x = np.asarray(x, np.float64)
    return ((values[..., 1:] + values[..., :-1]) * 0.5 * np.diff(x)).sum(axis=-1)


def _ranks(values) -> np.ndarray:
    """Ranks 0..n-1 of a 1-D array, ties given their average rank."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    average = (starts + ends - 1) / 2.0
    ranks = np.empty(len(values), np.float64)
    ranks[order] = np.repeat(average, ends - starts)
    return ranks


def _pearson(a, b) -> float:
    a = np.asarray(a, np.float64) - np.mean(a)
    b = np.asarray(b, np.float64) - np.mean(b)
    norm = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b / norm) if norm > 0 else 0.0


def spearman(a, b) -> float:
    """Spearman rank correlation of two arrays (flattened); ties get average ranks.
    0 when either array is constant (no order to share)."""
    a = np.asarray(a, np.float64).reshape(-1)
    b = np.asarray(b, np.float64).reshape(-1)
    if a.shape != b.shape:
        raise InputShapeError(f"spearman needs arrays of one size, got {a.size} and {b.size} values")
    return _pearson(_ranks(a), _ranks(b))


def _unit_range(values):
    values = np.asarray(values, np.float64)
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def ssim(a, b, normalize=True) -> float:
    """Structural similarity (Wang et al. 2004) of two maps of one shape (2-D or 1-D).

    With ``normalize`` each map is first scaled to ``[0, 1]`` by its own
    minimum and maximum (a constant map becomes 0); the data range is then
    1. A uniform window of 7 (smaller for smaller maps, kept odd), sample
    covariances and ``K1 = 0.01, K2 = 0.03``; the mean over every window
    position inside the map (as scikit-image's ``structural_similarity``).
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim not in (1, 2):
        raise InputShapeError(f"ssim needs two 1-D or 2-D maps of one shape, got {a.shape} and {b.shape}")
    if normalize:
        a, b = _unit_range(a), _unit_range(b)
        data_range = 1.0
    else:
        data_range = float(max(a.max(), b.max()) - min(a.min(), b.min())) or 1.0
    side = min(SSIM_WINDOW, *a.shape)
    side -= 1 - side % 2
    window = (side,) * a.ndim
    count = side**a.ndim

    def local_mean(values):
        view = np.lib.stride_tricks.sliding_window_view(values, window)
        return view.reshape(view.shape[: a.ndim] + (-1,)).mean(axis=-1)

    mean_a, mean_b = local_mean(a), local_mean(b)
    correction = count / (count - 1) if count > 1 else 1.0
    var_a = (local_mean(a * a) - mean_a**2) * correction
    var_b = (local_mean(b * b) - mean_b**2) * correction
    cov = (local_mean(a * b) - mean_a * mean_b) * correction
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    value = ((2 * mean_a * mean_b + c1) * (2 * cov + c2)) / ((mean_a**2 + mean_b**2 + c1) * (var_a + var_b + c2))
    return float(value.mean())


def gaussian_blur(images, sigma, axes) -> np.ndarray:
    """``images`` blurred by a Gaussian of ``sigma`` pixels along ``axes`` (borders mirrored)."""
    out = np.asarray(images, np.float64)
    radius = max(1, int(math.ceil(3 * sigma)))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    for axis in axes:
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="symmetric")
        size = out.shape[axis]
        acc = np.zeros_like(out)
        for weight, offset in zip(kernel, range(2 * radius + 1)):
            acc += weight * np.take(padded, np.arange(offset, offset + size), axis=axis)
        out = acc
    return out


# ---------------------------------------------------------------------------
# the model as the metrics see it


class _Scored:
    """A model, its explained input and output, and the target-class probability of perturbed inputs."""

    def __init__(self, model, images, input=None, output=None, preprocess=None, batch_size=None):
        preprocess = _own_preprocess(model, preprocess)
        model = resolve_model(model)
        if preprocess is not None and not callable(preprocess):
            raise InvalidInputError(f"preprocess must be callable, got {type(preprocess).__name__}")
        self.model = model
        self.plan = plan_for(model)
        self.spec = model_spec(self.plan)
        self.input = choose_input(self.spec, input)
        self.output = choose_output(self.spec, output)
        self.info = model_info(self.plan, self.input, self.output)
        if self.info.kind == "tokens":
            raise NotSupportedError("faithfulness metrics perturb input values; token-id inputs have none to blank")
        self.engines = engines_for(model)
        self.preprocess = preprocess
        if batch_size is None:
            batch_size = self.info.default_batch_size
        if whole_number(batch_size) is None or whole_number(batch_size) < 1:
            raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.xs = as_inputs(images, self.spec, None)
        self.x = self.xs[self.input]
        if self.x.dtype.kind != "f":
            raise NotSupportedError(f"faithfulness metrics need a float input, not {self.x.dtype}")

    @property
    def count(self) -> int:
        return len(self.x)

    def probabilities(self, rows, values) -> np.ndarray:
        """``(B, classes)`` probabilities with the explained input at ``rows`` replaced by ``values``."""
        xs = [a[rows] for a in self.xs]
        xs[self.input] = np.asarray(values, self.x.dtype)
        if self.preprocess is not None:
            xs = as_inputs(xs[0] if len(xs) == 1 else xs, self.spec, self.preprocess)
        logits = np.asarray(self.engines.logits(xs, self.output, self.input), np.float64)
        if logits.shape[-1] == 1:
            return 1.0 / (1.0 + np.exp(-logits))
        logits -= logits.max(axis=-1, keepdims=True)
        weights = np.exp(logits)
        return weights / weights.sum(axis=-1, keepdims=True)

    def targets(self, target, run, share):
        """Target classes per image (top class of the clean image for None) and their clean scores."""
        n, k = self.count, self.info.num_classes
        targets = resolve_targets(target, n, k)
        base = np.empty(n, np.float64)
        for start, end in run.chunks(n, self.batch_size, share):
            rows = np.arange(start, end)
            probs = self.probabilities(rows, self.x[rows])
            chosen = targets[rows]
            chosen[:] = np.where(chosen < 0, probs.argmax(axis=-1), chosen)
            targets[rows] = chosen
            base[rows] = probs[np.arange(len(rows)), chosen]
        return targets, base

    def check_maps(self, maps) -> np.ndarray:
        """``maps`` as float64 ``(N, *map shape)``, or InputShapeError naming the expected shape."""
        expected = tuple(self.info.map_shape(self.x.shape))
        array = np.asarray(maps.numpy() if hasattr(maps, "numpy") else maps)
        if array.dtype == object or array.dtype.kind not in "biuf":
            raise InvalidInputError(f"maps must be a numeric array, got dtype {array.dtype}")
        if array.shape == expected[1:] and self.count == 1:
            array = array[None]
        if array.shape != expected:
            raise InputShapeError(
                f"maps have shape {array.shape}, but {self.count} image(s) of shape {tuple(self.x.shape[1:])} need "
                f"maps of shape {expected}: one value per pixel (per position for sequences), as nbinterp.attribute "
                "returns them"
            )
        array = array.astype(np.float64)
        if not np.isfinite(array).all():
            raise InvalidInputError("maps contain NaN or infinite values")
        return array

    def spread(self, mask) -> np.ndarray:
        """A per-pixel mask ``(B, *map shape)`` broadcast over the input's channel axis."""
        if not self.info.has_channels:
            return mask
        return mask[:, None] if self.info.channels_first else mask[..., None]

    def spatial_axes(self) -> tuple:
        """The axes of one batch of inputs that a blur runs along."""
        rank = self.info.spatial_rank if self.info.has_channels else 1
        first = 2 if self.info.channels_first else 1
        return tuple(range(first, first + rank))

    def fill(self, baseline, blur) -> np.ndarray:
        """What removed pixels become: ``(N, *input shape)``."""
        x = self.x
        if blur is not None:
            if baseline is not None:
                raise InvalidInputError("give either baseline= or blur=, not both: blur replaces the baseline")
            sigma = float(blur) if _is_number(blur) else float("nan")
            if not (math.isfinite(sigma) and sigma > 0):
                raise InvalidInputError(f"blur must be a positive number of pixels (a Gaussian sigma), got {blur!r}")
            return gaussian_blur(x, sigma, self.spatial_axes()).astype(x.dtype)
        if baseline is None:
            return np.zeros_like(x)
        if isinstance(baseline, str):
            if baseline != "mean":
                raise InvalidInputError(f"baseline must be a number, an array or 'mean', got {baseline!r}")
            axes = self.spatial_axes()
            return np.broadcast_to(x.mean(axis=axes, keepdims=True), x.shape).astype(x.dtype)
        value = np.asarray(baseline)
        if value.dtype == object or value.dtype.kind not in "biuf" or not np.isfinite(value).all():
            raise InvalidInputError("baseline must be a finite number, an array or 'mean'")
        try:
            return np.broadcast_to(value.astype(x.dtype), x.shape).copy()
        except ValueError:
            raise InputShapeError(
                f"baseline of shape {value.shape} does not fit images of shape {tuple(x.shape)}"
            ) from None


def _own_preprocess(model, preprocess):
    """``preprocess``, or an Inspector's own when none is given."""
    from .core.inspector import Inspector

    if preprocess is None and isinstance(model, Inspector):
        return model.preprocess
    return preprocess


def _is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


def _positive_int(value, name, low=1):
    number = whole_number(value)
    if number is None or number < low:
        raise InvalidInputError(f"{name} must be an integer >= {low}, got {value!r}")
    return number


# ---------------------------------------------------------------------------
# deletion and insertion


def _curve(kind, model, images, maps, target, steps, baseline, blur, input, output, preprocess, batch_size,
           progress, cancel):
    steps = _positive_int(steps, "steps")
    scored = _Scored(model, images, input, output, preprocess, batch_size)
    values = scored.check_maps(maps)
    run = Run(kind, progress, cancel)
    fill = scored.fill(baseline, blur)
    n = scored.count
    pixels = math.prod(values.shape[1:])
    order = np.argsort(-values.reshape(n, pixels), axis=1, kind="stable")
    position = np.empty_like(order)
    np.put_along_axis(position, order, np.arange(pixels)[None, :].repeat(n, axis=0), axis=1)
    counts = np.round(np.arange(steps + 1) * pixels / steps).astype(np.int64)
    points = steps + 1
    total = n * points
    targets = resolve_targets(target, n, scored.info.num_classes)
    # the top class is read from the curve's own clean point (deletion's first, insertion's last)
    top = (targets < 0).any()
    if top:
        probabilities = np.empty((n, points, scored.info.num_classes), np.float32)
    scores = np.empty((n, points), np.float64)
    x = scored.x
    for start, end in run.chunks(total, scored.batch_size):
        items = np.arange(start, end)
        image, point = items // points, items % points
        changed = (position[image] < counts[point][:, None]).reshape((len(items),) + values.shape[1:])
        changed = scored.spread(changed)
        if kind == "deletion":
            rows = np.where(changed, fill[image], x[image])
        else:
            rows = np.where(changed, x[image], fill[image])
        probs = scored.probabilities(image, rows)
        if top:
            probabilities[image, point] = probs
        else:
            scores[image, point] = probs[np.arange(len(items)), targets[image]]
    if top:
        clean = probabilities[:, 0 if kind == "deletion" else -1]
        targets = np.where(targets < 0, clean.argmax(axis=-1), targets)
        scores = np.take_along_axis(probabilities, targets[:, None, None], axis=2)[..., 0].astype(np.float64)
    run.report(1.0)
    return PerturbationCurve(kind, np.arange(points) / steps, scores, targets)


def deletion(model, images, maps, target=None, steps=DEFAULT_STEPS, baseline=None, blur=None, input=None,
             output=None, preprocess=None, batch_size=None, progress=None, cancel=None) -> PerturbationCurve:
    """The deletion curve of ``maps``: the target score as pixels are removed, most important first.

    Pixels are ranked by their map value (highest first; ties in row-major
    order). At step ``k`` of ``steps`` the first ``round(k * P / steps)`` of
    the ``P`` pixels are set to the fill (all channels of a pixel together)
    and the target-class probability is read, so the curve has ``steps + 1``
    points from the clean image (fraction 0) to the all-fill image
    (fraction 1). Lower area under the curve = a more faithful map.

    ``baseline``: the fill, in the model's input space before ``preprocess``:
    None (0, black for images), a number, an array broadcastable to the
    images, or ``"mean"`` (each image's mean per channel). ``blur``: a
    Gaussian sigma in pixels; removed pixels then take the blurred image's
    values (instead of ``baseline``). See the module documentation for
    ``model``, ``images``, ``maps``, ``target``, ``progress`` and ``cancel``.

    Returns a :class:`PerturbationCurve` (``.curve``, ``.auc`` per image, ``.mean_auc``).
    """
    return _curve("deletion", model, images, maps, target, steps, baseline, blur, input, output, preprocess,
                  batch_size, progress, cancel)


def insertion(model, images, maps, target=None, steps=DEFAULT_STEPS, baseline=None, blur=None, input=None,
              output=None, preprocess=None, batch_size=None, progress=None, cancel=None) -> PerturbationCurve:
    """The insertion curve of ``maps``: the target score as pixels are put back, most important first.

    Starts from the fill (``baseline``, or with ``blur`` a blurred copy of the
    image, as Petsiuk et al. do) and at step ``k`` restores the first
    ``round(k * P / steps)`` pixels in the map's order; ``steps + 1`` points
    from the fill (fraction 0) to the clean image (fraction 1). Higher area
    under the curve = a more faithful map. Arguments as for :func:`deletion`.
    """
    return _curve("insertion", model, images, maps, target, steps, baseline, blur, input, output, preprocess,
                  batch_size, progress, cancel)


# ---------------------------------------------------------------------------
# MuFidelity


def _units(map_shape, grid):
    """Label per pixel of the units subsets are drawn from: pixels, or ``grid`` cells per axis."""
    if grid is None:
        return np.arange(math.prod(map_shape)).reshape(map_shape), math.prod(map_shape)
    cells = _positive_int(grid, "grid")
    labels = np.zeros(map_shape, np.int64)
    for axis, size in enumerate(map_shape):
        index = (np.arange(size) * min(cells, size)) // size
        shape = [1] * len(map_shape)
        shape[axis] = size
        labels = labels * min(cells, size) + index.reshape(shape)
    return labels, int(labels.max()) + 1


def subsets(seed, image, samples, units, size) -> np.ndarray:
    """The units :func:`mu_fidelity` blanks for ``image``: ``(samples, size)`` indices.

    Sample ``j`` is ``rng.permutation(units)[:size]`` for the ``j``-th draw of
    ``rng = np.random.default_rng((seed, image))``.
    """
    rng = np.random.default_rng((int(seed), int(image)))
    return np.stack([rng.permutation(units)[:size] for _ in range(samples)])


def mu_fidelity(model, images, maps, target=None, subset=0.2, samples=128, grid=None, baseline=None, seed=0,
                input=None, output=None, preprocess=None, batch_size=None, progress=None, cancel=None) -> MuFidelity:
    """MuFidelity: how well sums of the map predict score drops.

    For every image, ``samples`` random subsets of ``round(subset * U)``
    units are drawn (units: the pixels, or with ``grid=g`` the cells of a
    ``g`` x ``g`` grid; see :func:`subsets` for the draw). Each subset is set
    to ``baseline`` (as for :func:`deletion`) and the drop of the target
    probability from the clean image is compared with the sum of the map
    over the subset's pixels: the result is their Pearson correlation per
    image (higher = more faithful; 0 when either is constant).
    ``seed`` fixes the subsets.

    Returns a :class:`MuFidelity` (``.correlation`` per image, ``.mean``).
    """
    samples = _positive_int(samples, "samples", 2)
    if not _is_number(subset) or not 0.0 < float(subset) < 1.0:
        raise InvalidInputError(f"subset must be a fraction between 0 and 1, got {subset!r}")
    seed = whole_number(seed)
    if seed is None:
        raise InvalidInputError("seed must be an integer")
    scored = _Scored(model, images, input, output, preprocess, batch_size)
    values = scored.check_maps(maps)
    run = Run("MuFidelity", progress, cancel)
    fill = scored.fill(baseline, None)
    n = scored.count
    map_shape = values.shape[1:]
    labels, units = _units(map_shape, grid)
    size = min(units - 1, max(1, int(round(float(subset) * units))))
    targets, base = scored.targets(target, run, share=(0.0, 1.0 / (samples + 1)))
    flat_labels = labels.reshape(-1)
    unit_sums = np.zeros((n, units), np.float64)
    for i in range(n):
        unit_sums[i] = np.bincount(flat_labels, weights=values[i].reshape(-1), minlength=units)
    sums = np.empty((n, samples), np.float64)
    drops = np.empty((n, samples), np.float64)
    drawn = {}
    x = scored.x
    for start, end in run.chunks(n * samples, scored.batch_size, share=(run.fraction, 1.0)):
        items = np.arange(start, end)
        image, sample = items // samples, items % samples
        drawn = {i: drawn[i] for i in drawn if i >= image[0]}  # items run image by image
        for i in np.unique(image):
            if i not in drawn:
                drawn[i] = subsets(seed, i, samples, units, size)
        chosen = np.stack([drawn[i][j] for i, j in zip(image, sample)])  # (B, size)
        unit_mask = np.zeros((len(items), units), bool)
        np.put_along_axis(unit_mask, chosen, True, axis=1)
        pixel_mask = unit_mask[:, flat_labels].reshape((len(items),) + map_shape)
        rows = np.where(scored.spread(pixel_mask), fill[image], x[image])
        probs = scored.probabilities(image, rows)
        drops[image, sample] = base[image] - probs[np.arange(len(items)), targets[image]]
        sums[image, sample] = (unit_sums[image] * unit_mask).sum(axis=1)
    run.report(1.0)
    correlation = np.array([_pearson(sums[i], drops[i]) for i in range(n)])
    return MuFidelity(correlation, sums, drops, targets)


# ---------------------------------------------------------------------------
# model randomisation


def _randomized_values(layer, seed) -> list:
    """New values for ``layer``'s trainable weights: its own initialisers, seeded; a normal
    draw with each trained tensor's spread where a weight has no initialiser to ask."""
    import keras

    rng = np.random.default_rng(seed)
    values = []
    for index, variable in enumerate(layer.trainable_weights):
        shape, dtype = tuple(variable.shape), variable.dtype
        name = variable.name.rsplit("/", 1)[-1].split(":")[0]
        initializer = getattr(layer, f"{name}_initializer", None)
        value = None
        if isinstance(initializer, keras.initializers.Initializer):
            config = initializer.get_config()
            if "seed" in config:
                config["seed"] = int(rng.integers(2**31 - 1))
            try:
                value = np.asarray(type(initializer).from_config(config)(shape, dtype=dtype))
            except Exception:  # an initialiser that cannot be rebuilt from its config
                value = None
        if value is None:
            trained = np.asarray(variable.numpy(), np.float64)
            spread = float(trained.std()) or 0.05
            value = rng.normal(0.0, spread, shape)
        values.append(np.asarray(value, dtype=np.dtype(dtype) if isinstance(dtype, str) else None))
    return values


def randomization_check(model, images, method="gradient", target=None, cascade=True, layers=None, seed=0,
                        absolute=True, layer=None, input=None, output=None, preprocess=None, batch_size=None,
                        progress=None, cancel=None, **options) -> Randomization:
    """Model-parameter randomisation test (Adebayo et al. 2018) of attribution ``method``.

    The model is cloned (``keras.models.clone_model``) and the clone given the
    model's weights; the model itself is never changed. Then, for each layer
    with trainable weights from the output down (or the names in ``layers``,
    ordered the same way), the clone's weights of that layer are
    re-initialised (each weight from its layer's initialiser with a seed
    drawn from ``seed``; non-trainable state such as batch-norm statistics is
    kept) and the map of ``method`` recomputed for the same target classes.
    ``cascade=True`` keeps the layers above randomised (cascading
    randomisation); ``cascade=False`` restores the model's weights first, so
    each layer is randomised alone.

    Each randomised map is compared with the original one: Spearman rank
    correlation (of absolute values with ``absolute=True``, as in the
    paper's figures) and SSIM (:func:`ssim`, each map scaled to [0, 1]). A
    method that passes the check shows low values once the upper layers are
    random; a method whose maps stay similar explains the input more than
    the model.

    ``method``, ``layer`` and ``options`` are passed to
    :func:`nbinterp.attribute`; ``seed`` fixes the re-initialised weights and
    is passed on to methods that take a seed themselves (SmoothGrad's noise),
    so every map of the check sees the same noise. The clone's compiled
    functions are dropped at the end. Returns a :class:`Randomization`.
    """
    import keras

    from . import attribution

    cls = attribution.get_method(method)
    preprocess = _own_preprocess(model, preprocess)
    model = resolve_model(model)
    if not isinstance(cascade, (bool, np.bool_)):
        raise InvalidInputError(f"cascade must be True or False, got {cascade!r}")
    seed = whole_number(seed)
    if seed is None:
        raise InvalidInputError("seed must be an integer")
    candidates = [(i, lay) for i, lay in enumerate(model.layers) if lay.trainable_weights][::-1]
    if layers is not None:
        names = [layers] if isinstance(layers, str) else list(layers)
        known = {lay.name for _, lay in candidates}
        unknown = [name for name in names if name not in known]
        if unknown:
            from .errors import UnknownLayerError

            raise UnknownLayerError(unknown[0], sorted(known))
        candidates = [(i, lay) for i, lay in candidates if lay.name in set(names)]
    if not candidates:
        raise NotSupportedError(f"model {model.name!r} has no layers with trainable weights to randomise")
    run = Run("randomization check", progress, cancel)
    if "seed" in cls.options:
        options = {**options, "seed": seed}
    common = dict(layer=layer, input=input, output=output, preprocess=preprocess, **options)
    if batch_size is not None:
        common["batch_size"] = batch_size
    total = len(candidates) + 1

    def explain(net, step, targets):
        run.check()
        method_object = cls(net, **{k: common[k] for k in ("layer", "input", "output", "preprocess", "batch_size")
                                    if k in common})
        extra = {k: v for k, v in common.items() if k not in ("layer", "input", "output", "preprocess", "batch_size")}
        maps = method_object.attribute(images, target=targets, cancel=cancel,
                                       progress=lambda f: run.report((step + f) / total), **extra)
        return maps, method_object.last_targets

    original, targets = explain(model, 0, target)
    try:
        clone = keras.models.clone_model(model)
    except Exception as error:  # subclassed models and layers without a config cannot be cloned
        raise NotSupportedError(
            f"randomization_check works on a copy of the model, and model {model.name!r} cannot be copied with "
            f"keras.models.clone_model ({type(error).__name__}: {str(error).strip().splitlines()[0][:200]}); "
            "use a functional or Sequential model"
        ) from None
    try:
        trained = model.get_weights()
        clone.set_weights(trained)
        clone_layers = clone.layers
        randomized = [_randomized_values(clone_layers[i], (seed, i)) for i, _ in candidates]
        maps = []
        for step, ((index, _), values) in enumerate(zip(candidates, randomized), start=1):
            if not cascade:
                clone.set_weights(trained)
            for variable, value in zip(clone_layers[index].trainable_weights, values):
                variable.assign(value)
            maps.append(explain(clone, step, targets)[0])
    finally:
        compiled.forget(clone)
        del clone
    maps = np.stack(maps)
    compare_original = np.abs(original) if absolute else original
    rank = np.empty(maps.shape[:2])
    similarity = np.empty(maps.shape[:2])
    for step in range(maps.shape[0]):
        for i in range(maps.shape[1]):
            other = np.abs(maps[step, i]) if absolute else maps[step, i]
            rank[step, i] = spearman(compare_original[i], other)
            similarity[step, i] = ssim(compare_original[i], other)
    run.report(1.0)
    return Randomization([lay.name for _, lay in candidates], original, maps, rank, similarity,
                         np.asarray(targets, np.int64), bool(cascade))
