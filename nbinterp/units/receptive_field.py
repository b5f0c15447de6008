"""Receptive fields: which input pixels a unit of a layer can see.

The analytic computation walks the graph plan backwards from the layer to the
model input. Each step maps an interval of output positions (per spatial
axis) to the interval of input positions it reads:

* convolutions (Conv1D/2D/3D, depthwise, separable) and pooling: kernel size,
  strides, dilation and ``valid``/``same``/``causal`` padding, with
  TensorFlow's rule that ``same`` padding puts the odd extra pixel after;
* ZeroPadding / Cropping shift positions, UpSampling divides them;
* element-wise layers (activations, batch norm, dropout, rescaling, Dense
  applied to feature maps, merges such as Add or channel Concatenate) keep
  them;
* layers that end the spatial axes (Flatten, global pooling, Dense on
  vectors) see their whole input.

Branches (residual blocks) give the union of what their paths see, and nested
models are walked through. The walk needs static spatial sizes for ``same``
padding; where a step is not understood (a Lambda, a transposed conv, a
channels_first layer, an unknown size) the receptive field is measured
instead: the support of the gradient of the unit with respect to the input,
with every activation function made the identity and OR-ed over a few random
inputs (reported with ``method="empirical"``). Across max pooling only the
switch positions receive gradient, which is why several random inputs are
combined; the empirical box can still be smaller than the analytic one.

Bounds are half-open ``(start, stop)`` per spatial axis and are *not*
clipped: with ``same`` padding a border unit's field extends past the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from ..errors import InputShapeError, NotSupportedError
from ._common import UnitModel, cached_function

__all__ = ["ReceptiveField", "receptive_field", "empirical_receptive_field"]


@dataclass(frozen=True)
class ReceptiveField:
    """The input region of one unit: half-open ``(start, stop)`` per spatial axis."""

    bounds: tuple
    method: str = "analytic"  # or "empirical"

    @property
    def size(self):
        return tuple(stop - start for start, stop in self.bounds)

    def clipped(self, spatial_shape):
        """The bounds cut to an input of ``spatial_shape`` (start >= 0, stop <= size)."""
        return tuple(
            (max(start, 0), min(stop, int(n))) for (start, stop), n in zip(self.bounds, spatial_shape)
        )

    def box(self, spatial_shape=None):
        """``(top, left, bottom, right)`` for 2-D inputs (``(start, stop)`` for 1-D), bottom/right exclusive."""
        bounds = self.bounds if spatial_shape is None else self.clipped(spatial_shape)
        return tuple(b[0] for b in bounds) + tuple(b[1] for b in bounds)

    def slices(self, spatial_shape):
        """Index slices selecting the (clipped) field in an input array."""
        return tuple(slice(start, stop) for start, stop in self.clipped(spatial_shape))


class _Unknown(Exception):
    """The analytic walk cannot handle a step."""


_POINTWISE = {
    "InputLayer", "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax", "BatchNormalization",
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout",
    "AlphaDropout", "Rescaling", "Normalization", "Identity", "Add", "Subtract", "Multiply", "Average",
    "Maximum", "Minimum", "ActivityRegularization", "Masking",
}
_CHANNEL_AXIS_ONLY = {"Concatenate": "axis", "LayerNormalization": "axis", "Softmax": "axis", "Dense": None}
_GLOBAL = {"Flatten", "Reshape"}


def _spatial_rank(shape):
    return max(len(shape) - 2, 0)


class _Walker:
    def __init__(self, plan, input=0):
        self.plan = plan
        self.input_key = plan.input_keys[input]
        # the other inputs of a model with several: what is read from them is not in the field
        self.other_inputs = set(plan.input_keys) - {self.input_key}
        self.shapes = {}
        for tensor in plan.inputs:
            self.shapes[id(tensor)] = tuple(tensor.shape)
        for step in plan.steps:
            if step.node is not None:
                for tensor in list(step.node.input_tensors) + list(step.node.outputs):
                    self.shapes[id(tensor)] = tuple(tensor.shape)
        for step in plan.steps:  # aliases share their source's shape
            if step.alias and step.in_keys[0] in self.shapes:
                self.shapes.setdefault(step.out_keys[0], self.shapes[step.in_keys[0]])
        self.memo = {}

    def shape(self, key):
        shape = self.shapes.get(key)
        if shape is None:
            raise _Unknown("no static shape")
        return shape

    def full(self, key):
        shape = self.shape(key)
        spatial = shape[1:-1]
        if any(d is None for d in spatial):
            raise _Unknown("unknown spatial size")
        return tuple((0, int(d) - 1) for d in spatial)

    def region(self, key, box):
        """Inclusive input bounds read by ``box`` (inclusive, or None = whole tensor) of ``key``."""
        if key == self.input_key:
            return self.full(key) if box is None else box
        if key in self.other_inputs:
            return None
        memo_key = (key, box)
        if memo_key in self.memo:
            return self.memo[memo_key]
        step = self.plan.producer(key)
        if step is None or len(step.out_keys) != 1:
            raise _Unknown("no single-output producer")
        if not step.in_keys:
            raise _Unknown("step without inputs")
        result = None
        for in_key, in_box in self.map_step(step, box):
            part = self.region(in_key, in_box)
            if part is None:  # from another model input only
                continue
            result = part if result is None else tuple(
                (min(a[0], b[0]), max(a[1], b[1])) for a, b in zip(result, part)
            )
        self.memo[memo_key] = result
        return result

    def map_step(self, step, box):
        """[(input key, input box)] for one step."""
        op = step.op
        name = type(op).__name__
        in_keys = step.in_keys
        out_shape = self.shape(step.out_keys[0])
        if box is None:
            return [(k, None) for k in in_keys]
        if getattr(op, "data_format", "channels_last") != "channels_last":
            raise _Unknown("channels_first")
        in_shapes = [self.shape(k) for k in in_keys]
        # layers that remove the spatial axes see everything
        if _spatial_rank(out_shape) == 0:
            return [(k, None) for k in in_keys]
        if name in _GLOBAL:
            return [(k, None) for k in in_keys]
        if name in _POINTWISE or name in _CHANNEL_AXIS_ONLY:
            if name in _CHANNEL_AXIS_ONLY:
                attr = _CHANNEL_AXIS_ONLY[name]
                axis = getattr(op, attr, -1) if attr else -1
                axes = axis if isinstance(axis, (list, tuple)) else [axis]
                rank = len(out_shape)
                if any(a % rank != rank - 1 for a in axes):
                    raise _Unknown(f"{name} over a spatial axis")
            for s in in_shapes:
                if len(s) != len(out_shape):
                    raise _Unknown("rank change")
            return [(k, box) for k in in_keys]
        if len(in_keys) != 1:
            raise _Unknown("multi-input layer")
        (in_key,) = in_keys
        (in_shape,) = in_shapes
        rank = _spatial_rank(in_shape)
        if rank != len(box):
            raise _Unknown("rank change")
        if isinstance(op, (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose)):
            raise _Unknown("transposed conv")
        if hasattr(op, "kernel_size") and hasattr(op, "strides"):
            return [(in_key, self.window(box, in_shape, op.kernel_size, op.strides, op.dilation_rate, op.padding))]
        if hasattr(op, "pool_size") and hasattr(op, "strides"):
            return [(in_key, self.window(box, in_shape, op.pool_size, op.strides, (1,) * rank, op.padding))]
        if name.startswith("ZeroPadding"):
            pads = _pairs(op.padding, rank)
            return [(in_key, tuple((lo - p[0], hi - p[0]) for (lo, hi), p in zip(box, pads)))]
        if name.startswith("Cropping"):
            crops = _pairs(op.cropping, rank)
            return [(in_key, tuple((lo + c[0], hi + c[0]) for (lo, hi), c in zip(box, crops)))]
        if name.startswith("UpSampling") and getattr(op, "interpolation", "nearest") == "nearest":
            size = _tuple(op.size, rank)
            return [(in_key, tuple((lo // f, hi // f) for (lo, hi), f in zip(box, size)))]
        raise _Unknown(f"unhandled layer {name}")

    @staticmethod
    def window(box, in_shape, kernel, strides, dilation, padding):
        rank = len(box)
        kernel, strides, dilation = _tuple(kernel, rank), _tuple(strides, rank), _tuple(dilation, rank)
        out = []
        for axis, (lo, hi) in enumerate(box):
            k, s, d = int(kernel[axis]), int(strides[axis]), int(dilation[axis])
            extent = (k - 1) * d + 1
            if padding == "valid":
                before = 0
            elif padding == "causal":
                before = extent - 1
            elif padding == "same":
                n = in_shape[1 + axis]
                if n is None:
                    if s != 1:
                        raise _Unknown("same padding with stride on an unknown size")
                    before = (extent - 1) // 2
                else:
                    n_out = -(-int(n) // s)
                    total = max((n_out - 1) * s + extent - int(n), 0)
                    before = total // 2
            else:
                raise _Unknown(f"padding {padding!r}")
            out.append((lo * s - before, hi * s - before + extent - 1))
        return tuple(out)


def _tuple(value, rank):
    if isinstance(value, int):
        return (value,) * rank
    value = tuple(value)
    return value * rank if len(value) == 1 and rank > 1 else value


def _pairs(value, rank):
    if isinstance(value, int):
        return ((value, value),) * rank
    value = tuple(value)
    if rank == 1 and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (value,)
    return tuple((v, v) if isinstance(v, int) else tuple(v) for v in value)


def _layer_key(unit_model, layer):
    entry = unit_model.plan.resolve(layer)
    return entry, unit_model.plan.output_key(entry.path)


def analytic_bounds(unit_model, layer, position, walker=None):
    """Half-open bounds from the graph walk, or None when the walk cannot handle a step."""
    entry, key = _layer_key(unit_model, layer)
    walker = walker or _Walker(unit_model.plan, unit_model.input)
    position = tuple(int(p) for p in position)
    try:
        out_shape = walker.shape(key)
    except _Unknown:
        return None
    if len(position) != _spatial_rank(out_shape):
        raise InputShapeError(
            f"layer {entry.path!r} has {_spatial_rank(out_shape)} spatial axes; got position {position}"
        )
    box = tuple((p, p) for p in position) if position else None
    try:
        bounds = walker.region(key, box)
    except _Unknown:
        return None
    if bounds is None:
        raise NotSupportedError(f"layer {entry.path!r} is not computed from input {unit_model.input_name!r}")
    return tuple((lo, hi + 1) for lo, hi in bounds)


def field_finder(unit_model, layer, input_shape=None):
    """A function ``position -> ReceptiveField`` for one layer, reusing one graph walk."""
    walker = _Walker(unit_model.plan, unit_model.input)
    cache = {}

    def find(position):
        position = tuple(int(p) for p in position)
        hit = cache.get(position)
        if hit is None:
            bounds = analytic_bounds(unit_model, layer, position, walker)
            if bounds is not None:
                hit = ReceptiveField(bounds, "analytic")
            else:
                hit = empirical_receptive_field(unit_model, layer, position, input_shape=input_shape)
            cache[position] = hit
        return hit

    return find


def receptive_field(model, layer, position, input_shape=None, preprocess=None) -> ReceptiveField:
    """The input region seen by ``layer``'s units at ``position`` (a spatial index in its output grid).

    ``position`` is ``(row, col)`` for 2-D feature maps, ``(t,)`` for 1-D ones,
    ``()`` for layers without spatial axes (whose field is the whole input).
    ``input_shape`` (one example) is needed only when the model's input has
    unknown sizes and the field has to be measured.
    """
    unit_model = model if isinstance(model, UnitModel) else UnitModel(model, preprocess)
    bounds = analytic_bounds(unit_model, layer, position)
    if bounds is not None:
        return ReceptiveField(bounds, "analytic")
    return empirical_receptive_field(unit_model, layer, position, input_shape=input_shape)


def empirical_receptive_field(model, layer, position, input_shape=None, trials=4, seed=0) -> ReceptiveField:
    """The bounding box of the input pixels with a non-zero gradient for that position.

    The unit is the sum over channels of ``layer`` at ``position``; every
    activation function is replaced by the identity, and the support is the
    union over ``trials`` random normal inputs.
    """
    unit_model = model if isinstance(model, UnitModel) else UnitModel(model)
    entry, key = _layer_key(unit_model, layer)
    shape = tuple(input_shape) if input_shape is not None else unit_model.input_shape
    if len(shape) != len(unit_model.input_shape) or any(d is None for d in shape):
        raise NotSupportedError("the model input has unknown sizes: pass input_shape= to measure a receptive field")
    plan = unit_model.plan

    def build():
        def grad(x, others, pos):
            with tf.GradientTape() as tape:
                tape.watch(x)
                xs = unit_model.assemble(list(others), x)
                (out,) = plan.run(xs, [key], activation_override=lambda step, name: (lambda v: v))
                if len(out.shape) > 2:
                    value = tf.reduce_sum(tf.gather_nd(out[0], pos[None]))
                else:
                    value = tf.reduce_sum(out[0])
            return tape.gradient(value, x)

        return tf.function(grad, reduce_retracing=True, autograph=False)

    fn = cached_function(unit_model.model, ("empirical_rf", entry.path) + unit_model.key, build)
    others = []
    for n, one in enumerate(unit_model.spec.inputs):
        if n != unit_model.input:
            if any(d is None for d in one.shape):
                raise NotSupportedError(f"input {one.name!r} has unknown sizes: the receptive field cannot be measured")
            others.append(tf.zeros((1,) + one.shape, one.dtype))
    rng = np.random.default_rng(seed)
    pos = np.asarray(position, dtype=np.int32).reshape(-1)
    support = np.zeros(shape[:-1], dtype=bool)
    for _ in range(trials):
        x = rng.standard_normal((1,) + shape).astype(unit_model.input_dtype)
        g = np.asarray(fn(tf.constant(x), others, tf.constant(pos)))[0]
        support |= np.any(g != 0, axis=-1)
    if not support.any():
        raise NotSupportedError(f"layer {entry.path!r} at {tuple(position)} has no gradient with respect to the input")
    bounds = []
    for axis in range(support.ndim):
        other = tuple(a for a in range(support.ndim) if a != axis)
        hits = np.flatnonzero(support.any(axis=other) if other else support)
        bounds.append((int(hits[0]), int(hits[-1]) + 1))
    return ReceptiveField(tuple(bounds), "empirical")
