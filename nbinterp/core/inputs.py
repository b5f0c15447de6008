"""Turning what a user passes as images (or as a multi-input model's inputs) into validated,
model-ready batches, and content keys for caching them."""

from __future__ import annotations

import zlib

import numpy as np

from ..errors import InputShapeError, InvalidInputError


def to_numpy(images):
    """A numpy array from a numpy array, a tensor, a PIL image or a list of them (stacked)."""
    if hasattr(images, "numpy") and callable(images.numpy):  # tf.Tensor / keras tensor
        return np.asarray(images.numpy())
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise InvalidInputError("the batch of images is empty")
        parts = [to_numpy(im) for im in images]
        shapes = sorted({p.shape for p in parts})
        if len(shapes) > 1:
            raise InputShapeError(
                f"the images have different shapes ({', '.join(map(str, shapes[:4]))}"
                f"{', ...' if len(shapes) > 4 else ''}); resize them to one size first"
            )
        return np.stack(parts)
    if hasattr(images, "mode") and hasattr(images, "size") and hasattr(images, "getdata"):  # PIL image
        return np.asarray(images)
    return np.asarray(images)


def _shape_text(shape):
    return "(" + ", ".join("any" if d is None else str(d) for d in shape) + ")"


def fits_shape(shape, expected):
    return len(shape) == len(expected) and all(e is None or e == s for s, e in zip(shape, expected))


def as_batch(images, expected, dtype="float32", preprocess=None, vocabulary=None):
    """Return ``images`` as a numpy batch ``(N, *expected)`` of ``dtype``.

    ``expected`` is the per-example input shape of the model (may contain
    None). One example or a batch are both accepted; a grayscale image
    without its channel axis is accepted for single-channel models. Float
    inputs are checked for NaN/Inf; integer models (token ids) need integer
    inputs, in ``[0, vocabulary)`` when the vocabulary size is given.
    ``preprocess`` is applied once, after the dtype conversion.
    """
    expected = tuple(expected)
    array = to_numpy(images)
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise InvalidInputError(f"images must be numeric arrays, got dtype {array.dtype}")
    if array.ndim == len(expected) and fits_shape(array.shape, expected):
        array = array[None]
    elif array.ndim == len(expected) + 1 and fits_shape(array.shape[1:], expected):
        pass
    elif expected and expected[-1] == 1 and array.ndim == len(expected) - 1 and fits_shape(array.shape + (1,), expected):
        array = array[None, ..., None]
    elif expected and expected[-1] == 1 and array.ndim == len(expected) and fits_shape(array.shape[1:] + (1,), expected):
        array = array[..., None]
    else:
        if array.ndim >= 1 and array.shape[0] == 0:
            raise InvalidInputError("the batch of images is empty")
        raise InputShapeError(
            f"images have shape {tuple(array.shape)}, but this model expects one input of shape "
            f"{_shape_text(expected)} or a batch of shape {_shape_text((None,) + expected)}"
        )
    if array.shape[0] == 0:
        raise InvalidInputError("the batch of images is empty")
    n_in = array.shape[0]

    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        if array.dtype.kind == "f":
            if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
                raise InvalidInputError("this model takes integer token ids; got non-integer values")
        if vocabulary is not None and array.size and (array.min() < 0 or array.max() >= vocabulary):
            bad = int(array.min()) if array.min() < 0 else int(array.max())
            raise InvalidInputError(
                f"token id {bad} is outside the model's vocabulary: its Embedding takes ids 0 to {vocabulary - 1}"
            )
        array = array.astype(dtype, copy=False)
    else:
        array = array.astype(dtype, copy=False)
        if not np.isfinite(array).all():
            raise InvalidInputError("images contain NaN or infinite values")
    if preprocess is not None:
        name = getattr(preprocess, "__name__", type(preprocess).__name__)
        try:
            processed = preprocess(array.copy())
        except Exception as error:
            raise InvalidInputError(
                f"the preprocess function {name!r} raised {type(error).__name__}: {error}"
            ) from error
        array = np.array(to_numpy(processed), dtype=dtype)
        if array.ndim == 0 or array.shape[0] != n_in:
            raise InputShapeError(
                f"the preprocess function {name!r} returned {array.shape[0] if array.ndim else 0} images "
                f"for {n_in}; it must return one per image"
            )
        if not fits_shape(array.shape[1:], expected):
            raise InputShapeError(
                f"preprocess returned shape {tuple(array.shape)}; expected a batch of {_shape_text(expected)}"
            )
        if dtype.kind == "f" and not np.isfinite(array).all():
            raise InvalidInputError("preprocess produced NaN or infinite values")
    return np.ascontiguousarray(array)


def as_inputs(values, spec, preprocess=None) -> list:
    """Every model input as a validated batch: a list with one array per input, in the model's order.

    ``spec`` is the model's :class:`~nbinterp.core.model_spec.ModelSpec`. A
    single-input model takes what :func:`as_batch` takes. A model with
    several inputs takes a list/tuple in the model's input order or a dict
    ``{input name: values}``; all must hold the same number of examples.
    ``preprocess`` (a function, or a dict ``{input name: function}``) applies
    to image inputs only when it is a single function.
    """
    specs = spec.inputs
    if len(specs) == 1:
        fn = preprocess.get(specs[0].name) if isinstance(preprocess, dict) else preprocess
        return [_one_input(values, specs[0], fn)]
    names = [s.name for s in specs]
    listed = ", ".join(repr(n) for n in names)
    if isinstance(values, dict):
        unknown = sorted(set(map(str, values)) - set(names))
        missing = [n for n in names if n not in values]
        if unknown or missing:
            raise InvalidInputError(
                f"this model's inputs are {listed}; "
                + (f"got unknown {', '.join(map(repr, unknown))}" if unknown else f"missing {', '.join(map(repr, missing))}")
            )
        ordered = [values[n] for n in names]
    elif isinstance(values, (list, tuple)) and len(values) == len(specs):
        ordered = list(values)
    else:
        raise InvalidInputError(
            f"this model has {len(specs)} inputs ({listed}): pass a list with one array per input, in that "
            "order, or a dict {input name: array}"
        )
    batches = []
    for value, one in zip(ordered, specs):
        if isinstance(preprocess, dict):
            fn = preprocess.get(one.name)
        else:
            fn = preprocess if one.kind == "image" else None
        batches.append(_one_input(value, one, fn))
    sizes = {len(b) for b in batches}
    if len(sizes) > 1:
        counts = ", ".join(f"{n}: {len(b)}" for n, b in zip(names, batches))
        raise InputShapeError(f"the inputs hold different numbers of examples ({counts})")
    return batches


def _one_input(values, spec, preprocess):
    try:
        return as_batch(values, spec.shape, spec.dtype, preprocess, spec.vocabulary)
    except InputShapeError as error:
        if spec.name and "input" in str(error):
            raise InputShapeError(f"input {spec.name!r}: {error}") from None
        raise


def digest(array) -> tuple:
    """A content key for an array: shape, dtype and two independent checksums of the bytes
    (CRC-32 and Adler-32, 64 bits together). This is a cache key for a person's own images,
    not a defence against crafted collisions; it is about five times faster than a
    cryptographic hash, which matters on the cache-hit path."""
    array = np.ascontiguousarray(array)
    data = memoryview(array.reshape(-1)).cast("B") if array.size else b""
    return (array.shape, array.dtype.str, zlib.crc32(data), zlib.adler32(data))
