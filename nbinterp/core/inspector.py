"""The Inspector: layers, weights, activations and single-kernel responses of a Keras model.

Everything here maps a model plus arrays to numpy arrays. Layer outputs come
from the model's shared forward engine (:mod:`nbinterp.core.engines`), one
shape-polymorphic compiled function per set of requested tensors, and
results are kept in a byte-bounded LRU cache keyed by the tensor and the
bytes of the images. :meth:`Inspector.warm_layers` computes every layer of
an image in one pass, so a first look at any layer is a cache read.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import keras
import numpy as np
import tensorflow as tf

from ..errors import (
    InputShapeError,
    InvalidInputError,
    NoKernelError,
    NotSupportedError,
    check_index,
)
from . import compiled
from .cache import ByteBudgetCache
from .engines import engines_for
from .graph import GraphPlan, Group, activation_name, entry_shape, has_activation_attribute, plan_for, static_shape
from .inputs import as_inputs, digest, to_numpy
from .model_spec import model_spec
from .models import resolve_model

from ..types import Images, LayerRef, ModelLike, Preprocess

if TYPE_CHECKING:  # pragma: no cover
    from .summary import Summary

_CONV_TYPES = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_SEPARABLE = tuple(t for t in (getattr(keras.layers, n, None) for n in ("SeparableConv1D", "SeparableConv2D")) if t)
_TRANSPOSED = tuple(
    t for t in (getattr(keras.layers, n, None) for n in ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")) if t
)


@dataclass(frozen=True)
class LayerInfo:
    """What the Inspector knows about one layer (or nested model) of the graph."""

    name: str  # path, "outer/inner" inside nested models
    kind: str  # class name, e.g. "Conv2D"
    output_shape: tuple
    params: int
    trainable_params: int
    has_kernel: bool
    activation: str | None = None
    parent: str | None = None  # path of the nested model holding it
    depth: int = 0  # nesting depth (0 = top level)
    is_group: bool = False  # a nested model rather than a layer

    @property
    def channels(self):
        """Size of the last output axis for 3-D+ outputs (feature maps), else None."""
        if len(self.output_shape) >= 3 and self.output_shape[-1] is not None:
            return int(self.output_shape[-1])
        return None

    @property
    def non_trainable_params(self):
        return self.params - self.trainable_params


def _count(weights):
    return int(sum(int(np.prod(w.shape)) for w in weights))


def _kernel_variable(layer):
    """The kernel weights of a layer in Keras layout, or None.

    Depthwise layers keep theirs in ``kernel`` (kh, kw, in, multiplier);
    separable layers answer with their depthwise kernel."""
    if isinstance(layer, keras.layers.Embedding):
        return None
    try:
        if getattr(layer, "depthwise_kernel", None) is not None:
            return layer.depthwise_kernel
        return getattr(layer, "kernel", None)
    except Exception:  # quantized layers may raise before build
        return None


def distinct(function, *args):
    """``function`` (with leading ``args`` bound) as a partial object of its own.

    TensorFlow counts traces per code object, so many closures of one function
    (one per layer) would look like retracing and trigger its warning; partial
    objects are counted separately."""
    return functools.partial(function, *args)


def _guessed_size(batch):
    """A size for an axis the model leaves open (None): the largest axis of the batch."""
    return max(batch.shape[1:], default=1)


class Inspector:
    """Introspect a Keras 3 Sequential or Functional model, nested models included.

    >>> ins = Inspector(model, preprocess=keras.applications.vgg16.preprocess_input)
    >>> ins.activations("vgg16/block1_conv1", image).shape
    (1, 224, 224, 64)

    ``preprocess`` is applied once to every batch of images before it enters
    the model. ``cache_bytes`` bounds the activation cache (LRU).
    """

    def __init__(
        self,
        model: ModelLike,
        preprocess: Preprocess | None = None,
        cache_bytes: int = 512 * 2**20,
        custom_objects: dict | None = None,
    ) -> None:
        model = resolve_model(model, custom_objects)
        if preprocess is not None and not callable(preprocess):
            raise InvalidInputError(f"preprocess must be a function that takes a batch of images, got {preprocess!r}")
        self.model = model
        self.preprocess = preprocess
        self.plan: GraphPlan = plan_for(model)
        self.spec = model_spec(self.plan)
        first = self.spec.inputs[0]
        #: shape and dtype of the model's (first) input, per example
        self.input_shape = first.shape
        self.input_dtype = first.dtype
        self.cache = ByteBudgetCache(cache_bytes)
        self.engines = engines_for(model)
        self._layers = None

    @property
    def trace_count(self) -> int:
        """Traces of forward and kernel-response functions so far (package-wide, see
        :mod:`nbinterp.core.compiled`): steady while new images and layers are served from
        compiled functions and the cache."""
        return compiled.trace_count("forward") + compiled.trace_count("response")

    # ------------------------------------------------------------------ layers
    @property
    def layers(self) -> list[LayerInfo]:
        """Every layer and nested model in execution order."""
        if self._layers is None:
            self._layers = [self._describe(entry) for entry in self.plan.entries]
        return list(self._layers)

    def layer(self, name: LayerRef) -> LayerInfo:
        """The LayerInfo of a path (a bare name works when it is unique)."""
        entry = self.plan.resolve(name)
        for info in self.layers:
            if info.name == entry.path:
                return info
        raise AssertionError("unreachable")  # pragma: no cover

    @property
    def layer_names(self) -> list[str]:
        return [info.name for info in self.layers]

    def _describe(self, entry):
        depth = entry.path.count("/")
        if isinstance(entry, Group):
            model = entry.model
            shape = static_shape(model.outputs[0]) if len(model.outputs) == 1 else ()
            return LayerInfo(
                name=entry.path,
                kind=type(model).__name__,
                output_shape=shape,
                params=_count(model.weights),
                trainable_params=_count(model.trainable_weights),
                has_kernel=False,
                parent=entry.parent,
                depth=depth,
                is_group=True,
            )
        op = entry.op
        first_call = "@" not in entry.path.rsplit("/", 1)[-1]
        weights = getattr(op, "weights", []) if first_call else []
        trainable = getattr(op, "trainable_weights", []) if first_call else []
        if entry.node is not None and len(entry.node.outputs) >= 1:
            shape = static_shape(entry.node.outputs[0])
        else:
            try:
                shape = tuple(op.output.shape)
            except Exception:
                shape = ()
        return LayerInfo(
            name=entry.path,
            kind=type(op).__name__,
            output_shape=shape,
            params=_count(weights),
            trainable_params=_count(trainable),
            has_kernel=_kernel_variable(op) is not None,
            activation=activation_name(op),
            parent=entry.parent,
            depth=depth,
        )

    def summary(self) -> Summary:
        """The architecture table: ``str()`` gives text, notebooks render it as HTML."""
        from .summary import Summary

        return Summary(self.layers, self.model)

    def _layer_object(self, name):
        entry = self.plan.resolve(name)
        if isinstance(entry, Group):
            raise NoKernelError(f"{entry.path!r} is a nested model, not a layer; pick one of its layers, e.g. {entry.path + '/...'}")
        return entry, entry.op

    # ------------------------------------------------------------------ weights
    def kernels(self, layer: LayerRef) -> np.ndarray:
        """The layer's kernel in Keras layout: Conv2D (kh, kw, in, out), Conv1D (k, in, out),
        Dense (in, out), DepthwiseConv2D (kh, kw, in, multiplier)."""
        entry, op = self._layer_object(layer)
        kernel = _kernel_variable(op)
        if kernel is None:
            raise NoKernelError(f"layer {entry.path!r} ({type(op).__name__}) has no kernel")
        return np.array(keras.ops.convert_to_numpy(kernel))

    def kernel_shape(self, layer: LayerRef) -> tuple[int, ...]:
        """The shape of :meth:`kernels` without copying the weights."""
        entry, op = self._layer_object(layer)
        kernel = _kernel_variable(op)
        if kernel is None:
            raise NoKernelError(f"layer {entry.path!r} ({type(op).__name__}) has no kernel")
        return tuple(int(d) for d in kernel.shape)

    def bias(self, layer: LayerRef) -> np.ndarray | None:
        """The layer's bias vector, or None when it has none (``use_bias=False``)."""
        entry, op = self._layer_object(layer)
        if _kernel_variable(op) is None:
            raise NoKernelError(f"layer {entry.path!r} ({type(op).__name__}) has no kernel and no bias")
        bias = getattr(op, "bias", None)
        return None if bias is None else np.array(keras.ops.convert_to_numpy(bias))

    # ------------------------------------------------------------------ compute
    def batch(self, images: Images) -> np.ndarray:
        """``images`` as the validated, preprocessed batch the model sees (single-input models;
        :meth:`batches` serves every model)."""
        batches = self.batches(images)
        if len(batches) != 1:
            raise NotSupportedError(
                f"this model has {len(batches)} inputs; use batches() for the list of all of them"
            )
        return batches[0]

    def batches(self, inputs: Images) -> list[np.ndarray]:
        """Every model input as a validated, preprocessed batch, one array per input in the
        model's order (see :func:`nbinterp.core.inputs.as_inputs` for what ``inputs`` may be)."""
        return as_inputs(inputs, self.spec, self.preprocess)

    def _digest(self, inputs):
        if len(self.spec.inputs) == 1:
            return digest(to_numpy(inputs))
        if isinstance(inputs, dict):
            return tuple((str(k), digest(to_numpy(v))) for k, v in sorted(inputs.items(), key=lambda kv: str(kv[0])))
        if isinstance(inputs, (list, tuple)):
            return tuple(digest(to_numpy(v)) for v in inputs)
        return digest(to_numpy(inputs))

    def _canonical(self, key):
        """The key of the tensor behind ``key``, through the aliases nested models add."""
        plan = self.plan
        while True:
            step = plan.direct_producer(key)
            if step is None or not step.alias:
                return key
            key = step.in_keys[0]

    def _values(self, keys, images, extra=()):
        """Numpy values of graph ``keys`` for ``images``: from the cache, the missing ones
        from one compiled forward pass (which caches them all). ``extra`` keys join that
        pass when it runs (and are not cached yet), for what is likely asked next."""
        key_of_images = self._digest(images)
        keys = [self._canonical(k) for k in keys]
        found = {k: self.cache.get((k, key_of_images)) for k in dict.fromkeys(keys)}
        missing = tuple(k for k, v in found.items() if v is None)
        if missing:
            more = (self._canonical(k) for k in extra)
            missing += tuple(k for k in dict.fromkeys(more) if k not in found and (k, key_of_images) not in self.cache)
            values = self.engines.forward(missing)(*(tf.convert_to_tensor(b) for b in self.batches(images)))
            for key, value in zip(missing, values):
                value = np.asarray(value)
                value.setflags(write=False)  # cached arrays are shared: keep them intact
                self.cache.put((key, key_of_images), value)
                found[key] = value
        return [found[k] for k in keys]

    def warm_layers(self, images: Images, layers: Sequence[LayerRef] | None = None) -> int:
        """Compute the outputs of every layer (or of ``layers``) for ``images`` in one
        compiled pass and keep them in the cache, so that a first look at any layer is a
        cache read. Pre-activations of layers with a fused activation come in the same
        pass. When the outputs would take more than half the cache budget they are
        computed in smaller groups (in graph order), each within that share. Returns
        the bytes now cached for these images."""
        batches = self.batches(images)
        n = len(batches[0])
        entries = [self.plan.resolve(name) for name in (layers if layers is not None else self.layer_names)]
        keys, sizes = [], []
        for entry in entries:
            wanted = [entry.out_keys[0]] if len(entry.out_keys) == 1 else []
            op = getattr(entry, "op", None)
            if op is not None and has_activation_attribute(op):
                wanted.append(GraphPlan.pre_activation_key(entry))
            for key in wanted:
                key = self._canonical(key)
                if key in keys:
                    continue
                shape = entry_shape(self.plan, entry) or ()
                keys.append(key)
                sizes.append(n * 4 * math.prod(d if d is not None else _guessed_size(batches[0]) for d in shape[1:]))
        share = self.cache.max_bytes // 2
        group, group_bytes, total = [], 0, 0
        for key, size in zip(keys, sizes):
            if group and group_bytes + size > share:
                total += self._warm_group(group, images)
                group, group_bytes = [], 0
            group.append(key)
            group_bytes += size
        if group:
            total += self._warm_group(group, images)
        return total

    def _warm_group(self, keys, images):
        return sum(v.nbytes for v in self._values(keys, images))

    def _output_key(self, entry):
        return self.plan.output_key(entry.path)

    def activations(self, layer: LayerRef, images: Images) -> np.ndarray:
        """Output of ``layer`` for ``images`` (one image or a batch): ``(N, *output_shape[1:])``.

        For layers with a kernel the same forward pass also caches the layer's
        input, so a kernel response that follows costs only its convolution."""
        entry = self.plan.resolve(layer)
        op = getattr(entry, "op", None)
        extra = entry.in_keys if op is not None and _kernel_variable(op) is not None and len(entry.in_keys) == 1 else ()
        return self._values([self.plan.output_key(entry.path)], images, extra)[0]

    def pre_activations(self, layer: LayerRef, images: Images) -> np.ndarray:
        """Output of ``layer`` before its activation function (e.g. before ReLU)."""
        entry, op = self._layer_object(layer)
        if activation_name(op) is None or not callable(getattr(op, "activation", None)):
            return self.activations(entry.path, images)
        return self._values([GraphPlan.pre_activation_key(entry)], images)[0]

    def layer_input(self, layer: LayerRef, images: Images) -> np.ndarray:
        """What ``layer`` receives as input for ``images``."""
        entry = self.plan.resolve(layer)
        return self._values([self.plan.input_key(entry.path)], images)[0]

    def predict(self, images: Images, output: int = 0) -> np.ndarray:
        """The model's output for ``images`` (output number ``output`` of a multi-output model)."""
        return self._values(self.engines.head_keys(output), images)[0]

    def logits(self, images: Images, output: int = 0) -> np.ndarray:
        """The model's output before a final softmax/sigmoid (the output itself otherwise)."""
        return self._values(self.engines.head_keys(output), images)[-1]

    # ------------------------------------------------------------------ kernel responses
    def kernel_response(
        self, layer: LayerRef, kernel: int, image: Images, input_channel: int | None = None
    ) -> np.ndarray:
        """The layer's own input for ``image`` convolved with kernel number ``kernel`` alone.

        Uses the layer's strides, padding, dilation and groups, adds the bias,
        and stops before the activation: a 2-D map (1-D for Conv1D). With
        ``input_channel=c`` it is the contribution of that one input channel
        (no bias). For a first conv layer this equals the pre-activation output
        channel ``kernel``; the sum over input channels plus the bias equals it
        for any conv layer.
        """
        entry, op = self._layer_object(layer)
        separable = isinstance(op, _SEPARABLE)
        transposed = isinstance(op, _TRANSPOSED)
        if not (separable or transposed or isinstance(op, _CONV_TYPES) or isinstance(op, keras.layers.DepthwiseConv2D)):
            if _kernel_variable(op) is None:
                raise NoKernelError(f"layer {entry.path!r} ({type(op).__name__}) has no kernel")
            raise NotSupportedError(
                f"kernel responses are defined for convolution layers (Conv, DepthwiseConv, SeparableConv, "
                f"ConvTranspose); {entry.path!r} is {type(op).__name__}"
            )
        if isinstance(op, keras.layers.Conv3D) or isinstance(op, getattr(keras.layers, "Conv3DTranspose", ())):
            raise NotSupportedError(
                f"kernel responses are 1-D or 2-D maps; {entry.path!r} is a 3-D convolution: "
                "look at its activations instead"
            )
        raw = image if len(self.spec.inputs) > 1 else to_numpy(image)
        count = len(self.batches(raw)[0])
        if count != 1:
            raise InputShapeError(f"kernel_response takes one image, got a batch of {count}")
        layer_in = self.layer_input(entry.path, raw)
        if getattr(op, "data_format", "channels_last") == "channels_first":
            layer_in = np.ascontiguousarray(np.moveaxis(layer_in, 1, -1))  # weights are channels_last anyway
        if separable or transposed:
            return self._eager_response(entry, op, layer_in, kernel, input_channel, separable)
        kernel_shape = tuple(int(d) for d in _kernel_variable(op).shape)
        depthwise = isinstance(op, keras.layers.DepthwiseConv2D)
        n_out = kernel_shape[-2] * kernel_shape[-1] if depthwise else kernel_shape[-1]
        k = check_index(kernel, n_out, "kernel")
        n_in = int(layer_in.shape[-1])
        c = -1
        if input_channel is not None:
            if depthwise:
                owner = k // kernel_shape[-1]
                c = check_index(input_channel, n_in, "input channel")
                if c != owner:
                    raise NotSupportedError(
                        f"in a depthwise layer kernel {k} reads only input channel {owner}"
                    )
            else:
                c = check_index(input_channel, n_in, "input channel")
                groups = getattr(op, "groups", 1) or 1
                per_group_in = n_in // groups
                group = k // (n_out // groups)
                if not group * per_group_in <= c < (group + 1) * per_group_in:
                    raise NotSupportedError(
                        f"kernel {k} belongs to group {group}, which reads input channels "
                        f"{group * per_group_in}..{(group + 1) * per_group_in - 1}"
                    )
        fn = self._response_function(entry)
        out = fn(tf.convert_to_tensor(layer_in), tf.constant(k, tf.int32), tf.constant(c, tf.int32))
        return np.asarray(out)[0]

    def _eager_response(self, entry, op, layer_in, kernel, input_channel, separable):
        """Kernel responses of separable and transposed convolutions (one convolution each,
        run eagerly: nothing to trace on first touch)."""
        rank = len(op.kernel_size)
        x = tf.convert_to_tensor(layer_in, tf.float32)
        n_in = int(layer_in.shape[-1])
        bias = getattr(op, "bias", None)
        if separable:
            depthwise = tf.convert_to_tensor(op.depthwise_kernel)  # (kh, kw, in, mult)
            pointwise = np.asarray(keras.ops.convert_to_numpy(op.pointwise_kernel))  # (1, 1, in*mult, out)
            k = check_index(kernel, pointwise.shape[-1], "kernel")
            mult = int(depthwise.shape[-1])
            stage = self._depthwise_stage(op, x, depthwise, rank)  # (1, ..., in * mult)
            weights = pointwise.reshape(-1, pointwise.shape[-1])[:, k]
            if input_channel is not None:
                c = check_index(input_channel, n_in, "input channel")
                part = stage[..., c * mult:(c + 1) * mult]
                return np.asarray(tf.tensordot(part, weights[c * mult:(c + 1) * mult], 1))[0]
            out = tf.tensordot(stage, weights, 1)
            if bias is not None:
                out = out + float(np.asarray(keras.ops.convert_to_numpy(bias))[k])
            return np.asarray(out)[0]
        weights = tf.convert_to_tensor(op.kernel)  # (k..., out, in)
        k = check_index(kernel, int(weights.shape[-2]), "kernel")
        one = weights[..., k:k + 1, :]
        if input_channel is not None:
            c = check_index(input_channel, n_in, "input channel")
            x, one = x[..., c:c + 1], one[..., c:c + 1]
        out = keras.ops.conv_transpose(
            x, one, strides=op.strides, padding=op.padding, output_padding=getattr(op, "output_padding", None),
            data_format="channels_last", dilation_rate=op.dilation_rate,
        )[..., 0]
        if bias is not None and input_channel is None:
            out = out + float(np.asarray(keras.ops.convert_to_numpy(bias))[k])
        return np.asarray(out)[0]

    @staticmethod
    def _depthwise_stage(op, x, depthwise, rank):
        """The depthwise stage of a separable convolution: one map per (input channel, multiplier)."""
        if rank == 1:
            out = tf.nn.depthwise_conv2d(
                x[:, None], depthwise[None], strides=(1, 1) + tuple(op.strides) + (1,),
                padding=op.padding.upper(), dilations=(1,) + tuple(op.dilation_rate),
            )
            return out[:, 0]
        return tf.nn.depthwise_conv2d(
            x, depthwise, strides=(1,) + tuple(op.strides) + (1,), padding=op.padding.upper(),
            dilations=tuple(op.dilation_rate),
        )

    def depthwise_stage(self, layer: LayerRef, image: Images) -> np.ndarray:
        """The depthwise stage of a SeparableConv layer for one image: ``(..., in * multiplier)``
        maps, map ``c * multiplier + m`` being input channel ``c`` convolved with its filter
        ``m``. The layer's output is these maps mixed by :meth:`pointwise_kernels`, plus the bias."""
        entry, op = self._layer_object(layer)
        if not isinstance(op, _SEPARABLE):
            raise NotSupportedError(f"{entry.path!r} ({type(op).__name__}) is not a separable convolution")
        layer_in = self.layer_input(entry.path, image)
        if getattr(op, "data_format", "channels_last") == "channels_first":
            layer_in = np.moveaxis(layer_in, 1, -1)
        stage = self._depthwise_stage(op, tf.convert_to_tensor(layer_in, tf.float32),
                                      tf.convert_to_tensor(op.depthwise_kernel), len(op.kernel_size))
        return np.asarray(stage)[0]

    def pointwise_kernels(self, layer: LayerRef) -> np.ndarray:
        """The pointwise (1x1) weights of a SeparableConv layer: ``(in * multiplier, out)``."""
        entry, op = self._layer_object(layer)
        if not isinstance(op, _SEPARABLE):
            raise NotSupportedError(f"{entry.path!r} ({type(op).__name__}) is not a separable convolution")
        weights = np.asarray(keras.ops.convert_to_numpy(op.pointwise_kernel))
        return weights.reshape(-1, weights.shape[-1])

    def _response_function(self, entry):
        """Compiled single-kernel convolution for ``entry``'s layer configuration.

        Kernel and bias are arguments, so every layer sharing strides,
        padding, dilation and groups (all 3x3 'same' convs of VGG16, say)
        shares one trace."""
        op = entry.op
        rank = len(op.kernel_size) if hasattr(op, "kernel_size") else 2
        depthwise = isinstance(op, keras.layers.DepthwiseConv2D)
        strides = tuple(int(v) for v in op.strides)
        dilation = tuple(int(v) for v in op.dilation_rate)
        padding = op.padding
        groups = int(getattr(op, "groups", 1) or 1)
        kernel_var = _kernel_variable(op)
        bias_var = getattr(op, "bias", None)
        kernel_size = tuple(int(d) for d in kernel_var.shape[:rank + 1])  # taps and input channels
        config = ("response", rank, depthwise, strides, dilation, padding, groups, kernel_size)
        full_fn, one_fn = compiled.function(
            None, config, lambda: _compile_response(rank, depthwise, strides, dilation, padding, groups, kernel_size)
        )
        kernel = tf.convert_to_tensor(kernel_var)
        bias = tf.convert_to_tensor(bias_var) if bias_var is not None else tf.zeros([kernel.shape[-1] * (kernel.shape[-2] if depthwise else 1)], kernel.dtype)

        def fn(x, k, c):
            return full_fn(x, kernel, bias, k) if int(c) < 0 else one_fn(x, kernel, k, c)

        return fn


def _compile_response(rank, depthwise, strides, dilation, padding, groups, kernel_size):
    """The two compiled functions behind ``Inspector.kernel_response`` for one layer configuration."""

    def convolve(x_part, w):
        pad = padding
        if padding == "causal":
            left = dilation[0] * (kernel_size[0] - 1)
            x_part = tf.pad(x_part, [[0, 0], [left, 0], [0, 0]])
            pad = "valid"
        return tf.nn.convolution(
            tf.cast(x_part, w.dtype), w, strides=strides, padding=pad.upper(), dilations=dilation
        )[..., 0]

    def kernel_and_input(x, kernel, k):
        if depthwise:
            mult = tf.shape(kernel)[-1]
            channel = k // mult
            return kernel[..., channel, k % mult][..., None, None], tf.gather(x, [channel], axis=-1), channel
        w = tf.gather(kernel, [k], axis=-1)  # (..., in/groups, 1)
        if groups == 1:
            return w, x, 0
        per_group_in = tf.shape(x)[-1] // groups
        group = k // (tf.shape(kernel)[-1] // groups)
        x_part = x[..., group * per_group_in : (group + 1) * per_group_in]
        x_part = tf.ensure_shape(x_part, [None] * (rank + 1) + [kernel.shape[-2]])
        return w, x_part, group * per_group_in

    def full(x, kernel, bias, k):
        """All input channels, plus the bias."""
        compiled.note_trace("response")
        w, x_part, _ = kernel_and_input(x, kernel, k)
        return convolve(x_part, w) + tf.gather(bias, k)

    def one_channel(x, kernel, k, c):
        """The contribution of input channel c alone (no bias)."""
        compiled.note_trace("response")
        w, x_part, first = kernel_and_input(x, kernel, k)
        if depthwise:
            return convolve(x_part, w)
        local = c - first
        return convolve(tf.gather(x_part, [local], axis=-1), tf.gather(w, [local], axis=-2))

    spec_x = tf.TensorSpec([None] * (rank + 2), tf.float32)
    spec_k = tf.TensorSpec(list(kernel_size) + [None], tf.float32)
    scalar = tf.TensorSpec([], tf.int32)
    full_fn = tf.function(distinct(full), input_signature=[spec_x, spec_k, tf.TensorSpec([None], tf.float32), scalar])
    one_fn = tf.function(distinct(one_channel), input_signature=[spec_x, spec_k, scalar, scalar])
    # concrete functions skip the per-call signature matching of tf.function (it dominates small convs)
    return full_fn.get_concrete_function(), one_fn.get_concrete_function()
