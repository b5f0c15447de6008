"""The machinery every attribution method shares.

:class:`Attribution` owns what must behave the same for all methods: model
resolution, input validation (through :func:`nbinterp.core.inputs.as_batch`),
target resolution and range checks, the score (the class *logit*, so softmax
and linear heads give the same maps), option checking against the method's
declarative ``option_table``, progress and cancellation, and the output
contract (float32 ``(N, H, W)`` for image models, ``(N, T)`` for sequence
and text models, finite).

Methods are host code around the model's shared compiled engines
(:mod:`nbinterp.core.engines`): a gradient engine per backward rule, a
forward engine, a feature-gradient engine per layer. So the first use of a
method after another one of the same family traces nothing, and new
images, batch sizes, targets or option values never trace. Work items (noise
samples, integration steps, occluded copies) go through the engines in
chunks of ``batch_size``; between chunks the call reports ``progress`` and
honours ``cancel``, so a long attribution can be followed and stopped.

``target=None`` explains the top predicted class: single-pass methods take
the argmax of their own forward pass; methods that only see perturbed
copies run one forward pass over the clean inputs first.
"""

from __future__ import annotations

import math

import numpy as np

from ..core import compiled
from ..core.engines import engines_for
from ..core.graph import entry_shape, plan_for
from ..core.inputs import as_inputs
from ..core.model_spec import model_spec
from ..core.models import resolve_model
from ..core.options import defaults, resolve, whole_number
from ..errors import (
    CancelledError,
    IndexOutOfRangeError,
    InvalidInputError,
    MethodNotApplicableError,
    NotSupportedError,
)

__all__ = ["REDUCTIONS", "Attribution", "ModelInfo", "Run", "model_info", "trace_count"]

#: what ``attribute(..., reduce=)`` accepts: None (the method's own reduction),
#: "max_abs" (max |.| over channels), "sum" (signed sum over channels), "none" (keep them)
REDUCTIONS = (None, "max_abs", "sum", "none")

# assumed size of an axis declared None, when sizing the default batch
_UNKNOWN_AXIS = 64
# memory a default batch may use for activations and their gradients
_BATCH_BUDGET_BYTES = 1.5 * 2**30
_MAX_DEFAULT_BATCH = 64


def trace_count(method: str | None = None) -> int:
    """How many times the engines behind attribution methods have been traced (compiled).

    With ``method`` (a METHODS name), only the engines that method uses are
    counted. A steady count across new images, targets, batch sizes and
    methods of one family shows that the compiled engines are being shared.
    """
    if method is None:
        return sum(compiled.trace_count(kind) for kind in _ENGINE_KINDS)
    from . import METHODS

    return sum(compiled.trace_count(kind) for kind in METHODS[method].engines)


_ENGINE_KINDS = ("forward", "gradient", "feature_gradient", "lrp")


# ---------------------------------------------------------------------------
# what the methods need to know about a model


class ModelInfo:
    """The attribution view of one model: input kind, logit, classes, map shapes."""

    def __init__(self, plan, input=0, output=0):
        self.plan = plan
        spec = model_spec(plan)
        self.model_spec = spec
        #: which model input is explained and which output's logit
        self.input, self.output = input, output
        self.spec = spec.inputs[input]
        self.input_shape = self.spec.shape
        self.input_dtype = self.spec.dtype.name
        self.logit_key = plan.logit_key(output)
        out_shape = spec.outputs[output].shape
        if out_shape is None or len(out_shape) != 2 or out_shape[-1] is None:
            hint = ""
            if out_shape is not None and len(out_shape) > 2:
                hint = (
                    ". For a spatial output, explain one position or the sum over positions: wrap the "
                    "model as keras.Model(model.input, keras.layers.Flatten()(model.output)) for "
                    "(1, 1, classes) outputs, or keras.layers.GlobalAveragePooling2D()(model.output) "
                    "to explain a class channel summed over positions"
                )
            raise NotSupportedError(
                "attribution needs a classifier output of shape (batch, classes); "
                f"this model's output has shape {out_shape}{hint}"
            )
        self.num_classes = int(out_shape[-1])
        kind = self.spec.kind
        if kind == "tokens":
            if self.spec.embedding is None:
                raise NotSupportedError(
                    "this model takes integer inputs but has no Embedding layer reading them; "
                    "attributions need a float input or an Embedding to differentiate through"
                )
            self.embedding_dim = int(self.spec.embedding.op.output_dim)
        elif kind == "integer":
            raise NotSupportedError(
                f"integer inputs of shape {self.input_shape} are not supported; token-id "
                "models need inputs of shape (sequence_length,)"
            )
        elif kind not in ("image", "sequence", "vector"):
            if self.spec.dtype.kind != "f":
                raise NotSupportedError(f"inputs of dtype {self.input_dtype} are not supported")
            raise NotSupportedError(
                f"inputs of shape {self.input_shape} are not supported; attribution handles "
                "images (H, W, C), sequences (T, C), vectors (D,) and token ids (T,)"
            )
        self.kind = kind
        if self.spec.data_format == "mixed":
            raise NotSupportedError(
                "this model mixes channels_first and channels_last layers; attribution needs one data "
                "format (the convolutions' and poolings' data_format) to know which axis holds the channels"
            )
        self.channels_first = self.spec.data_format == "channels_first" and kind in ("image", "sequence")
        #: the channel axis of a batch in attribution space
        self.channel_axis = 1 if self.channels_first else -1
        self.default_batch_size = self._default_batch_size()

    @property
    def spatial_rank(self):
        """Axes of the map per example: 2 for images, 1 otherwise."""
        return 2 if self.kind == "image" else 1

    @property
    def has_channels(self):
        """Whether the attribution space has a trailing channel/embedding axis."""
        return self.kind != "vector"

    def space_shape(self, x_shape):
        """Shape of the attribution space (the embedding for token models) for a batch of shape ``x_shape``."""
        if self.kind == "tokens":
            return tuple(x_shape) + (self.embedding_dim,)
        return tuple(x_shape)

    def map_shape(self, x_shape):
        """Expected shape of the maps for a batch of shape ``x_shape``."""
        if self.kind in ("image", "sequence"):
            if self.channels_first:
                return (x_shape[0],) + tuple(x_shape[2:])
            return tuple(x_shape[:-1])
        return tuple(x_shape)

    def _default_batch_size(self):
        floats = 0
        for step in self.plan.steps:
            if step.alias:
                continue
            shape = entry_shape(self.plan, step)
            if shape is None:
                continue
            floats += math.prod(_UNKNOWN_AXIS if d is None else int(d) for d in shape[1:])
        # activations kept for the backward pass, their gradients, and slack
        per_example = max(floats, 1) * 4 * 3
        return int(max(1, min(_MAX_DEFAULT_BATCH, _BATCH_BUDGET_BYTES // per_example)))

    def reduce(self, values, how):
        """Attribution-space values -> one value per pixel/token (numpy).

        ``how``: ``"magnitude"`` for signed gradients (max |.| over image or
        sequence channels; L2 norm over an embedding), ``"positive"`` for
        non-negative quantities such as variances (max over channels; sum
        over an embedding), ``"sum"`` for contributions such as x * grad,
        ``"max_abs"`` for max |.| over any channel axis, embeddings included.
        """
        values = np.asarray(values, np.float32)
        if not self.has_channels:
            return np.abs(values) if how in ("magnitude", "max_abs") else values
        axis = self.channel_axis
        if how == "sum":
            return values.sum(axis=axis)
        if how == "max_abs":
            return np.abs(values).max(axis=axis)
        if self.kind == "tokens":
            if how == "magnitude":
                return np.sqrt(np.square(values).sum(axis=-1))
            return values.sum(axis=-1)
        if how == "magnitude":
            return np.abs(values).max(axis=axis)
        return values.max(axis=axis)


def model_info(plan, input=0, output=0) -> ModelInfo:
    """The (cached) ModelInfo of a graph plan, for one input and one output."""
    infos = plan.__dict__.setdefault("_attribution_info", {})
    info = infos.get((input, output))
    if info is None:
        info = infos[(input, output)] = ModelInfo(plan, input, output)
    return info


def _choose(value, names, what, default):
    """An input or output index from a name, an index or None (``default``)."""
    listed = ", ".join(f"{i}: {n!r}" for i, n in enumerate(names))
    if value is None:
        if default is None:
            raise InvalidInputError(f"this model has {len(names)} {what}s ({listed}); choose one with {what}=NAME_OR_INDEX")
        return default
    if isinstance(value, str):
        leaf = {n.rsplit("/", 1)[-1]: i for i, n in enumerate(names)}
        if value in names:
            return names.index(value)
        if value in leaf:
            return leaf[value]
        raise InvalidInputError(f"no {what} named {value!r}; the {what}s are {listed}")
    index = whole_number(value)
    if index is None or not 0 <= index < len(names):
        raise InvalidInputError(f"{what} must be a name or an index from 0 to {len(names) - 1} ({listed}), got {value!r}")
    return index


def choose_input(spec, value) -> int:
    """The explained input: by name or index; by default the only input, or the first image input."""
    names = [i.name for i in spec.inputs]
    images = [n for n, i in enumerate(spec.inputs) if i.kind == "image"]
    default = 0 if len(names) == 1 else (images[0] if images else None)
    return _choose(value, names, "input", default)


def choose_output(spec, value) -> int:
    """The explained output: by its layer's name or its index; single-output models default to it."""
    names = [o.name for o in spec.outputs]
    return _choose(value, names, "output", 0 if len(names) == 1 else None)


# ---------------------------------------------------------------------------
# progress and cancellation


#: previews (partial maps) at most once per this fraction of a call's progress
PREVIEW_EVERY = 0.05


class Run:
    """One ``attribute`` call's progress and cancellation, at chunk granularity.

    ``progress(fraction)`` is called with increasing fractions ending at 1.0;
    ``cancel`` is a ``threading.Event``, a callable returning True to stop,
    or None. A cancelled call raises :class:`~nbinterp.errors.CancelledError`
    before its next chunk.
    """

    def __init__(self, what, progress=None, cancel=None, preview=None):
        if progress is not None and not callable(progress):
            raise InvalidInputError("progress must be a callable taking a fraction in [0, 1], or None")
        if preview is not None and not callable(preview):
            raise InvalidInputError("preview must be a callable taking the partial maps, or None")
        if cancel is not None and not (callable(cancel) or callable(getattr(cancel, "is_set", None))):
            raise InvalidInputError("cancel must be a threading.Event, a callable returning True to stop, or None")
        self.what = what
        self._progress = progress
        self._cancel = cancel
        self._preview = preview
        self._previewed = None  # progress at the last preview
        self._last = 0.0
        self.finish = None  # set by Attribution.attribute: raw maps -> maps as returned

    @property
    def fraction(self) -> float:
        """The last progress reported."""
        return self._last

    def cancelled(self) -> bool:
        cancel = self._cancel
        if cancel is None:
            return False
        is_set = getattr(cancel, "is_set", None)
        return bool(is_set() if callable(is_set) else cancel())

    def check(self):
        if self.cancelled():
            raise CancelledError(f"{self.what} was cancelled")

    def report(self, fraction):
        fraction = min(max(float(fraction), self._last), 1.0)
        self._last = fraction
        if self._progress is not None:
            self._progress(fraction)

    @property
    def wants_preview(self) -> bool:
        return self._preview is not None

    def preview(self, make_maps, force=False):
        """Hand partial maps (``make_maps()``, in the method's raw layout) to the
        ``preview`` hook, as ``attribute`` would return them: the first time, then once
        per ``PREVIEW_EVERY`` of progress (``force``: now, e.g. a coarse pass is done);
        nothing without a hook."""
        if self._preview is None:
            return
        if not force and self._previewed is not None and self._last - self._previewed < PREVIEW_EVERY:
            return
        self._previewed = self._last
        maps = make_maps()
        self._preview(self.finish(maps) if self.finish is not None else maps)

    def chunks(self, total, size, share=(0.0, 1.0)):
        """``(start, end)`` ranges covering ``range(total)`` in steps of ``size``.

        Checks for cancellation before each chunk and reports progress after
        it, mapped into the ``share`` of the whole call this loop stands for.
        """
        low, high = share
        size = max(1, int(size))
        for start in range(0, total, size):
            self.check()
            end = min(start + size, total)
            yield start, end
            self.report(low + (high - low) * end / max(total, 1))


# ---------------------------------------------------------------------------
# the base class


class Attribution:
    """Base class of the attribution methods.

    ``Method(model, layer=None, preprocess=None, batch_size=None)`` then
    ``method.attribute(images, target=None, progress=None, cancel=None, **options)``.

    * ``model``: a Keras model, an Inspector or a path to a model file.
    * ``images``: one image or a batch (anything :func:`nbinterp.core.inputs.as_batch`
      accepts); ``preprocess`` is applied once, before the model sees them.
    * ``target``: class index per image (int, or one per image); ``None``
      explains the top predicted class. The class actually explained is in
      ``method.last_targets`` afterwards.
    * ``batch_size``: how many model evaluations (noise samples, integration
      steps, occluded copies) run together; default sized from the model's
      activation memory, at most 64.
    * ``progress``/``cancel``: see :class:`Run`.
    * ``reduce``: how channels become one value per pixel: None (the method's
      own way), ``"max_abs"``, ``"sum"`` (signed) or ``"none"`` (maps keep the
      attribution space's channel axis: ``(N, H, W, C)``, or ``(N, T, E)`` over
      an embedding); see :data:`REDUCTIONS`.
    * ``upsample``: the CAM family only; False returns the maps at the
      feature map's resolution.

    Returns float32 maps ``(N, H, W)`` for image models and ``(N, T)`` for
    sequence and text models (``(N, D)`` for vector inputs).
    """

    #: registry name, e.g. "smoothgrad"
    name: str = ""
    #: short human label for a UI
    label: str = ""
    #: the method's options, one :class:`nbinterp.core.options.Option` each
    option_table: tuple = ()
    #: option names and their defaults, derived from ``option_table``
    options: dict = {}
    #: whether the method takes ``layer=`` (Grad-CAM and Grad-CAM++)
    uses_layer: bool = False
    #: whether a UI should pass its selected layer as ``layer=`` (Grad-CAM: yes; CAM: no)
    follows_selected_layer: bool = False
    #: the engine kinds this method runs (for :func:`trace_count`)
    engines: tuple = ("gradient",)
    #: what its default map shows: "magnitude" (|.|, a signed map is had with
    #: ``reduce="sum"``), "signed" (the map keeps its sign) or None (no sign:
    #: non-negative by construction, e.g. variances, rectified CAMs)
    sign: str | None = "magnitude"
    #: whether the method reduces channels of the attribution space (through
    #: :meth:`reduce`); methods whose maps are per position (CAMs, occlusion)
    #: take ``reduce="max_abs"`` as |map| and cannot keep channels
    channel_reduction: bool = True
    #: whether the method computes at a feature map and upsamples (``upsample=False``
    #: keeps the feature map's resolution)
    upsamples: bool = False
    #: whether a UI may compute this method's map ahead of time, while the user thinks
    #: (the Explorer's warm-up): True where a map costs a few passes through the model;
    #: methods that evaluate the model hundreds of times per map say False, as their
    #: compiled part (the forward engine) is shared and warm already
    prefetch: bool = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.options = defaults(cls.option_table)

    def __init__(self, model, layer=None, preprocess=None, batch_size=None, input=None, output=None):
        model = resolve_model(model)
        #: the model explained: held here (the plan and the engines hold it weakly), so a
        #: method object keeps its model alive for as long as it is used
        self.model = model
        self.plan = plan_for(model)
        spec = model_spec(self.plan)
        self.input = choose_input(spec, input)
        self.output = choose_output(spec, output)
        self.info = model_info(self.plan, self.input, self.output)
        self.engines_ = engines_for(model)
        self._xs = None
        self._reduction, self.upsample = None, True  # set for the length of an attribute() call
        if layer is not None and not self.uses_layer:
            raise MethodNotApplicableError(f"{self.label} does not take a layer (got layer={layer!r})")
        if preprocess is not None and not callable(preprocess):
            raise InvalidInputError(f"preprocess must be callable, got {type(preprocess).__name__}")
        self.preprocess = preprocess
        if batch_size is None:
            batch_size = self.info.default_batch_size
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.layer = layer
        self.last_targets = None
        self._setup()

    def __repr__(self):
        return f"{type(self).__name__}(model={self.plan.model.name!r}, batch_size={self.batch_size})"

    # ------------------------------------------------------------- subclass API
    def _setup(self):
        """Resolve static configuration (layers, keys); may raise MethodNotApplicableError."""

    def _check(self, options: dict, x) -> dict:
        """Checks of option values that need the inputs (shapes); after the table's own checks."""
        return options

    def _explain(self, x, targets, options, run) -> tuple:
        """Return ``(maps, targets)`` for the batch ``x`` (numpy), running the engines in chunks."""
        raise NotImplementedError

    # ------------------------------------------------------------- public API
    def attribute(self, images, target=None, progress=None, cancel=None, reduce=None, upsample=True,
                  preview=None, **options):
        """Attribution maps for ``images``; see the class docstring. ``preview``: called
        with partial maps while a long method (occlusion) runs, coarse first."""
        self._check_shape_options(reduce, upsample)
        run = Run(self.label or self.name, progress, cancel, preview)
        opts = resolve(self.option_table, options, self.name)
        xs = as_inputs(images, self.info.model_spec, self.preprocess)
        x = xs[self.input]
        absolute = reduce == "max_abs" and not self.channel_reduction
        run.finish = lambda maps: self._finish(np.abs(maps) if absolute else maps, None)  # previews
        opts = self._check(opts, x)
        targets = self._resolve_targets(target, len(x))
        self._xs, self._reduction, self.upsample = xs, reduce, bool(upsample)
        try:
            maps, used = self._explain(x, targets, opts, run)
        finally:
            self._xs, self._reduction, self.upsample = None, None, True  # nothing of the call is kept
        run.report(1.0)
        self.last_targets = np.asarray(used).astype(np.int64)
        if reduce == "max_abs" and not self.channel_reduction:
            maps = np.abs(maps)
        if not upsample:
            expected = None
        elif reduce == "none" and self.info.has_channels:
            expected = self.info.space_shape(x.shape)
        else:
            expected = self.info.map_shape(x.shape)
        return self._finish(maps, expected)

    def _check_shape_options(self, reduce, upsample):
        if not (reduce is None or isinstance(reduce, str)) or reduce not in REDUCTIONS:
            raise InvalidInputError(
                f"reduce must be one of {', '.join(repr(r) for r in REDUCTIONS)}, got {reduce!r}")
        if reduce == "none" and not self.channel_reduction:
            raise MethodNotApplicableError(
                f"{self.label} maps are computed per position, without a channel axis to keep; "
                "reduce='none' is for gradient methods")
        if not isinstance(upsample, (bool, np.bool_)):
            raise InvalidInputError(f"upsample must be True or False, got {upsample!r}")
        if not upsample and not self.upsamples:
            raise MethodNotApplicableError(
                f"{self.label} maps are at input resolution already; upsample=False is for the CAM "
                "family (cam, gradcam, gradcam_plus_plus)")

    def reduce(self, values, how):
        """Attribution-space values -> maps: the method's own reduction ``how`` (see
        :meth:`ModelInfo.reduce`) unless the call asked for another with ``reduce=``."""
        chosen = getattr(self, "_reduction", None)
        if chosen == "none":
            return np.asarray(values, np.float32)
        return self.info.reduce(values, how if chosen is None else chosen)

    __call__ = attribute

    # ------------------------------------------------------------- shared host loops
    @property
    def engine(self):
        """The model's shared engines (:class:`nbinterp.core.engines.Engines`)."""
        return self.engines_

    def inputs_at(self, rows, values=None):
        """Every model input at batch ``rows``; the explained input replaced by ``values`` if given."""
        xs = [a[rows] for a in self._xs]
        if values is not None:
            xs[self.input] = values
        return xs

    def embed(self, rows):
        """The attribution space (inputs, or embeddings for token ids) of the explained input at ``rows``."""
        return self.engine.embed(self.inputs_at(rows), self.input)

    def logits_at(self, rows, values=None, via_gradients=False):
        """Logits of the explained output, the explained input at ``rows`` replaced by ``values``."""
        return self.engine.logits(self.inputs_at(rows, values), self.output, self.input, via_gradients)

    def space_logits_at(self, rows, z):
        """Logits with the explained input's attribution space at ``rows`` set to ``z``."""
        return self.engine.space_logits(self.inputs_at(rows), z, self.input, self.output)

    def gradients_at(self, rows, z, targets, rule="gradient"):
        """``(gradients, logits, targets)`` at attribution-space rows ``z`` of batch ``rows``."""
        return self.engine.gradients(z, targets, self.inputs_at(rows), self.input, self.output, rule)

    def feature_gradients_at(self, rows, key, targets):
        """``(features, their gradients, logits, targets)`` for batch ``rows``."""
        return self.engine.feature_gradients(key, self.inputs_at(rows), targets, self.output)

    def top_targets(self, x, targets, run, share=(0.0, 0.0)):
        """``(targets, base scores)``: negative targets replaced by the top class, and each
        row's target logit, from one chunked forward pass over the clean inputs."""
        targets = np.array(targets, np.int32)
        base = np.empty(len(x), np.float32)
        for start, end in run.chunks(len(x), self.batch_size, share):
            logits = self.logits_at(np.arange(start, end), via_gradients=True)
            rows = targets[start:end]
            rows[:] = np.where(rows < 0, logits.argmax(axis=-1), rows)
            base[start:end] = logits[np.arange(end - start), rows]
        return targets, base

    def single_pass(self, x, targets, run, explain):
        """Maps from one pass per input, in chunks: ``explain(rows, t_chunk) -> (maps, targets)``."""
        maps, used = [], []
        for start, end in run.chunks(len(x), self.batch_size):
            chunk_maps, chunk_targets = explain(np.arange(start, end), targets[start:end])
            maps.append(chunk_maps)
            used.append(chunk_targets)
        return np.concatenate(maps), np.concatenate(used)

    def gradient_pass(self, x, targets, run, how, rule="gradient", times_input=False):
        """One forward+backward per input: the target logit's gradient, reduced per pixel/token."""

        def explain(rows, tc):
            zc = self.embed(rows)
            grads, _, tc = self.gradients_at(rows, zc, tc, rule)
            values = np.asarray(zc, np.float32) * grads if times_input else grads
            return self.reduce(values, how), tc

        return self.single_pass(x, targets, run, explain)

    def perturbed_gradients(self, x, targets, run, count, perturb, accumulate):
        """Gradients at ``count`` perturbed copies of every input, in chunks of ``batch_size``.

        Work item ``k`` is copy ``k % count`` of input ``k // count``.
        ``perturb(z_rows, image, copy, start) -> z_perturbed`` makes the
        chunk's rows from their clean attribution-space rows (``start``: the
        chunk's first item, for seeding); ``accumulate(image, copy, grads)``
        adds the chunk's gradients of the target logits. Targets are
        resolved first, from the clean inputs. Returns the targets.
        """
        if (targets < 0).any():
            targets, _ = self.top_targets(x, targets, run, share=(0.0, 0.05))
        z = self.embed(np.arange(len(x)))
        total = len(x) * count
        for start, end in run.chunks(total, self.batch_size, (run.fraction, 1.0)):
            items = np.arange(start, end)
            image, copy = items // count, items % count
            rows = perturb(z[image], image, copy, start)
            grads, _, _ = self.gradients_at(image, rows, targets[image])
            accumulate(image, copy, grads)
        return targets

    # ------------------------------------------------------------- internals
    def _resolve_targets(self, target, n):
        return resolve_targets(target, n, self.info.num_classes)

    def _finish(self, maps, expected):
        maps = np.asarray(maps, dtype=np.float32)
        if expected is not None and maps.shape != expected:  # pragma: no cover - a method bug, not a user error
            raise AssertionError(f"{self.name} produced maps of shape {maps.shape}, expected {expected}")
        if not np.isfinite(maps).all():
            import warnings

            warnings.warn(
                f"{self.label}: the model produced non-finite gradients or scores for some inputs; "
                "those map values are set to 0",
                RuntimeWarning,
                stacklevel=3,
            )
            maps = np.nan_to_num(maps, nan=0.0, posinf=0.0, neginf=0.0)
        return np.ascontiguousarray(maps)


def sum_rows(acc, rows, values):
    """``acc[rows[k]] += values[k]`` for ``rows`` sorted ascending (each row's items contiguous)."""
    unique, starts = np.unique(rows, return_index=True)
    ends = np.append(starts[1:], len(rows))
    for row, start, end in zip(unique, starts, ends):
        acc[row] += values[start:end].sum(axis=0)


def resolve_targets(target, n: int, classes: int) -> np.ndarray:
    """``target`` as one class index per example (int32; -1 where the top class is wanted):
    None, one index for every example, or one per example (None entries allowed)."""
    if target is None:
        return np.full(n, -1, np.int32)
    values = np.asarray(target, dtype=object if isinstance(target, (list, tuple)) else None)
    if values.ndim == 0:
        values = np.full(n, values.item(), dtype=object)
    if values.ndim != 1 or len(values) != n:
        raise InvalidInputError(f"target must be one class index or one per image ({n}); got shape {values.shape}")
    out = np.empty(n, np.int32)
    for i, value in enumerate(values.tolist()):
        if value is None:
            out[i] = -1
            continue
        index = whole_number(value)
        if index is None:
            raise IndexOutOfRangeError(f"target must be an integer class index, got {value!r}")
        if not 0 <= index < classes:
            raise IndexOutOfRangeError(
                f"target class {index} is out of range: the model has {classes} classes "
                f"(valid targets are 0 to {classes - 1})"
            )
        out[i] = index
    return out
