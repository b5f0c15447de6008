"""SmoothGrad / VarGrad / SquareGrad against their formulas.
"""


import numpy as np

from nbinterp.attribution import (
    attribute,
)
from attribution_models import (
    tape_gradients,
    quadratic_net,
)


def test_smoothgrad_without_noise_is_gradient(net, x5):
    model, logit_model = net
    g = tape_gradients(logit_model, x5, [4] * 5)
    # 3 samples per image, chunks of 4 items: chunks straddle images
    sg = attribute(model, x5, target=4, method="smoothgrad", samples=3, noise=0.0, batch_size=4)
    np.testing.assert_allclose(sg, np.abs(g).max(axis=-1), rtol=1e-5, atol=1e-7)
    vg = attribute(model, x5, target=4, method="vargrad", samples=3, noise=0.0, batch_size=4)
    np.testing.assert_allclose(vg, 0.0, atol=1e-9)
    sq = attribute(model, x5, target=4, method="squaregrad", samples=3, noise=0.0)
    np.testing.assert_allclose(sq, (g**2).max(axis=-1), rtol=1e-5, atol=1e-12)


def test_smoothgrad_noise_scale_and_variance():
    model = quadratic_net("softmax")
    w = model.get_layer("predictions").get_weights()[0][:, 1].reshape(4, 4, 2)
    x = np.random.default_rng(1).uniform(-1, 2, (1, 4, 4, 2)).astype("float32")
    noise = 0.1
    sigma = noise * (x.max() - x.min())
    options = dict(target=1, samples=4000, noise=noise, seed=5)
    # E[2 W (x + e)] = 2 W x ; Var[2 W (x + e)] = 4 W^2 sigma^2 ; E[g^2] = 4 W^2 (x^2 + sigma^2)
    sg = attribute(model, x, method="smoothgrad", **options)
    np.testing.assert_allclose(sg[0], np.abs(2 * w * x[0]).max(-1), rtol=0.05, atol=0.02 * np.abs(w).max())
    vg = attribute(model, x, method="vargrad", **options)
    np.testing.assert_allclose(vg[0], (4 * w**2 * sigma**2).max(-1), rtol=0.1)
    sq = attribute(model, x, method="squaregrad", **options)
    np.testing.assert_allclose(sq[0], (4 * w**2 * (x[0] ** 2 + sigma**2)).max(-1), rtol=0.1)


def test_smoothgrad_seed_controls_noise(net, x5):
    model, _ = net
    a = attribute(model, x5[:2], target=0, method="smoothgrad", samples=8, seed=1)
    b = attribute(model, x5[:2], target=0, method="smoothgrad", samples=8, seed=1)
    c = attribute(model, x5[:2], target=0, method="smoothgrad", samples=8, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
