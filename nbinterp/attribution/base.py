"""The machinery every attribution method shares.

:class:`Attribution` owns the parts that must behave the same for all
methods: input validation (through :func:`nbinterp.inputs.as_batch`), target
resolution and range checks, the score (the class *logit*, so softmax and
linear heads give the same maps), the cache of compiled functions and the
output contract (float32 ``(N, H, W)`` for image models, ``(N, T)`` for
sequence models, finite).

Each method only writes graph code: ``_build()`` returns a Python function
``f(x, target, batch_size, *option_tensors) -> (maps, targets)`` that is
wrapped once per (model, method, static configuration) in a ``tf.function``
with a shape-polymorphic ``input_signature``. New images, batch sizes,
targets or option values (noise, alpha, steps, ...) are tensors, so they never
trigger a new trace; :func:`trace_count` exposes how many traces happened.

Work items (noise samples, integration steps, occluded copies) are processed
inside the compiled function in chunks of ``batch_size`` by a ``tf.while_loop``
and summed per image with segment sums, so a SmoothGrad-50 map of one image
costs about one forward+backward pass on 50 images and nothing is copied back
to the host until the final maps.

``target=None`` explains the top predicted class without a separate pass:
methods that run the model on the input itself (gradient, CAM, Grad-CAM, ...)
take the argmax of that very forward pass; methods that only see perturbed
copies (SmoothGrad, integrated gradients, occlusion, ...) evaluate each
input's unperturbed row in the chunk where its first copy appears
(:func:`perturbation_loop`): one forward row per image, no extra function
call and no host round trip.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections import Counter

import numpy as np
import tensorflow as tf

from ..errors import (
    IndexOutOfRangeError,
    InvalidInputError,
    MethodNotApplicableError,
    NotSupportedError,
)
from ..core.graph import plan_for
from ..core.inputs import as_batch
from . import text

# ---------------------------------------------------------------------------
# trace counting

_TRACES: Counter = Counter()
_LOCK = threading.RLock()


def trace_count(method: str | None = None) -> int:
    """How many times attribution functions have been traced (compiled).

    With ``method`` (a METHODS name), only that method's traces are counted.
    A steady count across new images, targets and batch sizes shows that the
    compiled functions are being reused.
    """
    with _LOCK:
        if method is None:
            return sum(_TRACES.values())
        return _TRACES[method]


# ---------------------------------------------------------------------------
# what the methods need to know about a model

_FLOAT_KINDS = {1: "vector", 2: "sequence", 3: "image"}
# assumed size of an axis declared None, when sizing the default batch
_UNKNOWN_AXIS = 64
# memory a default batch may use for activations and their gradients
_BATCH_BUDGET_BYTES = 1.5 * 2**30
_MAX_DEFAULT_BATCH = 64


def shape_of_key(plan, key):
    """Static shape (with batch axis) of a tensor of the plan, or None if unknown."""
    step = plan.producer(key)
    if step is None:
        for tensor in plan.inputs:
            if id(tensor) == key:
                return tuple(tensor.shape)
        return None
    node = step.node
    if node is not None:
        for tensor in node.outputs:
            if id(tensor) == key:
                return tuple(tensor.shape)
        if len(node.outputs) == 1:
            return tuple(node.outputs[0].shape)
    try:
        return tuple(step.op.output.shape)
    except Exception:  # layers called more than once, or never symbolically
        return None


def entry_shape(plan, entry):
    """Static output shape of a Step or Group (single output), or None."""
    if len(entry.out_keys) != 1:
        return None
    return shape_of_key(plan, entry.out_keys[0])


class ModelInfo:
    """Facts about one model derived once per graph plan: input kind, logit, classes."""

    def __init__(self, plan):
        self.plan = plan
        if len(plan.inputs) != 1:
            raise NotSupportedError(
                f"attribution supports single-input models; this model has {len(plan.inputs)} inputs"
            )
        if len(plan.output_keys) != 1:
            raise NotSupportedError(
                f"attribution supports single-output models; this model has {len(plan.output_keys)} outputs"
            )
        tensor = plan.inputs[0]
        self.input_shape = tuple(tensor.shape[1:])
        self.input_dtype = np.dtype(tf.as_dtype(tensor.dtype).as_numpy_dtype).name
        self.logit_key = plan.logit_key()
        out_shape = shape_of_key(plan, plan.output_keys[0])
        if out_shape is None or len(out_shape) != 2 or out_shape[-1] is None:
            raise NotSupportedError(
                "attribution needs a classifier output of shape (batch, classes); "
                f"this model's output has shape {out_shape}"
            )
        self.num_classes = int(out_shape[-1])

        self.embedding = None
        if np.issubdtype(np.dtype(self.input_dtype), np.integer):
            if len(self.input_shape) != 1:
                raise NotSupportedError(
                    f"integer inputs of shape {self.input_shape} are not supported; token-id "
                    "models need inputs of shape (sequence_length,)"
                )
            self.embedding = text.find_embedding(plan)
            self.embedding_key = self.embedding.out_keys[0]
            self.embedding_dim = int(self.embedding.op.output_dim)
            self.kind = "tokens"
        elif np.issubdtype(np.dtype(self.input_dtype), np.floating):
            kind = _FLOAT_KINDS.get(len(self.input_shape))
            if kind is None:
                raise NotSupportedError(
                    f"inputs of shape {self.input_shape} are not supported; attribution handles "
                    "images (H, W, C), sequences (T, C), vectors (D,) and token ids (T,)"
                )
            self.kind = kind
        else:
            raise NotSupportedError(f"inputs of dtype {self.input_dtype} are not supported")
        self.default_batch_size = self._default_batch_size()

    # --------------------------------------------------------------- host side
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

    # -------------------------------------------------------------- graph side
    def embed(self, x):
        """The attribution space for inputs ``x``: the embedding for token models, else ``x``."""
        if self.kind == "tokens":
            (z,) = self.plan.run([x], [self.embedding_key])
            return tf.cast(z, tf.float32) if not z.dtype.is_floating else z
        return x

    def feeds(self, x, z):
        """``(inputs, feeds)`` for running the graph from attribution-space values ``z``."""
        if self.kind == "tokens":
            return [x], {self.embedding_key: text.attach_mask(self.embedding, x, z)}
        return [z], None

    def logits(self, x, z, activation_override=None):
        """Class logits, float32, for attribution-space values ``z`` (from inputs ``x``)."""
        inputs, feeds = self.feeds(x, z)
        (out,) = self.plan.run(inputs, [self.logit_key], activation_override=activation_override, feeds=feeds)
        return tf.cast(out, tf.float32)

    def run(self, x, z, want, activation_override=None):
        """Several graph tensors at once, fed from attribution-space values ``z``."""
        inputs, feeds = self.feeds(x, z)
        return self.plan.run(inputs, list(want), activation_override=activation_override, feeds=feeds)

    def space_shape_tensor(self, x):
        """Shape (tensor) of the attribution space for the batch ``x``."""
        shape = tf.shape(x)
        if self.kind == "tokens":
            return tf.concat([shape, [self.embedding_dim]], 0)
        return shape

    def map_shape_tensor(self, x):
        """Shape (tensor) of the maps for the batch ``x``."""
        shape = tf.shape(x)
        return shape[:-1] if self.kind in ("image", "sequence") else shape

    def reduce(self, values, how):
        """Attribution-space values -> one value per pixel/token.

        ``how``: ``"magnitude"`` for signed gradients (max |.| over image or
        sequence channels; L2 norm over an embedding), ``"positive"`` for
        non-negative quantities such as variances (max over channels; sum
        over an embedding), ``"sum"`` for contributions such as x * grad.
        """
        values = tf.cast(values, tf.float32)
        if not self.has_channels:
            return tf.abs(values) if how == "magnitude" else values
        if how == "sum":
            return tf.reduce_sum(values, axis=-1)
        if self.kind == "tokens":
            if how == "magnitude":
                return tf.norm(values, axis=-1)
            return tf.reduce_sum(values, axis=-1)
        if how == "magnitude":
            return tf.reduce_max(tf.abs(values), axis=-1)
        return tf.reduce_max(values, axis=-1)


def model_info(plan) -> ModelInfo:
    with _LOCK:
        store = _store(plan)
        info = store.get("info")
        if info is None:
            info = ModelInfo(plan)
            store["info"] = info
        return info


def _store(plan):
    """Per-plan storage; it goes away with the plan (and with the model)."""
    store = plan.__dict__.get("_nbinterp_attribution")
    if store is None:
        store = {"functions": {}}
        plan.__dict__["_nbinterp_attribution"] = store
    return store


# ---------------------------------------------------------------------------
# graph helpers shared by the methods


def class_scores(logits, targets):
    """``logits[i, targets[i]]`` for each row."""
    return tf.gather(logits, targets[:, None], batch_dims=1)[:, 0]


def fill_top_class(targets, logits):
    """``targets`` with each negative entry (no class given) replaced by that row's top class."""
    return tf.where(targets < 0, tf.argmax(logits, axis=-1, output_type=tf.int32), targets)


def single_pass_loop(info, x, targets, batch_size, explain):
    """Maps of every input from one pass each, in chunks of ``batch_size`` inputs, inside the graph.

    ``explain(x_chunk, targets_chunk) -> (maps, targets)`` gives the maps of
    a chunk and the classes they explain (negative targets replaced by the
    top class). Returns ``(maps, targets)`` for the whole batch.
    """
    n = tf.shape(x)[0]
    batch_size = tf.maximum(tf.cast(batch_size, tf.int32), 1)
    n_chunks = (n + batch_size - 1) // batch_size

    def step(i, maps, used):
        start = i * batch_size
        indices = tf.range(start, tf.minimum(start + batch_size, n))
        chunk_maps, chunk_targets = explain(tf.gather(x, indices), tf.gather(targets, indices))
        return i + 1, scatter_rows(maps, indices, chunk_maps), scatter_rows(used, indices, chunk_targets)

    initial = (tf.constant(0), tf.zeros(info.map_shape_tensor(x), tf.float32), tf.zeros([n], tf.int32))
    _, maps, used = tf.while_loop(lambda i, *state: i < n_chunks, step, initial, parallel_iterations=1)
    return maps, used


def scatter_rows(acc, indices, values):
    """``acc[indices] += values`` for distinct row indices."""
    return tf.tensor_scatter_nd_add(acc, indices[:, None], tf.cast(values, acc.dtype))


def sum_rows(acc, segments, values):
    """``acc[segments[k]] += values[k]``, several values may land on the same row."""
    return acc + tf.math.unsorted_segment_sum(tf.cast(values, acc.dtype), segments, tf.shape(acc)[0])


def score_gradients(info, x, z, targets, activation_override=None):
    """Gradient of the target logits with respect to ``z``.

    Negative targets are replaced by the top class of this very forward pass.
    Returns ``(gradients, logits, targets)``.
    """
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(z)
        logits = info.logits(x, z, activation_override)
        targets = fill_top_class(targets, logits)
        score = tf.reduce_sum(class_scores(logits, targets))
    return tape.gradient(score, z), logits, targets


def perturbation_loop(info, x, targets, batch_size, count, perturb, accumulate, initial, *, gradients=True, clean=None):
    """Evaluate the model on ``count`` perturbed copies of every input, in chunks.

    Work item ``k`` is copy ``k % count`` of input ``k // count``; chunk ``c``
    holds items ``[c * batch_size, (c + 1) * batch_size)``. When ``clean``
    (a boolean tensor; default: some target is negative) each chunk first
    evaluates the unperturbed rows of the inputs that first appear in it:
    their logits give the top-class targets and the base scores before any
    copy of that input needs them. With ``gradients`` these rows go through
    a separate forward-only pass (skipped in chunks that have none), so
    resolving targets costs N forward rows - a third of a forward+backward
    row each; without, they join the chunk's batch. Chunk boundaries, hence
    noise seeds, do not depend on it.

    * ``perturb(z, image, copy, start) -> (z_perturbed, aux)``: perturbed
      attribution-space rows for items whose clean rows are ``z``; ``start``
      is the chunk's first item (for seeding random numbers).
    * ``accumulate(state, image, copy, values, aux) -> state``: ``values``
      are the gradients of the target logits with respect to the perturbed
      rows (``gradients=True``), or the drops ``base score - score``.

    Returns ``(state, targets)``.
    """
    n = tf.shape(x)[0]
    batch_size = tf.maximum(tf.cast(batch_size, tf.int32), 1)
    count = tf.cast(count, tf.int32)
    total = n * count
    n_chunks = (total + batch_size - 1) // batch_size
    if clean is None:
        clean = tf.reduce_any(targets < 0)

    def resolve(clean_images, clean_logits, targets, base):
        resolved = fill_top_class(tf.gather(targets, clean_images), clean_logits)
        targets = tf.tensor_scatter_nd_update(targets, clean_images[:, None], resolved)
        base = tf.tensor_scatter_nd_update(base, clean_images[:, None], class_scores(clean_logits, resolved))
        return targets, base

    def step(c, targets, base, state):
        start = c * batch_size
        end = tf.minimum(start + batch_size, total)
        items = tf.range(start, end)
        image, copy = items // count, items % count
        first_new = tf.where(start > 0, (start - 1) // count + 1, 0)
        clean_images = tf.range(first_new, tf.where(clean, (end - 1) // count + 1, first_new))
        if gradients:
            # clean rows need no backward pass: a forward-only pass, only in chunks that have some

            def clean_pass():
                xc = tf.gather(x, clean_images)
                return resolve(clean_images, info.logits(xc, info.embed(xc)), targets, base)

            targets, base = tf.cond(tf.size(clean_images) > 0, clean_pass, lambda: (targets, base))
            x_rows = tf.gather(x, image)
            z_perturbed, aux = perturb(info.embed(x_rows), image, copy, start)
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(z_perturbed)
                logits = info.logits(x_rows, z_perturbed)
                score = tf.reduce_sum(class_scores(logits, tf.gather(targets, image)))
            values = tape.gradient(score, z_perturbed)
        else:
            # forward only: the clean rows join the chunk's batch
            n_clean = tf.shape(clean_images)[0]
            x_rows = tf.gather(x, tf.concat([clean_images, image], 0))
            z_rows = info.embed(x_rows)
            z_perturbed, aux = perturb(z_rows[n_clean:], image, copy, start)
            logits = info.logits(x_rows, tf.concat([z_rows[:n_clean], tf.cast(z_perturbed, z_rows.dtype)], 0))
            targets, base = resolve(clean_images, logits[:n_clean], targets, base)
            values = tf.gather(base, image) - class_scores(logits[n_clean:], tf.gather(targets, image))
        return c + 1, targets, base, accumulate(state, image, copy, values, aux)

    _, targets, _, state = tf.while_loop(
        lambda c, *rest: c < n_chunks,
        step,
        (tf.constant(0), targets, tf.zeros([n], tf.float32), initial),
        parallel_iterations=1,
    )
    return state, targets


def per_example(values, rank):
    """Reshape a (B,) tensor so it broadcasts against (B, ...) of ``rank`` axes."""
    return tf.reshape(values, tf.concat([tf.shape(values), tf.ones([rank - 1], tf.int32)], 0))


def _cached_function(plan, key, make):
    """The concrete function stored under ``key`` for this plan, made and traced on first use.

    Calling the concrete function skips ``tf.function``'s per-call dispatch;
    its ``input_signature`` is shape-polymorphic, so one trace serves every
    batch size and image.
    """
    with _LOCK:
        functions = _store(plan)["functions"]
        entry = functions.get(key)
        if entry is None:
            entry = functions[key] = [make(), None]
    if entry[1] is None:  # trace outside the lock; tf.function serialises its own tracing
        entry[1] = entry[0].get_concrete_function()
    return entry[1]


class _Traced:
    """The Python body of one compiled attribution function; counts its traces.

    A callable object rather than a closure: TensorFlow's retracing warning
    groups functions by code object, and every method shares this code.
    """

    def __init__(self, name, inner):
        self.name = name
        self.inner = inner

    def __call__(self, x, targets, batch_size, *options):
        with _LOCK:
            _TRACES[self.name] += 1
        maps, used = self.inner(x, targets, batch_size, *options)
        return tf.cast(maps, tf.float32), tf.cast(used, tf.int32)


# ---------------------------------------------------------------------------
# the base class


class Attribution:
    """Base class of the attribution methods.

    ``Method(model, layer=None, preprocess=None, batch_size=None)`` then
    ``method.attribute(images, target=None, **options)``.

    * ``images``: one image or a batch (anything :func:`nbinterp.inputs.as_batch`
      accepts); ``preprocess`` is applied once, before the model sees them.
    * ``target``: class index per image (int, or one per image); ``None``
      explains the top predicted class. The class actually explained is in
      ``method.last_targets`` afterwards.
    * ``batch_size``: how many model evaluations (noise samples, integration
      steps, occluded copies) run together; default sized from the model's
      activation memory, at most 64.

    Returns float32 maps ``(N, H, W)`` for image models and ``(N, T)`` for
    sequence and text models (``(N, D)`` for vector inputs).
    """

    #: registry name, e.g. "smoothgrad"
    name: str = ""
    #: short human label for a UI
    label: str = ""
    #: option names and their defaults (``attribute(..., **options)``)
    options: dict = {}
    #: whether the method takes ``layer=`` (Grad-CAM and Grad-CAM++)
    uses_layer: bool = False

    def __init__(self, model, layer=None, preprocess=None, batch_size=None):
        self.plan = plan_for(model)
        self.info = model_info(self.plan)
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

    def _static_key(self) -> tuple:
        """What, besides the method, distinguishes one compiled function from another."""
        return ()

    def _check_options(self, options: dict) -> dict:
        """Validate and normalise option values (host side)."""
        return options

    def _option_specs(self) -> list:
        """TensorSpecs of the option tensors the compiled function takes after (x, target, batch)."""
        return []

    def _option_values(self, x, options) -> list:
        """Host values for those tensors, for the batch ``x``."""
        return []

    def _build(self):
        """Return ``f(x, targets, batch_size, *option_tensors) -> (maps, targets)`` (graph code).

        The function must not refer to ``self`` (the cache outlives instances
        and must not keep the model alive) - only to ``self.info`` and values.
        """
        raise NotImplementedError

    # ------------------------------------------------------------- public API
    def attribute(self, images, target=None, **options):
        """Attribution maps for ``images``; see the class docstring."""
        opts = self._resolve_options(options)
        x = as_batch(images, self.info.input_shape, self.info.input_dtype, self.preprocess)
        targets = self._resolve_targets(target, len(x))
        function = self._compiled()
        extra = self._option_values(x, opts)
        maps, used = function(x, targets, np.int32(self.batch_size), *extra)
        self.last_targets = used.numpy().astype(np.int64)
        return self._finish(maps.numpy(), x.shape)

    __call__ = attribute

    # ------------------------------------------------------------- internals
    def _resolve_options(self, given):
        unknown = sorted(set(given) - set(self.options))
        if unknown:
            valid = ", ".join(sorted(self.options)) or "none"
            raise InvalidInputError(
                f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                f"for {self.name}; its options are: {valid}"
            )
        opts = dict(self.options)
        opts.update(given)
        return self._check_options(opts)

    def _resolve_targets(self, target, n):
        k = self.info.num_classes
        if target is None:
            return np.full(n, -1, np.int32)
        values = np.asarray(target, dtype=object if isinstance(target, (list, tuple)) else None)
        if values.ndim == 0:
            values = np.full(n, values.item(), dtype=object)
        if values.ndim != 1 or len(values) != n:
            raise InvalidInputError(
                f"target must be one class index or one per image ({n}); got shape {values.shape}"
            )
        out = np.empty(n, np.int32)
        for i, value in enumerate(values.tolist()):
            if value is None:
                out[i] = -1
                continue
            index = whole_number(value)
            if index is None:
                raise IndexOutOfRangeError(f"target must be an integer class index, got {value!r}")
            if not 0 <= index < k:
                raise IndexOutOfRangeError(
                    f"target class {index} is out of range: the model has {k} classes "
                    f"(valid targets are 0 to {k - 1})"
                )
            out[i] = index
        return out

    def _compiled(self):
        return _cached_function(self.plan, (self.name,) + tuple(self._static_key()), self._make_function)

    def _make_function(self):
        info = self.info
        signature = [
            tf.TensorSpec((None,) + info.input_shape, tf.as_dtype(info.input_dtype), name="x"),
            tf.TensorSpec([None], tf.int32, name="targets"),
            tf.TensorSpec([], tf.int32, name="batch_size"),
        ] + list(self._option_specs())
        return tf.function(_Traced(self.name, self._build()), input_signature=signature, autograph=False)

    def _finish(self, maps, x_shape):
        expected = self.info.map_shape(x_shape)
        maps = np.asarray(maps, dtype=np.float32)
        if maps.shape != expected:  # pragma: no cover - a method bug, not a user error
            raise AssertionError(f"{self.name} produced maps of shape {maps.shape}, expected {expected}")
        if not np.isfinite(maps).all():
            warnings.warn(
                f"{self.label}: the model produced non-finite gradients or scores for some inputs; "
                "those map values are set to 0",
                RuntimeWarning,
                stacklevel=3,
            )
            maps = np.nan_to_num(maps, nan=0.0, posinf=0.0, neginf=0.0)
        return maps


# ---------------------------------------------------------------------------
# option validation helpers


def whole_number(value):
    """``value`` as an int if it is a whole number (``3``, ``np.int64(3)``, ``3.0``), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    return None


def positive_int(options, name, minimum=1):
    value = whole_number(options[name])
    if value is None or value < minimum:
        raise InvalidInputError(f"{name} must be an integer >= {minimum}, got {options[name]!r}")
    return value


def real_number(options, name, low=None, high=None):
    value = options[name]
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise InvalidInputError(f"{name} must be a finite number {bounds}, got {value!r}")
    return value
