"""What every Explorer tab is: a title, its widgets, its canvases, and four verbs.

* ``update(selection, job)`` draws the selection (on the worker thread);
  errors meant for the user are raised as :class:`~nbinterp.errors.NbinterpError`
  and shown as one line in the tab and, for the visible tab, the status line.
* ``needs(selection)`` lists warm-up :class:`~nbinterp.widgets.updates.Work`
  for likely next selections (computed at low priority into caches).
* ``follow(selection)`` brings cheap widget state in line at once, on the
  thread that changed a control (e.g. the architecture table's row).
* ``pictures()`` returns what the tab shows for export; ``close()`` closes its
  widgets.

A tab reaches the Explorer through a weak proxy (:class:`ExplorerContext`
lists what it may use), so tabs never keep an Explorer alive.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable, ClassVar, Hashable, Optional, Protocol

import ipywidgets as W
import numpy as np

from ...core.cache import ByteBudgetCache
from ...core.inspector import Inspector
from ...render.export import ExportPicture
from ...render.legend import from_dict
from ..canvas import ImageCanvas
from ..selection import Selection
from ..updates import Job, Work

__all__ = ["ExplorerContext", "Tab", "close_widgets", "neighbours"]


class ExplorerContext(Protocol):
    """The part of the Explorer a tab uses."""

    inspector: Inspector
    model: Any
    data_version: int  # changes when what "Top images" ranks changes
    preprocess: Optional[Callable]
    class_names: Optional[Any]  # a list, or a dict {output name: names}
    feature_names: Optional[Any]
    structured: bool  # several model inputs
    vocabulary: Optional[list]
    is_sequence: bool
    pictures_cache: ByteBudgetCache  # rendered views, keyed by what they show
    channel: W.IntSlider
    layer: W.Dropdown
    target: W.Dropdown
    input: W.Dropdown  # the image input shown (models with several inputs)
    output: W.Dropdown  # the head explained (models with several outputs)
    shared_scale: W.Checkbox
    single_channel: W.Checkbox
    page: W.IntSlider

    def image_array(self, index: int) -> np.ndarray: ...

    def image_key(self, index: int) -> Hashable: ...

    def shown_image(self, index: int, input: Optional[int] = None) -> np.ndarray: ...

    def explained(self, selection: Selection) -> dict: ...

    def held(self, selection: Selection) -> dict: ...

    def ranked_data(self) -> Any: ...

    def method_option_values(self, method: str) -> dict: ...

    def method_label(self, method: str) -> str: ...

    @property
    def image_count(self) -> int: ...


def neighbours(value: int, size: int, reach: int = 2) -> list[int]:
    """``value ± 1 … ± reach`` inside ``range(size)``, nearest first."""
    out = []
    for step in range(1, reach + 1):
        for candidate in (value + step, value - step):
            if 0 <= candidate < size:
                out.append(candidate)
    return out


def _child_widgets(widget):
    """Widgets a widget refers to through its traits (children, layout, style, marks, scales...)."""
    found = []
    for name in widget.trait_names():
        if name in ("comm", "keys"):
            continue
        try:
            value = getattr(widget, name)
        except Exception:
            continue
        values = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else (value,)
        found.extend(v for v in values if isinstance(v, W.Widget))
    return found


def close_widgets(*roots) -> int:
    """Close ``roots`` and every widget they refer to; returns how many were closed."""
    seen, stack, order = set(), [r for r in roots if isinstance(r, W.Widget)], []
    while stack:
        widget = stack.pop()
        if id(widget) in seen:
            continue
        seen.add(id(widget))
        order.append(widget)
        stack.extend(_child_widgets(widget))
    for widget in order:
        widget.close()
    return len(order)


class Tab:
    """Base class of the Explorer's tabs; subclasses set ``title`` and build ``box``."""

    #: the tab's title (also how the Explorer and export name it)
    title: ClassVar[str] = ""
    #: whether ``update`` runs while another tab is visible (False for costly scans)
    runs_hidden: ClassVar[bool] = True

    def __init__(self, explorer: ExplorerContext):
        self.explorer = weakref.proxy(explorer) if not isinstance(explorer, weakref.ProxyType) else explorer
        self.note = W.Label(value="", layout=W.Layout(display="none"))
        self._shown: dict[int, Hashable] = {}  # id(canvas) -> key of what it shows
        self._legends: dict[int, dict] = {}
        self._undo: list[Callable[[], None]] = []  # unregisters each handler the tab registered
        self.box = self.build()

    # ------------------------------------------------------------ to override
    def build(self) -> W.Widget:
        """Create the tab's widgets and return its content."""
        raise NotImplementedError

    @property
    def canvases(self) -> tuple[ImageCanvas, ...]:
        """The tab's image canvases, in display order."""
        return ()

    def needs(self, selection: Selection) -> list[Work]:
        """Warm-up work for selections likely to follow ``selection``."""
        return []

    def follow(self, selection: Selection) -> None:
        """Cheap widget updates that must follow the controls at once."""

    def update(self, selection: Selection, job: Job) -> None:
        """Draw ``selection``; stop early when ``job.superseded``."""
        raise NotImplementedError

    def pictures(self) -> list[ExportPicture]:
        """What the tab shows, for export: every canvas that holds an image."""
        out = []
        for canvas in self.canvases:
            image = canvas.image
            if image is not None and image.size > 1:
                out.append(ExportPicture(np.array(image), canvas.label, dict(self._legends.get(id(canvas), {}))))
        return out

    def close(self) -> None:
        """Unregister the tab's handlers and close its widgets."""
        for undo in self._undo:
            undo()
        self._undo.clear()
        close_widgets(self.box, self.note, *self.canvases, *self.extra_widgets())
        self._shown.clear()

    def extra_widgets(self) -> tuple[W.Widget, ...]:
        """Widgets of the tab that are not always inside ``box`` (closed with it)."""
        return ()

    # ------------------------------------------------------------ helpers
    def set_note(self, text: str) -> None:
        self.note.value = text
        self.note.layout.display = "" if text else "none"

    def observe(self, widget, handler, names="value") -> None:
        """``widget.observe(handler, names)``, undone by :meth:`close`."""
        widget.observe(handler, names=names)
        self._undo.append(lambda: widget.unobserve(handler, names=names))

    def on_canvas_click(self, canvas: ImageCanvas, handler) -> None:
        """``canvas.on_click(handler)``, undone by :meth:`close`."""
        canvas.on_click(handler)
        self._undo.append(lambda: canvas.on_click(handler, remove=True))

    def select_channel(self, event) -> None:
        """Click handler: a tile's region id selects that channel."""
        channel = event.get("id")
        control = self.explorer.channel
        if isinstance(channel, int) and 0 <= channel <= control.max:
            control.value = channel

    def cached(self, key: Hashable, make: Callable[[], Any]):
        """``make()``, kept in the Explorer's picture cache under (title, key)."""
        cache = self.explorer.pictures_cache
        full = (self.title,) + tuple(key)
        value = cache.get(full)
        if value is None:
            value = make()
            cache.put(full, value)
        return value

    def show(self, canvas: ImageCanvas, key: Hashable, make: Callable[[], Any], job: Job,
             legend: Optional[dict] = None) -> None:
        """Draw ``make()`` (a :class:`~nbinterp.views.Picture`) on ``canvas`` unless
        it already shows ``key``; data, shape, regions, caption, legend and readout
        go in one message. ``legend`` overrides the picture's own."""
        if self._shown.get(id(canvas)) == key:
            return
        picture = make()
        if job.superseded:
            return
        chosen = from_dict(legend) if legend else getattr(picture, "legend", None)
        with canvas.hold_sync():
            canvas.set_image(picture.image)
            canvas.regions = picture.regions
            canvas.label = picture.label
            canvas.highlight = picture.highlight
            canvas.set_legend(chosen)
            canvas.set_readout(getattr(picture, "readout", []), chosen.what if chosen is not None else "value")
        self._shown[id(canvas)] = key
        self._legends[id(canvas)] = chosen.as_dict() if chosen is not None else {}

    def clear(self, *canvases: ImageCanvas) -> None:
        """Blank ``canvases`` (a 1×1 white image, no caption)."""
        for canvas in canvases:
            if self._shown.get(id(canvas)) != "empty":
                with canvas.hold_sync():
                    canvas.set_image(np.full((1, 1), 255, np.uint8))
                    canvas.regions, canvas.label, canvas.highlight = [], "", None
                    canvas.set_legend(None)
                    canvas.set_readout([])
                self._shown[id(canvas)] = "empty"
                self._legends.pop(id(canvas), None)
