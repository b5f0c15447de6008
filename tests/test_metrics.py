"""Faithfulness metrics against naive references: per-step model calls, scipy/scikit-image statistics."""

import threading

import numpy as np
import pytest

import nbinterp
from nbinterp import demo, metrics
from nbinterp.core import compiled
from nbinterp.errors import CancelledError, InputShapeError, InvalidInputError, UnknownLayerError


@pytest.fixture(scope="module")
def images():
    return demo.load_digits("test").images[:20]


@pytest.fixture(scope="module")
def gradient_maps(model, images):
    return nbinterp.attribute(model, images, method="gradient")


def probability(model, image, target):
    """The demo model ends in a softmax: its own output is the class probability."""
    return float(np.asarray(model(image[None].astype(np.float32), training=False))[0, target])


def naive_curve(model, image, heat, target, steps, fill, kind):
    order = np.argsort(-heat.reshape(-1), kind="stable")
    pixels = heat.size
    scores = []
    for k in range(steps + 1):
        count = int(np.round(k * pixels / steps))
        if kind == "deletion":
            current = image.astype(np.float32).copy()
            rows, cols = np.unravel_index(order[:count], heat.shape)
            current[rows, cols] = fill[rows, cols]
        else:
            current = fill.astype(np.float32).copy()
            rows, cols = np.unravel_index(order[:count], heat.shape)
            current[rows, cols] = image[rows, cols]
        scores.append(probability(model, current, target))
    return np.array(scores)


@pytest.mark.parametrize("kind", ["deletion", "insertion"])
def test_curves_equal_a_naive_loop(model, images, gradient_maps, kind):
    x, heat = images[:3], gradient_maps[:3]
    function = getattr(metrics, kind)
    result = function(model, x, heat, steps=7, batch_size=5)
    assert result.fractions.shape == (8,) and result.scores.shape == (3, 8)
    top = np.asarray(model(x.astype(np.float32))).argmax(axis=1)
    assert np.array_equal(result.targets, top)
    for i in range(3):
        expected = naive_curve(model, x[i], heat[i], top[i], 7, np.zeros_like(x[i], np.float32), kind)
        np.testing.assert_allclose(result.scores[i], expected, atol=2e-5)
        area = sum((expected[k] + expected[k + 1]) / 2 / 7 for k in range(7))
        assert result.auc[i] == pytest.approx(area, abs=2e-5)
    assert result.mean_auc == pytest.approx(result.auc.mean())
    fractions, scores = result.curve
    assert fractions[0] == 0 and fractions[-1] == 1 and scores is result.scores


def test_blur_and_mean_fills_equal_their_references(model, images, gradient_maps):
    from scipy.ndimage import gaussian_filter

    x, heat = images[:2], gradient_maps[:2]
    blurred = metrics.insertion(model, x, heat, target=[3, 5], steps=5, blur=2.0)
    for i, target in enumerate((3, 5)):
        # scipy's 'reflect' is numpy's 'symmetric'; truncate=3 gives the same radius as ceil(3 sigma)
        fill = gaussian_filter(x[i].astype(np.float64), sigma=(2.0, 2.0, 0), mode="reflect", truncate=3.0)
        expected = naive_curve(model, x[i], heat[i], target, 5, fill.astype(np.float32), "insertion")
        np.testing.assert_allclose(blurred.scores[i], expected, atol=2e-5)
    mean = metrics.deletion(model, x, heat, target=1, steps=4, baseline="mean")
    for i in range(2):
        fill = np.broadcast_to(x[i].astype(np.float32).mean(axis=(0, 1), keepdims=True), x[i].shape)
        np.testing.assert_allclose(mean.scores[i], naive_curve(model, x[i], heat[i], 1, 4, fill, "deletion"),
                                   atol=2e-5)


def test_a_random_map_deletes_worse_than_the_gradient(model, images, gradient_maps):
    random = np.random.default_rng(0).random(gradient_maps.shape)
    gradient = metrics.deletion(model, images, gradient_maps)
    chance = metrics.deletion(model, images, random)
    # measured on the trained demo model: 0.29 against 0.61, gradient better on 19 of 20 images
    assert gradient.mean_auc < chance.mean_auc - 0.1
    assert (gradient.auc < chance.auc).mean() >= 0.75


def test_mu_fidelity_equals_a_naive_loop(model, images):
    x = images[:2]
    heat = nbinterp.attribute(model, x, method="gradient_x_input")
    for grid in (None, 4):
        result = metrics.mu_fidelity(model, x, heat, subset=0.25, samples=12, grid=grid, seed=7, batch_size=5)
        top = np.asarray(model(x.astype(np.float32))).argmax(axis=1)
        for i in range(2):
            if grid is None:
                labels = np.arange(28 * 28).reshape(28, 28)
            else:
                labels = (np.arange(28)[:, None] * 4 // 28) * 4 + np.arange(28)[None, :] * 4 // 28
            units = labels.max() + 1
            chosen = metrics.subsets(7, i, 12, units, int(round(0.25 * units)))
            clean = probability(model, x[i], top[i])
            sums, drops = [], []
            for subset in chosen:
                mask = np.isin(labels, subset)
                blanked = x[i].astype(np.float32).copy()
                blanked[mask] = 0
                sums.append(heat[i][mask].sum())
                drops.append(clean - probability(model, blanked, top[i]))
            np.testing.assert_allclose(result.attribution_sums[i], sums, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(result.drops[i], drops, atol=2e-5)
            assert result.correlation[i] == pytest.approx(np.corrcoef(sums, drops)[0, 1], abs=1e-4)
    again = metrics.mu_fidelity(model, x, heat, subset=0.25, samples=12, seed=7)
    other = metrics.mu_fidelity(model, x, heat, subset=0.25, samples=12, seed=8)
    assert np.array_equal(again.drops, metrics.mu_fidelity(model, x, heat, subset=0.25, samples=12, seed=7).drops)
    assert not np.array_equal(again.drops, other.drops)


def test_spearman_and_ssim_equal_scipy_and_scikit_image():
    from scipy.stats import spearmanr
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(3)
    a = rng.random((28, 28))
    b = a + rng.normal(0, 0.3, a.shape)
    b[:4] = 0.5  # ties
    assert metrics.spearman(a, b) == pytest.approx(spearmanr(a.ravel(), b.ravel()).statistic, abs=1e-12)
    scale = [(m - m.min()) / (m.max() - m.min()) for m in (a, b)]
    reference = structural_similarity(scale[0], scale[1], data_range=1.0)
    assert metrics.ssim(a, b) == pytest.approx(reference, abs=1e-9)
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    assert metrics.spearman(a, np.ones_like(a)) == 0.0


def test_randomization_decorrelates_gradients_and_leaves_the_model_alone(model, images, gradient_maps):
    before = [w.copy() for w in model.get_weights()]
    functions = compiled.stats().functions
    result = metrics.randomization_check(model, images, "gradient", cascade=True, seed=0)
    assert result.layers == ["predictions", "conv3", "conv2", "conv1"]
    assert result.maps.shape == (4,) + gradient_maps.shape
    np.testing.assert_allclose(result.original, gradient_maps, rtol=1e-5, atol=1e-7)
    # fully randomised: the gradient map no longer follows the trained one (measured: 0.38)
    assert result.mean_rank_correlation[-1] < 0.5
    assert result.mean_ssim[-1] < result.mean_ssim[0]
    for step in (0, 3):
        for i in (0, 7):
            expected = metrics.spearman(np.abs(gradient_maps[i]), np.abs(result.maps[step, i]))
            assert result.rank_correlation[step, i] == pytest.approx(expected, abs=1e-4)
    # the user's model: bit-identical weights, and no compiled functions of the clones left behind
    after = model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert compiled.stats().functions == functions
    assert np.array_equal(nbinterp.attribute(model, images, method="gradient"), gradient_maps)
    # one layer alone: the top layer randomised alone is the cascade's first step; seeded, so it repeats
    alone = metrics.randomization_check(model, images[:4], "gradient", cascade=False, layers=["predictions", "conv1"])
    again = metrics.randomization_check(model, images[:4], "gradient", cascade=False, layers=["predictions", "conv1"])
    assert alone.layers == ["predictions", "conv1"] and not alone.cascade
    np.testing.assert_allclose(alone.maps[0], result.maps[0, :4], rtol=1e-5, atol=1e-7)
    assert np.array_equal(alone.maps, again.maps)
    with pytest.raises(UnknownLayerError):
        metrics.randomization_check(model, images[:2], "gradient", layers=["conv9"])


def test_progress_arrives_in_order_and_cancel_stops(model, images, gradient_maps):
    for call in (lambda **k: metrics.deletion(model, images[:6], gradient_maps[:6], steps=10, batch_size=8, **k),
                 lambda **k: metrics.mu_fidelity(model, images[:3], gradient_maps[:3], samples=20, batch_size=8, **k),
                 lambda **k: metrics.randomization_check(model, images[:3], "gradient", batch_size=2, **k)):
        seen = []
        call(progress=seen.append)
        assert len(seen) >= 4 and seen == sorted(seen) and seen[-1] == 1.0 and seen[0] < 0.5
        with pytest.raises(CancelledError):
            call(cancel=lambda: True)
        event, reports = threading.Event(), []

        def stop_after_two(fraction):
            reports.append(fraction)
            if len(reports) == 2:
                event.set()

        with pytest.raises(CancelledError):
            call(progress=stop_after_two, cancel=event)
        assert max(reports) == reports[1]  # nothing more was done once cancel was set


def test_clear_errors_for_maps_and_options_that_do_not_fit(model, images, gradient_maps):
    with pytest.raises(InputShapeError, match=r"maps of shape \(3, 28, 28\)"):
        metrics.deletion(model, images[:3], gradient_maps[:2])
    with pytest.raises(InputShapeError):
        metrics.insertion(model, images[:2], gradient_maps[:2, :14])
    one = metrics.deletion(model, images[0], gradient_maps[0], steps=4)  # one image, one (H, W) map
    assert one.scores.shape == (1, 5)
    with pytest.raises(InvalidInputError, match="not both"):
        metrics.deletion(model, images[:2], gradient_maps[:2], baseline=0.0, blur=1.0)
    with pytest.raises(InputShapeError):
        metrics.deletion(model, images[:2], gradient_maps[:2], baseline=np.zeros((5, 5)))
    with pytest.raises(InvalidInputError):
        metrics.deletion(model, images[:2], gradient_maps[:2], steps=0)
    with pytest.raises(InvalidInputError):
        metrics.mu_fidelity(model, images[:2], gradient_maps[:2], subset=1.5)
    with pytest.raises(InvalidInputError):
        metrics.deletion(model, images[:2], np.full((2, 28, 28), np.nan))


def test_model_paths_and_inspectors_are_accepted(model, images, gradient_maps):
    path = demo.data_path(demo.MODEL_FILE)
    direct = metrics.deletion(model, images[:2], gradient_maps[:2], steps=4)
    by_path = metrics.deletion(path, images[:2], gradient_maps[:2], steps=4)
    by_inspector = metrics.deletion(nbinterp.Inspector(model), images[:2], gradient_maps[:2], steps=4)
    np.testing.assert_allclose(by_path.scores, direct.scores, atol=1e-6)
    np.testing.assert_allclose(by_inspector.scores, direct.scores, atol=1e-6)


def test_sequence_models_get_one_value_per_step():
    import keras

    inputs = keras.Input((12, 2))
    hidden = keras.layers.Conv1D(4, 3, padding="same", activation="relu")(inputs)
    outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling1D()(hidden))
    net = keras.Model(inputs, outputs)
    x = np.random.default_rng(1).normal(size=(2, 12, 2)).astype(np.float32)
    heat = nbinterp.attribute(net, x, method="gradient")
    result = metrics.deletion(net, x, heat, target=[0, 2], steps=4)
    for i, target in enumerate((0, 2)):
        order = np.argsort(-heat[i], kind="stable")
        expected = []
        for k in range(5):
            current = x[i].copy()
            current[order[: int(np.round(k * 12 / 4))]] = 0
            logits = np.asarray(net(current[None]))[0].astype(np.float64)
            expected.append(np.exp(logits[target]) / np.exp(logits).sum())  # softmax of the logits
        np.testing.assert_allclose(result.scores[i], expected, atol=1e-5)


def test_the_seed_reaches_methods_that_take_one(model, images):
    check = metrics.randomization_check(model, images[:2], "smoothgrad", samples=6, seed=3, layers=["predictions"])
    same = nbinterp.attribute(model, images[:2], method="smoothgrad", samples=6, seed=3)
    other = nbinterp.attribute(model, images[:2], method="smoothgrad", samples=6, seed=4)
    np.testing.assert_allclose(check.original, same, rtol=1e-5, atol=1e-8)
    assert not np.allclose(check.original, other)


def test_randomization_with_batch_norm_keeps_the_model_and_its_statistics():
    import keras

    inputs = keras.Input((10, 10, 1))
    x = keras.layers.Conv2D(3, 3, padding="same", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Activation("relu")(x)
    outputs = keras.layers.Dense(4, name="head")(keras.layers.GlobalAveragePooling2D()(x))
    net = keras.Model(inputs, outputs)
    bn = net.get_layer("bn")
    bn.moving_mean.assign(np.full(3, 0.3, np.float32))
    bn.moving_variance.assign(np.full(3, 2.0, np.float32))
    before = [w.copy() for w in net.get_weights()]
    x = np.random.default_rng(2).normal(size=(3, 10, 10, 1)).astype(np.float32)
    result = metrics.randomization_check(net, x, "gradient_x_input")
    assert result.layers == ["head", "bn", "conv"]
    assert np.isfinite(result.maps).all() and np.isfinite(result.rank_correlation).all()
    assert not np.allclose(result.maps[-1], result.original)
    assert all(np.array_equal(a, b) for a, b in zip(before, net.get_weights()))
