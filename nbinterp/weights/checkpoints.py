"""Reading weight snapshots from Keras checkpoint files: :func:`read_checkpoints`.

* ``.keras`` (a whole model): ``keras.saving.load_model(path, safe_mode=True)``,
  so a file cannot run arbitrary code through a Lambda layer.
* ``.weights.h5`` (weights only): loaded into a clone of a template model made
  with ``keras.models.clone_model``; the user's model is never touched.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import keras

from ..errors import ArchitectureMismatchError, InvalidInputError, NbinterpError, NotSupportedError
from .snapshots import WeightSnapshot, copy_weights, default_labels, default_steps
from .variables import check_same_architecture, list_weight_variables, weight_variables_of

__all__ = ["CheckpointError", "checkpoint_kind", "read_checkpoints"]


class CheckpointError(NbinterpError, ValueError):
    """A checkpoint file that cannot be read as a snapshot."""


def checkpoint_kind(path) -> str:
    """``"keras"`` or ``"weights.h5"`` from a file name, else CheckpointError."""
    name = Path(path).name
    if name.endswith(".weights.h5"):
        return "weights.h5"
    if name.endswith(".keras"):
        return "keras"
    raise CheckpointError(
        f"{str(path)!r} is neither a .keras model file nor a .weights.h5 weights file "
        "(the two formats Keras 3 writes)"
    )


def _default_label(path) -> str:
    name = Path(path).name
    for suffix in (".weights.h5", ".keras"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _clone_template(model):
    try:
        clone = keras.models.clone_model(model)
    except Exception as exc:  # subclassed models cannot be cloned from their config
        raise NotSupportedError(
            f"cannot clone template model {model.name!r} to load .weights.h5 files into "
            f"({type(exc).__name__}: {exc}); use a Functional or Sequential template, "
            "or save .keras files instead"
        ) from exc
    if not clone.built:
        raise NotSupportedError(
            f"the clone of template model {model.name!r} is not built; create the template "
            "with a keras.Input so its input shape is known"
        )
    return clone


def read_checkpoints(paths, model=None, labels=None, steps=None, custom_objects=None) -> list[WeightSnapshot]:
    """One :class:`WeightSnapshot` per checkpoint file, in the order given.

    ``.weights.h5`` files need ``model``, a template whose clone receives the
    weights. Every checkpoint is checked against one architecture: the
    template's when ``model`` is given (the snapshots then carry its layer
    paths), else the first file's. ``labels`` default to the file names
    without their suffix, ``steps`` to 0, 1, ...
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise InvalidInputError("from_checkpoints needs at least one checkpoint path")
    kinds = [checkpoint_kind(p) for p in paths]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"checkpoint file not found: {str(p)!r}")
    if model is None and "weights.h5" in kinds:
        raise InvalidInputError(
            ".weights.h5 files hold weights but no architecture: pass model=<a model of the same "
            "architecture> so a clone of it can receive them"
        )
    labels = default_labels(labels if labels is not None else [_default_label(p) for p in paths], len(paths), "")
    steps = default_steps(steps, len(paths))

    reference = weight_variables_of(model) if model is not None else None
    clone = None
    snapshots = []
    for path, kind, label, step in zip(paths, kinds, labels, steps):
        if kind == "keras":
            loaded = _load_model_file(path, custom_objects)
        else:
            if clone is None:
                clone = _clone_template(model)
            _load_weights_file(clone, path, model.name)
            loaded = clone
        pairs = list_weight_variables(loaded)
        found = tuple(v for v, _ in pairs)
        if reference is None:
            reference = found
        check_same_architecture(
            reference,
            found,
            "the template model" if model is not None else f"checkpoint {str(paths[0])!r}",
            f"checkpoint {str(path)!r}",
        )
        snapshots.append(WeightSnapshot(reference, copy_weights(pairs), label, step))
    return snapshots


def _load_model_file(path, custom_objects):
    try:
        return keras.saving.load_model(path, custom_objects=custom_objects, compile=False, safe_mode=True)
    except Exception as exc:
        raise CheckpointError(f"could not load model file {str(path)!r}: {type(exc).__name__}: {exc}") from exc


def _load_weights_file(clone, path, template_name):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            clone.load_weights(path)
        except ValueError as exc:
            raise ArchitectureMismatchError(
                f"weights file {str(path)!r} does not fit template model {template_name!r}: {exc}"
            ) from exc
    for warning in caught:
        if "freshly-initialized" in str(warning.message) or "freshly initialized" in str(warning.message):
            # Keras loaded only part of the file and says so in a warning: refuse the half-loaded weights
            raise ArchitectureMismatchError(
                f"weights file {str(path)!r} does not fit template model {template_name!r}: {warning.message}"
            )
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
