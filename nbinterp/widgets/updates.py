"""Latest-wins background updates for interactive views.

Control changes call ``request()``; one worker thread runs the update function
with the newest request only. A request that arrives while an update runs
does not queue behind it: the running update can poll ``superseded()`` (and
should stop early), and the worker then starts over with the newest request.
``wait()`` blocks until no request is pending or running.
"""

from __future__ import annotations

import threading


class LatestWins:
    def __init__(self, update, on_error=None, name="nbinterp-updates"):
        self._update = update
        self._on_error = on_error
        self._cond = threading.Condition()
        self._generation = 0
        self._done_generation = 0
        self._running = False
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    @property
    def generation(self):
        return self._generation

    def request(self):
        with self._cond:
            self._generation += 1
            self._cond.notify_all()
            return self._generation

    def superseded(self, generation):
        """True when a newer request than ``generation`` has arrived (or we are closing)."""
        return self._closed or self._generation != generation

    def wait(self, timeout=None):
        """Block until every request so far has been handled; False on timeout."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._closed or (self._done_generation == self._generation and not self._running),
                timeout,
            )

    def close(self):
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _loop(self):
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or self._generation != self._done_generation)
                if self._closed:
                    return
                generation = self._generation
                self._running = True
            try:
                self._update(generation)
            except Exception as error:  # never let the worker die: report and go on
                if self._on_error is not None:
                    try:
                        self._on_error(error)
                    except Exception:
                        pass
            finally:
                with self._cond:
                    self._running = False
                    # a superseded run does not count as done: the loop runs again
                    if self._generation == generation:
                        self._done_generation = generation
                    self._cond.notify_all()
