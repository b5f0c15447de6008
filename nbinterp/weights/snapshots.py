"""Weight snapshots: the values of every weight variable of a model at one moment.

:class:`WeightSnapshot` is what a :class:`~nbinterp.weights.WeightHistory`
holds, what checkpoint reading returns and what
:func:`~nbinterp.weights.compare_weights` accepts. :func:`snapshot_of` copies
a model's current weights; :func:`default_labels` and :func:`default_steps`
give the labels and steps of a series of snapshots when none are given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from ..errors import InvalidInputError, UnknownLayerError, check_index
from .variables import WeightVariable, list_weight_variables

__all__ = ["WeightSnapshot", "copy_weights", "default_labels", "default_steps", "snapshot_of"]


def copy_weights(pairs: Sequence) -> tuple[np.ndarray, ...]:
    """Host copies of the variables in ``[(WeightVariable, variable), ...]``."""
    arrays = []
    for _, variable in pairs:
        array = variable.numpy()  # TensorFlow hands back a fresh host array
        if not isinstance(array, np.ndarray) or not array.flags.owndata:
            array = np.array(array, copy=True)
        arrays.append(array)
    return tuple(arrays)


@dataclass(frozen=True, eq=False)
class WeightSnapshot:
    """The values of every weight variable of a model at one moment."""

    variables: tuple[WeightVariable, ...]  # shared by all snapshots of a history
    arrays: tuple  # of numpy arrays, aligned with ``variables``
    label: str
    step: int | float
    _index: dict = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if len(self.arrays) != len(self.variables):
            raise InvalidInputError(
                f"snapshot {self.label!r} has {len(self.arrays)} arrays for {len(self.variables)} variables"
            )
        object.__setattr__(self, "_index", {v.key: i for i, v in enumerate(self.variables)})

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in self.arrays))

    def __getitem__(self, key) -> np.ndarray:
        """The array of one variable, by key ``"layer_path/name"`` or position."""
        if isinstance(key, (int, np.integer)):
            return self.arrays[check_index(key, len(self.arrays), "variable index")]
        try:
            return self.arrays[self._index[key]]
        except KeyError:
            raise UnknownLayerError(key, list(self._index)) from None

    def items(self):
        return zip(self.variables, self.arrays)

    def __repr__(self):
        return f"WeightSnapshot(label={self.label!r}, step={self.step!r}, {len(self.arrays)} variables, {self.nbytes} bytes)"


def snapshot_of(model, label: str, step: int | float = 0) -> WeightSnapshot:
    """A snapshot of ``model``'s current weights (host copies)."""
    pairs = list_weight_variables(model)
    return WeightSnapshot(tuple(v for v, _ in pairs), copy_weights(pairs), str(label), step)


def default_labels(labels: Iterable | None, n: int, stem: str) -> list[str]:
    """``labels`` as strings, checked to be ``n``; by default ``"{stem} 0"``, ``"{stem} 1"``, ..."""
    if labels is None:
        return [f"{stem} {i}" for i in range(n)]
    labels = [str(label) for label in labels]
    if len(labels) != n:
        raise InvalidInputError(f"got {len(labels)} labels for {n} snapshots")
    return labels


def default_steps(steps: Iterable | None, n: int) -> list:
    """``steps`` as a list, checked to be ``n``; by default 0, 1, ..."""
    if steps is None:
        return list(range(n))
    steps = list(steps)
    if len(steps) != n:
        raise InvalidInputError(f"got {len(steps)} steps for {n} snapshots")
    return steps
