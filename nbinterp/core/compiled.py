"""The one owner of nbinterp's compiled TensorFlow functions.

Every compiled function in the package (the Inspector's forward passes, the
attribution engines, kernel-response convolutions, the unit views' steps) is
made through :func:`function`, stored here per model and key, and counted
here when it is traced. The table is held weakly per model, so compiled
functions die with their model, and it is bounded: once the functions'
estimated memory exceeds :data:`budget` bytes (or their number exceeds
:data:`max_functions`), the least recently used ones are dropped and are
traced again on their next use.

The memory of a function is estimated after its first trace from the size
of its graph (every compiled function keeps its graph and an optimised copy
of it in the runtime); :func:`stats` reports the estimates.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter, OrderedDict
from dataclasses import dataclass

#: estimated bytes of compiled functions kept before least-recently-used eviction
DEFAULT_BUDGET = 512 * 2**20
#: most compiled functions kept at once, whatever their estimated size
DEFAULT_MAX_FUNCTIONS = 256
# the runtime keeps the traced graph, its optimised copy and kernels: about
# this many times the serialised graph size (measured on ResNet50 / VGG16)
_MEMORY_PER_GRAPH_BYTE = 3

_LOCK = threading.RLock()
# (weak reference to the model, key) -> entry, least recently used first
_TABLE: "OrderedDict[tuple, _Entry]" = OrderedDict()
_TRACES: Counter = Counter()
_EVICTIONS = [0]
budget = DEFAULT_BUDGET
max_functions = DEFAULT_MAX_FUNCTIONS


@dataclass
class _Entry:
    function: object
    kind: str
    nbytes: int = 0
    measured: bool = False


# references of models that died, whose functions are dropped at the next use of the
# table: a weak-reference callback runs inside garbage collection, which may start in
# any thread at any allocation, also while this thread is iterating over the table
_DEAD: list = []


def _died(ref):
    _DEAD.append(ref)  # atomic; never touches the table


def _reap_locked():
    while _DEAD:
        _drop_locked(_DEAD.pop())


def _drop_locked(ref):
    for slot in [slot for slot in _TABLE if slot[0] is ref]:
        del _TABLE[slot]


_REFS: "weakref.WeakKeyDictionary[object, weakref.ref]" = weakref.WeakKeyDictionary()


class _Shared:
    """Owner of functions that belong to no model (e.g. one convolution configuration)."""


SHARED = _Shared()  # never collected: its functions live until evicted


def _ref(model):
    if model is None:
        model = SHARED
    ref = _REFS.get(model)
    if ref is None:
        ref = _REFS[model] = weakref.ref(model, _died)
    return ref


def function(model, key: tuple, build, kind: str | None = None):
    """The compiled function stored for ``(model, key)``; ``build()`` makes it on first use.

    ``model=None`` stores a function shared by all models.

    ``build`` returns a ``tf.function`` (or any callable); ``kind`` (default
    ``key[0]``) names what it computes, for :func:`trace_count` and
    :func:`stats`. Building happens outside the lock; if two threads build
    the same key at once, the first stored wins.
    """
    kind = kind or str(key[0])
    with _LOCK:
        _reap_locked()
        slot = (_ref(model), key)
        entry = _TABLE.get(slot)
        if entry is not None:
            _TABLE.move_to_end(slot)
            return entry.function
    made = build()
    with _LOCK:
        entry = _TABLE.get(slot)
        if entry is None:
            entry = _TABLE[slot] = _Entry(made, kind)
            _evict_locked(keep=slot)
        return entry.function


def note_trace(kind: str) -> None:
    """Count one trace of a function of ``kind``; call it from the Python body being traced."""
    with _LOCK:
        _TRACES[kind] += 1


def trace_count(kind: str | None = None) -> int:
    """How many times compiled functions (of ``kind``, or of any kind) have been traced."""
    with _LOCK:
        if kind is None:
            return sum(_TRACES.values())
        return _TRACES[kind]


def measure(model, key: tuple, concrete) -> None:
    """Record the memory estimate of the function under ``key`` from its concrete function
    (once: serialising a large model's graph on every call would cost milliseconds per call)."""
    with _LOCK:
        entry = _TABLE.get((_ref(model), key))
        if entry is None or entry.measured:
            return
    try:
        size = int(concrete.graph.as_graph_def().ByteSize()) * _MEMORY_PER_GRAPH_BYTE
    except Exception:  # graphs that cannot be serialised: count nothing rather than fail
        size = 0
    with _LOCK:
        slot = (_ref(model), key)
        entry = _TABLE.get(slot)
        if entry is not None and not entry.measured:
            entry.nbytes, entry.measured = size, True
            _evict_locked(keep=slot)


def _evict_locked(keep=None):
    """Drop least-recently-used functions until within the budget (never ``keep``)."""
    _reap_locked()
    total = sum(e.nbytes for e in _TABLE.values())
    for slot in list(_TABLE):
        if total <= budget and len(_TABLE) <= max_functions:
            return
        if slot == keep:
            continue
        total -= _TABLE.pop(slot).nbytes
        _EVICTIONS[0] += 1


def forget(model) -> None:
    """Drop every compiled function of ``model`` (they are traced again on next use)."""
    with _LOCK:
        _reap_locked()
        ref = _REFS.get(model)
        if ref is not None:
            _drop_locked(ref)


def contains(model, key: tuple) -> bool:
    """Whether a function for ``(model, key)`` is stored (without touching its recency)."""
    with _LOCK:
        _reap_locked()
        ref = _REFS.get(model)
        return ref is not None and (ref, key) in _TABLE


@dataclass(frozen=True)
class Stats:
    """What the compiled-function table holds."""

    functions: int
    nbytes: int
    traces: int
    evictions: int
    by_kind: dict


def stats(model=None) -> Stats:
    """Counts and estimated memory of the compiled functions (of one model, or all)."""
    with _LOCK:
        _reap_locked()
        ref = _REFS.get(model) if model is not None else None
        entries = [e for (r, _), e in _TABLE.items() if model is None or r is ref]
        by_kind: dict = {}
        for e in entries:
            count, size = by_kind.get(e.kind, (0, 0))
            by_kind[e.kind] = (count + 1, size + e.nbytes)
        return Stats(len(entries), sum(e.nbytes for e in entries), trace_count(), _EVICTIONS[0], by_kind)
