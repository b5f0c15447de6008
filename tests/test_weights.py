"""Weight snapshots through training: histograms, statistics, the callback,
checkpoints and before/after comparison."""

import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nbinterp.errors import ArchitectureMismatchError, InvalidInputError, NbinterpError, UnknownLayerError
from nbinterp.weights import (
    CheckpointError,
    SnapshotBudgetWarning,
    SnapshotCallback,
    WeightHistory,
    compare_weights,
    histogram,
    summary_stats,
)
from nbinterp.render.filters import diverging_colors, kernel_bank, kernel_change_banks


# ---------------------------------------------------------------------------- models
def conv2d_model(filters=4, seed=0):
    keras.utils.set_random_seed(seed)
    x = keras.Input((8, 8, 1))
    y = keras.layers.Conv2D(filters, 3, activation="relu", name="conv1")(x)
    y = keras.layers.GlobalAveragePooling2D(name="gap")(y)
    y = keras.layers.Dense(3, name="out")(y)
    model = keras.Model(x, y, name="small_conv")
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


def conv1d_model():
    keras.utils.set_random_seed(1)
    x = keras.Input((16, 2))
    y = keras.layers.Conv1D(3, 5, activation="relu", name="conv1d")(x)
    y = keras.layers.GlobalAveragePooling1D()(y)
    y = keras.layers.Dense(1, name="out")(y)
    model = keras.Model(x, y)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


def dense_only_model(side=224):
    """The flattened image -> Dense(100, sigmoid) -> Dense(1) example."""
    keras.utils.set_random_seed(2)
    x = keras.Input((side, side, 3))
    y = keras.layers.Flatten()(x)
    y = keras.layers.Dense(100, activation="sigmoid", name="hidden")(y)
    y = keras.layers.Dense(1, name="score")(y)
    model = keras.Model(x, y)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    return model


def nested_model():
    keras.utils.set_random_seed(3)
    inner_in = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(2, 3, name="conv_a")(inner_in)
    h = keras.layers.BatchNormalization(name="bn")(h)
    backbone = keras.Model(inner_in, h, name="backbone")
    x = keras.Input((8, 8, 1))
    y = backbone(x)
    y = keras.layers.GlobalAveragePooling2D()(y)
    y = keras.layers.Dropout(0.1)(y)
    y = keras.layers.Dense(2, name="head")(y)
    model = keras.Model(x, y, name="outer")
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


def data(n=32, shape=(8, 8, 1), out=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n,) + shape, dtype=np.float32), rng.random((n, out), dtype=np.float32)


def fit(model, callbacks, epochs=3, n=32, batch_size=8, **kw):
    shape = tuple(model.input_shape[1:])
    x, y = data(n, shape, model.output_shape[-1])
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=callbacks, shuffle=False, **kw)


def weights_equal(arrays_a, arrays_b):
    return len(arrays_a) == len(arrays_b) and all(np.array_equal(a, b) for a, b in zip(arrays_a, arrays_b))


# ---------------------------------------------------------------------------- histograms
finite_floats = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=32)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(hnp.arrays(np.float32, st.integers(1, 200), elements=finite_floats), min_size=1, max_size=4),
    st.integers(1, 50),
)
def test_histogram_counts_equal_numpy_on_shared_bins(snapshots, bins):
    result = histogram(snapshots, bins=bins)
    assert result.counts.shape == (len(snapshots), bins)
    assert len(result.edges) == bins + 1
    for values, counts in zip(snapshots, result.counts):
        expected, _ = np.histogram(values, bins=result.edges)
        np.testing.assert_array_equal(counts, expected)
        assert counts.sum() == values.size  # shared bins span every snapshot


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        hnp.arrays(np.float64, st.integers(1, 50), elements=st.floats(-1e300, 1e300, allow_nan=False)),
        min_size=1,
        max_size=3,
    ),
    st.integers(1, 64),
)
def test_histogram_of_extreme_float64_values_counts_everything(snapshots, bins):
    result = histogram(snapshots, bins=bins)
    assert np.all(np.isfinite(result.edges)) and np.all(np.diff(result.edges) > 0)
    for values, counts in zip(snapshots, result.counts):
        np.testing.assert_array_equal(counts, np.histogram(values, bins=result.edges)[0])
        assert counts.sum() == values.size


def test_histogram_with_explicit_edges_and_nonfinite_values():
    values = [np.array([0.1, 0.2, np.nan, 0.9, np.inf]), np.array([-1.0, 0.5, 0.5])]
    edges = np.array([-1.0, 0.0, 0.5, 1.0])
    result = histogram(values, bins=edges)
    np.testing.assert_array_equal(result.counts[0], np.histogram([0.1, 0.2, 0.9], bins=edges)[0])
    np.testing.assert_array_equal(result.counts[1], [1, 0, 2])
    np.testing.assert_array_equal(result.nonfinite, [2, 0])


def test_histogram_of_constant_values_has_a_nonempty_range():
    result = histogram([np.zeros(5), np.zeros(3)], bins=4)
    assert result.edges[0] < 0 < result.edges[-1]
    np.testing.assert_array_equal(result.counts.sum(axis=1), [5, 3])


def test_automatic_bin_count_follows_the_rice_rule_within_limits():
    from nbinterp.weights.histograms import auto_bins

    assert [auto_bins(n) for n in (1, 80, 4640, 10**6, 15_052_800)] == [10, 10, 33, 60, 60]
    values = np.random.default_rng(0).normal(size=4640)
    result = histogram([values, values * 2])
    assert result.n_bins == 33
    np.testing.assert_array_equal(result.counts[1], np.histogram(values * 2, bins=result.edges)[0])


@pytest.mark.parametrize("bins", [0, -3, 2.5, [1.0], [0.0, 0.0, 1.0], "fd"])
def test_histogram_rejects_bad_bins(bins):
    with pytest.raises(InvalidInputError):
        histogram([np.arange(4.0)], bins=bins)


def test_summary_stats_values_and_relative_near_zero_threshold():
    a = np.array([10.0, 0.001, 0.02, -0.005, 0.0])  # threshold 1e-3 * 10 = 0.01
    b = np.array([1.0, 2.0, 3.0, 4.0])
    stats = summary_stats([a, b])
    np.testing.assert_allclose(stats.mean, [a.mean(), b.mean()])
    np.testing.assert_allclose(stats.std, [a.std(), b.std()])
    np.testing.assert_allclose(stats.fraction_near_zero, [3 / 5, 0.0])
    np.testing.assert_allclose(stats.thresholds, [0.01, 0.004])
    absolute = summary_stats([a], eps=0.01, relative=False)
    assert absolute.fraction_near_zero[0] == pytest.approx(3 / 5)
    assert summary_stats([np.zeros(4)]).fraction_near_zero[0] == 1.0  # a fresh zero bias


def test_summary_stats_is_scale_invariant_when_relative():
    rng = np.random.default_rng(0)
    w = rng.normal(size=1000)
    stats = summary_stats([w, w * 1e-4])
    assert stats.fraction_near_zero[0] == stats.fraction_near_zero[1] > 0


# ---------------------------------------------------------------------------- history
def test_from_models_snapshots_copy_the_weights():
    model = conv2d_model()
    before = model.get_weights()
    fit(model, [], epochs=1)
    other = conv2d_model(seed=5)
    history = WeightHistory.from_models([model, other], labels=["trained", "fresh"], steps=[10, 0])
    assert history.labels == ["trained", "fresh"]
    assert history.steps == [10, 0]
    assert [v.key for v in history.variables] == ["conv1/kernel", "conv1/bias", "out/kernel", "out/bias"]
    assert weights_equal(history[0].arrays, model.get_weights())
    assert weights_equal(history[1].arrays, other.get_weights())
    assert not weights_equal(history[0].arrays, before)
    model.layers[1].kernel.assign(np.zeros((3, 3, 1, 4)))  # the snapshot is a copy
    assert not np.array_equal(history["trained"]["conv1/kernel"], 0)


def test_values_pool_trainable_variables_unless_one_is_named():
    model = conv2d_model()
    history = WeightHistory.from_models([model])
    kernel, bias = model.layers[1].get_weights()
    np.testing.assert_array_equal(history.values("conv1"), np.concatenate([kernel.ravel(), bias.ravel()]))
    np.testing.assert_array_equal(history.values("conv1", variable="kernel"), kernel.ravel())
    hist = history.histogram("conv1", bins=7, variable="kernel")
    np.testing.assert_array_equal(hist.counts[0], np.histogram(kernel, bins=hist.edges)[0])
    with pytest.raises(UnknownLayerError):
        history.values("conv2")
    with pytest.raises(UnknownLayerError):
        history.values("conv1", variable="gamma")
    assert history.first_conv_layer() == "conv1"


# ---------------------------------------------------------------------------- callback
def test_callback_every_two_epochs_records_initial_grid_and_final():
    model = conv2d_model()
    initial = model.get_weights()
    callback = SnapshotCallback(every=2, unit="epoch")
    fit(model, [callback], epochs=5)
    history = callback.history
    assert history.labels == ["initial", "epoch 2", "epoch 4", "epoch 5"]
    assert history.steps == [0, 2, 4, 5]
    assert weights_equal(history[0].arrays, initial)
    assert weights_equal(history[-1].arrays, model.get_weights())


def test_callback_every_five_batches_counts_batches_across_epochs():
    model = conv2d_model()
    callback = SnapshotCallback(every=5, unit="batch", include_final=False)
    seen = []

    class Probe(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append([w.copy() for w in model.get_weights()])

    fit(model, [callback, Probe()], epochs=3, n=32, batch_size=8)  # 4 batches an epoch, 12 in all
    assert callback.history.steps == [0, 5, 10]
    assert callback.history.labels == ["initial", "batch 5", "batch 10"]
    assert weights_equal(callback.history[1].arrays, seen[4])
    assert weights_equal(callback.history[2].arrays, seen[9])


def test_callback_continues_over_a_second_fit():
    model = conv2d_model()
    callback = SnapshotCallback(every=1, unit="epoch")
    fit(model, [callback], epochs=2)
    fit(model, [callback], epochs=2)
    assert callback.history.labels == ["initial", "epoch 1", "epoch 2", "epoch 3", "epoch 4"]


def test_callback_with_thinning_stays_within_budget_and_keeps_first_and_latest():
    model = conv2d_model()
    snapshot_bytes = sum(w.nbytes for w in model.get_weights())
    budget = int(3.5 * snapshot_bytes)  # room for three snapshots
    bounded = SnapshotCallback(every=1, unit="batch", max_bytes=budget, thin=True)
    everything = SnapshotCallback(every=1, unit="batch")
    peak = []

    class Probe(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            peak.append(bounded.history.nbytes)

    fit(model, [bounded, everything, Probe()], epochs=3)  # 12 batches
    assert max(peak) <= budget and bounded.history.nbytes <= budget
    # 0,1,2 -> thin to 0,2 -> 0,2,4 -> thin to 0,4 -> 0,4,8 -> thin to 0,8 -> final 12
    assert bounded.history.steps == [0, 8, 12]
    assert bounded.thinned == 3 and bounded.interval == 8
    assert not bounded.stopped
    assert len(everything.history) == 13
    by_step = {s.step: s for s in everything.history}
    for snap in bounded.history:  # thinning keeps the right weights under the right labels
        assert weights_equal(snap.arrays, by_step[snap.step].arrays)
        assert snap.label == by_step[snap.step].label


def test_callback_without_thinning_stops_with_a_warning():
    model = conv2d_model()
    snapshot_bytes = sum(w.nbytes for w in model.get_weights())
    callback = SnapshotCallback(every=1, unit="batch", max_bytes=int(3.5 * snapshot_bytes), thin=False)
    with pytest.warns(SnapshotBudgetWarning, match="max_bytes"):
        fit(model, [callback], epochs=3)
    assert callback.stopped
    assert callback.history.steps == [0, 1, 2]
    assert callback.history.nbytes <= callback.max_bytes


def test_callback_budget_below_one_snapshot_records_nothing():
    model = conv2d_model()
    callback = SnapshotCallback(max_bytes=10)
    with pytest.warns(SnapshotBudgetWarning):
        fit(model, [callback], epochs=1)
    assert len(callback.history) == 0


@pytest.mark.parametrize(
    "kwargs", [{"every": 0}, {"every": 1.5}, {"unit": "step"}, {"max_bytes": 0}, {"max_bytes": -5}]
)
def test_callback_rejects_bad_arguments(kwargs):
    with pytest.raises(InvalidInputError):
        SnapshotCallback(**kwargs)


# ---------------------------------------------------------------------------- comparison
def test_comparing_a_model_with_itself_shows_zero_difference():
    model = conv2d_model()
    result = compare_weights(model, model)
    assert result.identical
    for change in result.by_variable + result.by_layer:
        assert change.mean_abs_change == 0 and change.max_abs_change == 0 and change.relative_change == 0
        np.testing.assert_array_equal(change.histogram.counts[0], change.histogram.counts[1])
        assert change.mean_before == change.mean_after and change.std_before == change.std_after


def test_compare_reports_the_change_of_each_layer():
    model = conv2d_model()
    before = keras.models.clone_model(model)
    before.set_weights(model.get_weights())
    fit(model, [], epochs=1)
    result = compare_weights(before, model)
    assert not result.identical
    kernel_before = before.get_layer("out").get_weights()[0]
    kernel_after = model.get_layer("out").get_weights()[0]
    delta = kernel_after.astype(np.float64) - kernel_before
    (row,) = [c for c in result.by_variable if c.name == "out/kernel"]
    assert row.relative_change == pytest.approx(np.linalg.norm(delta) / np.linalg.norm(kernel_before), rel=1e-5)
    assert row.mean_abs_change == pytest.approx(np.abs(delta).mean(), rel=1e-5)
    assert row.mean_before == pytest.approx(kernel_before.mean(), rel=1e-5)
    assert row.std_after == pytest.approx(kernel_after.std(), rel=1e-5)
    (bias,) = [c for c in result.by_variable if c.name == "out/bias"]
    assert bias.relative_change == float("inf")  # the bias started at exactly zero
    assert result.most_changed().layer_path in {"conv1", "out"}
    assert result.layer("conv1").size == 3 * 3 * 1 * 4 + 4


def test_mismatched_architectures_name_the_layer_and_shapes():
    small, wide = conv2d_model(filters=4), conv2d_model(filters=6)
    with pytest.raises(ArchitectureMismatchError, match=r"conv1.*\(3, 3, 1, 4\).*\(3, 3, 1, 6\)") as info:
        compare_weights(small, wide)
    assert isinstance(info.value, NbinterpError) and isinstance(info.value, ValueError)
    with pytest.raises(ArchitectureMismatchError, match="architectures differ"):
        WeightHistory.from_models([small, wide])

    keras.utils.set_random_seed(0)
    x = keras.Input((8, 8, 1))
    y = keras.layers.Conv2D(4, 3, name="conv1")(x)
    y = keras.layers.GlobalAveragePooling2D()(y)
    y = keras.layers.Dense(3, name="out")(y)
    y = keras.layers.Dense(2, name="extra")(y)
    longer = keras.Model(x, y)
    with pytest.raises(ArchitectureMismatchError, match="extra"):
        compare_weights(small, longer)


def test_comparison_renders_escaped_html():
    model = conv2d_model()
    history = WeightHistory.from_models([model, model], labels=["<b>start</b>", "end & after"])
    html_text = history.compare()._repr_html_()
    assert "&lt;b&gt;start&lt;/b&gt;" in html_text and "end &amp; after" in html_text
    assert "<b>start</b>" not in html_text
    assert "conv1" in html_text and "identical" in html_text


def test_dense_only_model_compare_and_history():
    model = dense_only_model()
    same = compare_weights(model, model)
    assert same.identical
    before = WeightHistory.from_models([model], labels=["before"])
    rng = np.random.default_rng(0)
    x = rng.random((4, 224, 224, 3), dtype=np.float32)
    y = rng.random((4, 1), dtype=np.float32)
    model.train_on_batch(x, y)
    model.train_on_batch(x, y)
    result = compare_weights(before[0], model)
    assert [c.layer_path for c in result.by_layer] == ["hidden", "score"]
    assert result.layer("hidden").size == 224 * 224 * 3 * 100 + 100
    assert all(c.max_abs_change > 0 for c in result.by_layer)
    assert before.first_conv_layer() is None


def test_conv1d_model_history_and_filters():
    model = conv1d_model()
    callback = SnapshotCallback(every=1)
    x, y = data(16, (16, 2), 1)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[callback])
    history = callback.history
    assert history.layer_paths == ["conv1d", "out"]
    assert history.first_conv_layer() == "conv1d"
    kernel = history[-1]["conv1d/kernel"]
    assert kernel.shape == (5, 2, 3)
    before, after, diff = kernel_change_banks(history[0]["conv1d/kernel"], kernel, mode="slices")
    assert before.tile_shape == (1, 5) and before.total == 6 and before.grid == (3, 2)
    assert diff.scale == pytest.approx(np.abs(kernel - history[0]["conv1d/kernel"]).max())
    assert not history.compare().identical


# ---------------------------------------------------------------------------- nested models
def test_nested_model_layers_are_addressed_by_path():
    model = nested_model()
    callback = SnapshotCallback(every=1)
    fit(model, [callback], epochs=1)
    history = callback.history
    assert history.layer_paths == ["backbone/conv_a", "backbone/bn", "head"]
    keys = [v.key for v in history.variables]
    assert "backbone/bn/moving_mean" in keys and "backbone/conv_a/kernel" in keys
    assert not any("seed" in k for k in keys)  # the Dropout's integer seed is not a weight
    moving = [v for v in history.variables if v.name == "moving_mean"][0]
    assert not moving.trainable
    np.testing.assert_array_equal(
        history.values("backbone/bn"),
        np.concatenate([w.ravel() for w in model.get_layer("backbone").get_layer("bn").get_weights()[:2]]),
    )
    inner_kernel = model.get_layer("backbone").get_layer("conv_a").kernel.numpy()
    np.testing.assert_array_equal(history[-1]["backbone/conv_a/kernel"], inner_kernel)
    assert history.first_conv_layer() == "backbone/conv_a"
    assert compare_weights(model, model).identical


def test_keras_applications_model_used_as_a_layer():
    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNetV3Small(
        weights=None, input_shape=(32, 32, 3), include_top=False, include_preprocessing=False
    )
    x = keras.Input((32, 32, 3))
    y = keras.layers.GlobalAveragePooling2D()(base(x))
    model = keras.Model(x, keras.layers.Dense(2, name="head")(y))
    history = WeightHistory.from_models([model])
    assert history.layer_paths[0].startswith(base.name + "/")
    assert history.layer_paths[-1] == "head"
    assert len(history.variables) == len(model.weights)
    assert history.first_conv_layer() == f"{base.name}/conv"


# ---------------------------------------------------------------------------- checkpoints
@pytest.mark.parametrize("make_model", [conv2d_model, nested_model], ids=["flat", "nested"])
def test_checkpoints_round_trip(tmp_path, make_model):
    model = make_model()
    in_memory = WeightHistory.from_model(model)
    in_memory.record(model, label="start")
    model.save(tmp_path / "start.keras")
    model.save_weights(tmp_path / "start.weights.h5")
    fit(model, [], epochs=1)
    in_memory.record(model, label="trained")
    model.save(tmp_path / "trained.keras")
    model.save_weights(tmp_path / "trained.weights.h5")

    template = make_model()  # same architecture, other layer names and weights
    template_weights = template.get_weights()
    paths = [tmp_path / n for n in ("start.keras", "start.weights.h5", "trained.keras", "trained.weights.h5")]
    loaded = WeightHistory.from_checkpoints(paths, model=template)
    assert weights_equal(template.get_weights(), template_weights)  # the template is untouched
    assert loaded.labels == ["start", "start", "trained", "trained"]
    assert [v.key for v in loaded.variables] == [v.key for v in WeightHistory.from_model(template).variables]
    for i, expected in zip(range(4), [0, 0, 1, 1]):
        assert weights_equal(loaded[i].arrays, in_memory[expected].arrays)
    without_template = WeightHistory.from_checkpoints(paths[::2], labels=["a", "b"], steps=[0, 1])
    assert weights_equal(without_template[1].arrays, in_memory[1].arrays)
    assert without_template.compare(0, 1).layer_paths == in_memory.compare().layer_paths


def test_checkpoint_errors(tmp_path):
    model = conv2d_model()
    model.save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(InvalidInputError, match="model="):
        WeightHistory.from_checkpoints([tmp_path / "w.weights.h5"])
    with pytest.raises(CheckpointError, match=".keras"):
        WeightHistory.from_checkpoints([tmp_path / "w.h5"], model=model)
    with pytest.raises(FileNotFoundError):
        WeightHistory.from_checkpoints([tmp_path / "missing.keras"])
    with pytest.raises(ArchitectureMismatchError):
        WeightHistory.from_checkpoints([tmp_path / "w.weights.h5"], model=conv2d_model(filters=6))
    model.save(tmp_path / "m.keras")
    with pytest.raises(ArchitectureMismatchError, match=r"\(3, 3, 1, 4\)"):
        WeightHistory.from_checkpoints([tmp_path / "m.keras"], model=conv2d_model(filters=6))


# ---------------------------------------------------------------------------- kernel banks
def test_single_channel_mosaic_tiles_are_the_kernels_in_the_diverging_map():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 1, 5))
    mosaic = kernel_bank(kernel, min_tile_px=3, gap=1)
    assert mosaic.zoom == 1 and mosaic.grid == (2, 3) and mosaic.image.dtype == np.uint8
    assert mosaic.image.shape == (2 * 3 + 3, 3 * 3 + 4, 3)
    scale = np.abs(kernel).max()
    for i in range(5):
        r, c = divmod(i, 3)
        tile = mosaic.image[1 + r * 4 : 4 + r * 4, 1 + c * 4 : 4 + c * 4]
        np.testing.assert_array_equal(tile, diverging_colors(kernel[:, :, 0, i], scale))


def test_rgb_mosaic_maps_zero_to_grey_and_difference_of_equal_kernels_is_white():
    kernel = np.zeros((2, 2, 3, 4))
    kernel[0, 0, 0, 0] = 1.0
    mosaic = kernel_bank(kernel, min_tile_px=2, gap=0)
    assert mosaic.rgb and mosaic.grid == (2, 2)
    np.testing.assert_array_equal(mosaic.image[0, 0], [255, 128, 128])
    np.testing.assert_array_equal(mosaic.image[1, 1], [128, 128, 128])
    _, _, diff = kernel_change_banks(kernel, kernel, gap=0)
    assert not diff.rgb and diff.grid == (4, 3)
    white = diverging_colors(np.zeros(1), 1.0)[0]
    assert white.min() > 240  # zero is (near) white
    assert np.all(diff.image == white)  # no change anywhere
    blue, red = diverging_colors(np.array([-1.0, 1.0]), 1.0)
    assert blue[2] > blue[0] + 50 and red[0] > red[2] + 50  # negative blue, positive red
    np.testing.assert_array_equal(diverging_colors(np.array([-5.0, 5.0]), 1.0), [blue, red])  # clipped


def test_mosaic_rejects_non_kernels():
    with pytest.raises(InvalidInputError):
        kernel_bank(np.zeros((3, 3)))
    with pytest.raises(InvalidInputError):
        kernel_bank(np.zeros((3, 3, 2, 2)), mode="rgb")


def test_weights_package_imports_no_widgets():
    import subprocess
    import sys

    code = "import sys, nbinterp.weights; print('ipywidgets' in sys.modules, 'bqplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_weights_modules_import_each_other_without_cycles_and_only_at_the_top():
    """The package's internal imports form a DAG, and none is hidden inside a function."""
    import ast
    from pathlib import Path

    import nbinterp.weights

    folder = Path(nbinterp.weights.__file__).parent
    graph = {}
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text())
        top = set(tree.body)
        graph[path.stem] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node in top, f"{path.name} imports {node.module} inside a function"
                if node.level == 1 and node.module:
                    graph[path.stem].add(node.module.split(".")[0])
    done, visiting = set(), []

    def visit(name):
        assert name not in visiting, f"import cycle: {' -> '.join(visiting + [name])}"
        if name not in done:
            visiting.append(name)
            for other in graph.get(name, ()):
                visit(other)
            visiting.pop()
            done.add(name)

    for name in graph:
        visit(name)
    assert "history" not in graph["checkpoints"] | graph["compare"]


def test_public_names_resolve_from_the_package():
    import nbinterp

    assert nbinterp.WeightHistory is WeightHistory
    assert nbinterp.SnapshotCallback is SnapshotCallback
    assert nbinterp.compare_weights is compare_weights
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert callable(nbinterp.weights.histogram)
