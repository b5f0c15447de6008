"""KernelSHAP and the shared segmentation against independent references.

References: closed-form Shapley values of a linear model, a brute-force
Shapley formula over all orderings of the players (model calls made here,
on images composed here), and the logits of the demo CNN computed from its
layers directly.
"""

import itertools
import math
import threading

import keras
import numpy as np
import pytest

from nbinterp import demo
from nbinterp.attribution import METHODS, KernelSHAP, attribute
from nbinterp.attribution.perturbation import grid_labels, segment_labels
from nbinterp.errors import CancelledError, InvalidInputError

SIZE = 8


def linear_model(seed=0, classes=3, shape=(SIZE, SIZE, 3)):
    """Flatten -> Dense (softmax): the logit is exactly w . x + b."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape)
    x = keras.layers.Flatten()(inp)
    out = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inp, out)


def images(n, seed=0, shape=(SIZE, SIZE, 3)):
    return np.random.default_rng(seed).uniform(0, 1, (n,) + shape).astype("float32")


def linear_shapley(model, x, labels, target, baseline):
    """Exact Shapley values of a linear logit: w . (x - baseline) summed over each segment's pixels."""
    w = model.get_layer("predictions").get_weights()[0][:, target].reshape(x.shape)
    contribution = (w * (x - baseline)).sum(axis=-1)
    return np.array([contribution[labels == j].sum() for j in range(labels.max() + 1)])


def per_segment(maps, labels):
    """The value each segment carries in a painted map (checking it is constant on the segment)."""
    values = []
    for j in range(labels.max() + 1):
        inside = maps[labels == j]
        np.testing.assert_allclose(inside, inside[0], rtol=0, atol=0)
        values.append(inside[0])
    return np.array(values, np.float64)


@pytest.fixture(scope="module")
def digits_cnn():
    model = demo.load_model()
    features = keras.Model(model.input, model.get_layer("gap").output)
    kernel, bias = model.get_layer("predictions").get_weights()

    def logits(x):
        return features(np.asarray(x, "float32"), training=False).numpy().astype(np.float64) @ kernel + bias

    return model, logits, demo.load_digits("test").images[:4].astype("float32")


# ---------------------------------------------------------------------------
# linear models: the closed form


@pytest.mark.parametrize("grid", [3, 4])  # 9 segments: enumeration; 16 segments: the kernel-weighted fit
def test_linear_model_gets_the_exact_shapley_values(grid):
    model = linear_model()
    x = images(3, seed=1)
    targets = np.array([0, 2, 1])
    maps = attribute(model, x, target=targets, method="kernel_shap", segments="grid", grid=grid)
    assert maps.shape == (3, SIZE, SIZE) and maps.dtype == np.float32
    labels = grid_labels((SIZE, SIZE), grid)
    for i in range(3):
        mean = x[i].mean(axis=(0, 1))
        expected = linear_shapley(model, x[i], labels, targets[i], mean)
        np.testing.assert_allclose(per_segment(maps[i], labels), expected, rtol=1e-4, atol=1e-5)
        assert np.abs(expected).max() > 0.1


def test_user_labels_and_a_number_as_baseline():
    model = linear_model(seed=3)
    x = images(2, seed=2)
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 20, (2, SIZE, SIZE))  # 20 scattered segments, one map per image
    maps = attribute(model, x, target=1, method="kernel_shap", segments=labels, baseline=0.25, samples=400)
    for i in range(2):
        compact = np.unique(labels[i], return_inverse=True)[1].reshape(SIZE, SIZE)
        expected = linear_shapley(model, x[i], compact, 1, 0.25)
        np.testing.assert_allclose(per_segment(maps[i], compact), expected, rtol=1e-4, atol=1e-5)
    shared = attribute(model, x, target=1, method="kernel_shap", segments=labels[0], baseline=0.25, samples=400)
    np.testing.assert_allclose(shared[0], maps[0], rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------
# a non-linear model: efficiency and the brute-force formula


def compose(x, labels, coalition, fill):
    keep = np.isin(labels, np.flatnonzero(coalition))[..., None]
    return np.where(keep, x, fill)


def test_enumerated_values_are_efficient_on_the_demo_cnn(digits_cnn):
    model, logits, x = digits_cnn
    targets = logits(x).argmax(axis=1)
    method = KernelSHAP(model)
    maps = method.attribute(x, segments="grid", grid=3)  # 9 segments: every coalition
    np.testing.assert_array_equal(method.last_targets, targets)
    labels = grid_labels((28, 28), 3)
    rows = np.arange(len(x))
    full = logits(x)[rows, targets]
    mean = x.mean(axis=(1, 2), keepdims=True)
    empty = logits(np.broadcast_to(mean, x.shape))[rows, targets]
    for i in range(len(x)):
        values = per_segment(maps[i], labels)
        np.testing.assert_allclose(values.sum(), full[i] - empty[i], rtol=1e-4, atol=1e-4)
    assert np.abs(full - empty).max() > 1.0  # the test is not vacuous


@pytest.mark.parametrize("samples", [64, 10])  # 25 segments: a determined fit, and an underdetermined one
def test_sampled_values_are_efficient_too(digits_cnn, samples):
    model, logits, x = digits_cnn
    maps = attribute(model, x[:2], target=[3, 7], method="kernel_shap", segments="grid", grid=5, samples=samples)
    labels = grid_labels((28, 28), 5)
    full = logits(x[:2])[[0, 1], [3, 7]]
    empty = logits(np.broadcast_to(x[:2].mean(axis=(1, 2), keepdims=True), x[:2].shape))[[0, 1], [3, 7]]
    for i in range(2):
        values = per_segment(maps[i], labels)
        np.testing.assert_allclose(values.sum(), full[i] - empty[i], rtol=1e-4, atol=1e-4)
        assert np.isfinite(values).all() and np.abs(values).max() < 10 * abs(full[i] - empty[i]) + 1


def test_enumeration_equals_the_brute_force_shapley_formula(digits_cnn):
    model, logits, x = digits_cnn
    image = x[1]
    labels = np.zeros((28, 28), np.int64)
    labels[:, 14:] = 1
    labels[14:, :] += 2  # quadrants: 4 players
    labels[10:18, 10:18] = 4  # and a centre: 5 players
    m, target, fill = 5, 4, 30.0
    value = {}
    for coalition in itertools.product([0, 1], repeat=m):
        composed = compose(image, labels, np.array(coalition, bool), fill)
        value[coalition] = logits(composed[None])[0, target]
    expected = np.zeros(m)
    for order in itertools.permutations(range(m)):  # the average marginal contribution over orderings
        present = [0] * m
        for player in order:
            before = value[tuple(present)]
            present[player] = 1
            expected[player] += value[tuple(present)] - before
    expected /= math.factorial(m)
    maps = attribute(model, image, target=target, method="kernel_shap", segments=labels, baseline=fill)
    np.testing.assert_allclose(per_segment(maps[0], labels), expected, rtol=1e-4, atol=1e-4)
    assert np.abs(expected).max() > 0.1


def test_results_do_not_depend_on_batching_or_batch_size(digits_cnn):
    model, _, x = digits_cnn
    options = {"segments": "grid", "grid": 5, "samples": 48, "seed": 4}
    whole = attribute(model, x, target=[1, 2, 3, 4], method="kernel_shap", batch_size=64, **options)
    for i in range(len(x)):
        alone = attribute(model, x[i], target=i + 1, method="kernel_shap", batch_size=7, **options)
        np.testing.assert_allclose(alone[0], whole[i], rtol=1e-4, atol=1e-4)
    other = attribute(model, x, target=[1, 2, 3, 4], method="kernel_shap", **{**options, "seed": 5})
    assert not np.allclose(other, whole)


# ---------------------------------------------------------------------------
# segmentation


def test_slic_segments_grayscale_rgb_and_channels_first():
    rng = np.random.default_rng(0)
    rgb = np.zeros((2, 24, 24, 3), "float32")
    rgb[:, :, 12:] = [1.0, 0.0, 0.0]  # two flat halves: no superpixel straddles the edge
    rgb += rng.normal(0, 0.01, rgb.shape).astype("float32")
    info = KernelSHAP(keras.Sequential([keras.Input((24, 24, 3)), keras.layers.Flatten(), keras.layers.Dense(2)])).info
    labels = segment_labels(info, rgb, "slic", n_segments=16)
    assert len(labels) == 2 and labels[0].shape == (24, 24) and labels[0].dtype == np.int32
    for lab in labels:
        count = lab.max() + 1
        assert 4 <= count <= 40 and set(np.unique(lab)) == set(range(count))
        left, right = set(np.unique(lab[:, :12])), set(np.unique(lab[:, 12:]))
        assert not left & right
    noise = rng.uniform(0, 255, (1, 24, 24, 3)).astype("float32")  # one region after connectivity: refined
    assert segment_labels(info, noise, "slic", n_segments=16)[0].max() + 1 >= 4
    gray_model = keras.Sequential([keras.Input((24, 24, 1)), keras.layers.Flatten(), keras.layers.Dense(2)])
    gray = segment_labels(KernelSHAP(gray_model).info, rgb[..., :1], "slic", n_segments=9)
    assert gray[0].shape == (24, 24) and 2 <= gray[0].max() + 1 <= 30
    first_model = keras.Sequential([keras.Input((3, 24, 24)),
                                    keras.layers.Conv2D(2, 3, data_format="channels_first"),
                                    keras.layers.GlobalAveragePooling2D(data_format="channels_first"),
                                    keras.layers.Dense(2)])
    first = segment_labels(KernelSHAP(first_model).info, np.moveaxis(rgb, -1, 1), "slic", n_segments=16)
    for a, b in zip(first, labels):
        np.testing.assert_array_equal(a, b)


def test_grid_cells_cover_the_image_evenly():
    labels = grid_labels((28, 28), 8)
    assert labels.shape == (28, 28) and labels.max() == 63
    counts = np.bincount(labels.ravel())
    assert counts.min() >= 9 and counts.max() <= 16
    rows, cols = labels // 8, labels % 8  # row-major numbering: the row of cells, the column of cells
    assert (rows == rows[:, :1]).all() and (cols == cols[:1, :]).all()
    assert (np.diff(rows[:, 0]) >= 0).all() and (np.diff(cols[0]) >= 0).all()
    np.testing.assert_array_equal(grid_labels((5,), 2), [0, 0, 0, 1, 1])


def test_segmentation_options_are_validated():
    model = linear_model()
    x = images(2)
    with pytest.raises(InvalidInputError, match="'slic', 'grid' or an integer label array"):
        attribute(model, x, method="kernel_shap", segments="quickshift")
    with pytest.raises(InvalidInputError, match=r"shape \(8, 8\) for every example, or \(2, 8, 8\)"):
        attribute(model, x, method="kernel_shap", segments=np.zeros((7, 8), int))
    with pytest.raises(InvalidInputError, match="integer label array"):
        attribute(model, x, method="kernel_shap", segments=np.zeros((8, 8), "float32"))
    with pytest.raises(InvalidInputError, match="samples must be an integer between 2 and 20000"):
        attribute(model, x, method="kernel_shap", samples=10**7)
    with pytest.raises(InvalidInputError, match="grid must be an integer between 1 and 64"):
        attribute(model, x, method="kernel_shap", segments="grid", grid=0)
    with pytest.raises(InvalidInputError, match="baseline must be 'mean' or a finite number"):
        attribute(model, x, method="kernel_shap", baseline="median")
    with pytest.raises(InvalidInputError, match="baseline must be 'mean' or a finite number"):
        attribute(model, x, method="kernel_shap", baseline=float("nan"))
    assert METHODS["kernel_shap"].options == {"samples": 512, "segments": "slic", "n_segments": 50, "grid": 8,
                                             "baseline": "mean", "seed": 0}


# ---------------------------------------------------------------------------
# shapes, formats and cancellation


def test_default_slic_run_on_the_demo_cnn(digits_cnn):
    model, logits, x = digits_cnn
    method = KernelSHAP(model)
    maps = method.attribute(x[:2])
    assert maps.shape == (2, 28, 28) and np.isfinite(maps).all() and np.abs(maps).max() > 0
    np.testing.assert_array_equal(method.last_targets, logits(x[:2]).argmax(axis=1))
    labels = segment_labels(method.info, x[:2], "slic", n_segments=50)
    for i in range(2):
        per_segment(maps[i], labels[i])  # constant on each superpixel


def test_channels_first_model_gets_the_channels_last_maps():
    keras.utils.set_random_seed(13)
    models = []
    for fmt, shape in (("channels_last", (12, 12, 3)), ("channels_first", (3, 12, 12))):
        inp = keras.Input(shape)
        h = keras.layers.Conv2D(5, 3, padding="same", activation="relu", data_format=fmt, name="c1")(inp)
        h = keras.layers.GlobalAveragePooling2D(data_format=fmt, name="gap")(h)
        models.append(keras.Model(inp, keras.layers.Dense(4, activation="softmax", name="out")(h)))
    models[1].set_weights(models[0].get_weights())
    x = images(2, seed=3, shape=(12, 12, 3))
    x_first = np.ascontiguousarray(np.moveaxis(x, -1, 1))
    for options in ({"segments": "grid", "grid": 3}, {"segments": "slic", "n_segments": 20, "samples": 64}):
        expected = attribute(models[0], x, target=1, method="kernel_shap", **options)
        got = attribute(models[1], x_first, target=1, method="kernel_shap", **options)
        assert got.shape == (2, 12, 12)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_cancel_stops_before_the_next_chunk(digits_cnn):
    model, _, x = digits_cnn
    method = KernelSHAP(model, batch_size=16)
    calls = []
    original = method.space_logits_at
    method.space_logits_at = lambda rows, z: calls.append(len(rows)) or original(rows, z)
    event = threading.Event()
    fractions = []

    def progress(fraction):
        fractions.append(fraction)
        event.set()

    with pytest.raises(CancelledError, match="KernelSHAP was cancelled"):
        method.attribute(x[:2], target=0, segments="grid", grid=5, samples=200, progress=progress, cancel=event)
    assert calls == [16] and len(fractions) == 1 and 0 < fractions[0] < 0.1
