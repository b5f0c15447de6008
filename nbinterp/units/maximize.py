"""Feature visualisation: synthesise an input that a unit, channel, layer or class wants.

Objectives (build them with these constructors, or pass the short forms):

* :class:`Class` ``(c)`` - the logit of class ``c`` (the value before a final
  softmax/sigmoid): class model visualisation (Simonyan et al., 2014),
  maximising ``S_c(I) - l2 * ||I||^2``. Short forms: ``c`` or ``("class", c)``.
* :class:`Channel` ``(layer, c)`` - the mean over positions of channel ``c`` of
  ``layer``'s output. Short form: ``("channel", layer, c)``.
* :class:`Neuron` ``(layer, c, position)`` - one unit: channel ``c`` at one
  spatial position of ``layer``'s output. Short form: ``("neuron", layer, c, position)``.
* :class:`LayerNorm` ``(layer)`` - the mean square of everything ``layer``
  outputs: DeepDream, which starts from a photo and amplifies whatever the
  layer already sees there. Short form: ``("layer", layer)``.

Channel, Neuron and LayerNorm use the layer's output after its activation
function, as the rest of nbinterp shows it; when that activation is a ReLU, its
gradient is passed through unchanged where the unit is off (a straight-through
ReLU), so that a unit silent on the start image can still be switched on. The
objective values reported are the true activations.

**The ascent.** The image is optimised in normalised coordinates
``x = (I - mid) / half`` in ``[-1, 1]``, where ``mid`` and ``half`` are the centre and
half-width of ``input_range``. One step:

1. roll ``x`` by a random shift of up to ``jitter`` pixels on every spatial axis;
2. evaluate the objective ``S`` on ``mid + half * rolled`` (passed through
   ``preprocess`` when one is given), and its gradient ``g`` with respect to
   the parameters;
3. move ``x <- x + lr * (g / mean|g| - 2 * l2 * x)``: ascent on ``S - l2 * ||x||^2``
   with the objective's gradient rescaled to mean magnitude 1, so ``lr`` is the
   typical change of a pixel per step as a fraction of the half-range, whatever
   the scale of the objective;
4. clip ``x`` to ``[-1, 1]`` (the input range); every ``blur_every`` steps blur
   ``x`` with a Gaussian of ``blur_sigma`` pixels (reflecting at the borders).

``parameterization="fourier"`` optimises instead the 2-D real FFT of the
image, with each frequency scaled by ``1/f`` (a spatially decorrelated
parameterisation: high frequencies move less) and the image squashed into
range by ``tanh``. The Gaussian blur applies to the pixel parameterisation
of 1-D signals and 2-D images only (the Fourier one needs none; 3-D volumes
are not blurred).

**Octaves** (DeepDream): ``octaves=n`` runs ``steps`` steps at each of ``n``
scales, the smallest ``octave_scale ** (n - 1)`` times smaller than the input,
carrying the detail added at one scale up to the next. A sequence of scale
factors (ending at 1.0) may be given instead. It needs a model whose layers up
to the objective accept smaller inputs (convolutional layers do).

**Input range.** ``input_range=(lo, hi)`` is the range of the raw input
(before ``preprocess``). When it is not given: from a ``start`` image, uint8
data means ``(0, 255)``, data inside ``[0, 1]`` or ``[-1, 1]`` means that range,
data inside ``[0, 255]`` means ``(0, 255)``, anything else its own min and max;
without a start image, ``(0, 255)`` - except when the model's first layer is
a ``Rescaling``, whose inverse maps the layer's natural output range
(``[0, 1]``, or ``[-1, 1]`` with a negative offset) back to the input.

**Compilation.** The step is one ``tf.function``, built once per model,
objective kind, layer, image shape, parameterisation and preprocess function
and reused across steps and calls: the class or channel, the position, the
shift and the hyper-parameters enter it as tensors. :func:`trace_count` tells
how many times it has been traced.

**Progress and cancellation.** ``progress=True`` shows a bar (ipywidgets in a
notebook kernel, else a line on stderr); ``callback(step, value)`` is called
after every step (``step`` counts from 0, ``value`` is that step's objective);
``cancel`` (a ``threading.Event`` or a callable) is checked before every step,
and when it is set the run stops and raises
:class:`~nbinterp.errors.CancelledError` whose ``.partial`` is the
:class:`MaximizeResult` so far (with ``cancelled=True``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from ..errors import (
    InputShapeError,
    InvalidInputError,
    NotSupportedError,
    check_index,
)
from ..core.inputs import to_numpy, as_batch
from ._common import Progress, Target, cached_function, cancel_requested, cancelled, checked_channel, layer_output_shape

__all__ = [
    "Objective",
    "Class",
    "Channel",
    "Neuron",
    "LayerNorm",
    "MaximizeResult",
    "maximize",
    "trace_count",
    "infer_input_range",
]


# --------------------------------------------------------------------------- objectives


@dataclass(frozen=True)
class Objective:
    """Base class of what :func:`maximize` maximises."""

    kind = "objective"


@dataclass(frozen=True)
class Class(Objective):
    """The logit (pre-softmax value) of class ``index``."""

    index: int
    kind = "class"


@dataclass(frozen=True)
class Channel(Objective):
    """The mean over positions of channel ``index`` of ``layer``'s output."""

    layer: str
    index: int
    kind = "channel"


@dataclass(frozen=True)
class Neuron(Objective):
    """Channel ``index`` of ``layer``'s output at one spatial ``position`` (e.g. ``(row, col)``)."""

    layer: str
    index: int
    position: tuple = field(default=())
    kind = "neuron"


@dataclass(frozen=True)
class LayerNorm(Objective):
    """The mean square of ``layer``'s whole output (DeepDream)."""

    layer: str
    kind = "layer"


def as_objective(objective) -> Objective:
    """An Objective from an Objective, an int (a class) or a tuple short form."""
    if isinstance(objective, Objective):
        return objective
    if isinstance(objective, (int, np.integer)) and not isinstance(objective, bool):
        return Class(int(objective))
    if isinstance(objective, (tuple, list)) and objective and isinstance(objective[0], str):
        kind, *args = objective
        makers = {"class": Class, "channel": Channel, "neuron": Neuron, "unit": Neuron, "layer": LayerNorm}
        maker = makers.get(kind.lower())
        if maker is not None:
            try:
                return maker(*args)
            except TypeError:
                pass
    raise InvalidInputError(
        f"objective {objective!r} is not understood: use a class index, ('class', c), "
        "('channel', layer, c), ('neuron', layer, c, position) or ('layer', layer)"
    )


# --------------------------------------------------------------------------- result


@dataclass
class MaximizeResult:
    """What :func:`maximize` produced.

    ``image``: float32, the shape of one model input, in ``input_range``;
    ``objective``: float32 ``(steps_done,)``, the objective at every step (on
    the jittered image that step saw, before its update); ``steps_done``;
    ``cancelled``: True for the partial result of a cancelled run.
    """

    image: np.ndarray
    objective: np.ndarray
    steps_done: int
    input_range: tuple
    target: Objective
    cancelled: bool = False


# --------------------------------------------------------------------------- input range


def _rescaling_range(model):
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if not layers or not isinstance(layers[0], keras.layers.Rescaling):
        return None
    scale = np.asarray(layers[0].scale, dtype=np.float64)
    offset = np.asarray(layers[0].offset, dtype=np.float64)
    if scale.size != 1 or offset.size != 1 or float(scale) == 0:
        return None
    scale, offset = float(scale), float(offset)
    out_lo, out_hi = (-1.0, 1.0) if offset < 0 else (0.0, 1.0)
    ends = sorted(((out_lo - offset) / scale, (out_hi - offset) / scale))
    return (float(np.round(ends[0], 6)), float(np.round(ends[1], 6)))


def infer_input_range(model, start=None):
    """The default raw input range (see the module documentation)."""
    if start is not None:
        raw = to_numpy(start)
        if raw.dtype == np.uint8:
            return (0.0, 255.0)
        lo, hi = float(np.min(raw)), float(np.max(raw))
        for candidate in ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0)):
            if candidate[0] <= lo and hi <= candidate[1]:
                return candidate
        if hi <= lo:
            hi = lo + 1.0
        return (lo, hi)
    model = model.model if hasattr(model, "model") and not isinstance(model, keras.Model) else model
    return _rescaling_range(model) or (0.0, 255.0)


# --------------------------------------------------------------------------- compiled pieces

_TRACES = {"step": 0, "blur": 0}
_TRACES_LOCK = threading.Lock()


def trace_count(what="step"):
    """How many times the compiled ascent step (or ``"blur"``) has been traced in this process."""
    return _TRACES[what]


def _count_trace(what):
    with _TRACES_LOCK:
        _TRACES[what] += 1


def _fourier_scale(spatial):
    h, w = spatial
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    freqs = np.sqrt(fy * fy + fx * fx)
    return (1.0 / np.maximum(freqs, 1.0 / max(h, w))).astype(np.float32)


def _fourier_to_image(v, shape):
    """Normalised image (1, H, W, C) from Fourier parameters (C, H, W//2+1, 2)."""
    h, w = shape[0], shape[1]
    scale = tf.constant(_fourier_scale((h, w)))
    spectrum = tf.complex(v[..., 0] * scale, v[..., 1] * scale)
    spatial = tf.signal.irfft2d(spectrum, fft_length=[h, w])  # (C, H, W)
    return tf.tanh(tf.transpose(spatial, [1, 2, 0])[None])


def _image_to_fourier(x, shape):
    """Fourier parameters for a normalised image x (1, H, W, C) in [-1, 1]."""
    h, w = shape[0], shape[1]
    spatial = np.arctanh(np.clip(x[0], -0.995, 0.995)).transpose(2, 0, 1)
    spectrum = np.fft.rfft2(spatial, s=(h, w)) / _fourier_scale((h, w))
    return np.stack([spectrum.real, spectrum.imag], axis=-1).astype(np.float32)


def _value_function(target, objective, entry):
    """Python function (model input batch, index tensor) -> scalar objective, for tracing."""
    plan = target.plan
    if objective.kind == "class":
        key = plan.logit_key()

        def value(x, index):
            (logits,) = plan.run([x], [key])
            return tf.gather(tf.reshape(logits[0], [-1]), index[0])

        return value
    key = plan.output_key(entry.path)
    own_path = entry.path

    def override(step, name):
        # the objective's own ReLU lets the gradient through where it is off,
        # so a unit that is silent at the start can still be switched on
        return _relu_passing_gradient if step.path == own_path and name == "relu" else None

    def layer_output(x):
        (out,) = plan.run([x], [key], activation_override=override)
        return out

    if objective.kind == "channel":

        def value(x, index):
            return tf.reduce_mean(tf.gather(layer_output(x)[0], index[0], axis=-1))

    elif objective.kind == "neuron":
        rank = len(layer_output_shape(target, entry)) - 1

        def value(x, index):
            where = tf.ensure_shape(tf.concat([index[1:], index[:1]], axis=0), [rank])
            return tf.gather_nd(layer_output(x)[0], where[None])[0]

    else:

        def value(x, index):
            return tf.reduce_mean(tf.square(layer_output(x)))

    return value


@tf.custom_gradient
def _relu_passing_gradient(x):
    """ReLU forward; identity backward."""

    def grad(dy):
        return dy

    return tf.nn.relu(x), grad


def _step_function(target, objective, entry, param_shape, image_shape, parameterization):
    value_fn = _value_function(target, objective, entry)
    preprocess = target.preprocess
    spatial_axes = list(range(1, len(image_shape)))  # axes of (1, *image_shape) that are spatial
    fourier = parameterization == "fourier"

    def to_image(v):
        return _fourier_to_image(v, image_shape) if fourier else v

    def step(v, index, shift, lr, l2, lo, hi):
        _count_trace("step")
        with tf.GradientTape() as tape:
            tape.watch(v)
            x = to_image(v)
            rolled = tf.roll(x, shift, axis=spatial_axes) if spatial_axes else x
            raw = lo + (rolled + 1.0) * (0.5 * (hi - lo))
            model_in = preprocess(raw) if preprocess is not None else raw
            value = value_fn(tf.cast(model_in, tf.float32), index)
        grad = tape.gradient(value, v)
        grad = grad / (tf.reduce_mean(tf.abs(grad)) + 1e-12)
        if fourier:
            with tf.GradientTape() as tape2:
                tape2.watch(v)
                penalty = tf.reduce_sum(tf.square(to_image(v)))
            decay = tape2.gradient(penalty, v)
            new = v + lr * (grad - l2 * decay)
        else:
            new = tf.clip_by_value(v + lr * (grad - 2.0 * l2 * v), -1.0, 1.0)
        return new, value

    signature = [
        tf.TensorSpec((1,) + tuple(param_shape[1:]) if not fourier else tuple(param_shape), tf.float32),
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([len(spatial_axes)], tf.int32),
        tf.TensorSpec([], tf.float32),
        tf.TensorSpec([], tf.float32),
        tf.TensorSpec([], tf.float32),
        tf.TensorSpec([], tf.float32),
    ]
    return tf.function(step, input_signature=signature, autograph=False)


def _blur_function():
    def blur(v, kernel):
        _count_trace("blur")
        radius = tf.shape(kernel)[0] // 2
        channels = tf.shape(v)[-1]
        rank = len(v.shape) - 2
        out = v
        if rank == 1:
            out = out[:, :, None, :]
        for axis in range(2 if rank >= 2 else 1):
            paddings = [[0, 0], [0, 0], [0, 0], [0, 0]]
            paddings[1 + axis] = [radius, radius]
            padded = tf.pad(out, paddings, mode="REFLECT")
            shape = [-1, 1] if axis == 0 else [1, -1]
            k = tf.tile(tf.reshape(kernel, shape + [1, 1]), [1, 1, channels, 1])
            out = tf.nn.depthwise_conv2d(padded, k, strides=[1, 1, 1, 1], padding="VALID")
        if rank == 1:
            out = out[:, :, 0, :]
        return out

    return tf.function(blur, reduce_retracing=True, autograph=False)


_BLUR = None


def _gaussian(sigma, limit):
    radius = max(1, int(np.ceil(2.5 * sigma)))
    radius = min(radius, max(limit - 1, 1))
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def _resize(x, size):
    """Bilinear resize of (1, H, W, C) numpy to size (h, w)."""
    if tuple(x.shape[1:3]) == tuple(size):
        return x
    return np.asarray(tf.image.resize(x, size, method="bilinear"), np.float32)


# --------------------------------------------------------------------------- maximize


def maximize(
    model,
    objective,
    steps=128,
    lr=0.05,
    l2=1e-3,
    jitter=2,
    blur_every=4,
    blur_sigma=0.5,
    start=None,
    octaves=None,
    parameterization="pixel",
    progress=True,
    callback=None,
    cancel=None,
    seed=0,
    preprocess=None,
    input_range=None,
    octave_scale=1.4,
) -> MaximizeResult:
    """Gradient ascent on the input to maximise ``objective``; see the module documentation.

    ``model``: a keras.Model or an Inspector (its ``preprocess`` is used unless
    one is given; ``preprocess`` must accept tensors, as Keras'
    ``preprocess_input`` functions do). ``start``: an initial image (raw, one
    example); without one the ascent starts from faint noise around the middle
    of the input range. ``seed`` fixes the noise and the jitter.
    """
    target = Target(model, preprocess)
    objective = as_objective(objective)
    if parameterization not in ("pixel", "fourier"):
        raise InvalidInputError(f"parameterization must be 'pixel' or 'fourier', not {parameterization!r}")
    steps = int(steps)
    if steps < 0:
        raise InvalidInputError(f"steps must be >= 0, got {steps}")
    entry, index = _check_objective(target, objective)
    rng = np.random.default_rng(seed)

    # the start, in normalised coordinates (1, *shape)
    if input_range is None:
        input_range = infer_input_range(target.model, start)
    lo, hi = float(input_range[0]), float(input_range[1])
    if not hi > lo:
        raise InvalidInputError(f"input_range must have hi > lo, got {input_range}")
    if start is not None:
        raw_start = as_batch(start, target.input_shape, np.float32)
        if len(raw_start) != 1:
            raise InputShapeError(f"start must be one image, got a batch of {len(raw_start)}")
        x0 = np.clip((raw_start.astype(np.float32) - lo) / (hi - lo) * 2.0 - 1.0, -1.0, 1.0)
    else:
        if any(d is None for d in target.input_shape):
            raise InputShapeError("the model input has unknown sizes: pass start= (an image) to fix them")
        x0 = (0.1 * rng.standard_normal((1,) + target.input_shape)).astype(np.float32)
    image_shape = tuple(x0.shape[1:])
    if parameterization == "fourier" and len(image_shape) != 3:
        raise NotSupportedError("the Fourier parameterisation needs images (height, width, channels)")

    scales = _octave_scales(octaves, octave_scale)
    if len(scales) > 1 and len(image_shape) != 3:
        raise NotSupportedError("octaves need images (height, width, channels)")

    total = steps * len(scales)
    bar = Progress(total, "maximize", enabled=progress)
    values = []
    x = x0
    index_t = tf.constant(index, tf.int32)
    lr_t, l2_t = tf.constant(lr, tf.float32), tf.constant(l2, tf.float32)
    lo_t, hi_t = tf.constant(lo, tf.float32), tf.constant(hi, tf.float32)
    global _BLUR
    if _BLUR is None:
        _BLUR = _blur_function()
    kernel = None
    # the blur handles 1-D signals and 2-D images; volumes (Conv3D inputs) are not blurred
    if blur_every and blur_sigma and parameterization == "pixel" and len(image_shape) - 1 in (1, 2):
        kernel = tf.constant(_gaussian(float(blur_sigma), min(image_shape[:-1]) if len(image_shape) > 1 else 2))

    def result(partial=False):
        return MaximizeResult(
            image=_to_raw(x, lo, hi, image_shape),
            objective=np.asarray(values, np.float32),
            steps_done=len(values),
            input_range=(lo, hi),
            target=objective,
            cancelled=partial,
        )

    try:
        detail = np.zeros_like(x0)
        for scale in scales:
            if len(scales) > 1:
                size = tuple(max(1, int(round(d * scale))) for d in image_shape[:2])
                base = _resize(x0, size)
                x = np.clip(base + _resize(detail, size), -1.0, 1.0)
            else:
                base = x0
                x = x0
            shape = tuple(x.shape[1:])
            fourier = parameterization == "fourier"
            v = _image_to_fourier(x, shape) if fourier else x
            step_fn = _get_step(target, objective, entry, tuple(v.shape), shape, parameterization)
            v = tf.constant(v)
            spatial = shape[:-1] if len(shape) >= 2 else ()
            for i in range(steps):
                if cancel_requested(cancel):
                    x = _current_image(v, shape, fourier)
                    raise cancelled("maximize", result(partial=True))
                shift = [int(rng.integers(-jitter, jitter + 1)) if jitter else 0 for _ in spatial]
                try:
                    v, value = step_fn(v, index_t, tf.constant(shift, tf.int32), lr_t, l2_t, lo_t, hi_t)
                except (ValueError, tf.errors.InvalidArgumentError) as err:
                    if len(scales) > 1 and shape != image_shape:
                        raise NotSupportedError(
                            f"the model cannot run on the {shape[:-1]} octave of the image up to the objective's layer: {err}"
                        ) from err
                    raise
                if kernel is not None and (i + 1) % int(blur_every) == 0:
                    v = _BLUR(v, kernel)
                value = float(value)
                values.append(value)
                bar.update(len(values), f"objective {value:.4g}")
                if callback is not None:
                    callback(len(values) - 1, value)
            x = _current_image(v, shape, fourier)
            detail = x - base
        if cancel_requested(cancel) and len(values) < total:  # pragma: no cover - race with the last step
            raise cancelled("maximize", result(partial=True))
    except BaseException as err:
        bar.close("cancelled" if getattr(err, "partial", None) is not None else "error")
        raise
    bar.close()
    return result()


def _current_image(v, shape, fourier):
    if fourier:
        return np.asarray(_fourier_to_image(v, shape), np.float32)
    return np.asarray(v, np.float32)


def _to_raw(x, lo, hi, image_shape):
    x = np.asarray(x, np.float32)
    if tuple(x.shape[1:]) != tuple(image_shape):
        x = _resize(x, image_shape[:2])
    return (lo + (np.clip(x[0], -1.0, 1.0) + 1.0) * (0.5 * (hi - lo))).astype(np.float32)


def _octave_scales(octaves, octave_scale):
    if octaves is None:
        return [1.0]
    if isinstance(octaves, (int, np.integer)):
        n = int(octaves)
        if n < 1:
            raise InvalidInputError(f"octaves must be >= 1, got {n}")
        return [float(octave_scale) ** -(n - 1 - i) for i in range(n)]
    scales = [float(s) for s in octaves]
    if not scales or any(s <= 0 for s in scales):
        raise InvalidInputError("octave scales must be positive")
    return scales


def _get_step(target, objective, entry, param_shape, image_shape, parameterization):
    key = (
        "maximize",
        objective.kind,
        None if entry is None else entry.path,
        param_shape,
        image_shape,  # Fourier parameters of widths 2m and 2m+1 have one shape
        parameterization,
        id(target.preprocess) if target.preprocess is not None else None,
    )

    def build():
        fn = _step_function(target, objective, entry, param_shape, image_shape, parameterization)
        fn._nbinterp_preprocess = target.preprocess  # keeps id() valid while cached
        return fn

    return cached_function(target.model, key, build)


def _check_objective(target, objective):
    """The layer entry (None for classes) and the int32 index vector of an objective."""
    if objective.kind == "class":
        outputs = target.model.outputs
        n = int(outputs[0].shape[-1]) if outputs and outputs[0].shape[-1] is not None else None
        c = check_index(objective.index, n, "class") if n is not None else int(objective.index)
        return None, [c]
    entry = target.plan.resolve(objective.layer)
    if objective.kind == "layer":
        return entry, [0]
    shape, c = checked_channel(target, entry, objective.index)
    if objective.kind == "channel":
        return entry, [c]
    spatial = tuple(shape[1:-1])
    position = tuple(objective.position) if np.ndim(objective.position) else (objective.position,)
    if len(position) != len(spatial):
        raise InvalidInputError(
            f"layer {entry.path!r} has {len(spatial)} spatial axes {spatial}; position {objective.position!r} does not match"
        )
    pos = [check_index(p, n, f"position on axis {a}") if n is not None else int(p) for a, (p, n) in enumerate(zip(position, spatial))]
    return entry, [c] + pos
