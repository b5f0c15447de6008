"""Uploaded files become exactly what the model receives: bit depths, colour, size, limits, polarity."""

import io

import numpy as np
import pytest
from PIL import Image

from nbinterp.core import uploads
from nbinterp.core.uploads import UploadError, decode_upload, polarity, reference_polarity
from nbinterp.errors import NbinterpError


def png(array, mode=None):
    buffer = io.BytesIO()
    (Image.fromarray(array) if mode is None else Image.fromarray(array).convert(mode)).save(buffer, format="PNG")
    return buffer.getvalue()


def digit(light_on_dark=True, size=28):
    """A bar on a plain background: a stand-in for a digit."""
    image = np.zeros((size, size), np.uint8)
    image[6:22, 12:16] = 255
    return image if light_on_dark else 255 - image


def test_sixteen_bit_png_is_scaled_not_clipped():
    values = np.arange(28 * 28, dtype=np.uint16).reshape(28, 28) % 256
    upload = decode_upload(png(values * 257), "deep.png", (28, 28, 1))  # 16-bit: v * 257 is v / 255 of the range
    assert upload.image.dtype == np.uint8 and upload.image.shape == (28, 28, 1)
    assert np.array_equal(upload.image[..., 0], values.astype(np.uint8))


def test_colour_is_converted_with_luma_weights_and_resized_to_the_input():
    red = np.zeros((60, 90, 3), np.uint8)
    red[..., 0] = 255
    upload = decode_upload(png(red), "red.png", (28, 28, 1))
    assert upload.image.shape == (28, 28, 1)
    assert np.all(upload.image == round(0.299 * 255))
    rgb = decode_upload(png(digit()), "gray.png", (32, 40, 3))
    assert rgb.image.shape == (32, 40, 3) and np.array_equal(rgb.image[..., 0], rgb.image[..., 2])


def test_transparency_becomes_white():
    rgba = np.zeros((10, 10, 4), np.uint8)  # fully transparent black
    upload = decode_upload(png(rgba), "clear.png", (10, 10, 3))
    assert np.all(upload.image == 255)


def test_values_follow_the_reference_images_dtype_and_range():
    unit = np.random.default_rng(0).random((3, 28, 28, 1)).astype(np.float32)
    upload = decode_upload(png(digit()), "d.png", (28, 28, 1), like=unit)
    assert upload.image.dtype == np.float32 and upload.image.max() == 1.0 and upload.scale == 1.0
    wide = unit * 255
    upload = decode_upload(png(digit()), "d.png", (28, 28, 1), like=wide)
    assert upload.image.dtype == np.float32 and upload.image.max() == 255.0


def test_errors_name_the_file_and_are_typed():
    with pytest.raises(UploadError) as info:
        decode_upload(b"not an image", "broken.png", (28, 28, 1))
    assert "broken.png" in str(info.value) and "BytesIO" not in str(info.value)
    assert isinstance(info.value, NbinterpError) and isinstance(info.value, ValueError)
    with pytest.raises(UploadError, match="takes inputs of shape"):
        decode_upload(png(digit()), "d.png", (12,))
    truncated = png(digit())[:60]
    with pytest.raises(UploadError, match="truncated.png"):
        decode_upload(truncated, "truncated.png", (28, 28, 1))


def test_size_limits_refuse_before_decoding(monkeypatch):
    monkeypatch.setattr(uploads, "MAX_UPLOAD_PIXELS", 100)
    with pytest.raises(UploadError, match=r"big.png is 28×28 pixels"):
        decode_upload(png(digit()), "big.png", (28, 28, 1))
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 10)
    with pytest.raises(UploadError, match="limited to"):
        decode_upload(png(digit()), "heavy.png", (28, 28, 1))


def test_polarity_is_read_and_compared_with_the_reference():
    assert polarity(digit(True)) == "light-on-dark" and polarity(digit(False)) == "dark-on-light"
    assert polarity(np.full((28, 28), 128, np.uint8)) is None  # no contrast: no polarity
    reference = np.stack([digit(True)[..., None]] * 4)
    assert reference_polarity(reference) == "light-on-dark"
    upload = decode_upload(png(digit(False)), "paper.png", (28, 28, 1), like=reference)
    assert upload.opposite_polarity and "paper.png" in upload.note and "Invert" in upload.note
    flipped = upload.toggled()
    assert flipped.inverted and not flipped.opposite_polarity and flipped.note == ""
    assert np.array_equal(flipped.image, 255 - upload.image)
    assert np.array_equal(flipped.toggled().image, upload.image)
    same = decode_upload(png(digit(True)), "screen.png", (28, 28, 1), like=reference)
    assert not same.opposite_polarity and same.note == ""
