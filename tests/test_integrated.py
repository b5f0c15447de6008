"""Integrated gradients: completeness and the midpoint sum.
"""


import numpy as np
import pytest

from nbinterp.attribution import (
    attribute,
)
from attribution_models import (
    conv_net,
    linear_copy,
    smooth_net,
    tape_gradients,
    logits_of,
)


@pytest.mark.parametrize("builder", [smooth_net, conv_net], ids=["tanh-softplus", "relu-cnn"])
def test_integrated_gradients_completeness(builder):
    model = builder()
    logit_model = linear_copy(model, builder)
    shape = model.input_shape[1:]
    x = np.random.default_rng(2).uniform(0, 1, (3,) + shape).astype("float32")
    baseline = np.full(shape, 0.25, "float32")
    targets = [0, 2, 4]
    maps = attribute(model, x, target=targets, method="integrated_gradients", steps=128, baseline=baseline)
    f_x = logits_of(logit_model, x)[np.arange(3), targets]
    f_b = logits_of(logit_model, np.broadcast_to(baseline, x.shape).copy())[np.arange(3), targets]
    np.testing.assert_allclose(maps.reshape(3, -1).sum(axis=1), f_x - f_b, rtol=0.01)
    assert np.all(np.abs(f_x - f_b) > 1e-3)  # the identity is not vacuous


def test_integrated_gradients_is_a_midpoint_sum(net, x5):
    model, logit_model = net
    steps = 4
    total = np.zeros_like(x5)
    for k in range(steps):
        total += tape_gradients(logit_model, (k + 0.5) / steps * x5, [1] * 5)
    expected = (x5 * total / steps).sum(axis=-1)
    got = attribute(model, x5, target=1, method="integrated_gradients", steps=steps)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
