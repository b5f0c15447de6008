"""Feature visualisation: synthesise an input that a unit, channel, layer or class wants.

What to maximise is an objective from :mod:`nbinterp.units.objectives`
(re-exported here): :class:`Class` ``(c)``, :class:`Channel` ``(layer, c)``,
:class:`Neuron` ``(layer, c, position)``, :class:`DeepDream` ``(layer)``, or a
weighted sum of them such as ``Channel("conv3", 5) + 0.5 * Class(3)``. Short
forms: ``c`` or ``("class", c)``, ``("channel", layer, c)``,
``("neuron", layer, c, position)``, ``("layer", layer)``.

Layer objectives use the layer's output after its activation function, as the
rest of nbinterp shows it; when that activation is of the ReLU family, its gradient is
passed through unchanged where the unit is off (the ``"straight_through"`` rule
of :mod:`nbinterp.core.backward`), so
that a unit silent on the start image can still be switched on. The
objective values reported are the true activations. :func:`objective_function`
gives the objective as the ascent computes it, as a function of a model input.

**The ascent.** The image is optimised in normalised coordinates
``x = (I - mid) / half`` in ``[-1, 1]``, where ``mid`` and ``half`` are the centre and
half-width of ``input_range``. One step:

1. roll ``x`` by a random shift of up to ``jitter`` pixels on every spatial axis;
2. evaluate the objective ``S`` on ``mid + half * rolled`` (passed through
   ``preprocess`` when one is given), and its gradient ``g`` with respect to
   the parameters;
3. move the parameters ``v <- v + lr * (g / mean|g| - l2 * d||x||^2/dv)``: ascent
   on ``S - l2 * ||x||^2`` with the objective's gradient rescaled to mean
   magnitude 1, so ``lr`` is the typical change of a parameter per step,
   whatever the scale of the objective;
4. with the pixel parameterisation (``v = x``), clip ``x`` to ``[-1, 1]`` (the
   input range); every ``blur_every`` steps blur ``x`` with a Gaussian of
   ``blur_sigma`` pixels (reflecting at the borders).

The parameterisation and the transforms are small pieces built per call:
:func:`pixel` and :func:`fourier` (a :class:`Parameterization`, chosen by
``parameterization=``), :class:`Jitter` and :func:`gaussian_blur`.
``"fourier"`` optimises the 2-D real FFT of the image, with each frequency
scaled by ``1/f`` (a spatially decorrelated parameterisation: high
frequencies move less) and the image squashed into range by ``tanh``. The
Gaussian blur applies to the pixel parameterisation of 1-D signals and 2-D
images only (the Fourier one needs none; 3-D volumes are not blurred).

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

**Settings.** :data:`MAXIMIZE_OPTIONS` declares the numeric settings (name,
default, label, bounds); ``maximize`` checks its arguments against it and
raises :class:`~nbinterp.errors.InvalidInputError` for values outside it
(``steps=0``, ``lr=nan``, a negative ``l2``, ...).

**Compilation.** The step is one ``tf.function``, built once per model,
objective kind (:attr:`Resolved.key`: the kind, its layers and, for a sum,
its weights), image shape, parameterisation and preprocess function, and
reused across steps and calls: the class or channel, the position, the shift
and the hyper-parameters enter it as tensors. :func:`trace_count` tells how
many times it has been traced for a model.

**Progress and cancellation.** ``progress=True`` shows a bar (ipywidgets in a
notebook kernel, else a line on stderr, through :mod:`nbinterp.display`);
``callback(step, value)`` is called after every step (``step`` counts from 0,
``value`` is that step's objective); ``cancel`` (a ``threading.Event`` or a
callable) is checked before every step, and when it is set the run stops and
raises :class:`~nbinterp.errors.CancelledError` whose ``.partial`` is the
:class:`MaximizeResult` so far (with ``cancelled=True``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

import keras
import numpy as np
import tensorflow as tf

from .. import display
from ..core import backward
from ..core.inputs import as_batch, to_numpy
from ..core.options import FloatOption, IntOption, SeedOption
from ..errors import InputShapeError, InvalidInputError, NotSupportedError
from ._common import UnitModel, cached_function, cancel_requested, cancelled
from .objectives import Channel, Class, DeepDream, Neuron, Objective, Resolved, Sum, as_objective

from ..types import Cancel, Images, ModelLike, Preprocess, Progress

__all__ = [
    "Objective",
    "Class",
    "Channel",
    "Neuron",
    "DeepDream",
    "Sum",
    "as_objective",
    "MAXIMIZE_OPTIONS",
    "MaximizeResult",
    "Parameterization",
    "Jitter",
    "Blur",
    "pixel",
    "fourier",
    "gaussian_blur",
    "maximize",
    "objective_function",
    "trace_count",
    "infer_input_range",
]


# --------------------------------------------------------------------------- settings

MAXIMIZE_OPTIONS = (
    IntOption("steps", 128, "ascent steps", help="How many ascent steps to take.", ui="int", low=1, high=100_000),
    FloatOption(
        "lr", 0.05, "learning rate", ui="float", low=0.0, high=10.0, step=0.01,
        help="How far each step moves the image, as a fraction of the input range.",
    ),
    FloatOption(
        "l2", 1e-3, "L2 penalty", ui="float", low=0.0, high=100.0, step=0.001,
        help="Pulls pixels towards the middle grey, so the image does not saturate.",
    ),
    IntOption(
        "jitter", 2, "jitter (pixels)", ui="int", low=0, high=64,
        help="Shift the image by up to this many pixels at random before each step; 0 turns it off.",
    ),
    IntOption(
        "blur_every", 4, "blur every N steps", ui="int", low=0, high=100_000,
        help="Smooth the image slightly every N steps; 0 never blurs.",
    ),
    FloatOption(
        "blur_sigma", 0.5, "blur width (pixels)", ui=None, low=0.0, high=16.0,
        help="Standard deviation of the Gaussian blur; 0 turns it off.",
    ),
    FloatOption(
        "octave_scale", 1.4, "octave scale", ui=None, low=1.0, high=4.0,
        help="How much smaller each octave is than the next.",
    ),
    SeedOption("seed", 0, "random seed", ui=None, help="Fixes the start noise and the jitter."),
)
"""The numeric settings of :func:`maximize`; those with a ``ui`` are the ones the Explorer offers."""

_OPTIONS = MappingProxyType({option.name: option for option in MAXIMIZE_OPTIONS})


# --------------------------------------------------------------------------- result


@dataclass
class MaximizeResult:
    """What :func:`maximize` produced.

    ``image``: float32, the shape of one model input, in ``input_range``;
    ``objective``: float32 ``(steps_done,)``, the objective at every step (on
    the jittered image that step saw, before its update); ``steps_done``;
    ``target``: the objective maximised;
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


# --------------------------------------------------------------------------- parameterisations


@dataclass(frozen=True)
class Parameterization:
    """How the ascent's parameters ``v`` make the normalised image ``x`` (``(1, *image_shape)``, in [-1, 1]).

    ``to_image(v)`` and ``penalty_gradient(v)`` (the gradient of ``||x||^2``
    with respect to ``v``) are TensorFlow functions used inside the compiled
    step, ``constrain(v)`` is applied after each update; ``from_image(x)``
    (numpy) gives the parameters of a start image. ``pixels``: the parameters
    are the pixels themselves, so a blur can act on them.
    """

    name: str
    image_shape: tuple
    param_shape: tuple
    to_image: Callable
    from_image: Callable
    penalty_gradient: Callable
    constrain: Callable
    pixels: bool


def pixel(image_shape) -> Parameterization:
    """The image itself, clipped to [-1, 1] after every update."""
    image_shape = tuple(image_shape)
    return Parameterization(
        name="pixel",
        image_shape=image_shape,
        param_shape=(1,) + image_shape,
        to_image=lambda v: v,
        from_image=lambda x: np.asarray(x, np.float32),
        penalty_gradient=lambda v: 2.0 * v,
        constrain=lambda v: tf.clip_by_value(v, -1.0, 1.0),
        pixels=True,
    )


def _fourier_scale(spatial):
    h, w = spatial
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    freqs = np.sqrt(fy * fy + fx * fx)
    return (1.0 / np.maximum(freqs, 1.0 / max(h, w))).astype(np.float32)


def fourier(image_shape) -> Parameterization:
    """The 2-D real spectrum of an image ``(height, width, channels)``, each frequency
    scaled by ``1/f``, squashed into range by ``tanh``; parameters ``(C, H, W//2+1, 2)``."""
    image_shape = tuple(image_shape)
    if len(image_shape) != 3:
        raise NotSupportedError("the Fourier parameterisation needs images (height, width, channels)")
    h, w, c = image_shape
    scale = _fourier_scale((h, w))

    def to_image(v):
        spectrum = tf.complex(v[..., 0] * scale, v[..., 1] * scale)
        spatial = tf.signal.irfft2d(spectrum, fft_length=[h, w])  # (C, H, W)
        return tf.tanh(tf.transpose(spatial, [1, 2, 0])[None])

    def from_image(x):
        spatial = np.arctanh(np.clip(np.asarray(x)[0], -0.995, 0.995)).transpose(2, 0, 1)
        spectrum = np.fft.rfft2(spatial, s=(h, w)) / scale
        return np.stack([spectrum.real, spectrum.imag], axis=-1).astype(np.float32)

    def penalty_gradient(v):
        with tf.GradientTape() as tape:
            tape.watch(v)
            penalty = tf.reduce_sum(tf.square(to_image(v)))
        return tape.gradient(penalty, v)

    return Parameterization(
        name="fourier",
        image_shape=image_shape,
        param_shape=(c, h, w // 2 + 1, 2),
        to_image=to_image,
        from_image=from_image,
        penalty_gradient=penalty_gradient,
        constrain=lambda v: v,
        pixels=False,
    )


PARAMETERIZATIONS = MappingProxyType({"pixel": pixel, "fourier": fourier})
"""``parameterization=`` names and the factories they stand for."""


# --------------------------------------------------------------------------- transforms


@dataclass(frozen=True)
class Jitter:
    """A random shift of up to ``pixels`` pixels on every spatial axis (``pixels=0``: none)."""

    pixels: int

    def shift(self, rng: np.random.Generator, rank: int) -> list[int]:
        """One shift per spatial axis, drawn from ``rng``."""
        if not self.pixels:
            return [0] * rank
        return [int(rng.integers(-self.pixels, self.pixels + 1)) for _ in range(rank)]


@dataclass(frozen=True)
class Blur:
    """A separable Gaussian ``kernel`` (1-D, normalised) applied every ``every`` steps."""

    every: int
    kernel: np.ndarray

    def due(self, steps_done: int) -> bool:
        return steps_done % self.every == 0


def gaussian_blur(sigma: float, every: int, image_shape) -> Blur | None:
    """A :class:`Blur` of ``sigma`` pixels for a 1-D signal or 2-D image, or None
    when ``sigma`` or ``every`` is 0 or the input has another number of spatial axes."""
    spatial = tuple(image_shape)[:-1]
    if not every or not sigma or len(spatial) not in (1, 2):
        return None
    return Blur(int(every), _gaussian(float(sigma), min(spatial)))


def _gaussian(sigma, limit):
    radius = max(1, int(np.ceil(2.5 * sigma)))
    radius = min(radius, max(limit - 1, 1))
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


# --------------------------------------------------------------------------- compiled pieces


class _TraceCounts:
    """How often each compiled piece of one model has been traced."""

    def __init__(self):
        self._counts = {"step": 0, "blur": 0}
        self._lock = threading.Lock()

    def add(self, what):
        with self._lock:
            self._counts[what] += 1

    def __getitem__(self, what):
        return self._counts[what]


def _trace_counts(model) -> _TraceCounts:
    return cached_function(model, ("maximize", "traces"), _TraceCounts)


def trace_count(model, what: str = "step") -> int:
    """How many times the compiled ascent step (or ``"blur"``) has been traced for ``model``."""
    return _trace_counts(UnitModel(model).model)[what]


def _reader(unit_model, xs):
    """``read(path)``: the output of the layer at ``path`` for the model inputs ``xs``
    (``read(None, k)``: the logits of output ``k``), each computed once; the layer's
    own ReLU passes the gradient through where it is off."""
    plan = unit_model.plan
    outputs = {}

    def read(path, output=0):
        key = ("logits", output) if path is None else path
        if key not in outputs:
            if path is None:
                (outputs[key],) = plan.run(xs, [plan.logit_key(output)])
            else:
                # straight-through on the objective's own layer, so that a unit that is
                # silent at the start can still be switched on
                override = backward.override("straight_through", only_paths=[path])
                (outputs[key],) = plan.run(xs, [plan.output_key(path)], activation_override=override)
        return outputs[key]

    return read


def _value_function(unit_model, resolved: Resolved):
    """Python function (every model input, index tensor) -> scalar objective, for tracing."""

    def value(xs, index):
        return resolved.value(_reader(unit_model, list(xs)), index)

    return value


def objective_function(model, objective, input=None, hold=None) -> Callable[[tf.Tensor], tf.Tensor]:
    """``objective`` as the ascent computes it: a function from one model input
    (a float batch of one, after any preprocessing) to the scalar objective,
    differentiable with the straight-through ReLU described above. On a model
    with several inputs, ``input`` is the one the function takes and ``hold``
    (one example of every input) gives the others, as in :func:`maximize`."""
    unit_model = UnitModel(model, input=input)
    resolved = as_objective(objective).resolve(unit_model)
    value = _value_function(unit_model, resolved)
    index = tf.constant(resolved.index, tf.int32)
    held = [tf.convert_to_tensor(h) for h in unit_model.held(hold, "objective_function(hold=...)")]
    return lambda x: value(unit_model.assemble(held, tf.convert_to_tensor(x, tf.float32)), index)


def _step_function(unit_model, resolved, param: Parameterization, traces: _TraceCounts):
    value_fn = _value_function(unit_model, resolved)
    preprocess = unit_model.preprocess
    spatial_axes = list(range(1, len(param.image_shape)))  # axes of (1, *image_shape) that are spatial

    def step(v, held, index, shift, lr, l2, lo, hi):
        traces.add("step")
        with tf.GradientTape() as tape:
            tape.watch(v)
            x = param.to_image(v)
            rolled = tf.roll(x, shift, axis=spatial_axes) if spatial_axes else x
            raw = lo + (rolled + 1.0) * (0.5 * (hi - lo))
            model_in = preprocess(raw) if preprocess is not None else raw
            value = value_fn(unit_model.assemble(list(held), tf.cast(model_in, tf.float32)), index)
        grad = tape.gradient(value, v)
        grad = grad / (tf.reduce_mean(tf.abs(grad)) + 1e-12)
        new = param.constrain(v + lr * (grad - l2 * param.penalty_gradient(v)))
        return new, value

    held_specs = [spec for n, spec in enumerate(unit_model.signature(1)) if n != unit_model.input]
    signature = [
        tf.TensorSpec(param.param_shape, tf.float32),
        held_specs,
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([len(spatial_axes)], tf.int32),
        tf.TensorSpec([], tf.float32),
        tf.TensorSpec([], tf.float32),
        tf.TensorSpec([], tf.float32),
        tf.TensorSpec([], tf.float32),
    ]
    return tf.function(step, input_signature=signature, autograph=False)


def _get_step(unit_model, resolved, param):
    key = (
        "maximize",
        resolved.key,
        unit_model.key,
        param.name,
        param.param_shape,
        param.image_shape,  # Fourier parameters of widths 2m and 2m+1 have one shape
        id(unit_model.preprocess) if unit_model.preprocess is not None else None,
    )

    traces = _trace_counts(unit_model.model)  # fetched here: the cache is not re-entrant

    def build():
        fn = _step_function(unit_model, resolved, param, traces)
        fn._nbinterp_preprocess = unit_model.preprocess  # keeps id() valid while cached
        return fn

    return cached_function(unit_model.model, key, build)


def _get_blur(model):
    traces = _trace_counts(model)

    def build():
        def blur(v, kernel):
            traces.add("blur")
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

    return cached_function(model, ("maximize", "blur"), build)


def _resize(x, size):
    """Bilinear resize of (1, H, W, C) numpy to size (h, w)."""
    if tuple(x.shape[1:3]) == tuple(size):
        return x
    return np.asarray(tf.image.resize(x, size, method="bilinear"), np.float32)


# --------------------------------------------------------------------------- maximize


def maximize(
    model: ModelLike,
    objective: Objective | int | tuple,
    steps: int = 128,
    lr: float = 0.05,
    l2: float = 1e-3,
    jitter: int = 2,
    blur_every: int = 4,
    blur_sigma: float = 0.5,
    start: np.ndarray | None = None,
    octaves: int | None = None,
    parameterization: str | Callable = "pixel",
    progress: bool | Progress = True,
    callback: Callable | None = None,
    cancel: Cancel | None = None,
    seed: int | None = 0,
    preprocess: Preprocess | None = None,
    input_range: tuple[float, float] | None = None,
    octave_scale: float = 1.4,
    input: int | str | None = None,
    hold: Images | None = None,
) -> MaximizeResult:
    """Gradient ascent on the input to maximise ``objective``; see the module documentation.

    ``model``: a keras.Model or an Inspector (its ``preprocess`` is used unless
    one is given; ``preprocess`` must accept tensors, as Keras'
    ``preprocess_input`` functions do). ``start``: an initial image (raw, one
    example); without one the ascent starts from faint noise around the middle
    of the input range. ``seed`` fixes the noise and the jitter (None: fresh
    randomness). The numeric settings are checked against :data:`MAXIMIZE_OPTIONS`.

    A model with several inputs has one optimised, ``input`` (a name or index;
    by default the first image input), and the others held at fixed values:
    ``hold`` gives one example of every input (a list in the model's order or
    a dict; the optimised input's entry is ignored). ``start`` may be such an
    example too: its optimised input is the start and the rest are held.
    """
    unit_model = UnitModel(model, preprocess, input)
    if unit_model.structured and isinstance(start, (list, tuple, dict)):
        if hold is None:
            hold = start
        start = start[unit_model.input_name] if isinstance(start, dict) else start[unit_model.input]
    held = [tf.convert_to_tensor(h) for h in unit_model.held(hold, "pass hold= or a whole example as start=")]
    objective = as_objective(objective)
    settings = {
        name: _OPTIONS[name].check(value)
        for name, value in dict(
            steps=steps, lr=lr, l2=l2, jitter=jitter, blur_every=blur_every, blur_sigma=blur_sigma,
            octave_scale=octave_scale,
        ).items()
    }
    make_param = PARAMETERIZATIONS.get(parameterization) if isinstance(parameterization, str) else None
    if make_param is None:
        raise InvalidInputError(
            f"parameterization must be one of {', '.join(map(repr, PARAMETERIZATIONS))}, not {parameterization!r}"
        )
    steps = settings["steps"]
    resolved = objective.resolve(unit_model)
    rng = np.random.default_rng(None if seed is None else _OPTIONS["seed"].check(seed))

    # the start, in normalised coordinates (1, *shape)
    if input_range is None:
        input_range = infer_input_range(unit_model.model, start)
    lo, hi = float(input_range[0]), float(input_range[1])
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise InvalidInputError(f"input_range must be finite with hi > lo, got {input_range}")
    if start is not None:
        raw_start = as_batch(start, unit_model.input_shape, np.float32)
        if len(raw_start) != 1:
            raise InputShapeError(f"start must be one image, got a batch of {len(raw_start)}")
        x0 = np.clip((raw_start.astype(np.float32) - lo) / (hi - lo) * 2.0 - 1.0, -1.0, 1.0)
    else:
        if any(d is None for d in unit_model.input_shape):
            raise InputShapeError("the model input has unknown sizes: pass start= (an image) to fix them")
        x0 = (0.1 * rng.standard_normal((1,) + unit_model.input_shape)).astype(np.float32)
    image_shape = tuple(x0.shape[1:])
    make_param(image_shape)  # refuses shapes the parameterisation cannot handle, before any work

    scales = _octave_scales(octaves, settings["octave_scale"])
    if len(scales) > 1 and len(image_shape) != 3:
        raise NotSupportedError("octaves need images (height, width, channels)")

    total = steps * len(scales)
    bar = display.progress(total, "maximize", enabled=progress)
    values = []
    x = x0
    jitter = Jitter(settings["jitter"])
    index_t = tf.constant(resolved.index, tf.int32)
    lr_t, l2_t = tf.constant(settings["lr"], tf.float32), tf.constant(settings["l2"], tf.float32)
    lo_t, hi_t = tf.constant(lo, tf.float32), tf.constant(hi, tf.float32)

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
            param = make_param(shape)
            blur = gaussian_blur(settings["blur_sigma"], settings["blur_every"], shape) if param.pixels else None
            blur_fn = _get_blur(unit_model.model) if blur is not None else None
            step_fn = _get_step(unit_model, resolved, param)
            v = tf.constant(param.from_image(x))
            rank = len(shape) - 1
            for _ in range(steps):
                if cancel_requested(cancel):
                    x = np.asarray(param.to_image(v), np.float32)
                    raise cancelled("maximize", result(partial=True))
                shift = tf.constant(jitter.shift(rng, rank), tf.int32)
                try:
                    v, value = step_fn(v, held, index_t, shift, lr_t, l2_t, lo_t, hi_t)
                except (ValueError, tf.errors.InvalidArgumentError) as err:
                    if len(scales) > 1 and shape != image_shape:
                        raise NotSupportedError(
                            f"the model cannot run on the {shape[:-1]} octave of the image up to the objective's layer: {err}"
                        ) from err
                    raise
                value = float(value)
                values.append(value)
                if blur is not None and blur.due(len(values)):
                    v = blur_fn(v, tf.constant(blur.kernel))
                bar.update(len(values), f"objective {value:.4g}")
                if callback is not None:
                    callback(len(values) - 1, value)
            x = np.asarray(param.to_image(v), np.float32)
            detail = x - base
        if cancel_requested(cancel) and len(values) < total:  # pragma: no cover - race with the last step
            raise cancelled("maximize", result(partial=True))
    except BaseException as err:
        bar.close("cancelled" if getattr(err, "partial", None) is not None else "error")
        raise
    bar.close()
    return result()


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
    if not scales or any(not np.isfinite(s) or s <= 0 for s in scales):
        raise InvalidInputError("octave scales must be positive finite numbers")
    return scales
