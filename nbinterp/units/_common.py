"""Shared plumbing for the unit views: model resolution, cancellation, progress."""

from __future__ import annotations

import sys
import threading
import time
import weakref

import keras
import numpy as np
import tensorflow as tf

from ..errors import CancelledError, MethodNotApplicableError, NotSupportedError, check_index
from ..core.graph import plan_for


class Target:
    """A model, its graph plan, the per-example input shape and the preprocess function."""

    def __init__(self, model, preprocess=None):
        from ..core.inspector import Inspector

        if isinstance(model, Inspector):
            if preprocess is None:
                preprocess = model.preprocess
            model = model.model
        if not isinstance(model, keras.Model):
            raise TypeError(f"expected a keras.Model or an Inspector, got {type(model).__name__}")
        self.model = model
        self.plan = plan_for(model)
        if len(self.plan.inputs) != 1:
            raise NotSupportedError(
                f"model {model.name!r} has {len(self.plan.inputs)} inputs; unit views support single-input models only"
            )
        tensor = self.plan.inputs[0]
        self.input_shape = tuple(None if d is None else int(d) for d in tensor.shape)[1:]
        self.input_dtype = np.dtype(keras.backend.standardize_dtype(tensor.dtype))
        if self.input_dtype.kind != "f":
            raise NotSupportedError(f"unit views need a model with a float input, not {self.input_dtype}")
        self.preprocess = preprocess


_FUNCTIONS = weakref.WeakKeyDictionary()
_FUNCTIONS_LOCK = threading.Lock()


def cached_function(model, key, build):
    """The function stored for ``(model, key)``, built by ``build()`` on first use.

    Kept per model (weakly), so the compiled functions die with the model.
    """
    with _FUNCTIONS_LOCK:
        table = _FUNCTIONS.setdefault(model, {})
        fn = table.get(key)
        if fn is None:
            fn = build()
            table[key] = fn
        return fn


def layer_output_shape(target, entry):
    """Static output shape (batch axis included) of a plan entry (layer or nested model)."""
    from ..core.graph import Group

    if isinstance(entry, Group):
        outputs = entry.model.outputs
        if len(outputs) == 1:
            return tuple(None if d is None else int(d) for d in outputs[0].shape)
    elif entry.node is not None and len(entry.node.outputs) == 1:
        return tuple(None if d is None else int(d) for d in entry.node.outputs[0].shape)
    from ..core.inspector import Inspector

    return tuple(Inspector(target.model).layer(entry.path).output_shape)


def checked_channel(target, entry, channel):
    """The static output shape of ``entry`` and ``channel`` checked against its last (channel) axis."""
    shape = layer_output_shape(target, entry)
    if len(shape) < 2 or shape[-1] is None:
        raise MethodNotApplicableError(f"layer {entry.path!r} has no channel axis (output shape {shape})")
    return shape, check_index(channel, int(shape[-1]), "channel")


def channel_unit(target, layer, channel):
    """``(entry, output key, static output shape, channel)`` for one channel of ``layer``."""
    entry = target.plan.resolve(layer)
    key = target.plan.output_key(entry.path)
    shape, channel = checked_channel(target, entry, channel)
    return entry, key, shape, channel


def output_grid(target, key, x, out_shape):
    """The spatial shape of the output ``key`` (static shape ``out_shape``) for inputs like ``x``.

    The static shape when it is fully known, else measured by running the
    first example of ``x`` through the graph.
    """
    static = tuple(out_shape[1:-1])
    if all(d is not None for d in static):
        return static
    (out,) = target.plan.run([tf.convert_to_tensor(x[:1])], [key])
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
    """

    def __init__(self, total, description, enabled=True, stream=None):
        self.total = total
        self.description = description
        self.enabled = bool(enabled)
        self.stream = stream if stream is not None else sys.stderr
        self._widget = None
        self._label = None
        self._last = 0.0
        self._count = 0
        self._start = time.perf_counter()
        if self.enabled and stream is None and in_notebook_kernel():
            try:
                self._make_widget()
            except Exception:  # no ipywidgets frontend: fall back to text
                self._widget = None

    def _make_widget(self):
        import ipywidgets
        from IPython.display import display

        if self.total:
            bar = ipywidgets.IntProgress(min=0, max=int(self.total), description=self.description)
        else:
            bar = ipywidgets.IntProgress(min=0, max=1, value=1, bar_style="info", description=self.description)
        self._label = ipywidgets.Label("")
        self._widget = bar
        self._box = ipywidgets.HBox([bar, self._label])
        display(self._box)

    def update(self, count, note=""):
        if not self.enabled:
            return
        self._count = count
        now = time.perf_counter()
        final = self.total is not None and count >= self.total
        if not final and now - self._last < 0.1:
            return
        self._last = now
        if self._widget is not None:
            if self.total:
                self._widget.value = min(int(count), int(self.total))
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

    def close(self, status=None):
        if not self.enabled:
            return
        if self._widget is not None:
            if status:
                self._widget.bar_style = "danger" if status == "cancelled" else "success"
                self._label.value = f"{self._label.value} ({status})"
            else:
                self._widget.bar_style = "success"
            return
        line = self._line(self._count, status or "", time.perf_counter())
        self.stream.write("\r" + line + "\n")
        self.stream.flush()
