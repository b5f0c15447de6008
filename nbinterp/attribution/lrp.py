"""Layer-wise relevance propagation (LRP).

Bach et al., "On Pixel-Wise Explanations for Non-Linear Classifier Decisions
by Layer-Wise Relevance Propagation", PLoS ONE 2015; Montavon et al.,
"Layer-Wise Relevance Propagation: An Overview", 2019; Kohlbrenner et al.,
"Towards Best Practice in Explaining Neural Network Decisions with LRP",
IJCNN 2020 (the composite).

The target class logit is the relevance put on the output; each layer hands
its output relevance ``R_k`` down to its inputs ``x_j`` by a *rule*. With
``z_k`` a layer's pre-activation (bias included) and ``w_jk`` its weights:

* ``epsilon``: ``R_j = sum_k x_j w_jk R_k / (z_k + eps * s * sign(z_k))``;
* ``gamma``: ``R_j = sum_k x_j (w_jk + gamma w_jk+) R_k / sum_j' x_j' (w_j'k + gamma w_j'k+)``
  (the bias gets the same ``b + gamma b+``);
* ``alpha_beta``: ``R_j = sum_k (alpha (x_j w_jk)+ / z_k+  -  beta (x_j w_jk)- / z_k-) R_k``
  with ``z_k+ = sum_j (x_j w_jk)+ + b_k+`` (and ``z_k-`` alike), ``beta = alpha - 1``;
* ``zB`` (first layer of the composite, for inputs bounded by ``low <= x <= high``):
  ``R_j = sum_k (x_j w_jk - low w_jk+ - high w_jk-) R_k / sum_j' (...)``.

The ε of the ``epsilon`` rule is *relative*: ``s`` is the root mean square of
the layer's pre-activations ``z`` over the example (all positions and
channels), so ``epsilon`` means the same on every layer whatever its scale.
The other rules' denominators get a ``1e-6`` stabiliser on the same scale.

Layers, and what they do with relevance:

* Dense, Conv1D/2D/3D, DepthwiseConv1D/2D, SeparableConv1D/2D (as the
  convolution with its effective kernel): the layer's rule. A BatchNormalization
  that alone reads such a layer's (activation-free) output is folded into
  its weights and bias first; any other BatchNormalization is a per-channel
  linear layer (ε-rule with ε -> 0: its gradient).
* ReLU, fused or as a layer: relevance passes through unchanged
  (``R(z) = R(relu(z))``), as for every other element-wise activation and
  for Rescaling/Normalization preprocessing layers.
* Max-pooling (also global, and Maximum/Minimum merges): to the winner;
  average pooling (also global, Average merges, up-sampling): in proportion
  to the contributions ``x_j w_jk``; Add and Subtract (residual
  connections): in proportion to each branch's contribution; Concatenate:
  split back to the parts; Flatten, Reshape, Permute, Dropout-family,
  zero padding and cropping: unchanged.
* Layers that do not depend on the explained input (another input's
  branch) run as they are: relevance reaching them stays there.
* Nested Sequential/Functional models are walked layer by layer. Any other
  layer (recurrent, attention, a softmax inside the network, custom layers)
  raises :class:`~nbinterp.errors.MethodNotApplicableError` naming it.

On bias-free networks every rule conserves relevance (the input relevance
sums to the target logit) up to its stabiliser; αβ with ``beta > 0`` only
where a neuron has both positive and negative contributions. A bias absorbs
its share, as does a large ε.

Implementation: every rule is a modified gradient. With relevance at every
tensor ``t`` defined as ``t * dS/dt`` (``S`` the target logit), a layer
that outputs its ordinary value ``z`` in the forward pass but passes the
upstream gradient ``g`` back through ``z_rho`` (the layer with modified
weights ``rho(w)``) as ``g * z / z_rho`` hands down exactly the rule's
relevance. The factors live in a custom gradient, computed in the backward
pass only, so one compiled forward+backward pass per method and model gives
the relevance of a whole batch, with per-row targets; new images, batch
sizes, targets and option values never trace again. Costs: LRP-ε that of a
gradient; γ and αβ one more forward evaluation of each layer (its modified
copy); zB two more on the first layer only.

Relevance that reaches an input value of exactly 0 through a pass-through
layer (an offsetting Rescaling, say) is lost there: ``0 * dS/dx`` is 0.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from ..core import compiled
from ..core.graph import activation_name
from ..core.model_spec import attach_mask
from ..core.options import FloatOption
from ..errors import InvalidInputError, MethodNotApplicableError
from .base import Attribution

__all__ = ["LRPAlphaBeta", "LRPComposite", "LRPEpsilon", "LRPGamma"]

# stabiliser of the gamma, alpha-beta and zB denominators, relative to the pre-activation scale
_STABILISER = 1e-6


def _layer_types(*names):
    return tuple(cls for name in names if (cls := getattr(keras.layers, name, None)) is not None)


_DENSE = _layer_types("Dense")
_DEPTHWISE = _layer_types("DepthwiseConv1D", "DepthwiseConv2D")
_SEPARABLE = _layer_types("SeparableConv1D", "SeparableConv2D")
_CONV = _layer_types("Conv1D", "Conv2D", "Conv3D")
_TRANSPOSED = _layer_types("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
_CONVOLUTIONS = _CONV + _DEPTHWISE + _SEPARABLE
_BATCH_NORM = _layer_types("BatchNormalization")
# element-wise affine preprocessing: relevance passes through
_PASS_LAYERS = _layer_types("Rescaling", "Normalization")
# layers that keep their input's value bounds (for the zB rule): relevance as their gradient
_SHAPE_LAYERS = _layer_types(
    "InputLayer", "Identity", "Flatten", "Reshape", "Permute", "RepeatVector",
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout",
    "GaussianNoise", "AlphaDropout", "ActivityRegularization",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D",
    "UpSampling1D", "UpSampling2D", "UpSampling3D",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
)
_MERGE_LAYERS = _layer_types("Add", "Subtract", "Average", "Maximum", "Minimum", "Concatenate")
_ACTIVATION_LAYERS = _layer_types("Activation", "ReLU", "LeakyReLU", "ELU", "PReLU")
# element-wise activations relevance passes through; "relu" itself needs no rule (its gradient is one)
_ELEMENTWISE = frozenset({
    "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "hard_silu", "hard_swish", "mish",
    "tanh", "sigmoid", "hard_sigmoid", "softplus", "softsign", "celu", "exponential",
})
_NON_NEGATIVE = frozenset({"relu", "relu6", "sigmoid", "hard_sigmoid", "softplus", "exponential"})
_SUPPORTED = (
    "Dense, Conv1D/2D/3D, DepthwiseConv, SeparableConv, BatchNormalization, element-wise activations, "
    "pooling, Flatten/Reshape/Dropout, padding/cropping, Rescaling, Add/Subtract/Average/Maximum/Concatenate"
)


def _not_applicable(label, step, why=""):
    op = step.op
    what = type(op).__name__
    reason = why or f"it has no relevance rule ({what} layers are not covered)"
    return MethodNotApplicableError(
        f"{label} cannot propagate relevance through layer {step.path!r} ({what}): {reason}. "
        f"LRP handles {_SUPPORTED}"
    )


def _plain_relu(op):
    if isinstance(op, keras.layers.ReLU):
        return op.max_value is None and not float(op.negative_slope or 0.0) and not float(op.threshold or 0.0)
    return activation_name(op) == "relu"


# ---------------------------------------------------------------------------
# the linear layers, as (apply, kernel, bias)


class _Linear:
    """A Dense or convolution layer, with a BatchNormalization folded in.

    :meth:`parts` gives ``(apply, kernel, bias)``: ``apply(x, kernel)`` is the
    layer's linear map without bias, ``bias`` (None for none) is added after
    it. A separable convolution is the convolution with its effective kernel
    (``K[..., i, o] = sum_m depthwise[..., i, m] * pointwise[i * M + m, o]``),
    so that its rule sees the whole linear map rather than two halves.
    """

    def __init__(self, step, norm=None, channels_first=False):
        self.step = step
        self.op = step.op
        self.norm = norm  # the folded BatchNormalization step, or None
        self.channels_first = channels_first

    def bias_shape(self, rank, channels):
        if isinstance(self.op, _DENSE) or not self.channels_first:
            return (channels,)
        return (channels,) + (1,) * (rank - 2)

    def parts(self, dtype):
        op = self.op
        cast = lambda v: tf.cast(tf.convert_to_tensor(v), dtype)  # noqa: E731
        if isinstance(op, _DENSE):
            def apply(x, k):
                return ops.matmul(x, k)

            kernel = cast(op.kernel)
        elif isinstance(op, _DEPTHWISE):
            def apply(x, k):
                return ops.depthwise_conv(x, k, strides=op.strides, padding=op.padding,
                                          dilation_rate=op.dilation_rate, data_format=op.data_format)

            kernel = cast(op.kernel)
        else:
            def apply(x, k):
                padding = op.padding
                if padding == "causal":
                    x = ops.pad(x, op._compute_causal_padding())
                    padding = "valid"
                return ops.conv(x, k, strides=list(op.strides), padding=padding,
                                dilation_rate=op.dilation_rate, data_format=op.data_format)

            if isinstance(op, _SEPARABLE):
                depthwise = cast(op.depthwise_kernel)  # (..., in, M)
                channels, multiplier = depthwise.shape[-2], depthwise.shape[-1]
                pointwise = tf.reshape(cast(op.pointwise_kernel), (channels, multiplier, -1))
                kernel = tf.einsum("...im,imo->...io", depthwise, pointwise)
            else:
                kernel = cast(op.kernel)
        bias = cast(op.bias) if getattr(op, "use_bias", False) and op.bias is not None else None
        if self.norm is not None:
            kernel, bias = self._fold(kernel, bias, dtype)
        return apply, kernel, bias

    def _fold(self, kernel, bias, dtype):
        bn = self.norm.op
        cast = lambda v: tf.cast(tf.convert_to_tensor(v), dtype)  # noqa: E731
        scale = tf.math.rsqrt(cast(bn.moving_variance) + bn.epsilon)
        if bn.scale:
            scale = scale * cast(bn.gamma)
        shift = -cast(bn.moving_mean) * scale
        if bn.center:
            shift = shift + cast(bn.beta)
        if isinstance(self.op, _DEPTHWISE):  # (..., in, multiplier): output channel in * multiplier + m
            factor = tf.reshape(scale, kernel.shape[-2:])
        else:
            factor = scale
        kernel = kernel * factor
        bias = shift if bias is None else bias * scale + shift
        return kernel, bias


def _bn_axis_matches(bn, rank, channels_first):
    axis = bn.axis
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            return False
        axis = axis[0]
    return int(axis) % rank == (1 if channels_first else rank - 1)


# ---------------------------------------------------------------------------
# the walk of the model graph


class _Graph:
    """What LRP needs to know about one model, input and output (built once, static)."""

    def __init__(self, plan, info, label):
        self.plan = plan
        self.info = info
        self.tokens = info.kind == "tokens"
        if self.tokens:
            self.embedding = info.spec.embedding
            self.start = self.embedding.out_keys[0]
            fed = (self.start,)
        else:
            self.start = plan.input_keys[info.input]
            fed = ()
        self.logit_key = info.logit_key
        self.selected, self.pre_paths = plan.steps_for((self.logit_key,), fed)
        self.logit_step = None
        if isinstance(self.logit_key, tuple) and self.logit_key and self.logit_key[0] == "pre":
            self.logit_step = self.logit_key[1]
        consumers = {}
        readers = {}
        for step in plan.steps:
            for key in step.in_keys:
                consumers[key] = consumers.get(key, 0) + 1
                readers.setdefault(key, []).append(step)
        # steps that do not depend on the explained input (other inputs' branches) are constants
        live = {self.start}
        for step in self.selected:
            if any(k in live for k in step.in_keys):
                live.update(step.out_keys)
        self.roles = {}
        self.linear = {}
        folded = {}
        for step in self.selected:
            if step.alias:
                continue
            self.roles[step.path] = self._role(step, label) if any(k in live for k in step.in_keys) else "constant"
        # BatchNormalization folded into the Dense/convolution whose output it alone reads
        for step in self.selected:
            if step.alias or self.roles[step.path] != "norm" or len(step.in_keys) != 1:
                continue
            source = plan.direct_producer(step.in_keys[0])
            if source is None or source.alias or self.roles.get(source.path) != "linear":
                continue
            key = source.out_keys[0]
            if (
                consumers.get(key, 0) != 1
                or key in plan.output_keys
                or key == self.logit_key
                or activation_name(source.op) is not None
                or len(source.out_keys) != 1
            ):
                continue
            rank = _rank(plan, key)
            if rank is None or not _bn_axis_matches(step.op, rank, info.channels_first):
                continue
            folded[source.path] = step
            self.roles[step.path] = "folded"
        for step in self.selected:
            if not step.alias and self.roles[step.path] == "linear":
                self.linear[step.path] = _Linear(step, folded.get(step.path), info.channels_first)
        self.fold_target = {path: norm.out_keys[0] for path, norm in folded.items()}
        self._analyse_keys()
        # layers whose pre-activation only a ReLU reads, on non-negative inputs: their
        # gamma and alpha denominators are never below z where a gradient flows (z > 0)
        self.relu_gated = set()
        for path, linear in self.linear.items():
            step = linear.step
            if step.in_keys[0] not in self.nonneg:
                continue
            if activation_name(step.op) == "relu":
                self.relu_gated.add(path)
                continue
            out = self.fold_target.get(path, step.out_keys[0])
            after = readers.get(out, [])
            if (activation_name(step.op) is None and out not in plan.output_keys and after
                    and all(not r.alias and self.roles.get(r.path) == "activation" and _plain_relu(r.op)
                            for r in after)):
                self.relu_gated.add(path)

    def _role(self, step, label):
        op = step.op
        if isinstance(op, keras.Model):
            raise _not_applicable(
                label, step, "it is a nested model LRP cannot walk (a subclassed model, or one called more than once)")
        if isinstance(op, _TRANSPOSED):
            raise _not_applicable(label, step)
        if isinstance(op, _DENSE + _CONVOLUTIONS):
            if getattr(op, "quantization_mode", None):
                raise _not_applicable(label, step, "quantized layers have no relevance rule")
            name = activation_name(op)
            if name is not None and name not in _ELEMENTWISE and step.path != self.logit_step:
                raise _not_applicable(label, step, f"its {name!r} activation is not element-wise")
            return "linear"
        if isinstance(op, _BATCH_NORM):
            return "norm"
        if isinstance(op, _PASS_LAYERS):
            return "pass"
        if isinstance(op, _ACTIVATION_LAYERS):
            name = activation_name(op)
            if name is not None and name not in _ELEMENTWISE:
                raise _not_applicable(label, step, f"its {name!r} activation is not element-wise")
            return "activation"
        if isinstance(op, _SHAPE_LAYERS):
            return "shape"
        if isinstance(op, _MERGE_LAYERS):
            return "merge"
        raise _not_applicable(label, step)

    def _analyse_keys(self):
        """Static facts per tensor: which keep the input's bounds (zB), which are never negative."""
        bounded = {self.start}
        nonneg = set()
        self.first_layers = set()
        for step in self.selected:
            ins, outs = step.in_keys, step.out_keys
            if step.alias:
                if ins[0] in bounded:
                    bounded.add(outs[0])
                if ins[0] in nonneg:
                    nonneg.add(outs[0])
                continue
            role = self.roles[step.path]
            single = len(ins) == 1 and len(outs) == 1
            if role == "linear":
                if ins and ins[0] in bounded:
                    self.first_layers.add(step.path)
                if activation_name(step.op) in _NON_NEGATIVE:
                    nonneg.update(outs)
            elif role in ("shape", "pass") and single:
                if ins[0] in bounded:
                    bounded.add(outs[0])
                if role == "shape" and ins[0] in nonneg:
                    nonneg.add(outs[0])
            elif role == "activation":
                if _plain_relu(step.op) or activation_name(step.op) in _NON_NEGATIVE:
                    nonneg.update(outs)
            elif role == "merge" and not isinstance(step.op, _layer_types("Subtract")):
                if all(k in nonneg for k in ins):
                    nonneg.update(outs)
        self.bounded = frozenset(bounded)
        self.nonneg = frozenset(nonneg)

    def linear_paths(self):
        """The Dense/convolution layers on the way to the logit, in graph order."""
        return [step.path for step in self.selected if not step.alias and self.roles[step.path] == "linear"]

    # ------------------------------------------------------------------ graph code
    def relevance(self, xs, z, targets, params, low, high, rules, beta):
        """``(relevance at z, logits, targets)`` (graph code); ``rules``: path -> rule name."""
        plan = self.plan
        xs = list(xs)
        uses_bounds = any(rule == "zb" for rule in rules.values())
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(z)
            values = dict(zip(plan.input_keys, xs))
            if self.tokens:
                values[self.start] = attach_mask(self.embedding, xs[self.info.input], z)
            else:
                values[self.start] = z
            bounds = {}
            if uses_bounds:
                shape = (-1,) + (1,) * (len(z.shape) - 1)
                lo = tf.reshape(tf.cast(low, z.dtype), shape) + tf.zeros_like(z)
                hi = tf.reshape(tf.cast(high, z.dtype), shape) + tf.zeros_like(z)
                tape.watch(lo)
                tape.watch(hi)
                bounds[self.start] = (lo, hi)
            for step in self.selected:
                if step.alias:
                    values[step.out_keys[0]] = values[step.in_keys[0]]
                    if step.in_keys[0] in bounds:
                        bounds[step.out_keys[0]] = bounds[step.in_keys[0]]
                    continue
                self._step(step, values, bounds, params, rules, beta)
            logits = tf.cast(values[self.logit_key], tf.float32)
            targets = tf.where(targets < 0, tf.argmax(logits, axis=-1, output_type=tf.int32), targets)
            score = tf.reduce_sum(tf.gather(logits, targets[:, None], batch_dims=1)[:, 0])
        sources = [z] + (list(bounds[self.start]) if uses_bounds else [])
        grads = tape.gradient(score, sources, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        relevance = tf.cast(z * grads[0], tf.float32)
        if uses_bounds:
            lo, hi = bounds[self.start]
            relevance += tf.cast(lo * grads[1] + hi * grads[2], tf.float32)
        return relevance, logits, targets

    def _step(self, step, values, bounds, params, rules, beta):
        role = self.roles[step.path]
        plan = self.plan
        if role == "folded":  # computed with its Dense/convolution
            return
        if role == "constant":
            outputs = plan.call_step(step, values, False, None, False)
            for key, value in zip(step.out_keys, keras.tree.flatten(outputs)):
                values[key] = value
            return
        if role in ("shape", "merge", "norm"):
            out = plan.call_step(step, values, False, None, False)
            values[step.out_keys[0]] = out
            key = step.in_keys[0] if len(step.in_keys) == 1 else None
            if role == "shape" and key in bounds:
                lo, hi = bounds[key]
                bounds[step.out_keys[0]] = tuple(plan.call_step(step, {key: b}, False, None, False) for b in (lo, hi))
            return
        x = values[step.in_keys[0]]
        if role == "pass":
            out = _pass_through(x, plan.call_step(step, values, False, None, False))
            values[step.out_keys[0]] = _keep_mask(x, out, step.op)
            if step.in_keys[0] in bounds:
                key = step.in_keys[0]
                lo, hi = (_pass_through(b, plan.call_step(step, {key: b}, False, None, False)) for b in bounds[key])
                bounds[step.out_keys[0]] = (tf.minimum(lo, hi), tf.maximum(lo, hi))
            return
        if role == "activation":
            y = plan.call_step(step, values, False, None, False)
            values[step.out_keys[0]] = y if _plain_relu(step.op) else _keep_mask(x, _pass_through(x, y), step.op)
            return
        # a Dense / convolution
        linear = self.linear[step.path]
        rule = rules[step.path]
        source = x
        apply, kernel, bias = linear.parts(x.dtype)
        if bias is not None:
            bias = tf.reshape(bias, linear.bias_shape(len(x.shape), bias.shape[0]))
        x = _apply_rule(rule, apply, kernel, bias, x, params, beta, step.in_keys[0] in self.nonneg,
                        bounds.get(step.in_keys[0]), step.path in self.relu_gated)
        pre = x
        if step.path in self.pre_paths:
            values[plan.pre_activation_key(step)] = pre
        if step.path == self.logit_step:
            return
        op = step.op
        name = activation_name(op)
        if name is None:
            out = pre
        elif name == "relu":
            out = tf.nn.relu(pre)
        else:
            out = _pass_through(pre, op.activation(pre))
        target = self.fold_target.get(step.path)
        values[target if target is not None else step.out_keys[0]] = _keep_mask(source, out, op)


def _keep_mask(source, out, op):
    """Carry a Keras padding mask from a layer's input to the output we computed for it."""
    mask = getattr(source, "_keras_mask", None)
    if mask is not None and getattr(op, "supports_masking", False):
        try:
            out._keras_mask = mask
        except AttributeError:  # pragma: no cover - tensor types that refuse attributes
            pass
    return out


def _rank(plan, key):
    from ..core.graph import shape_of_key

    shape = shape_of_key(plan, key)
    return None if shape is None else len(shape)


def _scale(z):
    """Root mean square of ``z`` per example (the pre-activation scale), broadcastable to ``z``."""
    # one reduction over a flattened inner axis: much faster on CPU than over several axes
    flat = tf.reshape(z, (tf.shape(z)[0], -1))
    rms = tf.sqrt(tf.reduce_mean(tf.square(flat), axis=1))
    return tf.reshape(rms, (-1,) + (1,) * (len(z.shape) - 1))


def _ratio(z, d):
    """``z / d`` with a small stabiliser (0 where ``d`` is 0)."""
    s = _STABILISER * _scale(z)
    return tf.math.divide_no_nan(z * d, d * d + s * s)


def _gate(z, parts):
    """``z`` in the forward pass; in the backward pass each ``zr`` of ``parts = [(zr, pass_back)]``
    gets ``pass_back(upstream)`` (the upstream gradient times the rule's factor), ``z`` nothing.

    The factors are computed in the backward pass only, so a rule adds no
    element-wise work to the forward pass.
    """

    @tf.custom_gradient
    def gate(*inner):
        def grad(upstream):
            return [pass_back(upstream) for _, pass_back in parts]

        return tf.identity(z), grad

    return gate(*[zr for zr, _ in parts])


def _pass_through(x, y):
    """``y = f(x)`` forward; relevance unchanged backward (``R(x) = R(y)``)."""
    return _gate(y, [(x, lambda g: g * tf.math.divide_no_nan(y, x))])


def _with_bias(y, bias):
    return y if bias is None else y + bias


def _times_quotient(g, z, d):
    """``g * z / d`` (0 where ``d`` is 0), for denominators never below ``z`` where ``g * z != 0``."""
    return tf.math.divide_no_nan(g * z, d)


def _times_ratio(g, z, d):
    """``g * z / d``, stabilised."""
    return g * _ratio(z, d)


def _apply_rule(rule, apply, kernel, bias, x, params, beta, nonneg, bounds, relu_gated=False):
    """The layer's output under ``rule`` (its value forward, the rule's gradient backward).

    ``relu_gated``: the input is non-negative and only a ReLU reads the output, so
    gradients flow only where ``z > 0``, where the gamma and alpha denominators
    are at least ``z``: those quotients need no stabiliser.
    """
    eps, gamma, alpha, beta_value = (tf.cast(params[i], x.dtype) for i in range(4))
    times = _times_quotient if relu_gated else _times_ratio
    if rule == "epsilon":
        z = _with_bias(apply(x, kernel), bias)

        def factor():  # z / (z + eps * s * sign(z))
            size = tf.abs(z)
            return tf.math.divide_no_nan(size, size + eps * _scale(z))

        return _gate(z, [(z, lambda g: g * factor())])
    if rule == "gamma":
        # rho(w) = w + gamma * max(w, 0) = max(w, (1 + gamma) w): one pass less over the kernel
        z = _with_bias(apply(x, kernel), bias)
        grow = 1.0 + gamma
        zg = _with_bias(apply(x, tf.maximum(kernel, grow * kernel)), None if bias is None else tf.maximum(bias, grow * bias))
        return _gate(z, [(zg, lambda g: times(g, z, zg))])
    positive = tf.nn.relu(kernel)
    bias_pos = None if bias is None else tf.nn.relu(bias)
    if rule == "alpha_beta":
        if nonneg:
            # z- = z - z+: the negative kernel is never formed, and with beta = 0 never needed
            z = _with_bias(apply(x, kernel), bias)
            zp = _with_bias(apply(x, positive), bias_pos)
            zn = z - zp
        else:
            negative = tf.minimum(kernel, 0.0)
            bias_neg = None if bias is None else tf.minimum(bias, 0.0)
            xp, xn = tf.nn.relu(x), tf.minimum(x, 0.0)
            zp = _with_bias(apply(xp, positive) + apply(xn, negative), bias_pos)
            zn = _with_bias(apply(xp, negative) + apply(xn, positive), bias_neg)
            z = zp + zn
        parts = [(zp, lambda g: times(alpha * g, z, zp))]
        if beta:
            parts.append((zn, lambda g: _times_ratio(-beta_value * g, z, zn)))
        return _gate(z, parts)
    if rule == "zb":
        if bounds is None:  # pragma: no cover - the rules only give zb to layers reading bounded tensors
            raise AssertionError("zB rule on a layer without input bounds")
        lo, hi = bounds
        zx = apply(x, kernel)
        z = _with_bias(zx, bias)
        zb = zx - apply(lo, positive) - apply(hi, tf.minimum(kernel, 0.0))
        return _gate(z, [(zb, lambda g: _times_ratio(g, z, zb))])
    raise ValueError(f"unknown LRP rule {rule!r}")  # pragma: no cover


def lrp_graph(plan, info, label) -> _Graph:
    """The (cached) LRP walk of a model for one explained input and output."""
    graphs = plan.__dict__.setdefault("_lrp_graphs", {})
    key = (info.input, info.output)
    graph = graphs.get(key)
    if graph is None:
        graph = graphs[key] = _Graph(plan, info, label)
    return graph


class _Traced:
    """The traced body of an LRP function; counts its traces (kind ``"lrp"``)."""

    def __init__(self, inner):
        self.inner = inner

    def __call__(self, *args):
        compiled.note_trace("lrp")
        return self.inner(*args)


# ---------------------------------------------------------------------------
# the methods


class _LRP(Attribution):
    """The LRP machinery shared by the rules; subclasses choose a rule per layer."""

    engines = ("lrp",)

    def _setup(self):
        self.graph = lrp_graph(self.plan, self.info, self.label)
        self.rules = self._rules(self.graph)

    def _rules(self, graph) -> dict:
        """path of each Dense/convolution -> rule name."""
        raise NotImplementedError

    def _params(self, options):
        """(epsilon, gamma, alpha, beta) for the compiled function."""
        raise NotImplementedError

    def _bounds(self, options, z):
        """Per-row (low, high) value bounds of the explained input, for the zB rule (unused here)."""
        zeros = np.zeros(len(z), np.float32)
        return zeros, zeros

    def _function(self, beta):
        rules = self.rules
        graph = self.graph
        engines = self.engines_
        count = len(engines.spec.inputs)
        with_beta = bool(beta)

        def body(*args):
            xs, z, ts, params, low, high = args[:count], args[count], args[count + 1], args[count + 2], \
                args[count + 3], args[count + 4]
            return graph.relevance(xs, z, ts, params, low, high, rules, with_beta)

        signature = engines._x_specs() + [
            engines._z_spec(self.input),
            tf.TensorSpec([None], tf.int32, name="targets"),
            tf.TensorSpec([4], tf.float32, name="params"),
            tf.TensorSpec([None], tf.float32, name="low"),
            tf.TensorSpec([None], tf.float32, name="high"),
        ]
        key = ("lrp", self.name, with_beta, self.input, self.output)
        model = self.plan.model

        def build():
            return tf.function(_Traced(body), input_signature=signature, autograph=False)

        function = compiled.function(model, key, build, kind="lrp")
        concrete = function.get_concrete_function()
        compiled.measure(model, key, concrete)
        return concrete

    def _explain(self, x, targets, options, run):
        params = np.asarray(self._params(options), np.float32)
        fn = self._function(params[3])
        info = self.info

        def explain(rows, tc):
            zc = self.embed(rows)
            low, high = self._bounds(options, zc)
            xs = [tf.convert_to_tensor(v) for v in self.inputs_at(rows)]
            relevance, _, used = fn(*xs, tf.convert_to_tensor(zc), tf.convert_to_tensor(np.asarray(tc, np.int32)),
                                    tf.convert_to_tensor(params), tf.convert_to_tensor(low), tf.convert_to_tensor(high))
            return info.reduce(relevance.numpy(), "sum"), used.numpy()

        return self.single_pass(x, targets, run, explain)


_EPSILON_HELP = (
    "stabiliser of each layer's denominator, relative to the root mean square of its pre-activations; "
    "larger values absorb weak, contradictory relevance"
)
_GAMMA_HELP = "how much positive contributions are favoured (gamma = 0 is LRP-0)"


class LRPEpsilon(_LRP):
    """LRP-ε on every Dense and convolution layer.

    Bach et al. 2015; Montavon et al., "Layer-Wise Relevance Propagation:
    An Overview", 2019.

    ``R_j = sum_k x_j w_jk R_k / (z_k + epsilon * s * sign(z_k))`` with ``s``
    the root mean square of the layer's pre-activations over the example
    (see :mod:`nbinterp.attribution.lrp` for the other layers). Option:
    ``epsilon`` (default 1e-6: practically LRP-0, which on ReLU networks
    equals gradient x input). Map: the input relevance summed over channels
    (over the embedding for token models), signed; on bias-free networks it
    sums to the target logit.
    """

    name = "lrp_epsilon"
    label = "LRP-ε"
    option_table = (
        FloatOption("epsilon", 1e-6, "stabiliser ε", _EPSILON_HELP, low=0.0, high=1e6, step=0.05),
    )

    def _rules(self, graph):
        return {path: "epsilon" for path in graph.linear_paths()}

    def _params(self, options):
        return options["epsilon"], 0.0, 1.0, 0.0


class LRPGamma(_LRP):
    """LRP-γ on every Dense and convolution layer.

    Montavon et al., "Layer-Wise Relevance Propagation: An Overview", 2019.

    ``R_j = sum_k x_j (w_jk + gamma w_jk+) R_k / sum_j' x_j' (w_j'k + gamma w_j'k+)``
    (the bias alike). Option: ``gamma`` (default 0.25). Map: the input
    relevance summed over channels, signed.
    """

    name = "lrp_gamma"
    label = "LRP-γ"
    option_table = (
        FloatOption("gamma", 0.25, "positive-weight boost γ", _GAMMA_HELP, low=0.0, high=1e6, step=0.05),
    )

    def _rules(self, graph):
        return {path: "gamma" for path in graph.linear_paths()}

    def _params(self, options):
        return 0.0, options["gamma"], 1.0, 0.0


class LRPAlphaBeta(_LRP):
    """LRP-αβ on every Dense and convolution layer.

    Bach et al., PLoS ONE 2015.

    ``R_j = sum_k (alpha (x_j w_jk)+ / z_k+ - beta (x_j w_jk)- / z_k-) R_k`` with
    ``beta = alpha - 1``, so that relevance is conserved. Option: ``alpha``
    (default 1: α1β0, only positive contributions, non-negative maps for a
    positive logit). Map: the input relevance summed over channels.
    """

    name = "lrp_alpha_beta"
    label = "LRP-αβ"
    option_table = (
        FloatOption("alpha", 1.0, "positive-part weight α", "weight of the positive contributions; beta = alpha - 1 "
                    "weighs the negative ones", low=1.0, high=100.0, step=0.5),
    )

    def _rules(self, graph):
        return {path: "alpha_beta" for path in graph.linear_paths()}

    def _params(self, options):
        alpha = options["alpha"]
        return 0.0, 0.0, alpha, alpha - 1.0


class _OptionalFloat(FloatOption):
    """A number, or None for a value taken from the input."""

    def check(self, value):
        return None if value is None else super().check(value)


class LRPComposite(_LRP):
    """Composite LRP: zB on the first layer, γ on the lower convolutions, ε above.

    Kohlbrenner et al., "Towards Best Practice in Explaining Neural Network
    Decisions with LRP", IJCNN 2020; Montavon et al. 2019.

    The layers reading the input (through padding, cropping, pooling or
    rescaling only) get the zB rule with the input's value bounds ``low``
    and ``high`` (default None: each image's own minimum and maximum, in
    the model's input space); of the other convolutions, the lower half (in
    graph order, rounded up) get LRP-γ and the upper half LRP-ε, as do the
    Dense layers. Options: ``epsilon`` (default 0.25, relative to each
    layer's pre-activation scale), ``gamma`` (default 0.25), ``low``,
    ``high``. Map: the input relevance summed over channels.
    """

    name = "lrp_composite"
    label = "LRP composite"
    option_table = (
        FloatOption("epsilon", 0.25, "stabiliser ε (upper layers)", _EPSILON_HELP + " (upper layers)", low=0.0, high=1e6, step=0.05),
        FloatOption("gamma", 0.25, "positive-weight boost γ (lower layers)", _GAMMA_HELP + " (lower convolutions)", low=0.0, high=1e6, step=0.05),
        _OptionalFloat("low", None, "input low", "lowest value an input pixel can take (None: the image's minimum)"),
        _OptionalFloat("high", None, "input high", "highest value an input pixel can take (None: the image's maximum)"),
    )

    def _bounds(self, options, z):
        flat = np.asarray(z, np.float32).reshape(len(z), -1)
        low, high = options["low"], options["high"]
        low = flat.min(axis=1) if low is None else np.full(len(z), low, np.float32)
        high = flat.max(axis=1) if high is None else np.full(len(z), high, np.float32)
        return low.astype(np.float32), high.astype(np.float32)

    def _check(self, options, x):
        low, high = options["low"], options["high"]
        if low is not None and high is not None and low > high:
            raise InvalidInputError(f"low must not exceed high, got low={low} and high={high}")
        return options

    def _rules(self, graph):
        rules = {}
        convolutions = []
        for path in graph.linear_paths():
            op = graph.linear[path].op
            if path in graph.first_layers:
                rules[path] = "zb"
            elif isinstance(op, _CONVOLUTIONS):
                convolutions.append(path)
            else:
                rules[path] = "epsilon"
        lower = math.ceil(len(convolutions) / 2)
        for index, path in enumerate(convolutions):
            rules[path] = "gamma" if index < lower else "epsilon"
        return rules

    def _params(self, options):
        return options["epsilon"], options["gamma"], 1.0, 0.0
