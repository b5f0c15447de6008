"""Reading weight snapshots from Keras checkpoint files.

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
from .variables import check_same_architecture, list_weight_variables

__all__ = ["CheckpointError", "checkpoint_kind", "history_from_checkpoints"]


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


def history_from_checkpoints(history_class, paths, model=None, labels=None, steps=None, custom_objects=None):
    """Implementation of :meth:`WeightHistory.from_checkpoints`."""
    from .history import _labels_or_default, _steps_or_default, copy_weights

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
    labels = _labels_or_default(labels if labels is not None else [_default_label(p) for p in paths], len(paths), "")
    steps = _steps_or_default(steps, len(paths))

    history = history_class.from_model(model) if model is not None else None
    clone = None
    for path, kind, label, step in zip(paths, kinds, labels, steps):
        if kind == "keras":
            try:
                loaded = keras.saving.load_model(path, custom_objects=custom_objects, compile=False, safe_mode=True)
            except Exception as exc:
                raise CheckpointError(f"could not load model file {str(path)!r}: {type(exc).__name__}: {exc}") from exc
        else:
            if clone is None:
                clone = _clone_template(model)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    clone.load_weights(path)
                except ValueError as exc:
                    raise ArchitectureMismatchError(
                        f"weights file {str(path)!r} does not fit template model {model.name!r}: {exc}"
                    ) from exc
            for warning in caught:
                if "freshly-initialized" in str(warning.message) or "freshly initialized" in str(warning.message):
                    # Keras loaded only part of the file and says so in a warning: refuse the half-loaded weights
                    raise ArchitectureMismatchError(
                        f"weights file {str(path)!r} does not fit template model {model.name!r}: {warning.message}"
                    )
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
            loaded = clone
        pairs = list_weight_variables(loaded)
        if history is None:
            history = history_class(v for v, _ in pairs)
        check_same_architecture(
            history.variables,
            [v for v, _ in pairs],
            "the template model" if model is not None else f"checkpoint {str(paths[0])!r}",
            f"checkpoint {str(path)!r}",
        )
        history.add(copy_weights(pairs), label=label, step=step)
    return history
