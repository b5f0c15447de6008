"""ImageCanvas: a pixel-exact image view backed by raw uint8 bytes.

The front end is ``js/canvas.js`` (an anywidget ES module). Images travel as
binary buffers, not base64 PNGs, and are drawn with nearest-neighbour zoom, so
every data pixel stays a crisp square.
"""

from __future__ import annotations

from typing import Callable

import anywidget
import numpy as np
import traitlets

from nbinterp._assets import js_path

__all__ = ["ImageCanvas"]

_CHANNELS = (1, 3, 4)


def _check_image(array) -> np.ndarray:
    if not isinstance(array, np.ndarray):
        raise TypeError(
            f"ImageCanvas.set_image expects a NumPy uint8 array, got {type(array).__name__}"
        )
    if array.dtype != np.uint8:
        raise TypeError(
            f"ImageCanvas.set_image expects dtype uint8, got {array.dtype}; "
            "scale and convert first, e.g. np.clip(x, 0, 255).astype(np.uint8)"
        )
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in _CHANNELS:
        raise ValueError(
            "ImageCanvas.set_image expects shape (H, W), (H, W, 1), (H, W, 3) or "
            f"(H, W, 4), got {array.shape}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"ImageCanvas.set_image got an empty image of shape {array.shape}")
    return np.ascontiguousarray(array)


class ImageCanvas(anywidget.AnyWidget):
    """Show a uint8 image, optionally with hoverable, clickable regions.

    Traits (all synced with the browser):

    * ``data`` - row-major uint8 bytes of the image, ``H * W * C`` long.
    * ``shape`` - ``[H, W, C]`` with ``C`` in 1 (gray), 3 (RGB), 4 (RGBA).
    * ``scale`` - zoom factor; 0 (default) picks the largest integer zoom
      whose width fits ``max_width`` (images wider than that are shrunk).
    * ``max_width`` - CSS pixels available for auto zoom (default 448).
    * ``label`` - caption shown under the image, as plain text.
    * ``regions`` - list of ``{"id", "x", "y", "w", "h", "title"}`` in image
      pixels; hovering one shows its ``title`` (plain text) as a tooltip.
    * ``highlight`` - ``id`` of the region to outline, or None.
    * ``clicked`` - set by the browser on each click:
      ``{"x": px, "y": py, "id": region id or None, "n": click counter}``.

    Use :meth:`set_image` rather than assigning ``data``/``shape`` by hand.
    """

    # the module's text, not its path: for a path anywidget connects every instance
    # to a file-change signal through a strong reference, so no canvas is ever freed
    _esm = js_path("canvas.js").read_text(encoding="utf-8")

    data = traitlets.Bytes(b"").tag(sync=True)
    shape = traitlets.List([]).tag(sync=True)
    scale = traitlets.Float(0.0).tag(sync=True)
    max_width = traitlets.Int(448).tag(sync=True)
    label = traitlets.Unicode("").tag(sync=True)
    regions = traitlets.List([]).tag(sync=True)
    highlight = traitlets.Any(None).tag(sync=True)
    clicked = traitlets.Dict({}).tag(sync=True)

    def __init__(self, image=None, **kwargs):
        super().__init__(**kwargs)
        self._click_handlers: list[Callable] = []
        if image is not None:
            self.set_image(image)

    def set_image(self, array) -> "ImageCanvas":
        """Show ``array``: uint8 of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4).

        Raises TypeError for a non-array or a dtype other than uint8, and
        ValueError for any other shape. Data and shape are sent together.
        """
        image = _check_image(array)
        with self.hold_sync():
            self.data = image.tobytes()
            self.shape = [int(s) for s in image.shape]
        return self

    @property
    def image(self) -> np.ndarray | None:
        """The current image as a read-only (H, W, C) uint8 array, or None."""
        if not self.shape:
            return None
        arr = np.frombuffer(self.data, dtype=np.uint8)
        return arr.reshape([int(s) for s in self.shape])

    def on_click(self, callback: Callable[[dict], object], remove: bool = False) -> None:
        """Call ``callback(event)`` on each click in the browser.

        ``event`` is the ``clicked`` dict: ``{"x", "y", "id", "n"}``.
        Pass ``remove=True`` to unregister a callback.
        """
        if remove:
            if callback in self._click_handlers:
                self._click_handlers.remove(callback)
            return
        if not self._click_handlers:
            self.observe(self._dispatch_click, names="clicked")
        self._click_handlers.append(callback)

    def _dispatch_click(self, change) -> None:
        event = change["new"]
        if not event:
            return
        for callback in list(self._click_handlers):
            callback(dict(event))
