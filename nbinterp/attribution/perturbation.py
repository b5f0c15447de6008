"""What the perturbation methods share: segments, baseline fills and masked model evaluations.

Occlusion, KernelSHAP, LIME and RISE all explain a prediction by showing
the model copies of the input in which some regions keep their values and
the others are replaced, and reading how the target score changes. This
module owns the three pieces they have in common:

* :func:`segment_labels` - the regions ("segments", superpixels): SLIC
  superpixels (scikit-image), a regular grid, or integer labels given by
  the user; one label map per example, numbered ``0 .. M - 1``.
* :func:`baseline_fill` - what the hidden regions are set to: the mean of
  each example per channel (the default), or a number.
* :func:`masked_passes` - the batched evaluation: work items (an example and
  a keep-mask over its pixels) composed into model inputs chunk by chunk
  and pushed through the model's compiled forward engine, with progress
  and cancellation per chunk.

Everything works in the method's *attribution space*: the input itself for
image, sequence and vector models, the embedding vectors for token models
(hidden tokens get the fill as their embedding, as in occlusion). Masks and
label maps have the shape of one map: ``(H, W)`` for images (whatever the
model's data format), ``(T,)`` for sequences and tokens, ``(D,)`` for vectors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.options import Option, is_real
from ..errors import InvalidInputError, NotSupportedError

__all__ = [
    "BaselineOption",
    "SegmentsOption",
    "baseline_fill",
    "cross_products",
    "expand_mask",
    "grid_labels",
    "masked_passes",
    "masked_scores",
    "paint",
    "segment_labels",
    "slic_labels",
    "solve_normal_equations",
    "spatial_view",
]

#: the segmentations a name selects; an integer label array is the third way
SEGMENTATIONS = ("slic", "grid")


# ---------------------------------------------------------------------------
# options


@dataclass(frozen=True)
class SegmentsOption(Option):
    """``"slic"``, ``"grid"`` or an integer label array (one map, or one per example)."""

    ui: str | None = "choice"
    choices: tuple | None = SEGMENTATIONS

    def check(self, value):
        if isinstance(value, str):
            if value not in SEGMENTATIONS:
                raise InvalidInputError(
                    f"{self.name} must be 'slic', 'grid' or an integer label array, got {value!r}"
                )
            return value
        array = np.asarray(value)
        if array.dtype == object or array.dtype.kind not in "iu" or array.ndim == 0:
            raise InvalidInputError(
                f"{self.name} must be 'slic', 'grid' or an integer label array of shape (H, W) or "
                f"(N, H, W) (one label per pixel), got {_describe(value)}"
            )
        return array


@dataclass(frozen=True)
class BaselineOption(Option):
    """``"mean"`` (each example's mean per channel) or a finite number, in the model's input space."""

    def check(self, value):
        if isinstance(value, str) and value == "mean":
            return value
        if is_real(value) and np.isfinite(value):
            return float(value)
        raise InvalidInputError(f"{self.name} must be 'mean' or a finite number, got {_describe(value)}")


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype} and shape {value.shape}"
    return repr(value)


# ---------------------------------------------------------------------------
# the attribution space seen as maps


def spatial_view(info, z):
    """``z`` (attribution space, one batch) as ``(N, *map shape, channels)``: channels last, always."""
    z = np.asarray(z)
    if not info.has_channels:
        return z[..., None]
    if info.channels_first:
        return np.moveaxis(z, 1, -1)
    return z


def expand_mask(info, mask):
    """A per-pixel mask ``(B, *map shape)`` broadcast against attribution-space rows."""
    if not info.has_channels:
        return mask
    return mask[:, None] if info.channels_first else mask[..., None]


def paint(labels, values):
    """Per-pixel maps from per-segment values: ``maps[i] = values[i][labels[i]]``."""
    return np.stack([np.asarray(v, np.float32)[lab] for lab, v in zip(labels, values)])


# ---------------------------------------------------------------------------
# segments


def grid_labels(shape, cells):
    """A regular grid of ``cells`` per axis over a map of ``shape`` (row-major numbering)."""
    index = [np.minimum(np.arange(size) * cells // max(size, 1), cells - 1) for size in shape]
    if len(shape) == 1:
        labels = index[0]
    else:
        labels = index[0][:, None] * cells + index[1][None, :]
    return _compact(labels)


def slic_labels(image, n_segments):
    """SLIC superpixels (Achanta et al. 2012, scikit-image) of one example ``(*map shape, channels)``.

    Values are scaled to ``[0, 1]`` per example first; three-channel images
    are clustered in CIELAB, other channel counts on their scaled values
    (times 100, the range of CIELAB lightness, so that one compactness suits
    both). Sequences are segmented as images one row high. Should the
    connectivity step leave a single region (noise-like images), the
    superpixels are taken without it.
    """
    try:
        from skimage.segmentation import slic
    except ImportError as err:  # pragma: no cover - scikit-image is a dependency
        raise NotSupportedError(
            "segments='slic' needs scikit-image (pip install scikit-image); segments='grid' works without it"
        ) from err
    image = np.asarray(image, np.float64)
    low, high = image.min(), image.max()
    scaled = (image - low) / (high - low) if high > low else np.zeros_like(image)
    if scaled.ndim == 2:  # a sequence: one row of an image
        scaled = scaled[None]
    channels = scaled.shape[-1]
    if channels == 3:
        data, extra = scaled, {"channel_axis": -1}
    elif channels == 1:
        data, extra = scaled[..., 0] * 100.0, {"channel_axis": None}
    else:
        data, extra = scaled * 100.0, {"channel_axis": -1, "convert2lab": False}
    labels = slic(data, n_segments=n_segments, compactness=10.0, start_label=0, **extra)
    if n_segments > 1 and labels.max() == labels.min():
        # on noise-like images the connectivity step merges every fragment into one region
        labels = slic(data, n_segments=n_segments, compactness=10.0, start_label=0, enforce_connectivity=False,
                      **extra)
    labels = labels.reshape(image.shape[:-1])
    return _compact(labels)


def _compact(labels):
    """Labels renumbered ``0 .. M - 1`` in order of first value, as int32."""
    _, inverse = np.unique(labels, return_inverse=True)
    return inverse.reshape(labels.shape).astype(np.int32)


def segment_labels(info, z, segments, n_segments=50, grid=8):
    """One label map per example of the batch ``z`` (attribution space): a list of int32 arrays
    of the map shape, each numbered ``0 .. M_i - 1``.

    ``segments``: ``"slic"`` (``n_segments`` superpixels, about), ``"grid"``
    (``grid`` cells per axis: ``grid x grid`` for images, ``grid`` windows
    for sequences) or an integer array of labels, of the map shape (shared
    by every example) or with one map per example in front.
    """
    view = spatial_view(info, z)
    shape = view.shape[1:-1]
    n = len(view)
    if isinstance(segments, str):
        if segments == "grid":
            labels = grid_labels(shape, grid)
            return [labels] * n
        if segments == "slic":
            return [slic_labels(view[i], n_segments) for i in range(n)]
        raise InvalidInputError(f"segments must be 'slic', 'grid' or an integer label array, got {segments!r}")
    labels = np.asarray(segments)
    what = "pixel" if len(shape) == 2 else "position"
    if labels.shape == shape:
        compact = _compact(labels)
        return [compact] * n
    if labels.shape == (n,) + shape:
        return [_compact(labels[i]) for i in range(n)]
    raise InvalidInputError(
        f"segments as an array must hold one integer label per {what}: shape {tuple(shape)} for every "
        f"example, or {(n,) + tuple(shape)} with one map per example; got shape {labels.shape}"
    )


# ---------------------------------------------------------------------------
# baselines


def baseline_fill(info, z, baseline):
    """What hidden pixels are set to, broadcastable against ``z``: ``"mean"`` gives each example's
    mean per channel (per embedding dimension for tokens; over all values for vectors), a number
    gives that number everywhere."""
    z = np.asarray(z)
    if isinstance(baseline, str):
        if baseline != "mean":
            raise InvalidInputError(f"baseline must be 'mean' or a number, got {baseline!r}")
        if not info.has_channels:
            axes = tuple(range(1, z.ndim))
        else:
            channel = 1 if info.channels_first else z.ndim - 1
            axes = tuple(a for a in range(1, z.ndim) if a != channel)
        return z.astype(np.float64).mean(axis=axes, keepdims=True).astype(z.dtype)
    return np.full((len(z),) + (1,) * (z.ndim - 1), baseline, dtype=z.dtype)


# ---------------------------------------------------------------------------
# least squares


#: below this many multiply-adds a product of small matrices runs in numpy's own loops: a BLAS
#: call wakes its thread pool, which beside TensorFlow's busy threads can cost tens of milliseconds
_SMALL_PRODUCT = 5e7


def cross_products(a, b):
    """``a.T @ b`` for the design matrices of the regressions (rows: perturbations)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape[0] * a.shape[1] * (b.shape[1] if b.ndim > 1 else 1) < _SMALL_PRODUCT:
        return np.einsum("ki,k...->i...", a, b, optimize=False)
    return a.T @ b


def solve_normal_equations(gram, rhs, rows):
    """``x`` with ``gram @ x = rhs`` (``gram = A.T @ W @ A`` of a design with ``rows`` rows).

    A determined system is solved directly (LU); an underdetermined or
    singular one gets the minimum-norm solution from an eigendecomposition.
    Normal equations rather than an SVD of the design: the designs here are
    well-conditioned 0/1 matrices, and LAPACK's SVD least squares is slow
    when TensorFlow's threads hold the cores.
    """
    gram, rhs = np.asarray(gram, np.float64), np.asarray(rhs, np.float64)
    if rows >= len(gram):
        try:
            solution = np.linalg.solve(gram, rhs)
            if np.isfinite(solution).all():
                return solution
        except np.linalg.LinAlgError:
            pass
    values, vectors = np.linalg.eigh(gram)
    keep = values > max(values.max(), 0.0) * len(gram) * np.finfo(np.float64).eps * 1e3
    return vectors[:, keep] @ ((vectors[:, keep].T @ rhs) / values[keep])


# ---------------------------------------------------------------------------
# masked evaluation


def _probabilities(logits, rows, targets):
    """Each row's target-class probability from logits: softmax over classes (sigmoid for one output)."""
    logits = np.asarray(logits, np.float64)
    if logits.shape[-1] == 1:
        return (1.0 / (1.0 + np.exp(-logits[:, 0]))).astype(np.float32)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return np.exp(log_p[rows, targets]).astype(np.float32)


def masked_passes(method, z, fill, images, keep, targets, run, share=None, probabilities=False):
    """Target scores of masked copies of the inputs, chunk by chunk (a generator).

    Work item ``k`` is example ``images[k]`` of the batch ``z`` (attribution
    space) with its pixels kept where ``keep(start, end)`` - the chunk's
    masks, ``(end - start, *map shape)`` - is True and set to ``fill``
    (broadcastable against ``z``, one row per example) where it is False.
    Float masks in ``[0, 1]`` blend: ``fill + mask * (z - fill)``.
    ``targets``: one class per example (resolved, non-negative).

    Yields ``(start, end, masks, scores)`` per chunk of ``method.batch_size``
    items: ``scores`` are the target logits, or with ``probabilities`` the
    target-class probabilities (softmax of the logits; a sigmoid for a
    single output). Cancellation is checked before each chunk and progress
    reported after it, within ``share`` of the call (default: from the
    progress so far to 1).
    """
    info = method.info
    images = np.asarray(images, np.int64)
    share = (run.fraction, 1.0) if share is None else share
    for start, end in run.chunks(len(images), method.batch_size, share):
        index = images[start:end]
        masks = keep(start, end)
        wide = expand_mask(info, masks)
        values, base = z[index], fill[index]
        if masks.dtype == np.bool_:
            rows = np.where(wide, values, base)
        else:
            rows = (base + wide * (values - base)).astype(z.dtype, copy=False)
        logits = method.space_logits_at(index, rows)
        chunk = np.arange(len(index))
        if probabilities:
            scores = _probabilities(logits, chunk, targets[index])
        else:
            scores = np.asarray(logits[chunk, targets[index]], np.float32)
        yield start, end, masks, scores


def masked_scores(method, z, fill, images, keep, targets, run, share=None, probabilities=False):
    """All scores of :func:`masked_passes`, one per work item, as float32."""
    scores = np.empty(len(images), np.float32)
    for start, end, _, chunk in masked_passes(method, z, fill, images, keep, targets, run, share, probabilities):
        scores[start:end] = chunk
    return scores


def coalition_masks(labels, coalitions, images, rows):
    """Per-pixel keep-masks of coalitions: item ``k`` keeps the segments of example
    ``images[k]`` set in ``coalitions[images[k]][rows[k]]`` (a bool matrix per example)."""
    out = np.empty((len(images),) + labels[images[0]].shape, np.bool_)
    bounds = np.flatnonzero(np.diff(images)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(images)]):
        i = images[lo]
        out[lo:hi] = coalitions[i][rows[lo:hi]][:, labels[i]]
    return out


def evaluate_coalitions(method, z, fill, labels, coalitions, targets, run):
    """Target logits of every coalition of every example: a list with one float64 vector per example.

    ``coalitions``: one bool matrix ``(samples_i, M_i)`` per example (True:
    the segment keeps its values). All examples' coalitions run through the
    model together, in chunks of ``batch_size``.
    """
    counts = np.array([len(c) for c in coalitions])
    images = np.repeat(np.arange(len(coalitions)), counts)
    rows = np.concatenate([np.arange(c) for c in counts])

    def keep(start, end):
        return coalition_masks(labels, coalitions, images[start:end], rows[start:end])

    scores = masked_scores(method, z, fill, images, keep, targets, run)
    return np.split(scores.astype(np.float64), np.cumsum(counts)[:-1])


def segmented(method, x, targets, options, run):
    """What the segment-based methods start from: the targets (top classes resolved), the
    examples in the explained space ``z``, one label map per example (from the
    ``segments``/``n_segments``/``grid`` options) and the baseline fill (``baseline``)."""
    if (targets < 0).any():
        targets, _ = method.top_targets(x, targets, run, share=(0.0, 0.02))
    z = method.embed(np.arange(len(x)))
    labels = segment_labels(method.info, z, options["segments"], options["n_segments"], options["grid"])
    fill = baseline_fill(method.info, z, options["baseline"])
    return targets, z, labels, fill
