"""Displayable uint8 images from model inputs, resizing, PNG encoding."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def display_image(image):
    """A model input image as uint8 (H, W) or (H, W, 3) for display.

    uint8 passes through; values within [0, 1] are scaled by 255; values within
    [0, 255] are rounded; anything else is min-max normalised. A trailing
    channel axis of 1 is dropped; 2 or more than 4 channels show the first.
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    elif array.ndim == 3 and array.shape[-1] not in (3, 4):
        array = array[..., 0]
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    array = array.astype(np.float32)
    lo, hi = display_range(array)
    if (lo, hi) == (0.0, 1.0):
        array = array * 255
    elif (lo, hi) != (0.0, 255.0):
        array = (array - lo) / (hi - lo or 1.0) * 255
    return np.clip(np.round(np.nan_to_num(array)), 0, 255).astype(np.uint8)


def display_range(image) -> tuple[float, float]:
    """The values :func:`display_image` draws as black and as white: (0, 255) for
    uint8 or values within [0, 255], (0, 1) for values within [0, 1], else the
    array's own (min, max). Read over the whole array, as display_image does."""
    array = np.asarray(image)
    if array.dtype == np.uint8:
        return 0.0, 255.0
    lo, hi = float(np.nanmin(array)), float(np.nanmax(array))
    if lo >= 0 and hi <= 1:
        return 0.0, 1.0
    if lo >= 0 and hi <= 255:
        return 0.0, 255.0
    return lo, hi


def resize(image, size, smooth=True):
    """Resize a uint8 image or a float field to ``size = (height, width)``."""
    height, width = int(size[0]), int(size[1])
    array = np.asarray(image)
    if array.shape[:2] == (height, width):
        return array
    method = Image.BILINEAR if smooth else Image.NEAREST
    if array.dtype == np.uint8:
        squeeze = array.ndim == 3 and array.shape[-1] == 1
        pil = Image.fromarray(array[..., 0] if squeeze else array)
        out = np.asarray(pil.resize((width, height), method))
        return out[..., None] if squeeze else out
    field = array.astype(np.float32)
    if field.ndim == 2:
        return np.asarray(Image.fromarray(field, mode="F").resize((width, height), method))
    return np.stack([resize(field[..., c], size, smooth) for c in range(field.shape[-1])], axis=-1)


def upscale_nearest(image, factor):
    """Repeat each pixel ``factor`` times along both axes (crisp enlargement)."""
    factor = max(1, int(factor))
    array = np.asarray(image)
    if factor == 1:
        return array
    return np.repeat(np.repeat(array, factor, axis=0), factor, axis=1)


def to_png(image) -> bytes:
    """PNG bytes of a uint8 (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) image."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise TypeError(f"to_png needs uint8, got {array.dtype}")
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()
