"""Dataset-level neuron views and receptive fields against brute force and gradients."""

import subprocess
import sys
import textwrap
import threading
import tracemalloc

import keras
import numpy as np
import pytest
import tensorflow as tf

import nbinterp
from nbinterp import Inspector
from nbinterp.demo import load_digits, load_model
from nbinterp.errors import CancelledError, IndexOutOfRangeError, InvalidInputError
from nbinterp.units.receptive_field import empirical_receptive_field, receptive_field
from nbinterp.units.top_activations import top_activations


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def digits():
    return load_digits("test")


def brute_force(model, layer, channel, images, k):
    acts = Inspector(model).activations(layer, images)[..., channel]
    flat = acts.reshape(len(images), -1)
    scores = flat.max(axis=1)
    order = np.lexsort((np.arange(len(scores)), -scores))[:k]
    positions = np.stack(np.unravel_index(flat.argmax(axis=1), acts.shape[1:]), axis=-1)
    return scores[order], order, positions[order]


def test_public_name():
    assert nbinterp.top_activations is top_activations


@pytest.mark.parametrize("layer,channel", [("conv2", 4), ("conv3", 6), ("pool1", 3)])
def test_top_k_equals_brute_force_for_every_kind_of_data(model, digits, layer, channel):
    images, labels = digits.images, digits.labels
    scores, order, positions = brute_force(model, layer, channel, images, k=7)
    kinds = {
        "numpy": images,
        "batches": [images[i : i + 50] for i in range(0, len(images), 50)],
        "xy batches": ((images[i : i + 33], labels[i : i + 33]) for i in range(0, len(images), 33)),
        "dataset of examples": tf.data.Dataset.from_tensor_slices((images, labels)),
        "dataset of images": tf.data.Dataset.from_tensor_slices(images),
        "dataset of batches": tf.data.Dataset.from_tensor_slices((images, labels)).batch(29),
    }
    for name, data in kinds.items():
        res = top_activations(model, layer, channel, data, k=7, batch_size=40)
        np.testing.assert_array_equal(res.indices, order, err_msg=name)
        np.testing.assert_allclose(res.scores, scores, rtol=1e-5, err_msg=name)
        np.testing.assert_array_equal(res.positions, positions, err_msg=name)
        np.testing.assert_array_equal(res.images, images[order], err_msg=name)
        assert res.images.dtype == np.uint8 and res.seen == len(images) and res.complete


def test_patches_are_the_clipped_receptive_fields(model, digits):
    res = top_activations(model, "conv3", 6, digits.images, k=9)
    assert res.receptive_field_method == "analytic"
    for i in range(len(res)):
        top, left, bottom, right = res.boxes[i]
        assert 0 <= top < bottom <= 28 and 0 <= left < right <= 28
        field = receptive_field(model, "conv3", res.positions[i])
        assert tuple(res.boxes[i]) == field.box((28, 28))
        np.testing.assert_array_equal(res.patches[i], res.images[i][top:bottom, left:right])
        # conv3 units see 18x18 pixels (3x3 convs at strides 1, 2, 4; 2x2 pools); clipped at borders
        assert res.patches[i].shape[0] <= 18 and res.patches[i].shape[1] <= 18
    assert field.size == (18, 18)
    without = top_activations(model, "conv3", 6, digits.images, k=9, patches=False)
    assert without.patches is None
    np.testing.assert_array_equal(without.boxes, res.boxes)


def test_preprocess_feeds_the_model_but_results_keep_the_raw_data(model, digits):
    invert = lambda x: 255.0 - x  # noqa: E731
    images = digits.images[:120]
    res = top_activations(Inspector(model, preprocess=invert), "conv2", 4, images, k=5, batch_size=32)
    scores, order, positions = brute_force(model, "conv2", 4, 255 - images, k=5)
    np.testing.assert_array_equal(res.indices, order)
    np.testing.assert_array_equal(res.positions, positions)
    np.testing.assert_array_equal(res.images, images[order])  # raw, not inverted
    top, left, bottom, right = res.boxes[0]
    np.testing.assert_array_equal(res.patches[0], images[order[0]][top:bottom, left:right])


def test_layers_inside_nested_models():
    model, _ = _random_net("conv2d")
    rng = np.random.default_rng(0)
    data = rng.standard_normal((45, 27, 25, 2)).astype(np.float32)
    res = top_activations(model, "block/inner", 1, data, k=4, batch_size=16)
    acts = model.predict(data, verbose=0)[..., 1].reshape(45, -1)
    np.testing.assert_array_equal(res.indices, np.argsort(-acts.max(axis=1), kind="stable")[:4])
    for pos, box in zip(res.positions, res.boxes):
        assert tuple(box) == receptive_field(model, "block/inner", pos).box((27, 25))


def test_dense_layer_units_see_the_whole_image(model, digits):
    res = top_activations(model, "predictions", 3, digits.images[:50], k=4)
    assert res.positions.shape == (4, 0)
    assert (res.boxes == [0, 0, 28, 28]).all()
    probs = model.predict(digits.images[:50], verbose=0)[:, 3]
    np.testing.assert_array_equal(res.indices, np.argsort(-probs, kind="stable")[:4])


def test_fewer_examples_than_k_and_errors(model, digits):
    res = top_activations(model, "conv1", 0, digits.images[:3], k=9)
    assert len(res) == 3 and sorted(res.indices.tolist()) == [0, 1, 2]
    one = top_activations(model, "conv1", 0, digits.images[0], k=2)
    assert len(one) == 1 and one.images.shape == (1, 28, 28, 1)
    with pytest.raises(IndexOutOfRangeError):
        top_activations(model, "conv1", 8, digits.images[:3])
    with pytest.raises(InvalidInputError):
        top_activations(model, "conv1", 0, digits.images[:0])
    with pytest.raises(InvalidInputError):
        top_activations(model, "conv1", 0, 42)


def test_cancel_keeps_the_partial_top_k(model, digits):
    stop = threading.Event()
    seen = []

    def cb(n, total):
        seen.append((n, total))
        stop.set()

    with pytest.raises(CancelledError) as info:
        top_activations(model, "conv2", 4, digits.images, k=5, batch_size=32, callback=cb, cancel=stop)
    partial = info.value.partial
    assert seen == [(32, len(digits.images))]
    assert partial.seen == 32 and not partial.complete
    scores, order, _ = brute_force(model, "conv2", 4, digits.images[:32], k=5)
    np.testing.assert_array_equal(partial.indices, order)


def test_memory_does_not_grow_with_the_data():
    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="c1")(inp)
    model = keras.Model(inp, keras.layers.Conv2D(4, 3, name="c2")(x))

    def stream(n_batches):
        rng = np.random.default_rng(1)
        for _ in range(n_batches):
            yield rng.random((64, 16, 16, 3), dtype=np.float32)

    def peak(n_batches):
        top_activations(model, "c2", 1, stream(2), k=5)  # warm up: trace, caches
        tracemalloc.start()
        res = top_activations(model, "c2", 1, stream(n_batches), k=5)
        _, peak_bytes = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert res.seen == 64 * n_batches
        return peak_bytes

    small, large = peak(5), peak(50)
    batch_bytes = 64 * 16 * 16 * 3 * 4
    assert large < small + batch_bytes  # ten times the data, no extra batch's worth of memory


# ----------------------------------------------------------------------------- receptive fields


def _random_net(kind):
    keras.utils.set_random_seed(3)
    if kind == "conv1d":
        inp = keras.Input((40, 2))
        x = keras.layers.Conv1D(3, 3, padding="causal", dilation_rate=2, name="a")(inp)
        x = keras.layers.Conv1D(3, 4, strides=2, padding="same", name="b")(x)
        x = keras.layers.ZeroPadding1D((2, 1))(x)
        x = keras.layers.AveragePooling1D(3, strides=2, name="pool")(x)
        x = keras.layers.Conv1D(2, 3, padding="valid", name="unit")(x)
        return keras.Model(inp, x), [(0,), (3,), (7,)]
    inp = keras.Input((27, 25, 2))
    x = keras.layers.Conv2D(3, 5, strides=2, padding="same", name="a")(inp)
    x = keras.layers.ZeroPadding2D(((1, 0), (2, 1)))(x)
    x = keras.layers.Conv2D(3, 3, dilation_rate=2, padding="valid", name="b")(x)
    y = keras.layers.Conv2D(3, 1, name="shortcut")(x)
    x = keras.layers.Conv2D(3, 3, padding="same", name="c")(x)
    x = keras.layers.Add()([x, y])
    x = keras.layers.BatchNormalization()(x)
    if kind == "lambda":
        x = keras.layers.Lambda(lambda t: t * 2.0)(x)
    block = keras.Sequential(
        [keras.Input(x.shape[1:]), keras.layers.AveragePooling2D(2, padding="same"), keras.layers.Conv2D(2, 3, padding="same", name="inner")],
        name="block",
    )
    x = block(x)
    return keras.Model(inp, x), [(0, 0), (1, 2), (3, 3), (2, 0)]


@pytest.mark.parametrize("kind", ["conv2d", "conv1d"])
def test_analytic_receptive_field_matches_gradients(kind):
    model, positions = _random_net(kind)
    layer = "unit" if kind == "conv1d" else "block/inner"
    spatial = model.inputs[0].shape[1:-1]
    for pos in positions:
        analytic = receptive_field(model, layer, pos)
        assert analytic.method == "analytic"
        measured = empirical_receptive_field(model, layer, pos)
        assert analytic.clipped(spatial) == measured.bounds, pos


def test_unknown_layers_fall_back_to_the_measured_field():
    model, positions = _random_net("lambda")
    reference, _ = _random_net("conv2d")
    for pos in positions:
        field = receptive_field(model, "block/inner", pos)
        assert field.method == "empirical"
        assert field.bounds == receptive_field(reference, "block/inner", pos).clipped((27, 25))


def test_max_pooling_field_and_resnet_geometry(model):
    # through the demo model's max pools: the gradient support covers the analytic field
    for pos in [(3, 3), (2, 5)]:
        assert receptive_field(model, "conv3", pos).clipped((28, 28)) == empirical_receptive_field(
            model, "conv3", pos, trials=8
        ).bounds
    assert receptive_field(model, "conv1", (0, 0)).bounds == ((-1, 2), (-1, 2))
    assert receptive_field(model, "gap", ()).bounds == ((0, 28), (0, 28))


# ----------------------------------------------------------------------------- strategy

STRATEGY_SCRIPT = textwrap.dedent(
    """
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    from nbinterp.demo import load_digits, load_model
    from nbinterp.units.top_activations import top_activations

    model = load_model()
    images = load_digits("test").images[:203]
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    for layer, channel in [("conv2", 4), ("conv3", 6)]:
        single = top_activations(model, layer, channel, images, k=6, batch_size=50)
        multi = top_activations(model, layer, channel, images, k=6, batch_size=50, strategy=strategy)
        np.testing.assert_array_equal(single.indices, multi.indices)
        np.testing.assert_allclose(single.scores, multi.scores, rtol=1e-5)
        np.testing.assert_array_equal(single.positions, multi.positions)
        np.testing.assert_array_equal(single.boxes, multi.boxes)
        assert multi.seen == 203
    print("OK", len(tf.config.list_logical_devices("CPU")))
    """
)


def test_strategy_scan_equals_single_device_scan():
    proc = subprocess.run([sys.executable, "-c", STRATEGY_SCRIPT], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("OK 2")


def test_layer_output_shape_without_a_static_shape_runs_the_model_once():
    import dataclasses

    from nbinterp.errors import NotSupportedError
    from nbinterp.units._common import UnitModel, layer_output_shape

    def build(size):
        inp = keras.Input((size, size, 1))
        return keras.Model(inp, keras.layers.Conv2D(2, 3, name="conv")(inp))

    known = UnitModel(build(8))
    entry = known.plan.resolve("conv")
    assert layer_output_shape(known, entry) == (None, 6, 6, 2)  # the graph's static shape
    nodeless = dataclasses.replace(entry, node=None)
    assert layer_output_shape(known, nodeless) == (None, 6, 6, 2)  # measured on one zero input
    unknown = UnitModel(build(None))
    with pytest.raises(NotSupportedError):
        layer_output_shape(unknown, dataclasses.replace(unknown.plan.resolve("conv"), node=None))
