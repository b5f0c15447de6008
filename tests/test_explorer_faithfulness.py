"""The Saliency tab's Faithfulness panel driven headless: buttons clicked in code, curves and
sanity-check captions equal to nbinterp.metrics on the map the tab shows."""

import threading
import time

import ipywidgets as W
import numpy as np
import pytest

import nbinterp
from nbinterp import demo, metrics
from nbinterp.widgets.tabs.faithfulness import sanity_picture


@pytest.fixture(scope="module")
def explorer(digits):
    ex = nbinterp.Explorer(demo.load_model(), digits.images[:6], labels=digits.labels[:6],
                           class_names=digits.class_names, warm_up=False)
    ex.tabs.selected_index = [t.title for t in ex.tab_objects].index("Saliency")
    ex.wait()
    yield ex
    ex.close()


def panel_of(ex):
    return ex.tabs_by_title["Saliency"].faithfulness


def test_curves_button_draws_the_metrics_of_the_current_map(explorer, digits):
    explorer.image.value = 2
    explorer.method.value = "gradient_x_input"
    explorer.wait()
    panel = panel_of(explorer)
    assert panel.figure not in panel._figure_holder.children  # the chart joins once there is a curve
    panel.curves_button.click()
    panel.wait()
    assert panel.outcomes[-1] == ("curves", "done")
    image = digits.images[2]
    target = int(np.argmax(explorer.model.predict(image[None], verbose=0)))
    heat = nbinterp.attribute(explorer.model, image, target=target, method="gradient_x_input")
    deleted = metrics.deletion(explorer.model, image, heat, target=target)
    inserted = metrics.insertion(explorer.model, image, heat, target=target)
    np.testing.assert_allclose(panel.deletion_line.x, deleted.fractions)
    np.testing.assert_allclose(panel.deletion_line.y, deleted.scores[0], atol=1e-6)
    np.testing.assert_allclose(panel.insertion_line.y, inserted.scores[0], atol=1e-6)
    assert f"{deleted.auc[0]:.3f}" in panel.auc.value and f"{inserted.auc[0]:.3f}" in panel.auc.value
    assert panel.figure in panel._figure_holder.children
    assert not panel.status.value.startswith("⚠")
    # a new map clears the curves: they belonged to the old one
    explorer.image.value = 3
    explorer.wait()
    assert len(panel.deletion_line.y) == 0 and panel.auc.value == ""


def test_sanity_check_draws_a_row_with_rank_correlations(explorer, digits):
    explorer.image.value = 1
    explorer.method.value = "guided_backprop"
    explorer.target.value = 4
    explorer.wait()
    panel = panel_of(explorer)
    panel.sanity_button.click()
    panel.wait()
    assert panel.outcomes[-1] == ("sanity", "done")
    expected = metrics.randomization_check(explorer.model, digits.images[1], "guided_backprop", target=4)
    result = panel.last_sanity
    assert result.layers == expected.layers == ["predictions", "conv3", "conv2", "conv1"]
    np.testing.assert_allclose(result.rank_correlation, expected.rank_correlation, atol=1e-6)
    picture = sanity_picture(expected, digits.images[1], explorer.opacity.value)
    assert panel.sanity.layout.display == "" and tuple(panel.sanity.shape) == picture.shape
    assert np.array_equal(panel.sanity.image, picture)
    assert f"{expected.rank_correlation[-1, 0]:.2f}" in panel.status.value
    explorer.target.value = -1
    explorer.wait()
    assert panel.sanity.layout.display == "none"  # a new target: the row no longer applies


def test_a_new_selection_cancels_a_running_check(explorer):
    explorer.method.value = "smoothgrad"
    controls = explorer.method_options["smoothgrad"]
    default = controls["samples"].value
    controls["samples"].value = 400  # a check long enough to be caught running
    explorer.image.value = 0
    explorer.wait()
    panel = panel_of(explorer)
    started = len(panel.outcomes)
    seen = threading.Event()
    panel.progress.observe(lambda change: seen.set() if change["new"] > 0 else None, names="value")
    panel.sanity_button.click()
    assert seen.wait(60), "the check never reported progress"
    assert panel.running == "sanity"
    explorer.image.value = 4  # a newer selection
    panel.wait()
    deadline = time.time() + 30
    while len(panel.outcomes) == started and time.time() < deadline:
        time.sleep(0.01)
    assert panel.outcomes[started:] == [("sanity", "cancelled")]
    assert panel.last_sanity is None and panel.sanity.layout.display == "none"
    controls["samples"].value = default


def test_maximize_is_not_a_map_to_check(explorer):
    explorer.method.value = "maximize"
    explorer.wait()
    panel = panel_of(explorer)
    assert panel.curves_button.disabled and panel.sanity_button.disabled
    panel.compute_curves()
    assert panel.status.value.startswith("⚠") and "attribution method" in panel.status.value
    explorer.method.value = "gradient"
    explorer.wait()
    assert not panel.curves_button.disabled


def test_closing_the_explorer_stops_the_panel(digits):
    before = set(W.Widget.widgets)
    ex = nbinterp.Explorer(demo.load_model(), digits.images[:2], warm_up=False)
    ex.wait()
    panel = panel_of(ex)
    assert panel.scheduler.alive
    ex.close()
    assert not panel.scheduler.alive
    assert set(W.Widget.widgets) == before


def test_the_panel_explains_the_image_input_of_a_two_input_model():
    from test_multi_io import image_and_features

    rng = np.random.default_rng(3)
    model = image_and_features()
    data = [rng.uniform(size=(2, 12, 12, 3)).astype("float32"), rng.normal(size=(2, 10)).astype("float32")]
    ex = nbinterp.Explorer(model, data, warm_up=False)
    ex.tabs.selected_index = [t.title for t in ex.tab_objects].index("Saliency")
    ex.method.value = "gradient"
    ex.wait()
    panel = panel_of(ex)
    panel.curves_button.click()
    panel.wait()
    assert panel.outcomes[-1] == ("curves", "done"), panel.status.value
    example = [data[0][:1], data[1][:1]]
    target = int(np.argmax(model.predict(example, verbose=0)))
    heat = nbinterp.attribute(model, example, target=target, method="gradient", input="image")
    deleted = metrics.deletion(model, example, heat, target=target, input="image")
    np.testing.assert_allclose(panel.deletion_line.y, deleted.scores[0], atol=1e-6)
    panel.sanity_button.click()
    panel.wait()
    assert panel.outcomes[-1] == ("sanity", "done"), panel.status.value
    ex.close()
