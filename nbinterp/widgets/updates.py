"""One background worker for an interactive view: latest wins, then warm-up.

Control changes call :meth:`Scheduler.request`. The worker draws the newest
request only: a request that arrives while a draw runs cancels that draw's
:class:`Job` (its ``cancel`` event is set, so long computations that take a
``cancel=`` hook stop at their next chunk) and the worker starts over with the
newest request.

Once a request is drawn, the worker asks for *warm-up* work: a list of
:class:`Work` items (likely next selections) that it runs one by one at low
priority while nothing else is asked for. A request pre-empts warm-up at once:
the running item's job is cancelled, the remaining items are dropped, and
warm-up is planned again after the new request is drawn. Warm-up only fills
caches, so it never changes what a view shows.

The worker holds its callbacks through weak references when they are bound
methods, so it never keeps its owner alive, and it ends when the owner is
garbage-collected or :meth:`Scheduler.close` is called.
"""

from __future__ import annotations

import inspect
import threading
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Callable, Optional

from ..errors import CancelledError

__all__ = ["Job", "Scheduler", "Work"]


class Job:
    """One run of the worker: a draw of generation ``generation`` or a warm-up item.

    ``cancel`` is a ``threading.Event`` set when a newer request supersedes
    this job or the scheduler closes; pass it as ``cancel=`` to APIs that take
    one. ``progress(fraction)`` reports progress of a draw (warm-up jobs stay
    silent).
    """

    def __init__(self, generation: int, warm: bool = False,
                 on_progress: Optional[Callable[["Job", float, Optional[str]], None]] = None):
        self.generation = generation
        self.warm = warm
        self.cancel = threading.Event()
        self._on_progress = on_progress

    @property
    def superseded(self) -> bool:
        """True once a newer request (or closing) has cancelled this job."""
        return self.cancel.is_set()

    def cancelled(self) -> bool:
        """Same as :attr:`superseded`, as a callable for ``cancel=`` hooks."""
        return self.cancel.is_set()

    def check(self) -> None:
        """Raise :class:`~nbinterp.errors.CancelledError` if the job was cancelled."""
        if self.cancel.is_set():
            raise CancelledError("superseded by a newer selection")

    def progress(self, fraction: float, what: Optional[str] = None) -> None:
        """Report that ``fraction`` (0..1) of this job's long computation is done."""
        if not self.warm and self._on_progress is not None and not self.cancel.is_set():
            self._on_progress(self, min(max(float(fraction), 0.0), 1.0), what)

    def __repr__(self):
        return f"Job(generation={self.generation}, warm={self.warm}, cancelled={self.cancelled()})"


@dataclass(frozen=True)
class Work:
    """A warm-up item: ``run(job)`` computes something into a cache; ``description``
    is shown in the status line while it runs."""

    description: str
    run: Callable[[Job], object]


class _OwnerGone(Exception):
    pass


def _weak(callback):
    """``callback`` without a strong reference to the object of a bound method."""
    if callback is None:
        return None
    if inspect.ismethod(callback):
        ref = weakref.WeakMethod(callback)

        def call(*args):
            function = ref()
            if function is None:
                raise _OwnerGone
            return function(*args)

        return call
    return callback


class Scheduler:
    """Latest-wins drawing plus idle-time warm-up on one daemon thread.

    ``draw(job)`` draws the current selection; ``plan_warm(job)`` returns the
    warm-up :class:`Work` for what was just drawn; ``on_error(error)`` hears
    unexpected errors of ``draw``; ``on_progress(job, fraction, what)`` hears
    :meth:`Job.progress`; ``on_warm(description_or_None)`` hears each warm-up
    item start and the end of warm-up; ``room()`` is asked before each warm-up
    item and stops warm-up when it returns False (caches near their budget).
    """

    def __init__(self, draw, plan_warm=None, on_error=None, on_progress=None, on_warm=None, room=None,
                 warm_up: bool = True, name: str = "nbinterp-updates"):
        self._draw = _weak(draw)
        self._plan_warm = _weak(plan_warm)
        self._on_error = _weak(on_error)
        self._on_progress = _weak(on_progress)
        self._on_warm = _weak(on_warm)
        self._room = _weak(room)
        self.warm_up = bool(warm_up) and plan_warm is not None
        self._cond = threading.Condition()
        self._generation = 0
        self._done = 0  # last generation drawn to the end
        self._planned = 0  # last generation whose warm-up was planned
        self._queue: deque[Work] = deque()
        self._current: Optional[Job] = None
        self._closed = False
        self.preemptions = 0  # warm-up runs cut short by a request
        self.warm_items_done = 0
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()
        if inspect.ismethod(draw):  # the worker ends when its owner is collected
            weakref.finalize(draw.__self__, self._release)

    # ----------------------------------------------------------- public
    @property
    def generation(self) -> int:
        return self._generation

    @property
    def alive(self) -> bool:
        """Whether the worker thread is still running."""
        return self._thread.is_alive()

    @property
    def warming(self) -> bool:
        """True while warm-up items are pending or running."""
        with self._cond:
            return bool(self._queue) or (self._current is not None and self._current.warm)

    def request(self) -> int:
        """Ask for a draw of the current selection; cancels what runs now."""
        with self._cond:
            self._generation += 1
            if self._queue or (self._current is not None and self._current.warm):
                self.preemptions += 1
            self._queue.clear()
            if self._current is not None:
                self._current.cancel.set()
            self._cond.notify_all()
            return self._generation

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until the newest request is drawn; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._closed or self._drawn(), timeout)

    def warm(self, block: bool = False, timeout: Optional[float] = None) -> bool:
        """Whether warm-up for the newest request has finished; with ``block=True``
        wait for it (False on timeout)."""
        with self._cond:
            if not block:
                return self._closed or self._warmed()
            return self._cond.wait_for(lambda: self._closed or self._warmed(), timeout)

    def close(self, timeout: Optional[float] = 10.0) -> bool:
        """Stop the worker: cancel what runs, drop warm-up, and wait (up to
        ``timeout`` seconds) for the current chunk to finish. True when the
        thread has ended."""
        self._release()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _release(self):
        """Stop without waiting (the owner is gone; this may run inside garbage collection)."""
        with self._cond:
            self._closed = True
            self._queue.clear()
            if self._current is not None:
                self._current.cancel.set()
            self._cond.notify_all()

    # ----------------------------------------------------------- worker
    def _drawn(self):
        return self._done == self._generation and (self._current is None or self._current.warm)

    def _warmed(self):
        return self._drawn() and (not self.warm_up or self._planned == self._generation) \
            and not self._queue and self._current is None

    def _next_job(self):
        """(job, work) to run next, or None when closing; called with the lock held."""
        self._cond.wait_for(lambda: self._closed or self._generation != self._done or bool(self._queue))
        if self._closed:
            return None
        if self._generation != self._done:
            self._current = Job(self._generation, on_progress=self._on_progress)
            return self._current, None
        self._current = Job(self._generation, warm=True)
        return self._current, self._queue.popleft()

    def _loop(self):
        try:
            while self._step():
                pass
        except _OwnerGone:
            self._release()

    def _step(self):
        """Run one job; False when closing. (A method of its own, so that nothing of
        the last job stays referenced while the worker waits.)"""
        with self._cond:
            picked = self._next_job()
        if picked is None:
            return False
        job, work = picked
        if work is None:
            self._run_draw(job)
        else:
            self._run_warm(job, work)
        return True

    def _run_draw(self, job):
        try:
            self._draw(job)
        except _OwnerGone:
            raise
        except CancelledError:
            pass
        except Exception as error:  # never let the worker die: report and go on
            self._report(error)
        with self._cond:
            self._current = None
            finished = self._generation == job.generation and not job.cancelled()
            if finished:
                self._done = job.generation
            self._cond.notify_all()
        if finished:
            self._plan(job)

    def _plan(self, job):
        items = []
        if self.warm_up:
            try:
                items = list(self._plan_warm(job))
            except _OwnerGone:
                raise
            except Exception as error:
                self._report(error)
        with self._cond:
            if self._generation == job.generation and not self._closed:
                self._queue = deque(items)
                self._planned = job.generation
            self._cond.notify_all()
        if not items:
            self._announce(None)

    def _run_warm(self, job, work):
        if self._room is not None and not self._room():
            with self._cond:
                self._queue.clear()
        else:
            self._announce(work.description)
            try:
                work.run(job)
            except _OwnerGone:
                raise
            except Exception:  # warm-up only fills caches: a failure shows when that view is drawn
                pass
        with self._cond:
            self._current = None
            if not job.cancelled():
                self.warm_items_done += 1
            empty = not self._queue
            self._cond.notify_all()
        if empty:
            self._announce(None)

    def _announce(self, description):
        if self._on_warm is not None:
            try:
                self._on_warm(description)
            except _OwnerGone:
                raise
            except Exception:
                pass

    def _report(self, error):
        if self._on_error is not None:
            try:
                self._on_error(error)
            except _OwnerGone:
                raise
            except Exception:
                pass
