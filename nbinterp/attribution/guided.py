"""Guided backpropagation and deconvnet: gradients with a modified ReLU backward pass.

Both methods run the model unchanged in the forward direction and change
only how the gradient flows back through each ReLU. The replacement is
installed per trace through the graph plan's ``activation_override`` hook,
so the user's model is never modified.

For a ReLU ``y = max(x, 0)`` with upstream gradient ``g``:

* plain gradient:     ``g * [x > 0]``
* deconvnet:          ``max(g, 0)``               (Zeiler & Fergus 2014)
* guided backprop:    ``max(g, 0) * [x > 0]``     (Springenberg et al. 2015)

Other ReLU variants (``relu6``, ``ReLU(max_value=...)`` layers) keep their
own local derivative in guided backprop: ``max(g, 0) * f'(x)``. Other
activation functions (tanh, gelu, ...) keep their ordinary gradient.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from .base import Attribution
from .gradients import _single_pass

_RELU_NAMES = {"relu", "relu6"}


def _is_plain_relu(step):
    op = step.op
    if isinstance(op, keras.layers.ReLU):
        return (
            op.max_value is None
            and float(op.negative_slope) == 0.0
            and float(op.threshold) == 0.0
        )
    return True


def _original_activation(step):
    if isinstance(step.op, keras.layers.ReLU) or not callable(getattr(step.op, "activation", None)):
        return step.op  # the layer itself is the activation
    return step.op.activation


def _guided(forward, plain):
    @tf.custom_gradient
    def activation(x):
        y = forward(x)

        def grad(dy):
            positive = tf.nn.relu(dy)
            if plain:
                return positive * tf.cast(x > 0, dy.dtype)
            with tf.GradientTape() as tape:
                tape.watch(x)
                again = forward(x)
            return tape.gradient(again, x, output_gradients=positive)

        return y, grad

    return activation


def _deconv(forward):
    @tf.custom_gradient
    def activation(x):
        def grad(dy):
            return tf.nn.relu(dy)

        return forward(x), grad

    return activation


def guided_override(step, name):
    if name not in _RELU_NAMES:
        return None
    return _guided(_original_activation(step), name == "relu" and _is_plain_relu(step))


def deconvnet_override(step, name):
    if name not in _RELU_NAMES:
        return None
    return _deconv(_original_activation(step))


class GuidedBackprop(Attribution):
    """Guided backpropagation.

    Springenberg, Dosovitskiy, Brox & Riedmiller, "Striving for Simplicity:
    The All Convolutional Net", ICLR workshop 2015.

    The gradient of the target logit where every ReLU passes back only
    positive gradients, and only where its input was positive. Map:
    ``max_c |.|`` over channels (L2 norm over the embedding for token models),
    as for ``gradient``.
    """

    name = "guided_backprop"
    label = "Guided backprop"
    options = {}

    def _build(self):
        return _single_pass(self.info, "magnitude", activation_override=guided_override)


class Deconvnet(Attribution):
    """Deconvnet.

    Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks",
    ECCV 2014.

    The backward pass in which each ReLU passes back the positive part of
    the upstream gradient, regardless of its forward input. Map:
    ``max_c |.|`` over channels (L2 norm over the embedding for token models).
    """

    name = "deconvnet"
    label = "Deconvnet"
    options = {}

    def _build(self):
        return _single_pass(self.info, "magnitude", activation_override=deconvnet_override)
