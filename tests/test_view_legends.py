"""Legends and per-pixel readouts of the Top images pictures (signed
reconstructions on the diverging palette, input patches with their grey scale)
and of colour (RGB) kernel tiles (three weights per cell)."""

import io
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
from PIL import Image

import nbinterp
from nbinterp import demo, reconstruct, top_activations, views
from nbinterp.core.inspector import Inspector
from nbinterp.render import legend as L
from nbinterp.render.colormap import _table
from nbinterp.widgets.canvas import ImageCanvas

LAYER, CHANNEL = "conv2", 3


@pytest.fixture(scope="module")
def digits():
    return demo.load_digits("test")


@pytest.fixture(scope="module")
def top(digits):
    model = demo.load_model()
    data = digits.images[:12]
    result = top_activations(model, LAYER, CHANNEL, data, k=9)
    recons = [reconstruct(model, LAYER, CHANNEL, im, position=pos) for im, pos in zip(result.images, result.positions)]
    return result, recons, views.top_images_view(result, recons)


def on_canvas(picture):
    canvas = ImageCanvas(picture.image)
    canvas.set_legend(picture.legend)
    canvas.set_readout(picture.readout, picture.legend.what if picture.legend else "value")
    return canvas


def test_reconstructions_are_signed_per_tile_on_the_diverging_palette(top):
    result, recons, pictures = top
    picture = pictures["reconstructions"]
    legend = picture.legend
    assert legend.signed and legend.relative and legend.cmap == L.DIVERGING
    assert legend.what == "reconstruction (deconvnet)" and "white = 0" in legend.note
    crops = [r[t:b, lft:rt, 0] for r, (t, lft, b, rt) in zip(recons, result.boxes)]
    assert legend.vmax == pytest.approx(max(np.abs(c).max() for c in crops)) and legend.vmin == -legend.vmax
    assert any(c.min() < 0 for c in crops)  # the projections are signed
    canvas = on_canvas(picture)
    table = _table(L.DIVERGING).astype(int)
    for k in (0, 4, len(result) - 1):
        crop, bound = crops[k], float(np.abs(crops[k]).max())
        x0, y0 = picture.regions[k]["x"], picture.regions[k]["y"]
        zoom = -(-56 // max(crop.shape))
        for i, j in ((0, 0), (crop.shape[0] // 2, crop.shape[1] // 2), (crop.shape[0] - 1, crop.shape[1] - 1)):
            x, y = x0 + j * zoom + zoom // 2, y0 + i * zoom + zoom // 2
            name, col, row, value = canvas.readout_at(x, y)
            # the true reconstruction at that pixel of the example, read from the full projection
            top_, left = result.boxes[k][:2]
            assert (name, col, row) == (f"example {int(result.indices[k])}", j, i)
            assert value == pytest.approx(recons[k][top_ + i, left + j, 0], rel=2e-3, abs=1e-9 + 1e-3 * bound)
            # the pixel is the palette colour of value / bound (zero: the centre, white)
            expected = int(round((recons[k][top_ + i, left + j, 0] / (2 * bound) + 0.5) * 255))
            assert np.abs(table[expected] - picture.image[y, x].astype(int)).max() <= 3
    zero = [(k, i, j) for k, c in enumerate(crops) for i, j in zip(*np.nonzero(c == 0))]
    if zero:
        k, i, j = zero[0]
        zoom = -(-56 // max(crops[k].shape))
        pixel = picture.image[picture.regions[k]["y"] + i * zoom, picture.regions[k]["x"] + j * zoom]
        np.testing.assert_array_equal(pixel, table[128])
    canvas.close()


def test_patches_and_images_read_out_the_raw_input_with_a_grey_legend(top):
    result, _, pictures = top
    for part in ("patches", "images"):
        picture = pictures[part]
        legend = picture.legend
        assert legend.what == "input value" and legend.cmap == "gray" and not legend.signed
        assert (legend.vmin, legend.vmax) == (0.0, 255.0)  # uint8 digits: drawn as they are
        canvas = on_canvas(picture)
        for k in (1, len(result) - 2):
            top_, left, bottom, right = result.boxes[k] if part == "patches" else (0, 0, 28, 28)
            zoom = -(-56 // max(bottom - top_, right - left))
            x0, y0 = picture.regions[k]["x"], picture.regions[k]["y"]
            for i, j in ((0, 0), ((bottom - top_) // 2, (right - left) // 2), (bottom - top_ - 1, right - left - 1)):
                name, col, row, value = canvas.readout_at(x0 + j * zoom + 1, y0 + i * zoom + 1)
                raw = float(result.images[k][top_ + i, left + j, 0])
                assert (name, col, row) == (f"example {int(result.indices[k])}", j, i)
                assert value == pytest.approx(raw, rel=2e-3)
                assert int(picture.image[y0 + i * zoom, x0 + j * zoom, 0]) == round(raw)
        canvas.close()


def test_input_legend_follows_the_display_rule_and_says_per_tile_when_ranges_differ():
    a = np.linspace(0.0, 1.0, 16, dtype=np.float32).reshape(4, 4)
    b = np.linspace(-3.0, 5.0, 16, dtype=np.float32).reshape(4, 4)
    assert views._tile_legend("input value", [views._input_values(a)[2:]] * 2).vmax == 1.0
    mixed = views._tile_legend("input value", [views._input_values(a)[2:], views._input_values(b)[2:]])
    assert mixed.relative and (mixed.vmin, mixed.vmax) == (-3.0, 5.0)
    # and the grey drawn for b is its own min .. max
    assert views.display_image_tile(b)[0, 0] == 0 and views.display_image_tile(b)[-1, -1] == 255
    rgb = np.zeros((4, 4, 3), np.float32)
    values, parts, cmap, _ = views._input_values(rgb)
    assert parts == ("R", "G", "B") and cmap is None and views._tile_legend("x", [(cmap, None)]) is None


def test_top_images_tab_shows_the_legends_and_exports_them(digits):
    ex = nbinterp.Explorer(demo.load_model(), digits.images[:6], warm_up=False)
    try:
        from nbinterp.widgets.explorer import TAB_TITLES

        ex.layer.value = LAYER
        ex.channel.value = CHANNEL
        ex.tabs.selected_index = TAB_TITLES.index("Top images")
        ex.wait()
        tab = ex.tabs_by_title["Top images"]
        recon = L.from_dict(tab._legends[id(tab.reconstructions)])
        assert recon.cmap == L.DIVERGING and recon.relative
        assert tab.reconstructions.legend_picture is not None and tab.patches.legend_text.startswith("input value")
        assert tab.reconstructions.readout["what"] == "reconstruction (deconvnet)"
        png = ex.export_png("Top images")
        composed = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
        bar = L.colorbar(recon)[0]
        assert any(np.array_equal(composed[y, x : x + 256], bar) for y in range(composed.shape[0])
                   for x in range(composed.shape[1] - 255) if np.array_equal(composed[y, x], bar[0]))
        labels = [ax.get_xlabel() for ax in ex.figure("Top images").axes]
        assert any(label.startswith("reconstruction (deconvnet)") for label in labels)
    finally:
        ex.close()


def test_rgb_kernel_tiles_read_out_their_three_weights():
    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inp)
    ins = Inspector(keras.Model(inp, x))
    weights = ins.kernels("conv")
    grid = views.filters_grid(ins, "conv")
    canvas = on_canvas(grid)
    for k, (i, j) in ((0, (0, 0)), (3, (2, 1))):
        box = grid.regions[k]
        zoom = box["w"] // 3
        name, col, row, value = canvas.readout_at(box["x"] + j * zoom, box["y"] + i * zoom)
        assert (name, col, row) == (f"kernel {k}", j, i)
        np.testing.assert_allclose(value, weights[i, j, :, k], rtol=2e-3, atol=1e-6)
    canvas.close()
    selected = views.filter_selected(ins, "conv", 2)
    canvas = on_canvas(selected)
    name, col, row, value = canvas.readout_at(views.CELL_PX * 1 + 3, views.CELL_PX * 2 + 3)
    assert (col, row) == (1, 2)
    np.testing.assert_allclose(value, weights[2, 1, :, 2], rtol=2e-3, atol=1e-6)
    canvas.close()
    image = np.random.default_rng(0).random((6, 6, 3)).astype(np.float32)
    kernel = views.kernel_response_view(ins, "conv", 1, image)["kernel"]
    canvas = on_canvas(kernel)
    cell = kernel.image.shape[0] // 3
    np.testing.assert_allclose(canvas.readout_at(2 * cell, 0)[3], weights[0, 2, :, 1], rtol=2e-3, atol=1e-6)
    canvas.close()


def test_reconstructions_of_a_colour_input_are_drawn_per_channel_and_read_out_three_values():
    keras.utils.set_random_seed(1)
    inp = keras.Input((10, 10, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="c1")(inp)
    x = keras.layers.Conv2D(3, 3, activation="relu", name="c2")(x)
    model = keras.Model(inp, x)
    data = np.random.default_rng(2).random((5, 10, 10, 3)).astype(np.float32)
    result = top_activations(model, "c2", 1, data, k=3)
    recons = [reconstruct(model, "c2", 1, im, position=pos) for im, pos in zip(result.images, result.positions)]
    pictures = views.top_images_view(result, recons)
    legend = pictures["reconstructions"].legend
    assert legend.cmap == "gray" and legend.signed and legend.relative and "R, G, B" in legend.note
    assert pictures["images"].legend is None  # a colour image is its own key; its readout gives R, G, B
    canvas = on_canvas(pictures["reconstructions"])
    top_, left, bottom, right = result.boxes[0]
    zoom = -(-56 // max(bottom - top_, right - left))
    x0, y0 = pictures["reconstructions"].regions[0]["x"], pictures["reconstructions"].regions[0]["y"]
    name, col, row, value = canvas.readout_at(x0 + zoom + 1, y0 + 2 * zoom + 1)
    assert (col, row) == (1, 2) and len(value) == 3
    np.testing.assert_allclose(value, recons[0][top_ + 2, left + 1], rtol=2e-3, atol=1e-6)
    canvas.close()
    canvas = on_canvas(pictures["images"])
    x0, y0 = pictures["images"].regions[1]["x"], pictures["images"].regions[1]["y"]
    np.testing.assert_allclose(canvas.readout_at(x0 + 3 * 6, y0 + 4 * 6)[3], result.images[1][4, 3], rtol=2e-3)
    canvas.close()


def test_the_whole_image_beside_a_first_kernel_reads_out_what_the_layer_receives():
    """The Kernel response input panel of a first convolution shows the image; hovering a
    pixel reads the layer's input there: R, G, B for a colour image, one value for a
    grayscale one (after the model's own rescaling)."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 6, 3))
    ins = Inspector(keras.Model(inp, keras.layers.Conv2D(4, 3, name="conv")(inp)))
    image = np.random.default_rng(1).random((6, 6, 3)).astype(np.float32)
    picture = views.kernel_response_view(ins, "conv", 1, image)["input"]
    canvas = on_canvas(picture)
    zoom = picture.image.shape[0] // 6
    for i, j in ((0, 0), (4, 2), (5, 5)):
        name, col, row, value = canvas.readout_at(j * zoom + 1, i * zoom + 1)
        assert (name, col, row) == ("input to conv", j, i)
        np.testing.assert_allclose(value, image[i, j], rtol=2e-3, atol=1e-6)
    canvas.close()

    model = demo.load_model()  # Rescaling(1/255) before conv1
    ins = Inspector(model)
    digit = demo.load_digits().images[0]
    picture = views.kernel_response_view(ins, "conv1", 0, digit)["input"]
    assert picture.label == "image"
    canvas = on_canvas(picture)
    zoom = picture.image.shape[0] // digit.shape[0]
    scaled = ins.layer_input("conv1", digit)[0][..., 0]
    assert scaled.max() <= 1.0 < digit.max()  # the readout is the rescaled value, not the file's
    for i, j in ((3, 3), (14, 10), (20, 17)):
        name, col, row, value = canvas.readout_at(j * zoom + 1, i * zoom + 1)
        assert (col, row) == (j, i)
        np.testing.assert_allclose(value, scaled[i, j], rtol=2e-3, atol=1e-4)
    canvas.close()
