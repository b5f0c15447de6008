"""The Activations view chosen by the layer's output rank, with readable tiles."""

import numpy as np
import pytest

import nbinterp
from nbinterp import demo, views
from nbinterp.widgets.explorer import TAB_TITLES


@pytest.fixture(scope="module")
def explorer():
    digits = demo.load_digits()
    ex = nbinterp.Explorer(demo.load_model(), digits.images[:4], warm_up=False)
    ex.tabs.selected_index = TAB_TITLES.index("Activations")
    ex.wait()
    yield ex
    ex.close()


def show(explorer, layer, channel=0):
    explorer.layer.value = layer
    explorer.channel.value = channel
    explorer.wait()
    assert not explorer.status.value.startswith("⚠"), explorer.status.value
    return explorer.tabs_by_title["Activations"]


def displayed_width(canvas, width):
    """The canvas' zoom rule (js/canvas.js chooseZoom): a fixed scale, or the largest
    integer zoom that fits max_width (a wider image shrinks to fit)."""
    if canvas.scale > 0:
        return width * canvas.scale
    fit = canvas.max_width / width
    return width * (np.floor(fit) if fit >= 1 else fit)


@pytest.mark.parametrize("layer", ["gap", "predictions"])
def test_vector_outputs_are_a_bar_chart_of_unit_values(explorer, layer):
    tab = show(explorer, layer, 3)
    values = explorer.inspector.activations(layer, explorer.image_array(0))[0]
    assert tab.maps.layout.display == "none"  # no strip of tiny tiles, no single-colour square
    assert tab.units_shown
    assert np.allclose(tab.unit_bars.y, values) and list(tab.unit_bars.x) == [str(i) for i in range(len(values))]
    assert tab.unit_bars.selected == [3] and f"unit 3 = {values[3]:+.4f}" in tab.units_chart.title
    tab._unit_clicked(tab.unit_bars, {"data": {"index": 5}})  # a click on bar 5
    assert explorer.channel.value == 5
    explorer.wait()
    assert tab.unit_bars.selected == [5]
    assert len(tab.pictures()) == 1  # export still has the units
    # the chart stays in the page while other tabs show: it is drawn once, not on every return
    for title in ("Filters", "Activations"):
        explorer.tabs.selected_index = [t.title for t in explorer.tab_objects].index(title)
        explorer.wait()
        assert tab._units_holder.children == (tab.units_chart,)
    assert tab.units_shown


def test_feature_maps_come_back_after_a_vector(explorer):
    tab = show(explorer, "conv2", 1)
    assert tab.maps.layout.display == "" and not tab.units_shown
    assert tab.grid.layout.display == ""


def test_a_single_channel_map_is_shown_once(explorer):
    tab = show(explorer, "rescale", 0)
    assert tab.grid.layout.display == "none" and tab.enlarged.layout.display != "none"
    assert len(tab.pictures()) == 1 and "1 channel of" not in tab.enlarged.label
    assert "channels" not in views.activation_grid(explorer.inspector, "rescale", explorer.image_array(0)).label


@pytest.mark.parametrize("layer", ["conv1", "pool1", "conv2", "pool2", "conv3"])
def test_tiles_are_readable_at_every_layer(explorer, layer):
    tab = show(explorer, layer)
    width = tab.grid.shape[1]
    zoom = displayed_width(tab.grid, width) / width
    tiles = [region["w"] * zoom for region in tab.grid.regions]
    assert min(tiles) >= views.TILE_TARGET_PX, (layer, min(tiles))
    assert displayed_width(tab.grid, width) <= tab.grid.max_width
