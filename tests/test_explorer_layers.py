"""The Explorer on nested blocks and on every kind of convolution: each tab shows a view
or a message that says what to do, never an internal exception's type."""

import keras
import numpy as np
import pytest

import nbinterp
from nbinterp import views
from nbinterp.render.filters import kernel_bank
from nbinterp.widgets.explorer import TAB_TITLES

EXCEPTION_NAMES = ("AttributeError", "TypeError", "ValueError", "KeyError", "IndexError", "Traceback",
                   "InvalidArgumentError", "NoneType")


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(5)
    inp = keras.Input((20, 20, 3))
    stem = keras.Sequential([keras.layers.Conv2D(6, 3, name="stem_conv"), keras.layers.LayerNormalization(name="stem_norm")],
                            name="stem")
    down = keras.Sequential([keras.layers.LayerNormalization(name="down_norm"), keras.layers.Conv2D(8, 2, strides=2, name="down_conv")],
                            name="down")
    plain = keras.Sequential([keras.layers.ReLU(name="plain_relu"), keras.layers.MaxPooling2D(name="plain_pool")], name="plain")
    x = stem(inp)
    x = down(x)
    x = keras.layers.SeparableConv2D(5, 3, depth_multiplier=2, padding="same", activation="relu", name="sep")(x)
    x = keras.layers.Conv2DTranspose(4, 3, name="tr")(x)
    x = keras.layers.DepthwiseConv2D(3, name="dw")(x)
    x = plain(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(3, activation="softmax", name="out")(x)
    return keras.Model(inp, out)


@pytest.fixture(scope="module")
def explorer(model):
    images = np.random.default_rng(1).random((3, 20, 20, 3)).astype("float32")
    ex = nbinterp.Explorer(model, images, warm_up=False)
    ex.wait()
    yield ex
    ex.close()


def show(explorer, title, layer, channel=0):
    explorer.tabs.selected_index = TAB_TITLES.index(title)
    explorer.layer.value = layer
    explorer.channel.value = channel
    explorer.wait()
    return explorer.tabs_by_title[title]


def drawn(tab):
    return [c for c in tab.canvases if c.image is not None and c.image.size > 1]


def test_every_tab_on_a_nested_block_shows_a_view_or_a_message(explorer):
    for block in ("stem", "down", "plain"):
        for title in TAB_TITLES:
            tab = show(explorer, title, block)
            status = explorer.status.value
            assert not any(name in status for name in EXCEPTION_NAMES), (block, title, status)
            if status.startswith("⚠"):
                assert "pick" in status, (block, title, status)  # the message says what to do
            elif title != "Architecture":
                assert drawn(tab), (block, title)
    # a block's kernels are its first convolution's
    tab = show(explorer, "Filters", "down", 3)
    assert not explorer.status.value.startswith("⚠")
    inner = views.filter_selected(explorer.inspector, "down/down_conv", 3, 0)
    assert np.array_equal(tab.selected.image.reshape(inner.image.shape), inner.image)
    assert tab.selected.label.startswith("block down, its first layer with weights down_conv")
    tab = show(explorer, "Kernel response", "stem", 2)
    image = explorer.image_array(0)
    pre = explorer.inspector.pre_activations("stem/stem_conv", image)[0, :, :, 2]
    response = explorer.inspector.kernel_response("stem/stem_conv", 2, image)
    np.testing.assert_allclose(response, pre, rtol=1e-4, atol=1e-5)
    assert drawn(tab) and not explorer.status.value.startswith("⚠")
    # a block without weights: the message names it and what to pick
    show(explorer, "Filters", "plain")
    assert explorer.status.value.startswith("⚠ plain is a nested block without a layer that has weights")


def test_an_internal_error_names_the_view_and_the_next_step(explorer, monkeypatch):
    def broken(*args, **kwargs):
        raise AttributeError("'Group' object has no attribute 'op'")

    monkeypatch.setattr(views, "activation_grid", broken)
    explorer.pictures_cache.clear()
    tab = show(explorer, "Activations", "sep", 1)
    status = explorer.status.value
    assert status.startswith("⚠ the Activations view of sep failed")
    assert "AttributeError" not in status and "pick another layer or method" in status
    assert tab.note.value == status[2:].split(" · warming up")[0]


def test_filters_of_a_separable_convolution_render_for_every_channel(explorer, model):
    op = model.get_layer("sep")
    depthwise = np.asarray(op.depthwise_kernel)  # (3, 3, in, mult)
    pointwise = np.asarray(op.pointwise_kernel)[0, 0]  # (in * mult, out)
    n_in, mult = depthwise.shape[2:]
    for k in range(5):
        tab = show(explorer, "Filters", "sep", k)
        assert not explorer.status.value.startswith("⚠"), explorer.status.value
        assert explorer.channel.max == 4  # the outputs the view draws
        effective = np.zeros(depthwise.shape[:3], np.float32)
        for c in range(n_in):
            for m in range(mult):
                effective[:, :, c] += depthwise[:, :, c, m] * pointwise[c * mult + m, k]
        expected = kernel_bank(effective[..., None], mode="depthwise").image
        assert np.array_equal(tab.selected.image.reshape(expected.shape), expected)
        assert f"output channel {k}" in tab.selected.label
    grid = kernel_bank(depthwise, mode="depthwise").image
    assert np.array_equal(tab.grid.image.reshape(grid.shape), grid)


def test_every_kind_of_convolution_has_kernel_responses(explorer, model):
    image = explorer.image_array(1)
    explorer.image.value = 1
    for layer in ("sep", "tr", "dw"):
        tab = show(explorer, "Kernel response", layer, 2)
        assert not explorer.status.value.startswith("⚠"), (layer, explorer.status.value)
        assert len(drawn(tab)) == 3
        assert "not a convolution" not in explorer.status.value
    # a transposed convolution's filters are drawn per output channel (its kernel is (kh, kw, out, in))
    tab = show(explorer, "Filters", "tr", 3)
    assert explorer.input_channel.max == 4  # its inputs are sep's 5 outputs
    kernel = np.asarray(model.get_layer("tr").kernel)
    expected = views.filter_selected(explorer.inspector, "tr", 3, 0)
    assert np.array_equal(tab.selected.image.reshape(expected.image.shape), expected.image)
    from nbinterp.render import kernel_cells

    cells = kernel_cells(kernel[:, :, 3, 0], views.CELL_PX)
    assert tab.selected.regions == cells
    explorer.image.value = 0
    assert image.shape == (20, 20, 3)
