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
    * ``legend_data``/``legend_shape``/``legend_text`` - the colour legend drawn
      under the image (a uint8 RGB picture from
      :func:`nbinterp.render.legend.legend_image`) and its one-line text.
    * ``readout``/``readout_values`` - the per-pixel hover readout: patches
      ``{"x", "y", "w", "h", "rows", "cols", "offset", "scale", "name"}`` (a
      rectangle of image pixels showing a ``rows x cols`` array stored from
      ``offset`` in ``readout_values``, row-major float16 little-endian, each
      value divided by the patch's power-of-two ``scale`` so that float16 keeps
      three significant digits at any magnitude; NaN = no value) and
      ``"what"``, the quantity's name. Hovering shows "what at (x, y): value"
      with ``(x, y)`` the column and row inside that array. A patch of several
      values per cell (the R, G, B weights of a colour kernel) also has
      ``"parts"``, their names: its array is ``rows x cols x len(parts)`` and
      the hover shows "R +0.1, G −0.2, B +0.3".

    Use :meth:`set_image`, :meth:`set_legend` and :meth:`set_readout` rather
    than assigning those traits by hand.
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
    legend_data = traitlets.Bytes(b"").tag(sync=True)
    legend_shape = traitlets.List([]).tag(sync=True)
    legend_text = traitlets.Unicode("").tag(sync=True)
    readout = traitlets.Dict({}).tag(sync=True)
    readout_values = traitlets.Bytes(b"").tag(sync=True)

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

    def set_legend(self, legend) -> "ImageCanvas":
        """Draw ``legend`` (a :class:`~nbinterp.render.legend.Legend`, its dict, or
        None for no legend) under the image."""
        from ..render.legend import from_dict, legend_image

        legend = from_dict(legend)
        with self.hold_sync():
            if legend is None:
                self.legend_data, self.legend_shape, self.legend_text = b"", [], ""
            else:
                picture = np.ascontiguousarray(legend_image(legend))
                self.legend_data = picture.tobytes()
                self.legend_shape = [int(s) for s in picture.shape]
                self.legend_text = legend.text
        return self

    @property
    def legend_picture(self) -> np.ndarray | None:
        """The legend drawn under the image as an (H, W, 3) uint8 array, or None."""
        if not self.legend_shape:
            return None
        return np.frombuffer(self.legend_data, dtype=np.uint8).reshape([int(s) for s in self.legend_shape])

    def set_readout(self, patches, what: str = "value") -> "ImageCanvas":
        """Set the hover readout: ``patches`` as in :class:`nbinterp.views.Picture`
        (``{"x", "y", "w", "h", "values", "name"}``, ``values`` 2-D, or 3-D
        ``(rows, cols, len(parts))`` with ``"parts"`` naming the values of a
        cell, e.g. ``["R", "G", "B"]``); empty for none."""
        meta, parts, offset = [], [], 0
        for p in patches or ():
            values = np.asarray(p["values"], np.float32)
            names = [str(n) for n in p.get("parts") or ()]
            if values.ndim == 1:
                values = values[None, :]
            if names and (values.ndim != 3 or values.shape[2] != len(names)):
                raise ValueError(f"readout parts {names} need values of shape (rows, cols, {len(names)}), "
                                 f"got {values.shape}")
            if values.ndim != (3 if names else 2) or values.size == 0:
                raise ValueError("readout values must be a non-empty 2-D array (3-D with parts), "
                                 f"got shape {values.shape}")
            finite = np.abs(values[np.isfinite(values)])
            top = float(finite.max()) if finite.size else 0.0
            scale = float(2.0 ** np.ceil(np.log2(top))) if top > 0 else 1.0  # a power of 2: exact
            entry = {"x": int(p["x"]), "y": int(p["y"]), "w": int(p["w"]), "h": int(p["h"]),
                     "rows": int(values.shape[0]), "cols": int(values.shape[1]), "offset": offset,
                     "scale": scale, "name": str(p.get("name", ""))}
            if names:
                entry["parts"] = names
            meta.append(entry)
            parts.append((values / scale).astype("<f2").reshape(-1))
            offset += values.size
        with self.hold_sync():
            self.readout_values = np.concatenate(parts).tobytes() if parts else b""
            self.readout = {"what": str(what), "patches": meta} if meta else {}
        return self

    def readout_at(self, x: int, y: int):
        """``(name, column, row, value)`` the readout shows at image pixel (x, y), or None
        (the same lookup as the browser's, for tests and scripts). ``value`` is None
        where there is none, and a tuple (one entry per part) for a patch with parts."""
        for p in reversed(self.readout.get("patches", [])):
            if p["x"] <= x < p["x"] + p["w"] and p["y"] <= y < p["y"] + p["h"]:
                col = min(p["cols"] - 1, (x - p["x"]) * p["cols"] // p["w"])
                row = min(p["rows"] - 1, (y - p["y"]) * p["rows"] // p["h"])
                values = np.frombuffer(self.readout_values, dtype="<f2")
                n = len(p.get("parts") or ()) or 1
                start = p["offset"] + (row * p["cols"] + col) * n
                cell = [float(v) * p["scale"] for v in values[start : start + n]]
                cell = [None if np.isnan(v) else v for v in cell]
                return (p["name"], col, row, tuple(cell) if p.get("parts") else cell[0])
        return None

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
