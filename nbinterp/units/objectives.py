"""What :func:`nbinterp.maximize` climbs: objectives as small composable classes.

* :class:`Class` ``(c)`` - the logit of class ``c`` (the value before a final
  softmax/sigmoid): class model visualisation (Simonyan et al., 2014).
* :class:`Channel` ``(layer, c)`` - the mean over positions of channel ``c`` of
  ``layer``'s output.
* :class:`Neuron` ``(layer, c, position)`` - channel ``c`` at one spatial
  position of ``layer``'s output.
* :class:`DeepDream` ``(layer)`` - the mean square of everything ``layer``
  outputs (DeepDream, Mordvintsev et al., 2015).

Objectives add up and scale, as in Lucid: ``Channel("conv3", 5) + 0.5 * Class(3)``
climbs the weighted sum of the two, ``Channel("conv3", 5) - Channel("conv3", 2)``
raises one channel while lowering the other. A composite is a :class:`Sum` of
``(weight, objective)`` terms.

Each objective *resolves* itself against a model (:meth:`Objective.resolve`):
it checks its layer, channel and position against the model's graph plan and
returns a :class:`Resolved` objective, whose ``value(read, index)`` computes
the scalar from layer outputs. ``read(path)`` is supplied by whoever runs the
model and returns the output of the layer at ``path`` for the current input
(``read(None)``: the logits); the class, channel and position arrive as the
int32 tensor ``index``, so one traced function serves every class or channel
of the same kind of objective (``Resolved.key`` says which kind).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Real
from types import MappingProxyType

import numpy as np
import tensorflow as tf

from ..errors import InvalidInputError, check_index
from ._common import UnitModel, checked_channel

__all__ = [
    "Objective",
    "Class",
    "Channel",
    "Neuron",
    "DeepDream",
    "Sum",
    "Resolved",
    "as_objective",
]


@dataclass(frozen=True)
class Resolved:
    """An objective checked against one model.

    ``key``: hashable, the same for objectives that differ only in ``index``;
    ``index``: the ints fed to ``value`` as one int32 vector;
    ``value(read, index)``: the scalar objective, ``read(path)`` giving the
    output (batch of one) of the layer at ``path``, ``read(None)`` the logits
    (``read(None, k)``: the logits of output ``k`` of a model with several).
    """

    key: tuple
    index: tuple
    value: Callable = field(compare=False)


class Objective(ABC):
    """Base class of what :func:`nbinterp.maximize` maximises; objectives add, subtract and scale."""

    @abstractmethod
    def resolve(self, unit_model: UnitModel) -> Resolved:
        """This objective checked against ``unit_model`` (see the module documentation)."""

    def terms(self) -> tuple:
        """``((weight, objective), ...)``: the weighted simple objectives this one adds up."""
        return ((1.0, self),)

    def __add__(self, other):
        if not isinstance(other, Objective):
            return NotImplemented
        return Sum(self.terms() + other.terms())

    def __radd__(self, other):
        # sum(objectives) starts from 0
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        return NotImplemented

    def __sub__(self, other):
        if not isinstance(other, Objective):
            return NotImplemented
        return self + (-1.0) * other

    def __mul__(self, weight):
        if isinstance(weight, bool) or not isinstance(weight, Real):
            return NotImplemented
        weight = float(weight)
        if not math.isfinite(weight):
            raise InvalidInputError(f"an objective's weight must be a finite number, got {weight}")
        return Sum(tuple((weight * w, objective) for w, objective in self.terms()))

    __rmul__ = __mul__

    def __neg__(self):
        return (-1.0) * self


@dataclass(frozen=True)
class Class(Objective):
    """The logit (pre-softmax value) of class ``index`` of output number ``output``
    (default the first, the only one of most models)."""

    index: int
    output: int = 0

    def resolve(self, unit_model: UnitModel) -> Resolved:
        outputs = unit_model.model.outputs
        head = check_index(self.output, len(outputs), "output")
        size = outputs[head].shape[-1]
        c = check_index(self.index, int(size), "class") if size is not None else int(self.index)
        unit_model.plan.logit_key(head)  # an output without logits fails here, before any tracing

        def value(read, index):
            return tf.gather(tf.reshape(read(None, head)[0], [-1]), index[0])

        return Resolved(("class", head), (c,), value)


@dataclass(frozen=True)
class Channel(Objective):
    """The mean over positions of channel ``index`` of ``layer``'s output."""

    layer: str
    index: int

    def resolve(self, unit_model: UnitModel) -> Resolved:
        entry = unit_model.plan.resolve(self.layer)
        _, c = checked_channel(unit_model, entry, self.index)

        def value(read, index):
            return tf.reduce_mean(tf.gather(read(entry.path)[0], index[0], axis=-1))

        return Resolved(("channel", entry.path), (c,), value)


@dataclass(frozen=True)
class Neuron(Objective):
    """Channel ``index`` of ``layer``'s output at one spatial ``position`` (e.g. ``(row, col)``)."""

    layer: str
    index: int
    position: tuple = ()

    def resolve(self, unit_model: UnitModel) -> Resolved:
        entry = unit_model.plan.resolve(self.layer)
        shape, c = checked_channel(unit_model, entry, self.index)
        spatial = tuple(shape[1:-1])
        position = tuple(self.position) if np.ndim(self.position) else (self.position,)
        if len(position) != len(spatial):
            raise InvalidInputError(
                f"layer {entry.path!r} has {len(spatial)} spatial axes {spatial}; position {self.position!r} does not match"
            )
        where = tuple(
            check_index(p, n, f"position on axis {a}") if n is not None else int(p)
            for a, (p, n) in enumerate(zip(position, spatial))
        )
        rank = len(spatial) + 1

        def value(read, index):
            at = tf.ensure_shape(tf.concat([index[1:], index[:1]], axis=0), [rank])
            return tf.gather_nd(read(entry.path)[0], at[None])[0]

        return Resolved(("neuron", entry.path), (c,) + where, value)


@dataclass(frozen=True)
class DeepDream(Objective):
    """The mean square of ``layer``'s whole output: DeepDream amplifies whatever the layer sees."""

    layer: str

    def resolve(self, unit_model: UnitModel) -> Resolved:
        entry = unit_model.plan.resolve(self.layer)
        unit_model.plan.output_key(entry.path)  # a multi-output layer fails here

        def value(read, index):
            return tf.reduce_mean(tf.square(read(entry.path)))

        return Resolved(("deepdream", entry.path), (), value)


@dataclass(frozen=True)
class Sum(Objective):
    """The weighted sum of simple objectives, ``((weight, objective), ...)``; built by ``+``, ``-`` and ``*``."""

    parts: tuple

    def terms(self) -> tuple:
        return self.parts

    def resolve(self, unit_model: UnitModel) -> Resolved:
        if not self.parts:
            raise InvalidInputError("an empty sum of objectives has nothing to maximise")
        resolved = [(float(w), objective.resolve(unit_model)) for w, objective in self.parts]
        slices = []
        start = 0
        for _, r in resolved:
            slices.append((start, start + len(r.index)))
            start += len(r.index)

        def value(read, index):
            total = 0.0
            for (w, r), (lo, hi) in zip(resolved, slices):
                total = total + w * r.value(read, index[lo:hi])
            return total

        key = ("sum",) + tuple((w, r.key) for w, r in resolved)
        return Resolved(key, tuple(i for _, r in resolved for i in r.index), value)


_SHORT_FORMS = MappingProxyType(
    {"class": Class, "channel": Channel, "neuron": Neuron, "unit": Neuron, "layer": DeepDream, "deepdream": DeepDream}
)


def as_objective(objective) -> Objective:
    """An Objective from an Objective, an int (a class) or a tuple short form:
    ``("class", c)`` (``("class", c, k)``: of output ``k``), ``("channel", layer, c)``, ``("neuron", layer, c, position)``,
    ``("layer", layer)`` (DeepDream)."""
    if isinstance(objective, Objective):
        return objective
    if isinstance(objective, (int, np.integer)) and not isinstance(objective, bool):
        return Class(int(objective))
    if isinstance(objective, (tuple, list)) and objective and isinstance(objective[0], str):
        kind, *args = objective
        maker = _SHORT_FORMS.get(kind.lower())
        if maker is not None:
            try:
                return maker(*args)
            except TypeError:
                pass
    raise InvalidInputError(
        f"objective {objective!r} is not understood: use a class index, ('class', c), "
        "('channel', layer, c), ('neuron', layer, c, position) or ('layer', layer)"
    )
