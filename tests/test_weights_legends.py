"""Legends and per-pixel readouts of the kernel banks and the weight views:
ranges equal to the weights' (or the shared) range, zero at the palette's
centre, the readout giving the true weights, and exports carrying the legends."""

import io
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
from PIL import Image

from nbinterp.render import legend as L
from nbinterp.render.colormap import _table
from nbinterp.render.filters import kernel_bank, kernel_change_banks
from nbinterp.weights import SnapshotCallback
from nbinterp.widgets.canvas import ImageCanvas
from nbinterp.widgets.weights_view import WeightHistoryView


def palette_index(legend, colours):
    """The palette entry of each colour (exact match), -1 where none."""
    table = _table(legend.cmap).astype(np.int32)
    colours = np.asarray(colours, np.int32).reshape(-1, 3)
    hits = np.all(colours[:, None, :] == table[None, :, :], axis=-1)
    return np.where(hits.any(axis=1), hits.argmax(axis=1), -1)


def weight_at(kernel, mode, tile, i, j, input_channel=0):
    """The weight(s) a tile shows at cell (i, j), read straight from the Keras layout."""
    if mode == "rgb":
        return kernel[i, j, :, tile]
    if mode == "channel":
        return kernel[i, j, input_channel, tile]
    if mode == "slices":
        n, c = divmod(tile, kernel.shape[2])
        return kernel[i, j, c, n]
    if mode == "depthwise":
        c, m = divmod(tile, kernel.shape[3])
        return kernel[i, j, c, m]
    if mode == "conv1d":  # rows are input channels, columns taps
        return kernel[j, i, tile]
    raise AssertionError(mode)


@pytest.mark.parametrize("shape, mode", [((3, 3, 3, 5), "rgb"), ((3, 3, 4, 6), "channel"), ((3, 2, 2, 3), "slices"),
                                         ((3, 3, 3, 2), "depthwise"), ((5, 3, 4), "conv1d")])
def test_bank_legend_is_its_range_and_readout_its_weights(shape, mode):
    rng = np.random.default_rng(len(shape) + shape[-1])
    kernel = rng.normal(size=shape).astype(np.float32)
    ic = 1 if mode == "channel" else 0
    kernel[(0, 0, ic, 0)[: kernel.ndim]] = 0.0  # one exact zero in the first cell of the first tile
    bank = kernel_bank(kernel, mode="auto" if mode == "conv1d" else mode, input_channel=ic)
    assert bank.mode == mode
    legend = bank.legend()
    top = float(np.abs(kernel).max())
    assert legend.signed and (legend.vmin, legend.vmax) == pytest.approx((-top, top))
    assert legend.cmap == ("gray" if mode == "rgb" else L.DIVERGING)
    assert legend.unit(0.0) == 0.5
    canvas = ImageCanvas(bank.image)
    canvas.set_legend(legend).set_readout(bank.readout(), "weight")
    h, w = bank.tile_shape
    rng_cells = np.random.default_rng(1)
    for tile in (0, bank.shown - 1, int(rng_cells.integers(bank.shown))):
        x0, y0 = bank.boxes[tile][:2]
        for i, j in ((0, 0), (h - 1, w - 1), (int(rng_cells.integers(h)), int(rng_cells.integers(w)))):
            x, y = x0 + j * bank.zoom + bank.zoom // 2, y0 + i * bank.zoom + bank.zoom - 1
            expected = weight_at(kernel, mode, tile, i, j, input_channel=ic)
            name, col, row, value = canvas.readout_at(x, y)
            assert (col, row) == (j, i) and name == bank.names[tile]
            np.testing.assert_allclose(value, expected, rtol=2e-3, atol=1e-6)
            # and the pixel has the legend's colour for that weight (one palette step of rounding)
            pixel = bank.image[y, x]
            if mode == "rgb":
                unit = np.asarray(expected, np.float64) / (2 * top) + 0.5
                assert np.all(np.abs(pixel.astype(int) - np.round(unit * 255)) <= 1)
            else:
                assert abs(palette_index(legend, pixel)[0] - round(legend.unit(expected) * 255)) <= 1
    # the zero weight is the palette's centre (white, or mid-grey per channel)
    centre = bank.image[bank.boxes[0][1], bank.boxes[0][0]]
    if mode == "rgb":
        assert canvas.readout_at(bank.boxes[0][0], bank.boxes[0][1])[3][0] == 0.0
        np.testing.assert_array_equal(centre[0], 128)
    else:
        assert abs(palette_index(legend, centre)[0] - 128) <= 1 and centre.min() > 240
    assert canvas.readout_at(0, 0) is None  # the gap between tiles has no value
    canvas.close()


def test_change_banks_share_the_snapshots_range_and_the_difference_has_its_own():
    rng = np.random.default_rng(3)
    before = rng.normal(size=(3, 3, 2, 4)).astype(np.float32)
    after = before + 0.01 * rng.normal(size=before.shape).astype(np.float32)
    first, second, diff = kernel_change_banks(before, after, mode="slices")
    shared = max(np.abs(before).max(), np.abs(after).max())
    assert first.legend().vmax == pytest.approx(shared) and second.legend().vmax == pytest.approx(shared)
    assert diff.legend().vmax == pytest.approx(np.abs(after - before).max()) and diff.legend().vmin == -diff.legend().vmax
    np.testing.assert_allclose(diff.values, np.transpose(after - before, (3, 2, 0, 1)).reshape(-1, 3, 3), rtol=1e-6)


@pytest.fixture(scope="module")
def history():
    keras.utils.set_random_seed(0)
    x = keras.Input((8, 8, 3))
    y = keras.layers.Conv2D(4, 3, activation="relu", name="conv1")(x)
    y = keras.layers.GlobalAveragePooling2D()(y)
    y = keras.layers.Dense(2, name="out")(y)
    model = keras.Model(x, y)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    rng = np.random.default_rng(0)
    callback = SnapshotCallback(every=1, unit="epoch")
    model.fit(rng.random((16, 8, 8, 3), dtype=np.float32), rng.random((16, 2), dtype=np.float32),
              epochs=2, batch_size=8, verbose=0, callbacks=[callback])
    return callback.history


def test_history_view_filters_have_legends_and_readouts_of_the_weights(history):
    view = history.show()
    assert isinstance(view, WeightHistoryView)
    a, b = view.from_dropdown.value, view.to_dropdown.value
    before, after = history[a]["conv1/kernel"], history[b]["conv1/kernel"]
    shared = max(np.abs(before).max(), np.abs(after).max())
    at_from, at_to, change = view.filter_legends
    assert (at_from.vmin, at_from.vmax) == pytest.approx((-shared, shared)) and at_to.vmax == pytest.approx(shared)
    assert at_from.cmap == "gray" and "R, G, B" in at_from.note  # colour tiles over the RGB input
    assert change.cmap == L.DIVERGING and change.vmax == pytest.approx(np.abs(after - before).max())
    assert change.what.startswith("weight change")
    for canvas, legend in zip(view.filter_canvases, view.filter_legends):
        assert canvas.legend_text == legend.text and canvas.legend_picture is not None
    # the readout gives the true weights: three per cell on the colour tiles ...
    bank, canvas = view.filter_banks[1], view.filter_canvases[1]
    for kernel, (i, j) in ((0, (0, 0)), (3, (2, 1)), (2, (1, 2))):
        x0, y0 = bank.boxes[kernel][:2]
        name, col, row, value = canvas.readout_at(x0 + j * bank.zoom, y0 + i * bank.zoom)
        assert name == f"kernel {kernel}" and (col, row) == (j, i)
        np.testing.assert_allclose(value, after[i, j, :, kernel], rtol=2e-3, atol=1e-6)
        assert canvas.readout["patches"][kernel]["parts"] == ["R", "G", "B"]
    # ... and one per cell on the difference, drawn slice by slice
    bank, canvas = view.filter_banks[2], view.filter_canvases[2]
    tile = 2 * 3 + 1  # kernel 2, input channel 1
    x0, y0 = bank.boxes[tile][:2]
    name, col, row, value = canvas.readout_at(x0 + 2 * bank.zoom + 1, y0 + 1 * bank.zoom + 1)
    assert name == "kernel 2, input channel 1" and (col, row) == (2, 1)
    assert value == pytest.approx(after[1, 2, 1, 2] - before[1, 2, 1, 2], rel=2e-3, abs=1e-7)
    # moving From updates the legends
    view.from_dropdown.value = 1
    assert view.filter_legends[2].vmax == pytest.approx(np.abs(after - history[1]["conv1/kernel"]).max())
    view.close()


def test_history_view_exports_carry_the_legends(history):
    view = history.show()
    png = view.export_png()
    composed = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    for legend in (view.filter_legends[0], view.filter_legends[2]):
        bar = L.colorbar(legend)[0]
        rows = [y for y in range(composed.shape[0]) for x in range(composed.shape[1] - 255)
                if np.array_equal(composed[y, x], bar[0]) and np.array_equal(composed[y, x : x + 256], bar)]
        assert rows, f"no colour bar of {legend.what!r} in the export"
    fig = view.figure()
    labels = [ax.get_xlabel() for ax in fig.axes]
    assert sum(label.startswith("weight (") for label in labels) == 2
    assert any(label.startswith("weight change") for label in labels)
    view.close()


def test_history_view_without_convolutions_says_there_is_nothing_to_export():
    from nbinterp.render.export import EmptyExportError
    from nbinterp.weights import WeightHistory

    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(2)(inp))
    view = WeightHistory.from_models([model, model]).show()
    with pytest.raises(EmptyExportError, match="no convolution layer"):
        view.export_png()
    view.close()


def test_canvas_readout_with_parts_checks_its_shape():
    canvas = ImageCanvas(np.zeros((2, 2, 3), np.uint8))
    values = np.array([[[0.5, -0.25, 1e-3]]], np.float32)
    canvas.set_readout([{"x": 0, "y": 0, "w": 2, "h": 2, "values": values, "name": "k", "parts": ["R", "G", "B"]}], "weight")
    name, col, row, value = canvas.readout_at(1, 1)
    assert (name, col, row) == ("k", 0, 0)
    np.testing.assert_allclose(value, values[0, 0], rtol=1e-3)
    with pytest.raises(ValueError, match="parts"):
        canvas.set_readout([{"x": 0, "y": 0, "w": 2, "h": 2, "values": values[..., :2], "parts": ["R", "G", "B"]}])
    canvas.close()
