"""Shared plumbing for the unit views: the model with its plan, checked channels, cancellation.

Progress displays live in :mod:`nbinterp.display`.
"""

from __future__ import annotations


import tensorflow as tf

import numpy as np

from ..errors import (
    CancelledError, InputShapeError, InvalidInputError, MethodNotApplicableError, NotSupportedError, check_index,
)
from ..core import compiled
from ..core.graph import Group, plan_for
from ..core.inputs import as_inputs
from ..core.model_spec import model_spec
from ..core.models import resolve_model
from ..core.inspector import Inspector


class UnitModel:
    """A Keras model with a float input to explain, its graph plan, the per-example
    shape and dtype of that input, and the preprocess function applied before it.

    A model with several inputs has one of them chosen (``input``: a name or an
    index; by default the first image input): the unit views synthesise,
    differentiate and crop that one. The others are fed as given (a structured
    dataset) or held at fixed values (:meth:`held`)."""

    def __init__(self, model, preprocess=None, input=None):
        if isinstance(model, Inspector):
            if preprocess is None:
                preprocess = model.preprocess
        model = resolve_model(model)  # a model, an Inspector or a model file
        self.model = model
        self.plan = plan_for(model)
        self.spec = model_spec(self.plan)
        if len(self.spec.inputs) == 1 and input is None:
            self.input = 0
        else:
            from ..attribution.base import choose_input

            self.input = choose_input(self.spec, input)
        spec = self.spec.inputs[self.input]
        self.input_shape = spec.shape
        self.input_dtype = spec.dtype
        self.input_name = spec.name
        if self.input_dtype.kind != "f":
            raise NotSupportedError(
                f"unit views need a float input, not {self.input_dtype}"
                + (f" (input {spec.name!r})" if self.structured else "")
            )
        self.preprocess = preprocess

    @property
    def structured(self) -> bool:
        """Whether the model has several inputs."""
        return len(self.spec.inputs) > 1

    @property
    def key(self) -> tuple:
        """What compiled functions of this unit model depend on besides the layer: the chosen input."""
        return (self.input,) if self.structured else ()

    def signature(self, batch=None) -> list:
        """TensorSpecs of every model input, in the model's order (``batch``: the batch size, or None)."""
        return [tf.TensorSpec((batch,) + s.shape, tf.as_dtype(s.dtype)) for s in self.spec.inputs]

    def inputs(self, values, preprocess=True) -> list:
        """Every model input as a validated batch (one array per input; see
        :func:`nbinterp.core.inputs.as_inputs`); ``preprocess`` applies this model's function."""
        return as_inputs(values, self.spec, self.preprocess if preprocess else None)

    def with_input(self, xs, x) -> list:
        """``xs`` (every model input) with the chosen input replaced by ``x``."""
        xs = list(xs)
        xs[self.input] = x
        return xs

    def held(self, values, what="the other inputs") -> list:
        """The inputs besides the chosen one, at ``values`` (one example, structured as the model's
        inputs: the chosen input's entry is ignored), each a batch of one; ``[]`` for one input."""
        if not self.structured:
            return []
        if values is None:
            names = ", ".join(repr(s.name) for n, s in enumerate(self.spec.inputs) if n != self.input)
            raise InvalidInputError(
                f"this model has {len(self.spec.inputs)} inputs: pass the values to hold {names} at "
                f"while input {self.input_name!r} changes ({what})"
            )
        filler = np.zeros((1,) + tuple(d or 1 for d in self.input_shape), self.input_dtype)
        if isinstance(values, dict) and values.get(self.input_name) is None:
            values = {**values, self.input_name: filler}
        elif isinstance(values, (list, tuple)) and len(values) == len(self.spec.inputs) and values[self.input] is None:
            values = self.with_input(values, filler)
        xs = self.inputs(values)
        if len(xs[0]) != 1:
            raise InputShapeError(f"the held inputs must be one example, got {len(xs[0])}")
        return [x for n, x in enumerate(xs) if n != self.input]

    def assemble(self, held, x) -> list:
        """Every model input: ``x`` at the chosen input, the ``held`` ones (batches of one)
        repeated to ``x``'s batch size (graph code)."""
        if not held:
            return [x]
        n = tf.shape(x)[0]
        others = [tf.repeat(h, n, axis=0) for h in held]
        return others[: self.input] + [x] + others[self.input:]


def depends_on(plan, key) -> set:
    """Indices of the model inputs that the tensor ``key`` is computed from."""
    inputs = {k: i for i, k in enumerate(plan.input_keys)}
    found, seen, stack = set(), set(), [key]
    while stack:
        k = stack.pop()
        if k in seen:
            continue
        seen.add(k)
        if k in inputs:
            found.add(inputs[k])
            continue
        step = plan.producer(k)
        if step is not None:
            stack.extend(step.in_keys)
    return found


def cached_function(model, key, build):
    """The function stored for ``(model, key)``, built by ``build()`` on first use: kept by
    the package's one owner of compiled functions (:mod:`nbinterp.core.compiled`), per model
    (weakly, so the functions die with the model) and within its memory budget."""
    return compiled.function(model, key, build, kind="units")


def layer_output_shape(unit_model, entry):
    """Output shape (batch axis included) of a plan entry (layer or nested model).

    The static shape the graph records for it; for an entry without one, the
    shape of its output for one zero input when the model's input size is
    known, else NotSupportedError.
    """
    outputs = entry.model.outputs if isinstance(entry, Group) else (entry.node.outputs if entry.node is not None else ())
    if len(outputs) == 1:
        return tuple(None if d is None else int(d) for d in outputs[0].shape)
    if any(d is None for d in unit_model.input_shape):
        raise NotSupportedError(
            f"layer {entry.path!r} has no static output shape and the model input has unknown sizes"
        )
    if any(d is None for s in unit_model.spec.inputs for d in s.shape):
        raise NotSupportedError(
            f"layer {entry.path!r} has no static output shape and the model's inputs have unknown sizes"
        )
    zeros = [tf.zeros((1,) + s.shape, s.dtype) for s in unit_model.spec.inputs]
    (out,) = unit_model.plan.run(zeros, [unit_model.plan.output_key(entry.path)])
    return (None,) + tuple(int(d) for d in out.shape[1:])


def checked_channel(unit_model, entry, channel):
    """The static output shape of ``entry`` and ``channel`` checked against its last (channel) axis."""
    shape = layer_output_shape(unit_model, entry)
    if len(shape) < 2 or shape[-1] is None:
        raise MethodNotApplicableError(f"layer {entry.path!r} has no channel axis (output shape {shape})")
    return shape, check_index(channel, int(shape[-1]), "channel")


def channel_unit(unit_model, layer, channel):
    """``(entry, output key, static output shape, channel)`` for one channel of ``layer``."""
    entry = unit_model.plan.resolve(layer)
    key = unit_model.plan.output_key(entry.path)
    shape, channel = checked_channel(unit_model, entry, channel)
    return entry, key, shape, channel


def output_grid(unit_model, key, x, out_shape):
    """The spatial shape of the output ``key`` (static shape ``out_shape``) for inputs like ``x``
    (the chosen input's batch, or a list of every input's batch).

    The static shape when it is fully known, else measured by running the
    first example of ``x`` through the graph.
    """
    static = tuple(out_shape[1:-1])
    if all(d is not None for d in static):
        return static
    xs = x if isinstance(x, (list, tuple)) else [x]
    (out,) = unit_model.plan.run([tf.convert_to_tensor(v[:1]) for v in xs], [key])
    return tuple(int(d) for d in out.shape[1:-1])


def cancel_requested(cancel) -> bool:
    """True once ``cancel`` (None, a ``threading.Event`` or a callable) asks to stop."""
    if cancel is None:
        return False
    is_set = getattr(cancel, "is_set", None)
    if callable(is_set):
        return bool(is_set())
    if callable(cancel):
        return bool(cancel())
    raise TypeError("cancel must be a threading.Event, a callable returning True to stop, or None")


def cancelled(what, partial):
    """A CancelledError carrying the partial result in ``.partial``."""
    err = CancelledError(f"{what} was cancelled; the partial result is in the exception's .partial")
    err.partial = partial
    return err


def unit_model_for(model, preprocess=None, input=None, layer=None) -> UnitModel:
    """A UnitModel whose chosen input is ``input``, or by default, on a model with several
    inputs, the one image input that ``layer`` is computed from (else the one float input
    it is computed from; else the first image input)."""
    if input is None and layer is not None:
        plain = UnitModel(model, preprocess, None) if not isinstance(model, UnitModel) else model
        if not plain.structured:
            return plain
        entry = plain.plan.resolve(layer)
        keys = entry.out_keys[:1]
        deps = set().union(*(depends_on(plain.plan, k) for k in keys)) if keys else set()
        floats = sorted(i for i in deps if plain.spec.inputs[i].dtype.kind == "f")
        images = [i for i in floats if plain.spec.inputs[i].kind == "image"]
        chosen = images[0] if len(images) == 1 else floats[0] if len(floats) == 1 else plain.input
        return plain if chosen == plain.input else UnitModel(plain.model, plain.preprocess, chosen)
    return UnitModel(model, preprocess, input)
