"""Shared plumbing for the unit views: the model with its plan, checked channels, cancellation.

Progress displays live in :mod:`nbinterp.display`.
"""

from __future__ import annotations


import tensorflow as tf

from ..errors import CancelledError, MethodNotApplicableError, NotSupportedError, check_index
from ..core import compiled
from ..core.graph import Group, plan_for
from ..core.model_spec import model_spec
from ..core.models import resolve_model
from ..core.inspector import Inspector


class UnitModel:
    """A single-input Keras model with float input, its graph plan, the per-example
    input shape and dtype, and the preprocess function applied before it."""

    def __init__(self, model, preprocess=None):
        if isinstance(model, Inspector):
            if preprocess is None:
                preprocess = model.preprocess
        model = resolve_model(model)  # a model, an Inspector or a model file
        self.model = model
        self.plan = plan_for(model)
        spec = model_spec(self.plan).single_input("the unit views")
        self.input_shape = spec.shape
        self.input_dtype = spec.dtype
        if self.input_dtype.kind != "f":
            raise NotSupportedError(f"unit views need a model with a float input, not {self.input_dtype}")
        self.preprocess = preprocess


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
    zeros = tf.zeros((1,) + unit_model.input_shape, unit_model.input_dtype)
    (out,) = unit_model.plan.run([zeros], [unit_model.plan.output_key(entry.path)])
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
    """The spatial shape of the output ``key`` (static shape ``out_shape``) for inputs like ``x``.

    The static shape when it is fully known, else measured by running the
    first example of ``x`` through the graph.
    """
    static = tuple(out_shape[1:-1])
    if all(d is not None for d in static):
        return static
    (out,) = unit_model.plan.run([tf.convert_to_tensor(x[:1])], [key])
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
