"""A Keras callback that records weight snapshots during ``model.fit``.

Recording is a host copy of every weight variable (``variable.numpy()``), so
it costs about as much as one ``model.get_weights()`` call per snapshot and
nothing in between. Memory is bounded by ``max_bytes``:

* ``thin=True`` (default): when the next snapshot would not fit, every other
  old snapshot is dropped (the first, i.e. the initial weights, always stays)
  and the recording interval doubles, so the kept snapshots stay evenly
  spaced over the whole run, however long it gets.
* ``thin=False``: recording stops with a :class:`SnapshotBudgetWarning`; the
  snapshots taken so far are kept.

The first snapshot is the initial weights (label ``"initial"``, step 0),
taken when training begins; the last is the weights when ``fit`` returns. Steps count completed epochs (``unit="epoch"``)
or completed batches over the whole run (``unit="batch"``). A second
``fit`` call with the same callback continues the same history and counts.
"""

from __future__ import annotations

import warnings

import keras

from ..errors import InvalidInputError
from .history import WeightHistory
from .snapshots import copy_weights
from .variables import check_same_architecture, list_weight_variables

__all__ = ["SnapshotCallback", "SnapshotBudgetWarning"]

DEFAULT_MAX_BYTES = 512 * 2**20


class SnapshotBudgetWarning(UserWarning):
    """Snapshot recording stopped because the byte budget is used up."""


class SnapshotCallback(keras.callbacks.Callback):
    """Record the model's weights every ``every`` epochs or batches.

    After ``fit``, ``callback.history`` is a :class:`WeightHistory`.

    Parameters
    ----------
    every: record after every ``every``-th epoch or batch (a positive integer).
    unit: ``"epoch"`` or ``"batch"``.
    max_bytes: most bytes the snapshots may hold together (default 512 MiB).
    thin: on reaching ``max_bytes``, thin old snapshots (True) or stop (False).
    include_initial: record the weights before the first update as the first snapshot.
    include_final: record the weights when ``fit`` returns if the last
        epoch/batch was not on the recording grid (e.g. 23 batches with
        ``every=5``), so the history always ends at the trained weights.
    """

    def __init__(self, every: int = 1, unit: str = "epoch", max_bytes: int = DEFAULT_MAX_BYTES, thin: bool = True, include_initial: bool = True, include_final: bool = True):
        super().__init__()
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise InvalidInputError(f"every must be a positive integer, got {every!r}")
        if unit not in ("epoch", "batch"):
            raise InvalidInputError(f"unit must be 'epoch' or 'batch', got {unit!r}")
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, float)) or max_bytes <= 0:
            raise InvalidInputError(f"max_bytes must be a positive number of bytes, got {max_bytes!r}")
        self.every = every
        self.unit = unit
        self.max_bytes = int(max_bytes)
        self.thin = bool(thin)
        self.include_initial = bool(include_initial)
        self.include_final = bool(include_final)
        self.history: WeightHistory | None = None
        self.stride = 1  # doubles at each thinning; a snapshot every ``every * stride`` units
        self.stopped = False  # True once the budget ended recording (thin=False, or too small)
        self.thinned = 0  # how many times old snapshots were thinned
        self.count = 0  # completed epochs or batches so far
        self._pairs = None

    # ----------------------------------------------------------------- keras hooks
    def on_train_begin(self, logs=None):
        self._pairs = list_weight_variables(self.model)
        specs = [v for v, _ in self._pairs]
        if self.history is None:
            self.history = WeightHistory(specs)
            if self.include_initial:
                self._record("initial", 0)
        else:
            check_same_architecture(self.history.variables, specs, "the recorded history", f"model {self.model.name!r}")

    def on_train_batch_end(self, batch, logs=None):
        if self.unit == "batch":
            self._tick()

    def on_epoch_end(self, epoch, logs=None):
        if self.unit == "epoch":
            self._tick()

    def on_train_end(self, logs=None):
        if self.include_final and self._pairs is not None:
            self._record_final()
        self._pairs = None  # do not keep the model's variables alive through the callback

    # ----------------------------------------------------------------- recording
    @property
    def interval(self) -> int:
        """Units between two recorded snapshots now (``every`` times the thinning stride)."""
        return self.every * self.stride

    def _tick(self):
        self.count += 1
        if self.count % self.interval == 0:
            self._record(f"{self.unit} {self.count}", self.count)

    def _snapshot_bytes(self) -> int:
        return sum(v.nbytes for v, _ in self._pairs)

    def _record(self, label, step):
        if self.stopped:
            return
        size = self._snapshot_bytes()
        history = self.history
        if history.nbytes + size > self.max_bytes:
            if not self.thin:
                self._stop(f"recording {label!r} would take the snapshots past max_bytes={self.max_bytes}")
                return
            while history.nbytes + size > self.max_bytes and len(history) > 1:
                self._thin_once()
                if step % self.interval != 0:
                    return  # this snapshot is off the coarser grid; the next one on it will be taken
            if history.nbytes + size > self.max_bytes:
                room = "one snapshot" if len(history) == 0 else "the first snapshot and one more"
                self._stop(f"max_bytes={self.max_bytes} cannot hold {room} of {size} bytes each")
                return
        history.add(copy_weights(self._pairs), label=label, step=step)

    def _thin_once(self):
        """Double the interval and drop the snapshots off the new, coarser grid
        (every other one); the first snapshot always stays."""
        self.stride *= 2
        self.thinned += 1
        history = self.history
        drop = [i for i, s in enumerate(history.snapshots) if i > 0 and s.step % self.interval != 0]
        history.remove(drop)

    def _record_final(self):
        """Record the weights as training ends, unless that snapshot exists already."""
        history = self.history
        if self.stopped or (len(history) and history[-1].step == self.count):
            return
        size = self._snapshot_bytes()
        if self.thin:
            # make room by dropping the most recent snapshots (never the first)
            while history.nbytes + size > self.max_bytes and len(history) > 1:
                history.remove([len(history) - 1])
        if history.nbytes + size > self.max_bytes:
            self._stop(f"the final weights do not fit in max_bytes={self.max_bytes}")
            return
        history.add(copy_weights(self._pairs), label=f"{self.unit} {self.count}", step=self.count)

    def _stop(self, why):
        self.stopped = True
        warnings.warn(
            f"SnapshotCallback stopped recording: {why}. {len(self.history)} snapshots kept "
            f"({self.history.nbytes} bytes). Raise max_bytes, record less often, or use thin=True.",
            SnapshotBudgetWarning,
            stacklevel=2,
        )
