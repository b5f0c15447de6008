"""One way to turn what a user passes as "the model" into a ``keras.Model``.

Every entry point (Inspector, Explorer, ``attribute``, the unit views,
weight histories) accepts the same things: a built Keras model, an
Inspector, or a path to a ``.keras`` file or a legacy Keras 2 full-model
``.h5``/``.hdf5`` file. Files load in Keras' safe mode; ``custom_objects``
passes through, and a file that needs custom objects gets a message naming
them.
"""

from __future__ import annotations

import os
import re

import keras

from ..errors import InvalidInputError, NotSupportedError

_UNKNOWN_OBJECT = re.compile(r"(?:Unknown (?:layer|object|activation|loss|metric)[^:]*:\s*'?([\w.]+)'?)|(?:Could not locate (?:class|function) '([\w.]+)')")


def is_path(value) -> bool:
    """A str, bytes or os.PathLike naming a file."""
    return isinstance(value, (str, bytes)) or hasattr(value, "__fspath__")


def load(path, custom_objects=None) -> keras.Model:
    """Load a ``.keras`` / ``.h5`` / ``.hdf5`` model file in safe mode, with clear errors."""
    path = os.fsdecode(os.fspath(path))
    if not os.path.exists(path):
        raise InvalidInputError(f"no model file at {path!r}")
    if os.path.isdir(path):
        raise NotSupportedError(
            f"{path!r} is a directory; TensorFlow SavedModel folders cannot be inspected layer by layer. "
            "Save the model with model.save('model.keras') and pass that file"
        )
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".keras", ".h5", ".hdf5"):
        raise InvalidInputError(f"{path!r} is not a Keras model file: expected a .keras, .h5 or .hdf5 file")
    try:
        model = keras.saving.load_model(path, custom_objects=custom_objects, safe_mode=True, compile=False)
    except Exception as error:  # Keras raises many types here; say what the user can do
        text = str(error)
        names = sorted({a or b for a, b in _UNKNOWN_OBJECT.findall(text)})
        if names:
            raise InvalidInputError(
                f"{path!r} needs custom objects to load: {', '.join(names)}; pass them as "
                "custom_objects={'Name': TheClass, ...}"
            ) from None
        first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
        raise InvalidInputError(
            f"{path!r} exists but is not a readable Keras model ({type(error).__name__}: {first[:300]})"
        ) from None
    if not isinstance(model, keras.Model):
        raise InvalidInputError(f"{path!r} holds a {type(model).__name__}, not a Keras model")
    return model


def resolve_model(model, custom_objects=None) -> keras.Model:
    """A ``keras.Model`` from a model, an Inspector (or anything with ``.model``) or a file path."""
    if is_path(model):
        return load(model, custom_objects)
    if isinstance(model, keras.Model):
        return model
    inner = getattr(model, "model", None)
    if isinstance(inner, keras.Model):
        return inner
    raise TypeError(
        f"expected a keras.Model, an Inspector or a path to a .keras/.h5 file, got {type(model).__name__}"
    )
