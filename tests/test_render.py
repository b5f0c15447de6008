"""Rendering: arrays to uint8 pictures, checked against direct numpy computations."""

import io

import keras
import numpy as np
import pytest
from PIL import Image

from nbinterp import Inspector, render, views


def test_colorize_maps_ends_of_the_range_to_ends_of_the_table():
    import matplotlib

    values = np.array([[0.0, 5.0, 10.0]])
    rgb = render.colorize(values, "viridis")
    table = np.round(matplotlib.colormaps["viridis"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
    assert rgb.shape == (1, 3, 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb[0, 0], table[0]) and np.array_equal(rgb[0, 2], table[255])
    assert np.array_equal(rgb[0, 1], table[128])  # 0.5 * 255 rounds to 128
    # symmetric: zero sits in the middle whatever the sign balance
    unit = render.to_unit(np.array([-1.0, 0.0, 4.0]), symmetric=True)
    np.testing.assert_allclose(unit, [0.375, 0.5, 1.0])
    # constant and NaN fields do not divide by zero
    assert np.all(render.to_unit(np.ones((2, 2))) == 0)
    assert np.all(np.isfinite(render.to_unit(np.array([np.nan, 1.0, 2.0]))))


def test_mosaic_places_every_tile_at_its_box():
    tiles = np.random.default_rng(0).integers(0, 255, (7, 5, 4, 3), dtype=np.uint8)
    m = render.mosaic(tiles, pad=2, pad_value=9)
    assert (m.rows, m.cols) == (3, 3)
    for tile, (x, y, w, h) in zip(tiles, m.boxes):
        assert (w, h) == (4, 5)
        assert np.array_equal(m.image[y : y + h, x : x + w], tile)
    assert m.image.shape == (3 * 5 + 4 * 2, 3 * 4 + 4 * 2, 3)
    assert np.all(m.image[:2] == 9)  # the padding
    with pytest.raises(TypeError):
        render.mosaic(tiles.astype(np.float32))


def test_overlay_blends_linearly():
    image = np.full((8, 8, 3), 100, np.uint8)
    heat = np.random.default_rng(1).random((4, 4)).astype(np.float32)
    assert np.array_equal(render.overlay(image, heat, alpha=0.0), image)
    full = render.overlay(image, heat, alpha=1.0, cmap="gray")
    expected = render.colorize(render.resize(heat, (8, 8)), "gray")
    assert np.array_equal(full, expected)
    half = render.overlay(image, heat, alpha=0.5, cmap="gray").astype(int)
    assert np.all(np.abs(half - (100 + expected.astype(int)) / 2) <= 0.5 + 1e-9)


def test_display_image_ranges_and_png_round_trip():
    assert np.array_equal(render.display_image(np.array([[0.0, 1.0]])), [[0, 255]])
    assert np.array_equal(render.display_image(np.array([[0.0, 200.0]])), [[0, 200]])
    assert np.array_equal(render.display_image(np.array([[-1.0, 1.0]])), [[0, 255]])
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4, 1)
    assert render.display_image(gray).shape == (3, 4)
    png = render.to_png(gray)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), gray[..., 0])
    assert np.array_equal(render.upscale_nearest(gray[..., 0], 3)[::3, ::3], gray[..., 0])


def test_kernel_tiles_show_zero_as_grey_and_keep_signs():
    kernels = np.zeros((3, 3, 3, 2), np.float32)
    kernels[0, 0, 0, 0] = 1.0  # strong red at the top-left of kernel 0
    kernels[2, 2, 2, 1] = -0.5
    rgb = render.kernel_tiles(kernels, mode="rgb")
    assert rgb.shape == (2, 3, 3, 3)
    assert tuple(rgb[0, 0, 0]) == (255, 128, 128)  # +max -> 255, 0 -> mid grey
    assert tuple(rgb[1, 1, 1]) == (128, 128, 128)
    assert rgb[1, 2, 2, 2] < 128
    one = render.kernel_tiles(kernels, mode="channel", input_channel=0)
    assert one.shape == (2, 3, 3, 3)
    cells = render.kernel_cells(kernels[:, :, 0, 0], cell=10)
    assert len(cells) == 9 and cells[0]["title"] == "[0, 0] = +1.0000" and cells[4]["x"] == 10


def test_explorer_filters_and_weight_views_share_one_kernel_renderer():
    from nbinterp.render.filters import BACKGROUND, diverging_colors, kernel_bank, kernel_change_banks

    keras.utils.set_random_seed(0)
    inp = keras.Input((9, 9, 2))
    x = keras.layers.Conv2D(5, 3, name="conv")(inp)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(x)
    model = keras.Model(inp, x)
    ins = Inspector(model)
    kernels = ins.kernels("conv")
    grid = views.filters_grid(ins, "conv", input_channel=1)
    bank = kernel_bank(kernels, mode="channel", input_channel=1)
    np.testing.assert_array_equal(grid.image, bank.image)
    assert [(r["x"], r["y"], r["w"], r["h"]) for r in grid.regions] == bank.boxes
    # every tile is the enlarged kernel slice, on the bank's dark grey background
    for i, (x0, y0, w, h) in enumerate(bank.boxes):
        tile = bank.image[y0 : y0 + h : bank.zoom, x0 : x0 + w : bank.zoom]
        np.testing.assert_array_equal(tile, render.kernel_tiles(kernels, "channel", 1)[i])
    assert np.all(bank.image[0] == BACKGROUND) and bank.tile_shape == (3, 3) and bank.zoom == 8
    selected = views.filter_selected(ins, "conv", 3, input_channel=1)
    np.testing.assert_array_equal(selected.image[:: views.CELL_PX, :: views.CELL_PX], render.kernel_tiles(kernels, "channel", 1)[3])
    assert views.filters_grid(ins, "dw").image.shape == kernel_bank(ins.kernels("dw"), mode="depthwise").image.shape
    # the weights view's "slices": one row per filter, one tile per input channel, colours shared by all
    slices = kernel_bank(kernels, mode="slices", min_tile_px=3, gap=1)
    assert slices.grid == (5, 2) and slices.total == 10
    np.testing.assert_array_equal(slices.image[1:4, 5:8], diverging_colors(kernels[:, :, 1, 0], np.abs(kernels).max()))
    before, after, diff = kernel_change_banks(kernels, 2 * kernels, mode="slices", min_tile_px=3, gap=1)
    assert before.scale == after.scale == pytest.approx(2 * np.abs(kernels).max())
    np.testing.assert_array_equal(diff.image, slices.image)  # 2k - k = k, on its own scale


def test_block_mean_and_large_dense_layers_stay_bounded():
    field = np.random.default_rng(2).normal(size=(1030, 7)).astype(np.float32)
    shrunk, (fy, fx) = views._block_mean(field, 512)
    assert (fy, fx) == (3, 1) and shrunk.shape == (344, 7)
    np.testing.assert_allclose(shrunk[0], field[:3].mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(shrunk[-1], field[1029:].mean(axis=0), rtol=1e-5)  # the ragged last block

    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(4096, name="wide"), keras.layers.Dense(10, name="out")])
    ins = Inspector(model)
    x = np.random.default_rng(3).random(64).astype(np.float32)
    grid = views.filters_grid(ins, "wide")
    assert max(grid.image.shape[:2]) <= 1024
    acts = views.activation_grid(ins, "wide", x)
    assert max(acts.image.shape[:2]) <= 1024 and len(acts.regions) == 4096
    unit = acts.regions[100]
    assert (unit["x"], unit["y"]) == ((100 % views.UNITS_PER_ROW) * unit["w"], (100 // views.UNITS_PER_ROW) * unit["h"])
    selected = views.filter_selected(ins, "out", 3)
    assert max(selected.image.shape[:2]) <= 1024
    assert views.filters_grid(ins, "out").regions[3]["title"] == "unit 3"
