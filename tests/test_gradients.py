"""Gradient, gradient x input and interior gradients against a GradientTape on the linear-head copy.
"""


import numpy as np

from nbinterp.attribution import (
    Gradient,
    attribute,
)
from attribution_models import (
    tape_gradients,
    logits_of,
)


def test_gradient_equals_tape_on_logits(net, x5):
    model, logit_model = net
    targets = np.array([0, 1, 2, 3, 4])
    expected = np.abs(tape_gradients(logit_model, x5, targets)).max(axis=-1)
    got = attribute(model, x5, target=targets, method="gradient")
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert np.abs(expected).max() > 0


def test_default_target_is_top_class(net, x5):
    model, logit_model = net
    top = logits_of(logit_model, x5).argmax(axis=1)
    method = Gradient(model)
    got = method.attribute(x5)
    np.testing.assert_array_equal(method.last_targets, top)
    np.testing.assert_allclose(got, attribute(model, x5, target=top), rtol=1e-6)


def test_gradient_x_input_is_sum_of_x_times_gradient(net, x5):
    model, logit_model = net
    expected = (x5 * tape_gradients(logit_model, x5, [3] * 5)).sum(axis=-1)
    got = attribute(model, x5, target=3, method="gradient_x_input")
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_chunking_does_not_change_results(net, x5):
    model, _ = net
    for name in ("gradient", "integrated_gradients", "occlusion", "gradcam"):
        whole = attribute(model, x5, target=1, method=name, batch_size=64)
        pieces = attribute(model, x5, target=1, method=name, batch_size=2)
        np.testing.assert_allclose(pieces, whole, rtol=1e-5, atol=1e-6, err_msg=name)


def test_interior_gradients_are_gradients_at_scaled_inputs(net, x5):
    model, logit_model = net
    g3 = tape_gradients(logit_model, 0.3 * x5, [2] * 5)
    g7 = tape_gradients(logit_model, 0.7 * x5, [2] * 5)
    got = attribute(model, x5, target=2, method="interior_gradients", alpha=[0.3, 0.7])
    np.testing.assert_allclose(got, np.abs((g3 + g7) / 2).max(axis=-1), rtol=1e-5, atol=1e-7)
    single = attribute(model, x5, target=2, method="interior_gradients", alpha=1.0)
    np.testing.assert_allclose(single, attribute(model, x5, target=2), rtol=1e-5, atol=1e-7)
