"""Uploaded image files turned into what a model receives.

:func:`decode_upload` reads the bytes of an image file (PNG, JPEG, GIF, BMP,
TIFF, WebP, ...), refuses oversized files before decoding them, scales every
bit depth to the same range (a 16-bit PNG is divided by 65535, not clipped at
255), composites transparency onto white, converts to grayscale or RGB and
resizes to the model's input, and returns the array in the value range and
dtype of the images it is compared with (uint8 0..255, or float 0..1 / 0..255).

It also reads the upload's *polarity* (dark strokes on a light background, or
light on dark) and compares it with the reference images, because a
dark-on-light photo of a digit given to a model trained on light-on-dark
digits is out of distribution in a way that is easy to miss.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import NbinterpError
from ..render import resize

__all__ = [
    "MAX_UPLOAD_BYTES",
    "MAX_UPLOAD_PIXELS",
    "Upload",
    "UploadError",
    "decode_upload",
    "invert",
    "polarity",
    "reference_polarity",
    "value_scale",
]

MAX_UPLOAD_BYTES = 64 * 2**20  # files larger than this are refused unread
MAX_UPLOAD_PIXELS = 40_000_000  # decompression bombs are refused before decoding
DARK_ON_LIGHT = "dark-on-light"
LIGHT_ON_DARK = "light-on-dark"
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601, as Pillow's "L"


class UploadError(NbinterpError, ValueError):
    """An uploaded file that cannot be used as an input of the model."""


@dataclass(frozen=True)
class Upload:
    """A decoded upload.

    ``image``: the array as the model receives it (before ``preprocess``);
    ``polarity`` / ``reference_polarity``: ``"dark-on-light"``,
    ``"light-on-dark"`` or None (no clear background) for the upload and for
    the images it was compared with; ``inverted``: whether ``image`` was
    inverted; ``scale``: the top of the value range (1.0 or 255.0).
    """

    name: str
    image: np.ndarray
    polarity: Optional[str]
    reference_polarity: Optional[str]
    scale: float
    inverted: bool = False

    @property
    def opposite_polarity(self) -> bool:
        """True when the upload's polarity is clear and opposite to the reference images'."""
        return None not in (self.polarity, self.reference_polarity) and self.polarity != self.reference_polarity

    @property
    def note(self) -> str:
        """A one-line warning about the polarity, or "" when there is nothing to say."""
        if not self.opposite_polarity:
            return ""
        return (f"{self.name} is {self.polarity} but the other images are {self.reference_polarity}: "
                "the model may not recognise it; tick Invert to flip it")

    def toggled(self) -> "Upload":
        """The same upload with its values inverted (or restored)."""
        flipped = _flip(self.polarity)
        return replace(self, image=invert(self.image, self.scale), polarity=flipped, inverted=not self.inverted)


def _flip(kind):
    return {DARK_ON_LIGHT: LIGHT_ON_DARK, LIGHT_ON_DARK: DARK_ON_LIGHT}.get(kind)


def value_scale(like) -> float:
    """The top of the value range of the reference images: 1.0 for floats within
    [0, 1], else 255.0."""
    if like is None:
        return 255.0
    array = np.asarray(like)
    if array.dtype.kind == "f" and array.size and float(np.nanmax(array)) <= 1.0 and float(np.nanmin(array)) >= 0.0:
        return 1.0
    return 255.0


def invert(image, scale: float = 255.0) -> np.ndarray:
    """``scale - image`` in the image's own dtype."""
    array = np.asarray(image)
    return (np.asarray(scale, np.float64) - array).astype(array.dtype)


def _gray_unit(image, scale):
    array = np.asarray(image, np.float32) / float(scale)
    if array.ndim == 3:
        array = array[..., 0] if array.shape[-1] == 1 else array[..., :3] @ _LUMA
    return array


def polarity(image, scale: float = 255.0) -> Optional[str]:
    """``"light-on-dark"`` / ``"dark-on-light"`` when the image has a clear dark or
    light background (its border) with contrasting content, else None."""
    gray = _gray_unit(image, scale)
    if gray.ndim != 2 or min(gray.shape) < 3:
        return None
    ring = max(1, min(gray.shape) // 10)
    border = np.concatenate([gray[:ring].ravel(), gray[-ring:].ravel(), gray[:, :ring].ravel(), gray[:, -ring:].ravel()])
    background = float(np.median(border))
    if background < 0.35 and float(gray.max()) - background > 0.3:
        return LIGHT_ON_DARK
    if background > 0.65 and background - float(gray.min()) > 0.3:
        return DARK_ON_LIGHT
    return None


def reference_polarity(images, scale: float = 255.0, sample: int = 64) -> Optional[str]:
    """The polarity shared by at least three quarters of ``images`` (up to ``sample`` of them), or None."""
    images = list(images)[:sample]
    if not images:
        return None
    kinds = [polarity(im, scale) for im in images]
    for kind in (LIGHT_ON_DARK, DARK_ON_LIGHT):
        if kinds.count(kind) >= 0.75 * len(kinds):
            return kind
    return None


def _unit_pixels(pil):
    """The decoded picture as float32 (H, W, C), C in (1, 3), values in [0, 1]."""
    mode = pil.mode
    if mode.startswith("I;16"):
        return np.asarray(pil, np.float32)[..., None] / 65535.0
    if mode == "I":  # 32-bit integer pixels: 16-bit content unless it fits in 8 bits
        array = np.asarray(pil, np.float64)
        return (array / (65535.0 if array.max() > 255 else 255.0)).clip(0, 1).astype(np.float32)[..., None]
    if mode == "F":
        array = np.asarray(pil, np.float32)
        top = float(np.nanmax(array)) if array.size else 1.0
        return (np.nan_to_num(array) / (1.0 if top <= 1.0 else 255.0)).clip(0, 1)[..., None]
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in pil.info):
        rgba = np.asarray(pil.convert("RGBA"), np.float32) / 255.0
        alpha = rgba[..., 3:4]
        return rgba[..., :3] * alpha + (1.0 - alpha)  # transparent parts become white
    if mode in ("1", "L"):
        return np.asarray(pil.convert("L"), np.float32)[..., None] / 255.0
    return np.asarray(pil.convert("RGB"), np.float32) / 255.0


def decode_upload(content: bytes, name: str, input_shape, like=None) -> Upload:
    """Decode the bytes of an uploaded image file for a model whose per-example
    input shape is ``input_shape`` (H, W, C with C = 1 or 3; None sizes keep the
    file's size).

    ``like``: the images the upload joins (the dtype and value range of the
    result follow them, and the polarity is compared with theirs). Raises
    :class:`UploadError` naming ``name`` for files that are too large, not
    images, or meant for a model that does not take images.
    """
    shape = tuple(input_shape)
    if len(shape) != 3 or shape[-1] not in (1, 3):
        raise UploadError(f"cannot use {name}: this model takes inputs of shape {shape}, not images")
    if len(content) > MAX_UPLOAD_BYTES:
        raise UploadError(f"{name} is {len(content) / 2**20:.0f} MB; uploads are limited to {MAX_UPLOAD_BYTES // 2**20} MB")
    try:
        pil = Image.open(io.BytesIO(content))
    except (UnidentifiedImageError, OSError):
        raise UploadError(f"{name} is not an image file that can be read (PNG, JPEG, GIF, BMP, TIFF or WebP)") from None
    with pil:
        width, height = pil.size
        if width * height > MAX_UPLOAD_PIXELS:
            raise UploadError(f"{name} is {width}×{height} pixels; uploads are limited to {MAX_UPLOAD_PIXELS:,} pixels")
        try:
            pil.load()
            pil = ImageOps.exif_transpose(pil)
            pixels = _unit_pixels(pil)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
            raise UploadError(f"{name} could not be decoded: {str(error).splitlines()[0] if str(error) else type(error).__name__}") from None
    if shape[-1] == 1 and pixels.shape[-1] == 3:
        pixels = (pixels @ _LUMA)[..., None]
    elif shape[-1] == 3 and pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    size = (shape[0] or pixels.shape[0], shape[1] or pixels.shape[1])
    if pixels.shape[:2] != size:
        pixels = resize(pixels, size, smooth=True).clip(0, 1)
    reference = np.asarray(like) if like is not None and len(like) else None
    scale = value_scale(reference)
    if reference is None or reference.dtype == np.uint8 or reference.dtype.kind in "iu":
        dtype = np.uint8 if reference is None else reference.dtype
        image = np.clip(np.round(pixels * 255.0), 0, 255).astype(dtype)
    else:
        image = (pixels * scale).astype(reference.dtype)
    return Upload(name=str(name), image=image, polarity=polarity(image, scale),
                  reference_polarity=None if reference is None else reference_polarity(reference, scale), scale=scale)
