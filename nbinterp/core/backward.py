"""Modified backward passes through ReLU-family activations, in one place.

Guided backprop and deconvnet (attribution), the deconvnet/guided
reconstructions of a unit (top images) and the "let the gradient through a
silent unit" trick of feature visualisation all keep the forward pass of the
model and change only how the gradient flows back through ReLU-like
activations. This module holds those rules and the one test of which
activations a rule overrides; every caller installs them through the graph
plan's ``activation_override`` hook, so the user's model is never modified.

Covered activations (:func:`is_relu_family`): the ``relu``, ``relu6`` and
``leaky_relu`` activation functions, whether fused into a layer (``Conv2D(...,
activation="relu")``, ``Dense``) or standing alone (``Activation("relu")``),
and ``ReLU`` layers with any ``max_value``, ``negative_slope`` or
``threshold``, and ``LeakyReLU`` layers. Other activations (tanh, gelu,
sigmoid, swish, ...) keep their ordinary gradient under every rule.

For an activation ``y = f(x)`` with upstream gradient ``g``:

* ``"gradient"``: ``g * f'(x)`` (nothing is overridden);
* ``"guided"`` (Springenberg et al. 2015): ``max(g, 0) * f'(x)``; for a plain
  ReLU that is ``max(g, 0) * [x > 0]``;
* ``"deconvnet"`` (Zeiler & Fergus 2014): ``max(g, 0)``, whatever the input;
* ``"straight_through"``: ``g`` (identity backward), used by feature
  visualisation on the objective's own layer so that a unit that is off at
  the start can still be switched on.
"""

from __future__ import annotations

import keras
import tensorflow as tf

RULES = ("gradient", "guided", "deconvnet", "straight_through")
RELU_NAMES = frozenset({"relu", "relu6", "leaky_relu"})


def is_relu_family(step, name) -> bool:
    """Whether the activation ``name`` applied by ``step`` is one the rules override."""
    if isinstance(step.op, (keras.layers.ReLU, keras.layers.LeakyReLU)):
        return True
    return name in RELU_NAMES


def _is_plain_relu(step, name):
    op = step.op
    if isinstance(op, keras.layers.LeakyReLU):
        return False
    if isinstance(op, keras.layers.ReLU):
        return (
            op.max_value is None
            and not float(op.negative_slope or 0.0)
            and not float(op.threshold or 0.0)
        )
    return name == "relu"


def _forward_of(step):
    """The activation function ``step`` applies, as a callable on its pre-activation."""
    op = step.op
    if isinstance(op, (keras.layers.ReLU, keras.layers.LeakyReLU)) or not callable(getattr(op, "activation", None)):
        return op  # the layer itself is the activation
    return op.activation


def _local_backward(forward, plain, x, dy):
    """``dy * f'(x)``: the activation's own backward pass (a mask for a plain ReLU)."""
    if plain:
        return dy * tf.cast(x > 0, dy.dtype)
    with tf.GradientTape() as tape:
        tape.watch(x)
        again = forward(x)
    return tape.gradient(again, x, output_gradients=dy)


def _guided(forward, plain):
    @tf.custom_gradient
    def activation(x):
        def grad(dy):
            return _local_backward(forward, plain, x, tf.nn.relu(dy))

        return forward(x), grad

    return activation


def _deconvnet(forward):
    @tf.custom_gradient
    def activation(x):
        def grad(dy):
            return tf.nn.relu(dy)

        return forward(x), grad

    return activation


def _straight_through(forward):
    @tf.custom_gradient
    def activation(x):
        def grad(dy):
            return dy

        return forward(x), grad

    return activation


def rule_function(rule, step, name):
    """The replacement activation for ``step`` under ``rule``, or None to keep the original."""
    if rule == "gradient" or not is_relu_family(step, name):
        return None
    forward = _forward_of(step)
    if rule == "guided":
        return _guided(forward, _is_plain_relu(step, name))
    if rule == "deconvnet":
        return _deconvnet(forward)
    if rule == "straight_through":
        return _straight_through(forward)
    raise ValueError(f"unknown backward rule {rule!r}; rules are {', '.join(RULES)}")


def _switchable(forward, plain, rule):
    """The activation with its backward pass chosen at run time by ``rule`` (an int32
    tensor indexing :data:`RULES`), so one compiled function serves every rule."""

    @tf.custom_gradient
    def activation(x):
        def local(dy):
            return _local_backward(forward, plain, x, dy)

        def grad(dy):
            return tf.switch_case(
                rule,
                [lambda: local(dy), lambda: local(tf.nn.relu(dy)), lambda: tf.nn.relu(dy), lambda: dy],
            )

        return forward(x), grad

    return activation


def rule_index(rule) -> int:
    """The position of ``rule`` in :data:`RULES` (the value a switchable override takes)."""
    if rule not in RULES:
        raise ValueError(f"unknown backward rule {rule!r}; rules are {', '.join(RULES)}")
    return RULES.index(rule)


def switchable_override(rule):
    """An ``activation_override`` whose rule is the int32 tensor ``rule`` (see :func:`rule_index`):
    every ReLU-family activation gets a backward pass that switches on it at run time."""

    def replace(step, name):
        if not is_relu_family(step, name):
            return None
        return _switchable(_forward_of(step), _is_plain_relu(step, name), rule)

    return replace


def override(rule, only_paths=None):
    """An ``activation_override`` for :meth:`GraphPlan.run` applying ``rule``.

    ``only_paths``: restrict the rule to the steps with these paths (the
    objective's own layer, for ``"straight_through"``). Returns None for
    ``"gradient"``, which overrides nothing.
    """
    if rule not in RULES:
        raise ValueError(f"unknown backward rule {rule!r}; rules are {', '.join(RULES)}")
    if rule == "gradient":
        return None
    paths = None if only_paths is None else frozenset(only_paths)

    def replace(step, name):
        if paths is not None and step.path not in paths:
            return None
        return rule_function(rule, step, name)

    return replace
