"""Snapshots of a model's weights over training.

A :class:`WeightHistory` is a list of :class:`WeightSnapshot` objects that all
describe the same architecture (the same :class:`WeightVariable` list). Each
snapshot holds a host copy (numpy) of every weight variable, plus a label
(``"epoch 3"``) and a step number used as the x axis of plots.

Layers are addressed by path (``"conv1"``, ``"mobilenet/conv1"``). Asking for
a layer's values without naming a variable pools the layer's trainable
variables (kernel and bias); a frozen layer, which has no trainable
variables, pools all of them.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np

from .. import display
from ..errors import InvalidInputError, UnknownLayerError, check_index
from .checkpoints import read_checkpoints
from .compare import WeightComparison, compare_weights
from .histograms import DEFAULT_NEAR_ZERO_EPS, Histogram, SummaryStats, histogram, summary_stats
from .snapshots import WeightSnapshot, copy_weights, default_labels, default_steps
from .variables import WeightVariable, check_same_architecture, indices_by_layer, list_weight_variables, pooled_indices

__all__ = ["WeightHistory"]


class WeightHistory:
    """Snapshots of one architecture's weights, oldest first.

    Build one with :meth:`from_models`, :meth:`from_checkpoints`, or let a
    :class:`~nbinterp.weights.SnapshotCallback` record it during ``fit``.
    """

    def __init__(self, variables: Sequence[WeightVariable]):
        self.variables: tuple[WeightVariable, ...] = tuple(variables)
        self.snapshots: list[WeightSnapshot] = []
        self._by_layer = indices_by_layer(self.variables)
        self._layer_paths = list(self._by_layer)

    # ---------------------------------------------------------------- building
    @classmethod
    def from_model(cls, model) -> "WeightHistory":
        """An empty history for ``model``'s architecture (add to it with :meth:`record`)."""
        return cls(v for v, _ in list_weight_variables(model))

    @classmethod
    def from_models(cls, models, labels=None, steps=None) -> "WeightHistory":
        """One snapshot per model; all must share one architecture.

        Layer paths are taken from the first model. ``labels`` default to
        ``"model 0"``, ``"model 1"``, ...; ``steps`` to 0, 1, ...
        """
        models = list(models)
        if not models:
            raise InvalidInputError("from_models needs at least one model")
        for i, model in enumerate(models):
            if not isinstance(model, keras.Model):
                raise InvalidInputError(
                    f"from_models takes Keras models; item #{i} is {type(model).__name__} {model!r:.60}"
                    + (": for model files use WeightHistory.from_checkpoints(paths)" if isinstance(model, str) else "")
                )
        labels = default_labels(labels, len(models), "model")
        steps = default_steps(steps, len(models))
        history = cls.from_model(models[0])
        for i, (model, label, step) in enumerate(zip(models, labels, steps)):
            history.record(model, label=label, step=step, what=f"model #{i} ({model.name!r})")
        return history

    @classmethod
    def from_checkpoints(cls, paths, model=None, labels=None, steps=None, custom_objects=None) -> "WeightHistory":
        """One snapshot per checkpoint file (``.keras`` or ``.weights.h5``).

        ``.keras`` files are loaded with ``keras.saving.load_model(path,
        safe_mode=True)``. ``.weights.h5`` files hold no architecture, so they
        need ``model``: a template whose *clone* receives the weights (the
        template itself is never modified). When ``model`` is given, every
        checkpoint is checked against its architecture and layer paths come
        from it. ``labels`` default to the file names.
        """
        snapshots = read_checkpoints(paths, model=model, labels=labels, steps=steps, custom_objects=custom_objects)
        history = cls(snapshots[0].variables)
        for snapshot in snapshots:
            history.add(snapshot.arrays, label=snapshot.label, step=snapshot.step)
        return history

    def record(self, model, label=None, step=None, what=None) -> WeightSnapshot:
        """Copy ``model``'s current weights into a new snapshot at the end."""
        pairs = list_weight_variables(model)
        check_same_architecture(
            self.variables,
            [v for v, _ in pairs],
            "this history",
            what or f"model {getattr(model, 'name', '?')!r}",
        )
        return self.add(copy_weights(pairs), label=label, step=step)

    def add(self, arrays, label=None, step=None) -> WeightSnapshot:
        """Append a snapshot made of ``arrays`` (aligned with :attr:`variables`; not copied)."""
        arrays = tuple(np.asarray(a) for a in arrays)
        if len(arrays) != len(self.variables):
            raise InvalidInputError(f"expected {len(self.variables)} arrays, one per weight variable, got {len(arrays)}")
        for v, a in zip(self.variables, arrays):
            if tuple(a.shape) != tuple(v.shape):
                raise InvalidInputError(f"{v.key}: expected shape {tuple(v.shape)}, got {tuple(a.shape)}")
        if step is None:
            step = (self.snapshots[-1].step + 1) if self.snapshots else 0
        if label is None:
            label = f"step {step}"
        snapshot = WeightSnapshot(self.variables, arrays, str(label), step)
        self.snapshots.append(snapshot)
        return snapshot

    def remove(self, indices) -> None:
        """Drop the snapshots at ``indices``."""
        drop = {check_index(i, len(self.snapshots), "snapshot index") for i in indices}
        self.snapshots = [s for i, s in enumerate(self.snapshots) if i not in drop]

    # ---------------------------------------------------------------- looking up
    def __len__(self):
        return len(self.snapshots)

    def __iter__(self):
        return iter(self.snapshots)

    def __getitem__(self, index) -> WeightSnapshot:
        return self.snapshots[self._snapshot_index(index)]

    def _snapshot_index(self, index) -> int:
        if not self.snapshots:
            raise InvalidInputError("this history has no snapshots yet")
        if isinstance(index, WeightSnapshot):
            for i, s in enumerate(self.snapshots):
                if s is index:
                    return i
            raise InvalidInputError(f"snapshot {index.label!r} is not in this history")
        if isinstance(index, str):
            for i, s in enumerate(self.snapshots):
                if s.label == index:
                    return i
            raise InvalidInputError(f"no snapshot labelled {index!r}; labels are {self.labels}")
        n = len(self.snapshots)
        if isinstance(index, (int, np.integer)) and -n <= index < 0:
            index = n + int(index)
        return check_index(index, n, "snapshot index")

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self.snapshots]

    @property
    def steps(self) -> list:
        return [s.step for s in self.snapshots]

    @property
    def nbytes(self) -> int:
        """Bytes held by all snapshots' arrays."""
        return int(sum(s.nbytes for s in self.snapshots))

    @property
    def layer_paths(self) -> list[str]:
        """Paths of the layers that have weights, in model order."""
        return list(self._layer_paths)

    def variables_of(self, layer_path: str) -> list[WeightVariable]:
        """The weight variables of one layer."""
        return [self.variables[i] for i in self._variable_indices(layer_path)]

    def _variable_indices(self, layer_path, variable=None) -> list[int]:
        if layer_path not in self._by_layer:
            raise UnknownLayerError(layer_path, self._layer_paths)
        indices = self._by_layer[layer_path]
        if variable is None:
            return pooled_indices(self.variables, indices)
        names = [variable] if isinstance(variable, str) else list(variable)
        chosen = []
        for name in names:
            match = [i for i in indices if self.variables[i].name == name]
            if not match:
                keys = [f"{layer_path}/{self.variables[i].name}" for i in indices]
                raise UnknownLayerError(f"{layer_path}/{name}", keys)
            chosen.extend(match)
        return chosen

    def values(self, layer_path: str, snapshot=-1, variable=None) -> np.ndarray:
        """A layer's weight values in one snapshot, flattened into one 1-D array.

        ``variable`` picks one variable (``"kernel"``) or a list of them;
        ``None`` pools the layer's trainable variables (all, if it has none).
        """
        snap = self[snapshot]
        parts = [snap.arrays[i].reshape(-1) for i in self._variable_indices(layer_path, variable)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def series(self, layer_path: str, variable=None) -> list[np.ndarray]:
        """:meth:`values` for every snapshot, oldest first."""
        return [self.values(layer_path, i, variable) for i in range(len(self.snapshots))]

    # ---------------------------------------------------------------- analysis
    def histogram(self, layer_path: str, bins="auto", variable=None, range=None) -> Histogram:
        """Histograms of a layer's weights in every snapshot, on shared bins."""
        return histogram(self.series(layer_path, variable), bins=bins, range=range)

    def summary_stats(self, layer_path: str, variable=None, eps: float = DEFAULT_NEAR_ZERO_EPS, relative: bool = True) -> SummaryStats:
        """Mean, std and fraction near zero of a layer's weights per snapshot
        (see :func:`nbinterp.weights.summary_stats` for what "near zero" means)."""
        return summary_stats(self.series(layer_path, variable), eps=eps, relative=relative)

    def compare(self, before=0, after=-1, bins="auto") -> WeightComparison:
        """:func:`~nbinterp.weights.compare_weights` between two snapshots (default: first and last)."""
        return compare_weights(self[before], self[after], bins=bins)

    def first_conv_layer(self) -> str | None:
        """Path of the first layer whose kernel is a 1-D or 2-D convolution kernel, or None."""
        for v in self.variables:
            if v.name == "kernel" and "Conv" in v.layer_class and len(v.shape) in (3, 4):
                return v.layer_path
        return None

    # ---------------------------------------------------------------- display
    def show(self, **kwargs):
        """An interactive view: histograms over time, summary statistics, filters
        (a :class:`~nbinterp.widgets.weights_view.WeightHistoryView`; ``kwargs`` go to it)."""
        return display.show(self, **kwargs)

    def __repr__(self):
        layers = len(self._layer_paths)
        return (
            f"WeightHistory({len(self.snapshots)} snapshots of {len(self.variables)} variables in "
            f"{layers} layers, {self.nbytes / 2**20:.1f} MiB; labels={self.labels[:3]}"
            + ("...)" if len(self.snapshots) > 3 else ")")
        )
