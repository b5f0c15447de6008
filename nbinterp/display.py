"""The one seam between computations and display, imported lazily (like ``tqdm.auto``).

Compute modules (:mod:`nbinterp.units`, :mod:`nbinterp.weights`) never import
ipywidgets themselves; they call the two helpers here, which import it only
when something is actually shown:

* :func:`progress` - a progress display: an ipywidgets bar inside a notebook
  kernel, else one line on stderr;
* :func:`show` - the interactive view (a widget) of a result object, used by
  the ``.show()`` conveniences of :class:`~nbinterp.weights.WeightHistory` and
  :class:`~nbinterp.weights.WeightComparison`.
"""

from __future__ import annotations

import sys
import time
from importlib import import_module
from types import MappingProxyType
from typing import TextIO

__all__ = ["Progress", "in_notebook_kernel", "progress", "show"]


def in_notebook_kernel() -> bool:
    """True when running inside a Jupyter kernel (where widgets can be displayed)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # pragma: no cover - defensive
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


class Progress:
    """Progress display: an ipywidgets bar inside a notebook kernel, else one stderr line.

    ``total`` may be None when the length is unknown. The text line is
    redrawn at most ten times a second and ended with a newline on close.
    ``enabled=False`` displays nothing. Passing ``stream`` always writes text
    there.
    """

    def __init__(self, total: int | None, description: str, enabled: bool = True, stream: TextIO | None = None):
        self.total = total
        self.description = description
        self.enabled = bool(enabled)
        self.stream = stream if stream is not None else sys.stderr
        self.widget = None  # the ipywidgets bar, when one is shown
        self._label = None
        self._last = 0.0
        self._count = 0
        self._start = time.perf_counter()
        if self.enabled and stream is None and in_notebook_kernel():
            try:
                self._make_widget()
            except Exception:  # no ipywidgets frontend: fall back to text
                self.widget = None

    def _make_widget(self):
        import ipywidgets
        from IPython.display import display

        if self.total:
            bar = ipywidgets.IntProgress(min=0, max=int(self.total), description=self.description)
        else:
            bar = ipywidgets.IntProgress(min=0, max=1, value=1, bar_style="info", description=self.description)
        self._label = ipywidgets.Label("")
        self.widget = bar
        display(ipywidgets.HBox([bar, self._label]))

    def update(self, count: int, note: str = "") -> None:
        """Report ``count`` units done, with an optional short ``note``."""
        if not self.enabled:
            return
        self._count = count
        now = time.perf_counter()
        final = self.total is not None and count >= self.total
        if not final and now - self._last < 0.1:
            return
        self._last = now
        if self.widget is not None:
            if self.total:
                self.widget.value = min(int(count), int(self.total))
            self._label.value = f"{count}/{self.total} {note}" if self.total else f"{count} {note}"
            return
        self.stream.write("\r" + self._line(count, note, now))
        self.stream.flush()

    def _line(self, count, note, now):
        elapsed = now - self._start
        rate = count / elapsed if elapsed > 0 else 0.0
        if self.total:
            frac = min(count / self.total, 1.0)
            filled = int(round(20 * frac))
            bar = "#" * filled + "." * (20 - filled)
            text = f"{self.description} [{bar}] {count}/{self.total}"
        else:
            text = f"{self.description} {count}"
        text += f" {elapsed:.1f}s {rate:.1f}/s"
        if note:
            text += " " + note
        return text.ljust(79)

    def close(self, status: str | None = None) -> None:
        """End the display; ``status`` (``"cancelled"``, ``"error"``) marks an unfinished run."""
        if not self.enabled:
            return
        if self.widget is not None:
            if status:
                self.widget.bar_style = "danger" if status == "cancelled" else "success"
                self._label.value = f"{self._label.value} ({status})"
            else:
                self.widget.bar_style = "success"
            return
        line = self._line(self._count, status or "", time.perf_counter())
        self.stream.write("\r" + line + "\n")
        self.stream.flush()


def progress(total: int | None, description: str, enabled: bool = True, stream: TextIO | None = None) -> Progress:
    """A :class:`Progress` for ``total`` units of work (None when unknown)."""
    return Progress(total, description, enabled=enabled, stream=stream)


# "module:class" of the view for each result type, by the result's "module.QualName"
_VIEWS = MappingProxyType(
    {
        "nbinterp.weights.history.WeightHistory": "nbinterp.widgets.weights_view:WeightHistoryView",
        "nbinterp.weights.compare.WeightComparison": "nbinterp.widgets.weights_view:WeightComparisonView",
    }
)


def show(obj, **options):
    """The interactive view of ``obj`` (a widget; a notebook shows it when it ends a cell).

    ``options`` go to the view's constructor. Raises TypeError for an object
    that has no view.
    """
    for cls in type(obj).__mro__:
        where = _VIEWS.get(f"{cls.__module__}.{cls.__qualname__}")
        if where is not None:
            module, name = where.split(":")
            return getattr(import_module(module), name)(obj, **options)
    raise TypeError(f"nbinterp has no interactive view of {type(obj).__name__} objects")
