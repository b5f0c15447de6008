"""Small, self-contained demo assets: a trained digits CNN, its data, a few photos.

Everything here loads from files shipped inside the package, so it works
offline and needs neither scikit-learn nor scikit-image at run time.

* :func:`load_model` / :func:`build_digits_cnn` - a tiny CNN for 28x28 digits
  whose head is ``GlobalAveragePooling2D -> Dense`` (so class activation maps
  apply to it).
* :func:`load_digits` - the scikit-learn 8x8 digits, upsampled to 28x28 uint8.
* :func:`load_photos` - a handful of 224x224 colour photos.
* :func:`build_vgg16` / :func:`build_resnet50` - ImageNet-shaped architectures
  built with ``weights=None`` (no download), tagged as untrained.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = [
    "Digits",
    "Photos",
    "UNTRAINED_NOTE",
    "build_digits_cnn",
    "build_resnet50",
    "build_vgg16",
    "data_path",
    "load_digits",
    "load_model",
    "load_photos",
    "resnet50_preprocess",
    "untrained_note",
    "vgg16_preprocess",
]

_HERE = Path(__file__).resolve().parent

MODEL_FILE = "digits_cnn.keras"
DIGITS_FILE = "digits.npz"
PHOTOS_FILE = "photos.npz"

CLASS_NAMES = [str(i) for i in range(10)]

UNTRAINED_NOTE = (
    "Untrained: built with weights=None, so its filters are random "
    "initialisation, not learned features."
)


class Digits(NamedTuple):
    """Digit images with their labels.

    ``images``: uint8 ``(N, 28, 28, 1)``, pixel values 0-255;
    ``labels``: int64 ``(N,)``; ``class_names``: ``["0", ..., "9"]``.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: list


class Photos(NamedTuple):
    """Colour photos: ``images`` uint8 ``(N, 224, 224, 3)``; ``names`` list of str."""

    images: np.ndarray
    names: list


def data_path(name: str) -> Path:
    """Path of a data file shipped in ``nbinterp/demo``."""
    path = _HERE / name
    if not path.exists():
        raise FileNotFoundError(
            f"demo data file {name!r} is missing from {_HERE}; "
            "regenerate it with scripts/train_demo.py (digits) or "
            "scripts/make_demo_photos.py (photos)"
        )
    return path


# ---------------------------------------------------------------------------
# digits CNN


def build_digits_cnn():
    """The digits CNN architecture, untrained (fresh random weights).

    Input: ``(28, 28, 1)`` with pixel values in ``[0, 255]``.
    Layers: ``rescale`` -> ``conv1`` (8) -> ``pool1`` -> ``conv2`` (16) ->
    ``pool2`` -> ``conv3`` (32) -> ``gap`` -> ``predictions`` (10, softmax).
    """
    import keras
    from keras import layers

    inputs = keras.Input((28, 28, 1), name="image")
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(name="pool1")(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(name="pool2")(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="digits_cnn")


def load_model():
    """The trained digits CNN, loaded fresh from the shipped ``.keras`` file.

    Each call returns a new model, so changing one never affects another.
    """
    import keras

    return keras.saving.load_model(data_path(MODEL_FILE), safe_mode=True)


def load_digits(split: str = "test") -> Digits:
    """The held-out (``"test"``) or training (``"train"``) digits."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    with np.load(data_path(DIGITS_FILE), allow_pickle=False) as data:
        images = np.ascontiguousarray(data[f"{split}_images"], dtype=np.uint8)
        labels = np.asarray(data[f"{split}_labels"], dtype=np.int64)
    return Digits(images=images, labels=labels, class_names=list(CLASS_NAMES))


# ---------------------------------------------------------------------------
# photos


def load_photos() -> Photos:
    """A few 224x224 RGB photos (from scikit-image's sample data)."""
    from PIL import Image

    with np.load(data_path(PHOTOS_FILE), allow_pickle=False) as data:
        names = [str(n) for n in data["names"]]
        images = []
        for i in range(len(names)):
            raw = data[f"jpeg_{i}"].tobytes()
            with Image.open(io.BytesIO(raw)) as im:
                images.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
    return Photos(images=np.stack(images), names=names)


# ---------------------------------------------------------------------------
# ImageNet-shaped architectures (untrained)


def _tag_untrained(model):
    model._nbinterp_note = UNTRAINED_NOTE
    return model


def untrained_note(model):
    """The "untrained" note attached by :func:`build_vgg16` and friends, else None."""
    return getattr(model, "_nbinterp_note", None)


def build_vgg16(include_top: bool = True, input_shape=(224, 224, 3), classes: int = 1000):
    """``keras.applications.VGG16`` with ``weights=None`` (random filters)."""
    import keras

    model = keras.applications.VGG16(
        weights=None, include_top=include_top, input_shape=tuple(input_shape), classes=classes
    )
    return _tag_untrained(model)


def build_resnet50(include_top: bool = True, input_shape=(224, 224, 3), classes: int = 1000):
    """``keras.applications.ResNet50`` with ``weights=None`` (random filters)."""
    import keras

    model = keras.applications.ResNet50(
        weights=None, include_top=include_top, input_shape=tuple(input_shape), classes=classes
    )
    return _tag_untrained(model)


def _copy_for_preprocess(x):
    # keras' preprocess_input edits float NumPy arrays in place; work on a copy.
    if isinstance(x, np.ndarray) or not hasattr(x, "shape"):
        arr = np.array(x, copy=True)
        if not np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype("float32")
        return arr
    return x  # backend tensors are immutable


def vgg16_preprocess(x):
    """``keras.applications.vgg16.preprocess_input`` that leaves ``x`` untouched."""
    import keras

    return keras.applications.vgg16.preprocess_input(_copy_for_preprocess(x))


def resnet50_preprocess(x):
    """``keras.applications.resnet50.preprocess_input`` that leaves ``x`` untouched."""
    import keras

    return keras.applications.resnet50.preprocess_input(_copy_for_preprocess(x))
