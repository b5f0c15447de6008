"""LIME against independent references: a linear model's per-segment contributions,
and the weighted ridge regression written out with scikit-learn on perturbations made here."""

import threading

import keras
import numpy as np
import pytest

from nbinterp import demo
from nbinterp.attribution import LIME, METHODS, attribute
from nbinterp.attribution.lime import lime_coalitions
from nbinterp.attribution.perturbation import grid_labels
from nbinterp.errors import CancelledError, InvalidInputError

SIZE = 8


def linear_model(seed=0, classes=3):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((SIZE, SIZE, 3))
    out = keras.layers.Dense(classes, activation="softmax", name="predictions")(keras.layers.Flatten()(inp))
    return keras.Model(inp, out)


def images(n, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, SIZE, SIZE, 3)).astype("float32")


def contributions(model, x, labels, target, baseline):
    """What switching each segment on adds to a linear logit: w . (x - baseline) over the segment."""
    w = model.get_layer("predictions").get_weights()[0][:, target].reshape(x.shape)
    values = (w * (x - baseline)).sum(axis=-1)
    return np.array([values[labels == j].sum() for j in range(labels.max() + 1)])


def segment_values(maps, labels):
    return np.array([maps[labels == j][0] for j in range(labels.max() + 1)], np.float64)


def test_linear_model_coefficients_have_the_signs_and_ranking_of_the_contributions():
    model = linear_model()
    x = images(2, seed=1)
    labels = grid_labels((SIZE, SIZE), 4)
    maps = attribute(model, x, target=[0, 2], method="lime", segments="grid", grid=4)
    assert maps.shape == (2, SIZE, SIZE) and maps.dtype == np.float32
    for i, target in enumerate((0, 2)):
        expected = contributions(model, x[i], labels, target, x[i].mean(axis=(0, 1)))
        got = segment_values(maps[i], labels)
        clear = np.abs(expected) > 0.02 * np.abs(expected).max()
        np.testing.assert_array_equal(np.sign(got[clear]), np.sign(expected[clear]))
        assert (np.argsort(got) == np.argsort(expected)).mean() > 0.8
        order = np.argsort(-expected)
        assert set(np.argsort(-got)[:3]) == set(order[:3])


def test_without_penalty_a_linear_model_is_recovered_exactly():
    model = linear_model(seed=2)
    x = images(1, seed=3)
    labels = grid_labels((SIZE, SIZE), 4)
    maps = attribute(model, x, target=1, method="lime", segments="grid", grid=4, ridge=0.0, baseline=0.0)
    np.testing.assert_allclose(segment_values(maps[0], labels), contributions(model, x[0], labels, 1, 0.0),
                               rtol=1e-3, atol=1e-4)


def test_equals_a_weighted_ridge_fit_on_the_demo_cnn():
    from sklearn.linear_model import Ridge

    model = demo.load_model()
    x = demo.load_digits("test").images[:2].astype("float32")
    features = keras.Model(model.input, model.get_layer("gap").output)
    kernel, bias = model.get_layer("predictions").get_weights()
    labels = grid_labels((28, 28), 4)
    samples, width, ridge, seed, target = 300, 0.4, 2.0, 7, 5
    coalitions = lime_coalitions(16, samples, seed)  # the perturbations, shared by examples with 16 segments
    assert coalitions[0].all() and 0.4 < coalitions[1:].mean() < 0.6
    maps = attribute(model, x, target=target, method="lime", segments="grid", grid=4, samples=samples,
                     kernel_width=width, ridge=ridge, seed=seed)
    for i in range(2):
        mean = x[i].mean()
        composed = np.stack([np.where(c[labels][..., None], x[i], mean) for c in coalitions])
        y = features(composed, training=False).numpy().astype(np.float64) @ kernel[:, target] + bias[target]
        kept = coalitions.sum(axis=1)
        cosine = kept / (np.sqrt(np.maximum(kept, 1e-12)) * np.sqrt(16))
        weights = np.exp(-((1 - cosine) ** 2) / width**2)
        fit = Ridge(alpha=ridge).fit(coalitions.astype(float), y, sample_weight=weights)
        np.testing.assert_allclose(segment_values(maps[i], labels), fit.coef_, rtol=2e-3, atol=2e-4)
        assert np.abs(fit.coef_).max() > 0.05


def test_seeded_and_independent_of_batching():
    model = linear_model(seed=4)
    x = images(3, seed=5)
    options = {"segments": "grid", "grid": 3, "samples": 50, "seed": 3}
    whole = attribute(model, x, target=1, method="lime", batch_size=64, **options)
    np.testing.assert_allclose(attribute(model, x, target=1, method="lime", batch_size=7, **options), whole,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(attribute(model, x[2], target=1, method="lime", **options)[0], whole[2],
                               rtol=1e-5, atol=1e-6)
    assert not np.allclose(attribute(model, x, target=1, method="lime", **{**options, "seed": 4}), whole)


def test_options_are_validated_and_declared():
    model = linear_model()
    x = images(1)
    with pytest.raises(InvalidInputError, match="samples must be an integer between 2 and 20000"):
        attribute(model, x, method="lime", samples=10**6)
    with pytest.raises(InvalidInputError, match="kernel_width"):
        attribute(model, x, method="lime", kernel_width=0.0)
    with pytest.raises(InvalidInputError, match="ridge"):
        attribute(model, x, method="lime", ridge=-1.0)
    with pytest.raises(InvalidInputError, match=r"shape \(8, 8\)"):
        attribute(model, x, method="lime", segments=np.zeros((1, 4, 4), int))
    assert METHODS["lime"].options == {"samples": 512, "segments": "slic", "n_segments": 50, "grid": 8,
                                       "baseline": "mean", "kernel_width": 0.25, "ridge": 1.0, "seed": 0}


def test_channels_first_and_default_slic_shapes():
    keras.utils.set_random_seed(1)
    inp = keras.Input((3, 12, 12))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", data_format="channels_first")(inp)
    h = keras.layers.GlobalAveragePooling2D(data_format="channels_first")(h)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(h))
    x = np.random.default_rng(0).uniform(size=(2, 3, 12, 12)).astype("float32")
    maps = attribute(model, x, method="lime", samples=64)
    assert maps.shape == (2, 12, 12) and np.isfinite(maps).all() and np.abs(maps).max() > 0
    digits = demo.load_digits("test").images[:2]
    maps = LIME(demo.load_model()).attribute(digits, samples=64)
    assert maps.shape == (2, 28, 28) and np.abs(maps).max() > 0


def test_cancel_stops_before_the_next_chunk():
    model = linear_model()
    method = LIME(model, batch_size=10)
    event = threading.Event()
    fractions = []

    def progress(fraction):
        fractions.append(fraction)
        event.set()

    with pytest.raises(CancelledError, match="LIME was cancelled"):
        method.attribute(images(2), target=0, segments="grid", grid=3, samples=100, progress=progress, cancel=event)
    assert len(fractions) == 1 and fractions[0] == pytest.approx(10 / 200)
