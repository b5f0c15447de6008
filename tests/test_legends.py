"""Colour legends: the palette rule, ranges equal to the data (or the shared range),
zero at the centre of diverging maps, legends on every Explorer canvas and in the
exports, and the per-pixel readout values."""

import io

import keras
import numpy as np
import pytest
from PIL import Image

import nbinterp
from nbinterp import demo, views
from nbinterp.core.inspector import Inspector
from nbinterp.render import export
from nbinterp.render import legend as L
from nbinterp.render.colormap import _table
from nbinterp.widgets.canvas import ImageCanvas


def test_palette_rule_sequential_for_non_negative_and_diverging_symmetric_for_signed():
    rng = np.random.default_rng(0)
    positive = rng.uniform(0.5, 3.0, (5, 7))
    lg = L.choose(positive, "activation")
    assert (lg.cmap, lg.signed) == (L.SEQUENTIAL, False)
    assert (lg.vmin, lg.vmax) == (positive.min(), positive.max())
    signed = rng.normal(size=(5, 7)) - 0.3
    lg = L.choose(signed, "weight")
    top = np.abs(signed).max()
    assert (lg.cmap, lg.signed) == (L.DIVERGING, True)
    assert (lg.vmin, lg.vmax) == (-top, top)
    # a shared range replaces the data's; for a signed map only max |bound| counts
    assert (L.choose(positive, "a", bounds=(0.0, 10.0)).vmin, L.choose(positive, "a", bounds=(0.0, 10.0)).vmax) == (0, 10)
    assert L.choose(signed, "w", bounds=(-4.0, 1.0)).vmax == 4.0
    # NaN and inf are ignored when finding the range
    assert L.choose(np.array([np.nan, 1.0, 2.0, np.inf]), "x").vmax == 2.0


def test_diverging_maps_put_zero_at_the_palette_centre_and_the_bar_is_the_palette():
    lg = L.choose(np.array([-3.0, 0.25, 1.0]), "attribution")
    assert lg.unit(0.0) == 0.5
    table = _table(lg.cmap)
    bar = L.colorbar(lg)
    assert bar.shape == (L.BAR_HEIGHT, 256, 3)
    np.testing.assert_array_equal(bar[0], table)  # column i is palette entry i
    centre = lg.colorize(np.array(0.0))
    np.testing.assert_array_equal(centre, table[128])
    np.testing.assert_array_equal(lg.colorize(np.array([-3.0, 3.0])), table[[0, 255]])
    # white (all channels high) at zero for RdBu_r
    assert centre.min() > 240
    picture = L.legend_image(lg)
    top = L.bar_top(lg)
    np.testing.assert_array_equal(picture[top : top + L.BAR_HEIGHT, L.MARGIN : L.MARGIN + 256], bar)


def test_legend_colours_equal_an_independent_min_max_mapping():
    values = np.linspace(-1.0, 5.0, 40).reshape(5, 8)
    lg = L.choose(values, "x", signed=False)
    expected = _table("viridis")[np.round((values - values.min()) / (values.max() - values.min()) * 255).astype(int)]
    np.testing.assert_array_equal(lg.colorize(values), expected)


@pytest.fixture(scope="module")
def explorer():
    digits = demo.load_digits("test")
    ex = nbinterp.Explorer(demo.load_model(), digits.images[:4], class_names=digits.class_names, warm_up=False)
    ex.wait()
    yield ex
    ex.close()


def legend_of(explorer, canvas):
    """The legend a tab keeps for ``canvas`` (what export and the canvas show)."""
    tab = next(t for t in explorer.tab_objects if canvas in t.canvases)
    return L.from_dict(tab._legends[id(canvas)])


def test_every_map_of_the_explorer_has_a_legend_with_the_data_range(explorer):
    ins, image = explorer.inspector, explorer.images[0]
    tabs = explorer.tabs_by_title
    acts = ins.activations("conv1", image)[0]
    channel = explorer.channel.value
    # shared scale: the grid's legend spans the whole layer
    grid_legend = legend_of(explorer, tabs["Activations"].grid)
    assert grid_legend.what == "activation" and not grid_legend.signed
    assert (grid_legend.vmin, grid_legend.vmax) == pytest.approx((acts.min(), acts.max()))
    enlarged = legend_of(explorer, tabs["Activations"].enlarged)
    assert (enlarged.vmin, enlarged.vmax) == pytest.approx((acts.min(), acts.max()))
    # the canvas shows the legend picture and its text
    canvas = tabs["Activations"].grid
    assert canvas.legend_picture is not None and "activation" in canvas.legend_text
    # per-tile scale: the enlarged channel spans its own range, the grid says "per tile"
    explorer.shared_scale.value = False
    explorer.wait()
    enlarged = legend_of(explorer, tabs["Activations"].enlarged)
    assert (enlarged.vmin, enlarged.vmax) == pytest.approx((acts[..., channel].min(), acts[..., channel].max()))
    assert legend_of(explorer, tabs["Activations"].grid).relative
    # and the enlarged picture is coloured through that legend
    picture = tabs["Activations"].enlarged.image
    zoom = picture.shape[0] // acts.shape[0]
    np.testing.assert_array_equal(picture[::zoom, ::zoom], enlarged.colorize(acts[..., channel]))
    explorer.shared_scale.value = True
    explorer.wait()
    # filters: signed weights over ±max|w|, zero white
    weights = ins.kernels("conv1")
    filt = legend_of(explorer, tabs["Filters"].grid)
    assert filt.signed and filt.what == "weight"
    assert filt.vmax == pytest.approx(np.abs(weights).max()) and filt.vmin == -filt.vmax
    # kernel response: signed, symmetric around the response's max |value|
    response = ins.kernel_response("conv1", channel, image)
    resp = legend_of(explorer, tabs["Kernel response"].response)
    assert resp.what == "response before activation" and resp.signed
    assert resp.vmax == pytest.approx(np.abs(response).max())


def test_saliency_legend_names_the_class_and_says_magnitude_or_sign(explorer):
    explorer.target.value = 3
    for method, signed in (("gradient", False), ("integrated_gradients", True)):
        explorer.method.value = method
        explorer.wait()
        lg = legend_of(explorer, explorer.tabs_by_title["Saliency"].overlay)
        heat = nbinterp.attribute(explorer.model, explorer.images[0], target=3, method=method)[0]
        assert lg.what == "attribution to class 3"
        assert lg.signed is signed
        assert ("magnitude" in lg.note) is (not signed) and ("red" in lg.note) is signed
        if signed:
            assert lg.vmax == pytest.approx(np.abs(heat).max(), rel=1e-4) and lg.vmin == -lg.vmax
        else:
            assert (lg.vmin, lg.vmax) == pytest.approx((heat.min(), heat.max()), rel=1e-4)
    explorer.method.value = "gradient"
    explorer.target.value = -1
    explorer.wait()


def test_exports_carry_the_legends(explorer):
    tab = explorer.tabs_by_title["Kernel response"]
    png = explorer.export_png("Kernel response")
    composed = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    bar = L.colorbar(legend_of(explorer, tab.response))
    # the colour bar row appears, pixel for pixel, somewhere in the export
    width = composed.shape[1]
    found = any(np.array_equal(composed[y, x : x + 256], bar[0])
                for y in range(composed.shape[0]) for x in range(width - 255)
                if np.array_equal(composed[y, x], bar[0, 0]))
    assert found
    fig = explorer.figure("Kernel response")
    labels = [ax.get_xlabel() for ax in fig.axes]
    assert any(label.startswith("response before activation") for label in labels)
    assert any(label.startswith("weight") for label in labels)


def test_canvas_readout_gives_the_values_under_each_pixel(explorer):
    ins, image = explorer.inspector, explorer.images[0]
    acts = ins.activations("conv1", image)[0]
    channel = explorer.channel.value
    canvas = explorer.tabs_by_title["Activations"].enlarged
    zoom = canvas.image.shape[0] // acts.shape[0]
    for (row, col) in ((0, 0), (5, 7), (acts.shape[0] - 1, acts.shape[1] - 2)):
        name, c, r, value = canvas.readout_at(col * zoom + zoom // 2, row * zoom)
        assert (c, r) == (col, row) and name == f"channel {channel}"
        assert value == pytest.approx(acts[row, col, channel], rel=2e-3, abs=1e-6)
    grid = explorer.tabs_by_title["Activations"].grid
    x, y, w, h = grid.regions[2]["x"], grid.regions[2]["y"], grid.regions[2]["w"], grid.regions[2]["h"]
    name, c, r, value = grid.readout_at(x + w - 1, y + h - 1)
    assert name == "channel 2" and (c, r) == (acts.shape[1] - 1, acts.shape[0] - 1)
    assert value == pytest.approx(acts[-1, -1, 2], rel=2e-3, abs=1e-6)
    assert grid.readout_at(0, 0) is None  # the padding between tiles has no value


def test_readout_keeps_three_digits_for_tiny_and_huge_values():
    canvas = ImageCanvas(np.zeros((4, 4), np.uint8))
    values = np.array([[1e-7, -3e-7], [7e5, np.nan]], np.float32)
    canvas.set_readout([{"x": 0, "y": 0, "w": 2, "h": 1, "values": values[:1], "name": "a"},
                        {"x": 0, "y": 1, "w": 2, "h": 1, "values": values[1:], "name": "b"}], "value")
    assert canvas.readout_at(0, 0)[3] == pytest.approx(1e-7, rel=1e-3)
    assert canvas.readout_at(1, 0)[3] == pytest.approx(-3e-7, rel=1e-3)
    assert canvas.readout_at(0, 1)[3] == pytest.approx(7e5, rel=1e-3)
    assert canvas.readout_at(1, 1)[3] is None
    assert canvas.readout_at(3, 3) is None
    canvas.close()


def test_dense_and_rgb_kernel_views_have_legends():
    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inp)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(5, name="dense")(x)
    ins = Inspector(keras.Model(inp, x))
    rgb = views.filters_grid(ins, "conv")
    assert rgb.legend.cmap == "gray" and rgb.legend.vmax == pytest.approx(np.abs(ins.kernels("conv")).max())
    dense = views.filter_selected(ins, "dense", 2)
    assert dense.legend.signed and dense.legend.what == "weight"
    assert export.compose([export.ExportPicture(dense.image, "x", dense.legend.as_dict())]).shape[0] > dense.image.shape[0]


def test_sign_control_draws_the_signed_map_with_the_diverging_legend(explorer):
    saliency = explorer.tabs_by_title["Saliency"]
    explorer.method.value = "gradient"
    explorer.wait()
    assert explorer.sign in explorer.options_box.children and explorer.sign.value == "magnitude"
    explorer.sign.value = "signed"
    explorer.wait()
    assert explorer.selection.option_values["reduce"] == "sum"
    lg = legend_of(explorer, saliency.overlay)
    heat = nbinterp.attribute(explorer.model, explorer.images[0], method="gradient", reduce="sum")[0]
    assert lg.signed and lg.cmap == L.DIVERGING and lg.vmax == pytest.approx(np.abs(heat).max(), rel=1e-4)
    # the overlay is the signed map drawn through that legend
    expected = views.saliency_view(heat, explorer.images[0], explorer.opacity.value, legend=lg)["overlay"]
    np.testing.assert_array_equal(saliency.overlay.image.reshape(expected.image.shape), expected.image)
    # a method whose map has no sign has no Sign control; the next signed method starts at its default
    explorer.method.value = "gradcam"
    explorer.wait()
    assert explorer.sign not in explorer.options_box.children
    assert "reduce" not in explorer.selection.option_values
    cam = legend_of(explorer, saliency.overlay)
    assert not cam.signed and cam.note == "non-negative"  # rectified: no sign, not a magnitude either
    explorer.method.value = "integrated_gradients"
    assert explorer.sign.value == "signed" and "reduce" not in explorer.selection.option_values
    explorer.method.value = "gradient"
    explorer.wait()


def test_too_few_class_names_are_reported():
    digits = demo.load_digits("test")
    with pytest.warns(UserWarning, match=r"class_names has 3 names for 10 classes: classes 3 to 9 are shown by number"):
        ex = nbinterp.Explorer(demo.load_model(), digits.images[:2], class_names=["zero", "one", "two"], warm_up=False)
    try:
        ex.wait()
        assert "class_names has 3 names for 10 classes" in ex.status.value
        assert ("3: 3", 3) in ex.target.options and ("2: two", 2) in ex.target.options
    finally:
        ex.close()
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ex = nbinterp.Explorer(demo.load_model(), digits.images[:2], class_names=digits.class_names, warm_up=False)
    ex.close()
    assert not [w for w in caught if "class_names" in str(w.message)]  # the right number of names: no warning


def test_relative_legends_name_their_ends_in_pictures_and_figures():
    lg = L.Legend("activation", 0.0, 4.0, L.SEQUENTIAL, False, "per-tile scale", relative=True)
    assert lg.text == "activation (per-tile scale)"
    assert [t for _, t in L._ticks(lg)] == ["tile min", "tile max"]
    signed = L.Legend("reconstruction", -1.0, 1.0, "gray", True, relative=True)
    assert [t for _, t in L._ticks(signed)] == ["−max|tile|", "0", "+max|tile|"]
    picture = export.ExportPicture(np.zeros((8, 8, 3), np.uint8), "tiles", signed.as_dict())
    fig = export.figure([picture])
    bar = next(ax for ax in fig.axes if ax.get_xlabel())
    assert [t.get_text() for t in bar.get_xticklabels()] == ["−max|tile|", "+max|tile|"]
