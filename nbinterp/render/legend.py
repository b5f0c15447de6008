"""Colour legends: what a map's colours mean (numpy/Pillow only).

A :class:`Legend` is the one description of how a scalar map is coloured:
the palette, the value range drawn at its two ends and what the value is
("activation", "weight", "attribution to class 3"). Views colour their maps
*through* their legend (:meth:`Legend.colorize`), so the colour bar drawn
beside a map (:func:`legend_image`) always matches it.

The palette rule (:func:`choose`): a signed quantity gets the diverging
palette centred on zero over the symmetric range ``±max|v|``, so a zero is
always the palette's middle colour (white); a non-negative quantity gets the
sequential palette over its ``[min, max]``. ``bounds`` replaces the data's
range by a shared one (the Explorer's Shared scale).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Optional

import numpy as np
from PIL import Image, ImageDraw

from .colormap import _table

__all__ = ["DIVERGING", "SEQUENTIAL", "Legend", "bar_top", "choose", "colorbar", "format_value", "from_dict", "legend_image"]

SEQUENTIAL = "viridis"
DIVERGING = "RdBu_r"
BAR_WIDTH = 256  # one bar column per palette entry
BAR_HEIGHT = 12
LEGEND_FONT_PX = 11
MARGIN = 6


def format_value(value: float) -> str:
    """A short, signed number for a legend tick or a readout (4 significant digits)."""
    value = float(value)
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    text = f"{value:+.4g}"
    return text.replace("-", "−")


@dataclass(frozen=True)
class Legend:
    """How a map is coloured: ``cmap`` over ``[vmin, vmax]``, for the quantity ``what``.

    ``signed``: the range is symmetric about zero and zero is the palette's
    centre. ``note``: a short remark drawn with the label ("per-tile scale",
    "magnitude |·|", "red +, blue −"). ``relative``: every tile of the picture
    has its own range (``vmin``/``vmax`` are then the whole picture's); the
    bar's ends read "tile min" / "tile max" (or ``−max|tile|`` / ``+max|tile|``).
    """

    what: str
    vmin: float
    vmax: float
    cmap: str = SEQUENTIAL
    signed: bool = False
    note: str = ""
    relative: bool = False  # each tile spans its own range: the ticks name the ends, not numbers

    def unit(self, values) -> np.ndarray:
        """Values scaled to [0, 1] the way the palette is indexed (clipped; NaN -> 0)."""
        values = np.asarray(values, np.float64)
        span = self.vmax - self.vmin
        if not (span > 0):
            base = 0.5 if self.signed else 0.0
            return np.full(values.shape, base)
        return np.clip(np.nan_to_num((values - self.vmin) / span, nan=0.0), 0.0, 1.0)

    def colorize(self, values) -> np.ndarray:
        """uint8 RGB ``values.shape + (3,)`` through this legend's palette and range."""
        index = np.round(self.unit(values) * 255).astype(np.uint8)
        return _table(self.cmap)[index]

    @property
    def text(self) -> str:
        """One line a screen reader or a caption can use: "activation: 0 … +2.908"."""
        note = f" ({self.note})" if self.note else ""
        if self.relative:
            return f"{self.what}{note}"
        return f"{self.what}{note}: {format_value(self.vmin)} … {format_value(self.vmax)}"

    def as_dict(self) -> dict:
        return asdict(self)

    def with_range(self, vmin: float, vmax: float) -> "Legend":
        return replace(self, vmin=float(vmin), vmax=float(vmax))


def _finite(values) -> np.ndarray:
    values = np.asarray(values, np.float64).reshape(-1)
    return values[np.isfinite(values)]


def choose(values, what: str, signed: Optional[bool] = None, bounds=None, note: str = "",
           cmap: Optional[str] = None) -> Legend:
    """The legend of a map by the palette rule (see the module docstring).

    ``signed=None`` decides from the data (signed when any value is below 0);
    ``bounds=(lo, hi)`` is a shared range to use instead of the data's (for a
    signed map only ``max(|lo|, |hi|)`` matters). ``cmap`` overrides the palette.
    """
    finite = _finite(values)
    if bounds is not None:
        lo, hi = float(bounds[0]), float(bounds[1])
    elif finite.size:
        lo, hi = float(finite.min()), float(finite.max())
    else:
        lo, hi = 0.0, 0.0
    if signed is None:
        signed = lo < 0
    if signed:
        top = max(abs(lo), abs(hi))
        return Legend(what, -top, top, cmap or DIVERGING, True, note)
    return Legend(what, lo, hi, cmap or SEQUENTIAL, False, note)


def from_dict(value) -> Optional[Legend]:
    """A :class:`Legend` from its dict (or a Legend, or None); None when it has no range."""
    if value is None or isinstance(value, Legend):
        return value
    if not value or value.get("vmin") is None or value.get("vmax") is None or not value.get("cmap"):
        return None
    fields = {k: value[k] for k in ("what", "vmin", "vmax", "cmap", "signed", "note", "relative") if k in value}
    fields.setdefault("what", "value")
    return Legend(**fields)


def colorbar(legend: Legend, width: int = BAR_WIDTH, height: int = BAR_HEIGHT) -> np.ndarray:
    """uint8 RGB ``(height, width, 3)``: column ``i`` has the colour of the value at
    ``vmin + i / (width - 1) * (vmax - vmin)`` (so with the default width, column
    ``i`` is palette entry ``i``)."""
    width = max(2, int(width))
    row = _table(legend.cmap)[np.round(np.linspace(0.0, 1.0, width) * 255).astype(np.uint8)]
    return np.ascontiguousarray(np.broadcast_to(row[None], (max(1, int(height)), width, 3)))


def _ticks(legend: Legend):
    """(position in [0, 1], text) of the ticks under the bar."""
    if legend.relative:
        low, high = ("−max|tile|", "+max|tile|") if legend.signed else ("tile min", "tile max")
    else:
        low, high = format_value(legend.vmin), format_value(legend.vmax)
    ticks = [(0.0, low), (1.0, high)]
    if legend.signed:
        ticks.insert(1, (0.5, "0"))
    return ticks


def legend_image(legend: Legend, width: Optional[int] = None) -> np.ndarray:
    """uint8 RGB picture of a legend: the label (``what`` and ``note``), the colour
    bar, and the range under it (zero marked at the centre of a signed bar).

    The bar is :func:`colorbar` at :data:`BAR_WIDTH` columns, its top-left at
    ``(MARGIN, bar_top(legend))``; ``width`` widens the picture, never the bar.
    """
    from .export import _font, _wrap

    font = _font(LEGEND_FONT_PX)
    total = max(BAR_WIDTH + 2 * MARGIN, int(width or 0))
    step = LEGEND_FONT_PX + 3
    label = legend.what + (f" · {legend.note}" if legend.note else "")
    lines = _wrap(label, font, total - 2 * MARGIN)
    top = bar_top(legend, total)
    height = top + BAR_HEIGHT + 2 + step + 2
    picture = Image.new("RGB", (total, height), "white")
    draw = ImageDraw.Draw(picture)
    for i, line in enumerate(lines):
        draw.text((MARGIN, 2 + i * step), line, fill="black", font=font)
    picture.paste(Image.fromarray(colorbar(legend)), (MARGIN, top))
    draw.rectangle((MARGIN - 1, top - 1, MARGIN + BAR_WIDTH, top + BAR_HEIGHT), outline=(90, 90, 90))
    for position, text in _ticks(legend):
        x = MARGIN + position * (BAR_WIDTH - 1)
        draw.line((x, top + BAR_HEIGHT, x, top + BAR_HEIGHT + 2), fill="black")
        length = font.getlength(text)
        left = min(max(x - length / 2, 0), total - length)
        draw.text((left, top + BAR_HEIGHT + 3), text, fill="black", font=font)
    return np.asarray(picture)


def bar_top(legend: Legend, width: Optional[int] = None) -> int:
    """The row of :func:`legend_image` where the colour bar starts."""
    from .export import _font, _wrap

    font = _font(LEGEND_FONT_PX)
    total = max(BAR_WIDTH + 2 * MARGIN, int(width or 0))
    label = legend.what + (f" · {legend.note}" if legend.note else "")
    lines = max(1, len(_wrap(label, font, total - 2 * MARGIN)))
    return 4 + lines * (LEGEND_FONT_PX + 3) + 2

