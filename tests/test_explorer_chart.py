"""The Saliency tab's class chart and its Maximize view, driven headless."""

import numpy as np
import pytest

import nbinterp
from nbinterp import demo, views
from nbinterp.widgets.explorer import TAB_TITLES
from nbinterp.widgets.tabs.saliency import BAR_FLOOR, bar_heights


@pytest.fixture(scope="module")
def explorer():
    digits = demo.load_digits()
    ex = nbinterp.Explorer(demo.load_model(), digits.images[:6], labels=digits.labels[:6],
                           class_names=digits.class_names, warm_up=False)
    ex.tabs.selected_index = TAB_TITLES.index("Saliency")
    ex.wait()
    yield ex
    ex.close()


def test_every_listed_class_has_a_clickable_labelled_bar(explorer):
    tab = explorer.tabs_by_title["Saliency"]
    indices, scores, _, probabilities = views.top_classes(explorer.inspector, explorer.image_array(0), 5)
    assert probabilities and scores[1] < 0.01  # a confident model: the others are tiny
    heights = np.asarray(tab.bars.y, float)
    y_scale = tab.bars.scales["y"]
    # the axis starts at 0 (no padding below it), reads 0 %, 50 %, 100 %, and leaves room
    # above a full bar for its text
    assert y_scale.min == 0 and y_scale.max > 1 and tab.chart.padding_y == 0
    assert list(tab.chart.axes[1].tick_values) == [0.0, 0.5, 1.0]
    # every bar is at least BAR_FLOOR of the chart tall (clickable), none taller than the scale
    assert np.all(heights >= BAR_FLOOR) and np.all(heights <= 1)
    assert heights[0] == pytest.approx(scores[0])
    # the probability of each class is its label's text, at its bar
    assert list(tab.bar_labels.x) == list(tab.bars.x) and np.allclose(tab.bar_labels.y, heights)
    for text, p in zip(tab.bar_labels.text, scores):
        assert float(text.rstrip("%")) == pytest.approx(100 * p, rel=0.06, abs=0.05)
    assert [str(x).split(":")[0] for x in tab.bars.x] == [str(i) for i in indices]
    # the figure never lays its plot area out at a negative size: it has a fixed size larger
    # than its margins, and it joins the page only once its tab has shown (then stays)
    margin = tab.chart.fig_margin
    assert int(tab.chart.layout.min_width[:-2]) > margin["left"] + margin["right"]
    assert int(tab.chart.layout.min_height[:-2]) > margin["top"] + margin["bottom"]
    assert tab._chart_holder.children == (tab.chart,)
    explorer.tabs.selected_index = TAB_TITLES.index("Activations")
    assert tab._chart_holder.children == (tab.chart,)
    explorer.tabs.selected_index = TAB_TITLES.index("Saliency")
    assert tab._chart_holder.children == (tab.chart,)


def test_the_class_chart_waits_for_its_tab(digits):
    import nbinterp
    from nbinterp import demo

    ex = nbinterp.Explorer(demo.load_model(), digits.images[:3], warm_up=False)
    ex.wait()
    tab = ex.tabs_by_title["Saliency"]
    assert ex.tabs.selected_index != TAB_TITLES.index("Saliency")
    assert tab._chart_holder.children == ()  # not rendered inside a hidden tab
    ex.tabs.selected_index = TAB_TITLES.index("Saliency")
    ex.wait()
    assert tab._chart_holder.children == (tab.chart,)
    ex.close()


def test_a_click_on_a_small_bar_explains_that_class(explorer):
    tab = explorer.tabs_by_title["Saliency"]
    explorer.wait()
    fourth = tab.bar_classes[3]
    tab._bar_clicked(tab.bars, {"data": {"index": 3}})  # what bqplot sends on a click
    assert explorer.target.value == fourth
    explorer.wait()
    assert tab.bars.selected == [3]
    assert f"for class {fourth}" in tab.overlay.label
    explorer.target.value = -1
    explorer.wait()


def test_scores_that_are_not_probabilities_keep_a_floor_and_their_values_as_text():
    heights, texts = bar_heights([3.5, 1.0, -2.0], probabilities=False)
    assert heights[0] == 1 and heights[-1] == BAR_FLOOR and BAR_FLOOR <= heights[1] < 1
    assert texts == ["+3.5", "+1", "-2"]


def test_maximize_draws_the_optimised_image(explorer):
    tab = explorer.tabs_by_title["Saliency"]
    explorer.layer.value = "conv2"
    explorer.channel.value = 3
    explorer.method.value = "maximize"
    explorer.wait()
    assert not explorer.status.value.startswith("⚠"), explorer.status.value
    shown = tab.overlay.image
    assert shown is not None and shown.shape[0] >= 224
    inner = shown[2:-2, 2:-2]
    assert inner.std() > 10  # a picture, not a blank square
    assert inner.min() == 0 and inner.max() == 255  # stretched over its own range
    assert "what channel 3 of conv2 wants" in tab.overlay.label and "stretched" in tab.overlay.label
    legend = tab._legends[id(tab.overlay)]  # its legend: the raw pixel range the image spans
    assert legend["what"] == "input pixel" and legend["vmin"] < legend["vmax"]
    explorer.method.value = "gradient"
    explorer.layer.value = "conv1"
    explorer.wait()
