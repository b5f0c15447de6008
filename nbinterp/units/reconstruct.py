"""Project one unit's activation back to the input: deconvnet, guided backprop, gradient.

All three are the gradient of the chosen unit (channel ``c`` of ``layer`` at
one spatial position, post-activation) with respect to the model input,
computed through the same graph with a different backward rule for ReLU:

* ``"deconvnet"`` (Zeiler & Fergus, 2013): the ReLU's backward is the ReLU of
  the incoming signal, whatever the forward pass did (un-ReLU). Max pooling's
  gradient routes the signal to the forward argmax, exactly as unpooling with
  the recorded switches does, and a convolution's gradient is the transposed
  convolution with the same weights; biases play no part. So this gradient is
  the deconvnet projection of the feature map in which only that unit is kept
  (with value 1: multiply by the unit's activation for the map that keeps the
  activation itself).
* ``"guided"`` (guided backpropagation, Springenberg et al., 2015): both
  rules at once, the signal passes where the forward input was positive *and*
  the signal itself is positive.
* ``"gradient"``: the plain gradient (the ReLU's own derivative).

The rules are those of :mod:`nbinterp.core.backward`, the same ones guided
backprop and deconvnet use in attribution: every ReLU-family activation
(``relu``, ``relu6``, ``leaky_relu``, fused or standing alone, ``ReLU`` layers
with a cap, slope or threshold, ``LeakyReLU``) is overridden; other activation
functions keep their own derivative. The override uses the graph plan's
``activation_override`` hook during a trace, so the user's model is never
modified. The result is with respect to the model's input, i.e. after any
``preprocess`` given here; a Rescaling layer inside the model is part of the
graph and is differentiated through.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from ..errors import InputShapeError, InvalidInputError, check_index
from ..core import backward
from ..core.inputs import as_batch, as_inputs, to_numpy
from ._common import UnitModel, cached_function, channel_unit, output_grid, unit_model_for

from ..types import Images, LayerRef, ModelLike, Preprocess

__all__ = ["reconstruct", "strongest_position", "METHODS"]

METHODS = ("deconvnet", "guided", "gradient")


def _override_for(method):
    return backward.override(method)


def _one_image(unit_model, image, preprocess):
    """``(raw chosen input, every model input as a batch of one)`` for one example."""
    if unit_model.structured:
        xs = as_inputs(image, unit_model.spec, preprocess)
        raw = to_numpy(image[unit_model.input_name] if isinstance(image, dict) else image[unit_model.input])
    else:
        raw = to_numpy(image)
        xs = [as_batch(raw, unit_model.input_shape, unit_model.input_dtype, preprocess)]
    if len(xs[0]) != 1:
        raise InputShapeError(f"reconstruct takes one image, got a batch of {len(xs[0])}")
    return raw, xs


def _channel_map_function(unit_model, entry, key):
    plan = unit_model.plan

    def build():
        def channel_map(xs, channel):
            (out,) = plan.run(list(xs), [key])
            return tf.gather(out[0], channel, axis=-1)

        return tf.function(channel_map, input_signature=[unit_model.signature(1), tf.TensorSpec([], tf.int32)],
                           autograph=False)

    return cached_function(unit_model.model, ("channel_map", entry.path), build)


def strongest_position(model, layer, channel, image, preprocess=None):
    """Where channel ``channel`` of ``layer`` is largest for ``image``: an index into its output grid.

    The first such position in row-major order; ``()`` for layers without spatial axes.
    A model with several inputs takes every input of the example (a list or dict).
    """
    unit_model = UnitModel(model, preprocess)
    entry, key, shape, channel = channel_unit(unit_model, layer, channel)
    _, x = _one_image(unit_model, image, unit_model.preprocess)
    return _argmax_position(unit_model, entry, key, channel, x)


def _argmax_position(unit_model, entry, key, channel, x):
    fn = _channel_map_function(unit_model, entry, key)
    values = np.asarray(fn([tf.convert_to_tensor(v) for v in x], tf.constant(channel, tf.int32)))
    if values.ndim == 0:
        return ()
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(values)), values.shape))


def _gradient_function(unit_model, entry, key, method, rank):
    plan = unit_model.plan
    override = _override_for(method)

    def build():
        def unit_gradient(xs, index):
            xs = list(xs)
            x = xs[unit_model.input]
            with tf.GradientTape() as tape:
                tape.watch(x)
                (out,) = plan.run(xs, [key], activation_override=override)
                where = tf.ensure_shape(tf.concat([index[1:], index[:1]], axis=0), [rank])
                unit = tf.gather_nd(out[0], where[None])[0]
            return tape.gradient(unit, x), unit

        signature = [unit_model.signature(1), tf.TensorSpec([rank], tf.int32)]
        return tf.function(unit_gradient, input_signature=signature, autograph=False)

    return cached_function(unit_model.model, ("reconstruct", entry.path, method) + unit_model.key, build)


def reconstruct(
    model: ModelLike,
    layer: LayerRef,
    channel: int,
    image: Images,
    method: str = "deconvnet",
    position: Sequence[int] | None = None,
    preprocess: Preprocess | None = None,
    input: int | str | None = None,
) -> np.ndarray:
    """Project channel ``channel`` of ``layer`` at its strongest position (or ``position``) back to the input.

    ``method``: ``"deconvnet"``, ``"guided"`` or ``"gradient"`` (see the module
    documentation). ``image``: one example (raw; ``preprocess``, or the
    Inspector's, is applied). ``position`` indexes the layer's output grid, e.g.
    ``(row, col)``; by default the argmax of the channel for this image
    (see :func:`strongest_position`). Returns a float32 array with the shape of
    ``image``, non-zero only inside the receptive field of that position.
    """
    if method not in METHODS:
        raise InvalidInputError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    unit_model = unit_model_for(model, preprocess, input, layer)
    entry, key, shape, channel = channel_unit(unit_model, layer, channel)
    raw, x = _one_image(unit_model, image, unit_model.preprocess)
    spatial = tuple(shape[1:-1])
    if position is None:
        position = _argmax_position(unit_model, entry, key, channel, x)
    position = tuple(int(p) for p in np.asarray(position).reshape(-1))
    if len(position) != len(spatial):
        raise InvalidInputError(
            f"layer {entry.path!r} has {len(spatial)} spatial axes {spatial}; position {position!r} does not match"
        )
    spatial = output_grid(unit_model, key, x, shape)
    position = tuple(check_index(p, n, f"position on axis {a}") for a, (p, n) in enumerate(zip(position, spatial)))
    fn = _gradient_function(unit_model, entry, key, method, len(spatial) + 1)
    grad, _ = fn([tf.convert_to_tensor(v) for v in x], tf.constant([channel, *position], tf.int32))
    grad = np.asarray(grad, np.float32)[0]
    if raw.size == grad.size:
        grad = grad.reshape(raw.shape)
    return grad
