"""Dataset-level neuron views: the examples that excite one channel the most.

In the manner of Zeiler & Fergus (2013) and the Deep Visualization Toolbox:
stream a dataset through the network, score every example by how strongly
one channel of a layer fires on it, keep the best ``k``, and show each one
with the crop of the input that the strongest unit actually sees.

* **Score**: the channel's maximum over all spatial positions of the layer's
  output (after its activation function). For layers without spatial axes
  (Dense, global pooling) it is the unit's value. Ties go to the example seen
  first.
* **Position**: where that maximum is, as an index into the layer's output
  grid (the first one in row-major order when several positions tie).
* **Box and patch**: the receptive field of that position (see
  :mod:`nbinterp.units.receptive_field`), clipped to the image: ``boxes`` are
  ``(top, left, bottom, right)`` with bottom/right exclusive (``(start, stop)``
  for 1-D inputs), and ``patches`` are the raw images cropped to them, so a
  patch at the border is smaller than the full field (nothing is padded).

Memory is O(k): the scan keeps only a running top-k of (score, index,
position, raw image) and one batch at a time, whatever the size of the data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from ..errors import InputShapeError, InvalidInputError
from ..core.inputs import fits_shape, to_numpy, as_batch
from .. import display
from ._common import cached_function, unit_model_for, cancel_requested, cancelled, channel_unit, output_grid
from .receptive_field import field_finder

from ..types import Cancel, LayerRef, ModelLike, Preprocess, Progress

__all__ = ["TopActivations", "top_activations", "iter_batches", "iter_input_batches"]


@dataclass
class TopActivations:
    """The ``k`` examples (or fewer, for short data) that excite one channel the most, best first.

    ``images``: the raw examples as they were given (``(k, ...)``, original dtype);
    ``scores``: float32 ``(k,)``; ``indices``: int64 ``(k,)`` positions in the stream;
    ``positions``: int64 ``(k, spatial_rank)`` argmax in the layer's output grid;
    ``boxes``: int64 ``(k, 2 * spatial_rank)`` receptive-field boxes, clipped to the input;
    ``patches``: list of the raw images cropped to ``boxes`` (None with ``patches=False``);
    ``seen``: how many examples were scanned; ``complete``: False for the partial
    result carried by a CancelledError.
    """

    layer: str
    channel: int
    images: np.ndarray
    scores: np.ndarray
    indices: np.ndarray
    positions: np.ndarray
    boxes: np.ndarray
    patches: list | None
    seen: int
    receptive_field_method: str | None = None
    complete: bool = True
    #: models with several inputs: the kept examples of every input (model order), and the
    #: name of the input that ``images``, ``boxes`` and ``patches`` are of
    inputs: list | None = None
    input: str | None = None

    def __len__(self):
        return len(self.scores)


def _scan_function(unit_model, entry, key, strategy):
    plan = unit_model.plan

    def scan(xs, channel):
        (out,) = plan.run(list(xs), [key])
        a = tf.gather(out, channel, axis=-1)
        flat = tf.reshape(a, [tf.shape(a)[0], -1])
        return tf.reduce_max(flat, axis=1), tf.argmax(flat, axis=1, output_type=tf.int32)

    if strategy is None:
        def build():
            fn = tf.function(scan, autograph=False)
            # the concrete function skips tf.function's per-call signature matching
            return fn.get_concrete_function(unit_model.signature(), tf.TensorSpec([], tf.int32))

        fn = cached_function(unit_model.model, ("top_activations", entry.path), build)
        return lambda xs, channel: fn([tf.convert_to_tensor(x) for x in xs], channel)

    def build_distributed():
        @tf.function(reduce_retracing=True, autograph=False)
        def step(x_dist, channel):
            return strategy.run(scan, args=(x_dist, channel))

        return step

    step = cached_function(unit_model.model, ("top_activations", entry.path, id(strategy)), build_distributed)
    replicas = strategy.num_replicas_in_sync

    def distributed(xs, channel):
        chunks = [np.array_split(x, replicas) for x in xs]
        x_dist = strategy.experimental_distribute_values_from_function(
            lambda ctx: [tf.constant(c[ctx.replica_id_in_sync_group]) for c in chunks]
        )
        scores, args = step(x_dist, channel)
        scores = [np.asarray(s) for s in strategy.experimental_local_results(scores)]
        args = [np.asarray(a) for a in strategy.experimental_local_results(args)]
        return np.concatenate(scores), np.concatenate(args)

    distributed.strategy = strategy  # keep it alive alongside the cached step
    return distributed


def _x_of(item):
    """The images of a batch item: the item itself, or the first element of an (x, y, ...) tuple."""
    if isinstance(item, dict):
        raise InvalidInputError("dict elements are not supported: map the data to images or (images, labels) first")
    if isinstance(item, (tuple, list)) and not isinstance(item, np.ndarray):
        if len(item) == 0:
            raise InvalidInputError("empty element in the data")
        return item[0]
    return item


def _is_single_example(shape, expected):
    """Whether an array/spec of ``shape`` is one example (not a batch) for an input ``expected``."""
    shape = tuple(shape)
    if len(shape) == len(expected):
        return fits_shape(shape, expected)
    if expected and expected[-1] == 1 and len(shape) == len(expected) - 1:
        return True
    return False


def iter_batches(data, expected, batch_size=64):
    """Yield numpy batches (raw, as given) from a numpy array, a tf.data.Dataset or an iterable.

    Dataset elements and iterable items may be batches or single examples,
    and may be ``(x, y, ...)`` tuples (only ``x`` is used). Single examples
    of a Dataset are batched ``batch_size`` at a time.
    """
    expected = tuple(expected)
    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        if isinstance(spec, dict):
            raise InvalidInputError("dict dataset elements are not supported: map them to images or (images, labels)")
        if isinstance(spec, (tuple, list)):
            data = data.map(lambda *e: e[0])
            spec = spec[0]
        if _is_single_example(spec.shape, expected):
            data = data.batch(batch_size)
        for batch in data.prefetch(2).as_numpy_iterator():
            yield np.asarray(batch)
        return
    if isinstance(data, np.ndarray) or (hasattr(data, "numpy") and hasattr(data, "shape")):
        array = to_numpy(data)
        if _is_single_example(array.shape, expected):
            yield array[None]
            return
        for start in range(0, len(array), batch_size):
            yield array[start : start + batch_size]
        return
    try:
        iterator = iter(data)
    except TypeError:
        raise InvalidInputError(
            f"data must be a numpy array, a tf.data.Dataset or an iterable of batches, not {type(data).__name__}"
        ) from None
    for item in iterator:
        x = to_numpy(_x_of(item))
        if _is_single_example(x.shape, expected):
            x = x[None]
        yield x


def _structured(value, n_inputs):
    """Whether ``value`` holds every input of a model with ``n_inputs`` inputs (a dict, or a list/tuple
    of that length whose items are arrays)."""
    if isinstance(value, dict):
        return True
    return (isinstance(value, (list, tuple)) and len(value) == n_inputs
            and all(hasattr(v, "shape") or isinstance(v, (list, tuple)) for v in value))


def iter_input_batches(data, spec, batch_size=64):
    """Yield raw batches of every input of a model with several inputs, as lists in the model's
    input order, from: a list/tuple (model order) or dict ``{input name: array}`` of arrays;
    a ``tf.data.Dataset`` whose elements are such structures, or ``(inputs, labels, ...)``
    tuples of them (batched or single examples); or an iterable of batches like that."""
    names = [s.name for s in spec.inputs]
    n = len(names)

    def ordered(value):
        if isinstance(value, dict):
            missing = [name for name in names if name not in value]
            if missing:
                raise InvalidInputError(
                    f"the data has no values for input {', '.join(map(repr, missing))}; the model's inputs are "
                    + ", ".join(map(repr, names))
                )
            return [value[name] for name in names]
        return list(value)

    def inputs_of(item):
        if _structured(item, n) and not (isinstance(item, (list, tuple)) and _structured(item[0], n)):
            return ordered(item)
        if isinstance(item, (list, tuple)) and item and _structured(item[0], n):
            return ordered(item[0])
        raise InvalidInputError(
            f"this model has {n} inputs ({', '.join(map(repr, names))}): the data must give all of them, "
            "as a list in that order or a dict {input name: array} (optionally with labels: (inputs, labels))"
        )

    def batched(arrays):
        arrays = [to_numpy(a) for a in arrays]
        if _is_single_example(arrays[0].shape, spec.inputs[0].shape):
            arrays = [a[None] for a in arrays]
        return arrays

    if isinstance(data, tf.data.Dataset):
        element = data.element_spec
        first = inputs_of(element)
        if _is_single_example(first[0].shape, spec.inputs[0].shape):
            data = data.batch(batch_size)
        for item in data.prefetch(2).as_numpy_iterator():
            yield [np.asarray(a) for a in inputs_of(item)]
        return
    if _structured(data, n) and not (isinstance(data, (list, tuple)) and _structured(data[0], n)):
        arrays = batched(ordered(data))
        for start in range(0, len(arrays[0]), batch_size):
            yield [a[start:start + batch_size] for a in arrays]
        return
    try:
        iterator = iter(data)
    except TypeError:
        raise InvalidInputError(
            f"data must be the model's inputs (a list or dict of arrays), a tf.data.Dataset or an iterable of "
            f"batches, not {type(data).__name__}"
        ) from None
    for item in iterator:
        yield batched(inputs_of(item))


def _total_examples(data, expected):
    if isinstance(data, np.ndarray):
        return 1 if _is_single_example(data.shape, expected) else len(data)
    return None


def _total_structured(data, spec):
    if _structured(data, len(spec.inputs)) and not isinstance(data, tf.data.Dataset):
        first = data[spec.inputs[0].name] if isinstance(data, dict) else data[0]
        if isinstance(first, np.ndarray):
            return 1 if _is_single_example(first.shape, spec.inputs[0].shape) else len(first)
    return None


def top_activations(
    model: ModelLike,
    layer: LayerRef,
    channel: int,
    data: Any,
    k: int = 9,
    batch_size: int = 64,
    patches: bool = True,
    preprocess: Preprocess | None = None,
    strategy: str | None = None,
    progress: bool | Progress = False,
    callback: Callable | None = None,
    cancel: Cancel | None = None,
    input: int | str | None = None,
) -> TopActivations:
    """The ``k`` examples of ``data`` on which ``channel`` of ``layer`` fires the most.

    ``model`` is a keras.Model or an Inspector (whose ``preprocess`` is used
    unless one is given). ``data``: a numpy array of examples, a
    ``tf.data.Dataset`` of examples or of batches, or any iterable of batches;
    elements may be ``(x, y, ...)`` tuples. ``preprocess`` is applied to each
    batch on the host before it enters the model; results keep the raw data.

    ``strategy``: a ``tf.distribute.Strategy``; each batch is split across its
    replicas. ``progress``: show a progress bar (a widget in a notebook kernel,
    else a line on stderr). ``callback(seen, total)`` is called after each
    batch (``total`` is None when the length of ``data`` is unknown).
    ``cancel``: a ``threading.Event`` or a callable; when it is set, the scan
    stops before the next batch and raises :class:`~nbinterp.errors.CancelledError`
    whose ``.partial`` holds the top-k of the examples seen so far.

    A model with several inputs takes every input in ``data`` (see
    :func:`iter_input_batches`: a list or dict of arrays, a Dataset or batches of
    them). ``images``, boxes and patches are then those of one image input,
    ``input`` (a name or index; by default the image input ``layer`` is
    computed from), and ``inputs`` holds the top examples of every input.
    """
    unit_model = unit_model_for(model, preprocess, input, layer)
    entry, key, out_shape, channel = channel_unit(unit_model, layer, channel)
    k = int(k)
    if k < 1:
        raise InvalidInputError(f"k must be at least 1, got {k}")
    batch_size = int(batch_size)
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
    spatial_rank = max(len(out_shape) - 2, 0)
    scan = _scan_function(unit_model, entry, key, strategy)
    channel_t = tf.constant(channel, tf.int32)

    expected = unit_model.input_shape
    structured = unit_model.structured
    total = _total_structured(data, unit_model.spec) if structured else _total_examples(data, expected)
    bar = display.progress(total, f"top {k}", enabled=progress)
    top_scores = np.zeros(0, np.float32)
    top_indices = np.zeros(0, np.int64)
    top_args = np.zeros(0, np.int64)
    top_images = []
    top_inputs = []  # every input of each kept example, for models with several inputs
    seen = 0
    grid = None
    first_shape = None

    def finish(complete):
        return _result(
            unit_model, entry, channel, top_images, top_scores, top_indices, top_args, grid,
            spatial_rank, first_shape, patches, seen, complete, top_inputs if structured else None,
        )

    def prepare(raw):
        if len(raw[0] if structured else raw) == 0:
            return None
        if structured:
            return unit_model.inputs(raw)
        x = as_batch(raw, expected, unit_model.input_dtype, unit_model.preprocess)
        if len(raw) != len(x):  # pragma: no cover - as_batch keeps the batch size
            raise InputShapeError("a batch changed size in preprocessing")
        return [x]

    batches = iter_input_batches(data, unit_model.spec, batch_size) if structured else iter_batches(data, expected, batch_size)
    stream = ((raw, prepare(raw)) for raw in batches)
    try:
        for raw, xs in stream:
            if cancel_requested(cancel):
                raise cancelled("top_activations", finish(False))
            if xs is None:
                continue
            x = xs[unit_model.input]
            if first_shape is None:
                first_shape = x.shape[1:]
            scores, args = scan(xs, channel_t)
            scores = np.asarray(scores, np.float32)
            args = np.asarray(args, np.int64)
            if grid is None:
                grid = output_grid(unit_model, key, xs, out_shape)
            n = len(scores)
            cand_scores = np.concatenate([top_scores, scores])
            cand_indices = np.concatenate([top_indices, np.arange(seen, seen + n, dtype=np.int64)])
            cand_args = np.concatenate([top_args, args])
            order = np.lexsort((cand_indices, -cand_scores))[:k]
            old = len(top_scores)
            images = raw[unit_model.input] if structured else raw
            top_images = [top_images[i] if i < old else np.array(images[i - old]) for i in order]
            if structured:
                top_inputs = [top_inputs[i] if i < old else [np.array(r[i - old]) for r in raw] for i in order]
            top_scores, top_indices, top_args = cand_scores[order], cand_indices[order], cand_args[order]
            seen += n
            bar.update(seen, f"best {top_scores[0]:.4g}")
            if callback is not None:
                callback(seen, total)
        if cancel_requested(cancel):
            raise cancelled("top_activations", finish(False))
    except BaseException as err:
        bar.close("cancelled" if getattr(err, "partial", None) is not None else "error")
        raise
    finally:
        stream.close()
    bar.close()
    if seen == 0:
        raise InvalidInputError("the data is empty")
    return finish(True)


def _result(unit_model, entry, channel, images, scores, indices, args, grid, spatial_rank, input_shape, want_patches,
            seen, complete, inputs=None):
    count = len(scores)
    if grid is None:
        grid = ()
    positions = (
        np.stack(np.unravel_index(args, grid), axis=-1).astype(np.int64)
        if spatial_rank and count
        else np.zeros((count, spatial_rank), np.int64)
    )
    boxes = np.zeros((count, 2 * (len(input_shape) - 1 if input_shape else 0)), np.int64)
    method = None
    patch_list = [] if want_patches else None
    if count:
        spatial = tuple(input_shape[:-1])
        find = field_finder(unit_model, entry.path, input_shape=input_shape)
        for i in range(count):
            field = find(positions[i])
            method = field.method
            boxes[i] = field.box(spatial)
            if want_patches:
                patch_list.append(np.array(images[i][field.slices(spatial)]))
    stacked = np.stack(images) if images else np.zeros((0,) + tuple(input_shape or ()), np.float32)
    return TopActivations(
        layer=entry.path,
        channel=channel,
        images=stacked,
        scores=np.asarray(scores, np.float32),
        indices=np.asarray(indices, np.int64),
        positions=positions,
        boxes=boxes,
        patches=patch_list,
        seen=seen,
        receptive_field_method=method,
        complete=complete,
        inputs=None if inputs is None else [
            np.stack([example[n] for example in inputs]) if inputs else np.zeros((0,) + s.shape, s.dtype)
            for n, s in enumerate(unit_model.spec.inputs)
        ],
        input=unit_model.input_name if unit_model.structured else None,
    )
