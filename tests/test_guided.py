"""Guided backprop and deconvnet: only the ReLU backward changes.
"""


import numpy as np
import pytest

from nbinterp.attribution import (
    attribute,
)
from attribution_models import (
    single_relu_net,
)


@pytest.mark.parametrize("relu", ["dense", "activation", "capped"])
def test_guided_backprop_and_deconvnet_change_only_the_relu_backward(relu):
    model = single_relu_net(relu=relu)
    w1, b1 = model.get_layer("hidden").get_weights()
    w2 = model.get_layer("predictions").get_weights()[0]
    x = np.random.default_rng(0).normal(size=(8, 6)).astype("float32")
    target = 1
    pre = x @ w1 + b1
    gate = ((pre > 0) & ((pre < 0.5) if relu == "capped" else True)).astype("float32")  # (8, 10)
    assert 0 < gate.mean() < 1
    upstream = w2[:, target]  # gradient reaching the ReLU output, (10,)
    plain = (gate * upstream) @ w1.T
    guided = (gate * np.maximum(upstream, 0)) @ w1.T
    deconv = np.broadcast_to(np.maximum(upstream, 0) @ w1.T, plain.shape)
    assert (upstream > 0).any() and (upstream < 0).any()

    for method, expected in (("gradient", plain), ("guided_backprop", guided), ("deconvnet", deconv)):
        got = attribute(model, x, target=target, method=method)
        np.testing.assert_allclose(got, np.abs(expected), rtol=1e-5, atol=1e-7, err_msg=method)
    assert not np.allclose(plain, guided)


def test_guided_equals_gradient_where_upstream_gradient_is_positive():
    model = single_relu_net()
    w2 = model.get_layer("predictions").get_weights()[0]
    positive = int(np.argmax((w2 > 0).sum(axis=0)))
    # make every upstream gradient positive for one class: guided == plain
    w2_pos = w2.copy()
    w2_pos[:, positive] = np.abs(w2_pos[:, positive]) + 0.01
    model.get_layer("predictions").set_weights([w2_pos, model.get_layer("predictions").get_weights()[1]])
    x = np.random.default_rng(1).normal(size=(4, 6)).astype("float32")
    np.testing.assert_allclose(
        attribute(model, x, target=positive, method="guided_backprop"), attribute(model, x, target=positive), rtol=1e-6
    )
