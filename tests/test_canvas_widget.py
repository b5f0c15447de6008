"""ImageCanvas, Python side: validation, byte layout, one sync per image, clicks."""

from __future__ import annotations

import numpy as np
import pytest

from nbinterp.widgets.canvas import ImageCanvas


def test_traits_and_defaults():
    c = ImageCanvas()
    assert c.data == b"" and c.shape == [] and c.image is None
    assert c.scale == 0 and c.max_width == 448 and c.label == ""
    assert c.regions == [] and c.highlight is None and c.clicked == {}
    for name in ["data", "shape", "scale", "max_width", "label", "regions", "highlight", "clicked"]:
        assert c.trait_metadata(name, "sync"), name
    assert "export default" in str(c._esm)


@pytest.mark.parametrize(
    "shape, expected",
    [((3, 5), [3, 5, 1]), ((3, 5, 1), [3, 5, 1]), ((3, 5, 3), [3, 5, 3]), ((3, 5, 4), [3, 5, 4])],
)
def test_set_image_accepts_gray_rgb_rgba(shape, expected):
    arr = np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)
    c = ImageCanvas().set_image(arr)
    assert c.shape == expected
    assert c.data == arr.tobytes()
    np.testing.assert_array_equal(c.image, arr.reshape(expected))


def test_set_image_is_row_major_even_for_strided_views():
    base = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    view = base[::2, ::-1]  # not contiguous
    c = ImageCanvas(view)
    assert c.shape == [2, 6, 3]
    assert c.data == np.ascontiguousarray(view).tobytes()
    # pixel (row 1, column 0) starts at byte (1 * 6 + 0) * 3
    assert list(c.data[18:21]) == list(view[1, 0])


@pytest.mark.parametrize(
    "bad, error",
    [
        (np.zeros((2, 2), dtype=np.float32), TypeError),
        (np.zeros((2, 2), dtype=np.int64), TypeError),
        (np.zeros((2, 2), dtype=bool), TypeError),
        ([[0, 1], [2, 3]], TypeError),
        ("not an image", TypeError),
        (np.zeros((2, 2, 2), dtype=np.uint8), ValueError),
        (np.zeros((2, 2, 5), dtype=np.uint8), ValueError),
        (np.zeros((4,), dtype=np.uint8), ValueError),
        (np.zeros((1, 2, 2, 3), dtype=np.uint8), ValueError),
        (np.zeros((0, 3), dtype=np.uint8), ValueError),
    ],
)
def test_set_image_rejects_bad_input(bad, error):
    c = ImageCanvas(np.zeros((1, 1), dtype=np.uint8))
    with pytest.raises(error):
        c.set_image(bad)
    assert c.shape == [1, 1, 1]  # unchanged


def test_set_image_sends_data_and_shape_in_one_message():
    c = ImageCanvas()
    sent = []
    c.send_state = lambda key=None: sent.append(None if key is None else set(key))
    c.set_image(np.zeros((2, 3, 3), dtype=np.uint8))
    assert len(sent) == 1
    assert set(sent[0]) == {"data", "shape"}


def test_on_click_dispatches_and_can_be_removed():
    c = ImageCanvas(np.zeros((4, 4), dtype=np.uint8))
    got, other = [], []
    c.on_click(got.append)
    c.on_click(other.append)
    c.clicked = {"x": 1, "y": 2, "id": "r1", "n": 1}
    assert got == other == [{"x": 1, "y": 2, "id": "r1", "n": 1}]
    c.on_click(got.append, remove=True)
    c.clicked = {"x": 3, "y": 0, "id": None, "n": 2}
    assert len(got) == 1
    assert other[-1] == {"x": 3, "y": 0, "id": None, "n": 2}
    c.clicked = {}  # a reset is not a click
    assert len(other) == 2


def test_regions_and_labels_are_plain_data():
    regions = [{"id": [0, 1], "x": 0, "y": 0, "w": 2, "h": 2, "title": "<b>unit</b>"}]
    c = ImageCanvas(np.zeros((4, 4, 3), dtype=np.uint8), label="<i>x</i>", regions=regions, highlight=[0, 1])
    assert c.regions == regions and c.highlight == [0, 1] and c.label == "<i>x</i>"
