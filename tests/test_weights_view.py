"""Headless checks of the weight views: moving the controls updates the
bqplot marks with exactly the backend's numbers."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

from nbinterp.weights import SnapshotCallback, WeightHistory, compare_weights
from nbinterp.render.filters import BACKGROUND, diverging_colors
from nbinterp.widgets.weights_view import POOLED, WeightComparisonView, WeightHistoryView


@pytest.fixture(scope="module")
def history():
    keras.utils.set_random_seed(0)
    x = keras.Input((8, 8, 3))
    y = keras.layers.Conv2D(4, 3, activation="relu", name="conv1")(x)
    y = keras.layers.Conv2D(2, 3, name="conv2")(y)
    y = keras.layers.GlobalAveragePooling2D()(y)
    y = keras.layers.Dense(3, name="out")(y)
    model = keras.Model(x, y)
    model.compile(optimizer=keras.optimizers.SGD(0.2), loss="mse")
    rng = np.random.default_rng(0)
    callback = SnapshotCallback(every=1, unit="epoch")
    model.fit(
        rng.random((16, 8, 8, 3), dtype=np.float32),
        rng.random((16, 3), dtype=np.float32),
        epochs=3,
        batch_size=8,
        verbose=0,
        callbacks=[callback],
    )
    return callback.history


def test_history_view_marks_follow_layer_dropdown_and_snapshot_slider(history):
    view = history.show(bins=25)
    assert isinstance(view, WeightHistoryView)
    assert view.layer_dropdown.description == "Layer"
    assert view.snapshot_slider.description == "Snapshot"
    assert list(view.layer_dropdown.options) == [("conv1", "conv1"), ("conv2", "conv2"), ("out", "out")]
    assert len(view.snapshot_slider.options) == 4 and view.snapshot_slider.value == 3
    assert "epoch 3" in view.snapshot_slider.label

    for layer in ("out", "conv2"):
        view.layer_dropdown.value = layer
        expected = history.histogram(layer, bins=25)
        np.testing.assert_array_equal(view.histogram_lines.x, expected.centers)
        np.testing.assert_array_equal(view.histogram_lines.y, expected.counts)
        for i in (0, 2):
            view.snapshot_slider.value = i
            np.testing.assert_array_equal(view.histogram_bars.x, expected.centers)
            np.testing.assert_array_equal(view.histogram_bars.y, expected.counts[i])
            assert view.histogram_lines.opacities[i] == 1.0
            assert sum(o == 1.0 for o in view.histogram_lines.opacities) == 1
            stats = history.summary_stats(layer)
            np.testing.assert_array_equal(view.mean_std_lines.y, np.stack([stats.mean, stats.std]))
            np.testing.assert_array_equal(view.near_zero_lines.y, stats.fraction_near_zero)
            np.testing.assert_array_equal(view.mean_std_lines.x, history.steps)
            assert list(view.near_zero_marker.x) == [history.steps[i]]
            assert list(view.near_zero_marker.y) == [stats.fraction_near_zero[i]]
            assert view.summary_label.value.startswith(history[i].label)


def test_history_view_weights_dropdown_selects_one_variable(history):
    view = WeightHistoryView(history, layer="conv1", bins=10)
    assert [value for _, value in view.variable_dropdown.options] == [POOLED, "kernel", "bias"]
    view.variable_dropdown.value = "kernel"
    expected = history.histogram("conv1", bins=10, variable="kernel")
    np.testing.assert_array_equal(view.histogram_lines.y, expected.counts)
    assert expected.counts.sum(axis=1).tolist() == [3 * 3 * 3 * 4] * 4
    view.layer_dropdown.value = "out"  # a new layer starts from its pooled values again
    assert view.variable_dropdown.value == POOLED
    np.testing.assert_array_equal(view.histogram_lines.y, history.histogram("out", bins=10).counts)


def test_history_view_filter_grids(history):
    view = history.show()
    assert view.filter_layer == "conv1"
    assert (view.from_dropdown.value, view.to_dropdown.value) == (0, 3)
    before, after, diff = view.filter_banks
    for canvas, bank in zip(view.filter_canvases, view.filter_banks):
        np.testing.assert_array_equal(canvas.image, bank.image)
        assert len(canvas.regions) == bank.shown
    assert before.rgb and after.rgb and not diff.rgb
    assert view.filter_canvases[0].regions[2]["title"] == "filter 2"
    assert view.filter_canvases[2].regions[4]["title"] == "filter 1, input channel 1"
    np.testing.assert_allclose(diff.scale, np.abs(history[3]["conv1/kernel"] - history[0]["conv1/kernel"]).max())
    view.from_dropdown.value = 3  # the same snapshot twice: no difference at all
    same = view.filter_banks[2].image
    tiles = np.any(same != BACKGROUND, axis=-1)  # the gaps between tiles are dark grey
    assert np.all(same[tiles] == diverging_colors(np.zeros(1), 1.0)[0])  # every tile pixel white
    assert "epoch 3" in view.filter_canvases[0].label


def test_view_of_a_model_without_convolutions_has_no_filter_section():
    keras.utils.set_random_seed(0)
    x = keras.Input((5,))
    model = keras.Model(x, keras.layers.Dense(1, name="only")(keras.layers.Dense(4, name="first")(x)))
    history = WeightHistory.from_models([model, model], labels=["a", "b"])
    view = history.show()
    assert view.filter_layer is None and view.filter_canvases == ()
    assert view.layer_dropdown.value == "first"
    np.testing.assert_array_equal(view.histogram_lines.y, history.histogram("first").counts)
    assert view.histogram_lines.y.shape == (2, 10)  # 24 weights: the automatic bin count's minimum


def test_layer_names_and_labels_are_shown_as_text(history):
    copy = WeightHistory(history.variables)
    for snap in history:
        copy.add(snap.arrays, label="<img src=x onerror=alert(1)>", step=snap.step)
    view = copy.show()
    texts = [view.summary_label.value, view.snapshot_slider.label, *(c.label for c in view.filter_canvases)]
    assert any("<img" in t for t in texts)  # Label widgets display it literally
    html_widgets = [w for w in _walk(view) if type(w).__name__ == "HTML"]
    assert html_widgets == []  # nothing in the history view is interpreted as HTML


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


def test_comparison_view_marks_equal_the_comparison(history):
    result = compare_weights(history[0], history[-1], bins=15)
    view = result.show()
    assert isinstance(view, WeightComparisonView)
    assert list(view.change_bars.x) == ["conv1", "conv2", "out"]
    finite = [c.relative_change if np.isfinite(c.relative_change) else np.nan for c in result.by_layer]
    np.testing.assert_array_equal(view.change_bars.y, finite)
    for layer in ("conv2", "out"):
        view.layer_dropdown.value = layer
        expected = result.layer(layer).histogram
        np.testing.assert_array_equal(view.histogram_lines.x, expected.centers)
        np.testing.assert_array_equal(view.histogram_lines.y, expected.counts)
    assert "conv2" in view.table.value
