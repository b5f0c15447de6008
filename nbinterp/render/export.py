"""Export of a view: its pictures side by side with their captions, as PNG or a
matplotlib Figure. numpy, Pillow and matplotlib only (no TensorFlow, no widgets).

A view hands over :class:`ExportPicture` objects: the uint8 image, its caption
and a ``legend`` dict (a :class:`~nbinterp.render.legend.Legend` as a dict:
``what``, ``cmap``, ``vmin``, ``vmax``, ``signed``, ``note``) describing the
colour scale: :func:`compose` draws it as the same legend picture the Explorer
shows under the map, :func:`figure` as a labelled colour bar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import NbinterpError
from .images import resize, to_png
from .legend import _ticks, from_dict, legend_image

__all__ = ["EmptyExportError", "ExportPicture", "compose", "compose_png", "figure"]

GAP_PX = 8  # white space between pictures
CAPTION_PX = 13  # caption font size
MIN_CAPTION_WIDTH_PX = 160  # narrow pictures still get a readable caption column


class EmptyExportError(NbinterpError, ValueError):
    """An export of a view that shows no picture."""


@dataclass(frozen=True)
class ExportPicture:
    """One picture of a view: ``image`` uint8 (H, W), (H, W, 1), (H, W, 3) or (H, W, 4),
    its ``caption``, and ``legend`` metadata for its colour scale."""

    image: np.ndarray
    caption: str = ""
    legend: dict = field(default_factory=dict)


def _rgb(image):
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise TypeError(f"export pictures must be uint8, got {array.dtype}")
    if array.ndim == 2:
        array = array[..., None]
    if array.shape[-1] == 4:  # flatten transparency onto white
        alpha = array[..., 3:4].astype(np.float32) / 255
        array = np.round(array[..., :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    return np.repeat(array, 3, axis=-1) if array.shape[-1] == 1 else array[..., :3]


def _checked(pictures, what):
    pictures = [p for p in pictures if p.image is not None and np.asarray(p.image).size > 1]
    if not pictures:
        raise EmptyExportError(f"nothing to export: {what} shows no picture yet")
    return pictures


@lru_cache(maxsize=4)
def _font(size):
    """DejaVu Sans from matplotlib's data (it has the ×, →, − and … of our captions)."""
    try:
        import matplotlib

        return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), size)
    except (ImportError, OSError):
        return ImageFont.load_default(size)


def _wrap(text, font, width):
    """``text`` broken into lines no wider than ``width`` pixels (long words stay whole)."""
    lines = []
    for paragraph in str(text).splitlines() or [""]:
        line = ""
        for word in paragraph.split(" "):
            trial = word if not line else f"{line} {word}"
            if line and font.getlength(trial) > width:
                lines.append(line)
                line = word
            else:
                line = trial
        lines.append(line)
    return [line for line in lines if line]


def _caption_block(text, width):
    """The caption rendered as black text on white, ``width`` pixels wide."""
    font = _font(CAPTION_PX)
    lines = _wrap(text, font, width - 4)
    if not lines:
        return np.full((0, width, 3), 255, np.uint8)
    step = CAPTION_PX + 4
    block = Image.new("RGB", (width, step * len(lines) + 4), "white")
    draw = ImageDraw.Draw(block)
    for i, line in enumerate(lines):
        draw.text((2, 2 + i * step), line, fill="black", font=font)
    return np.asarray(block)


def compose(pictures, title: str = "", what: str = "this view") -> np.ndarray:
    """The pictures side by side at one height, each caption under its picture,
    ``title`` above all; a uint8 RGB array. Raises :class:`EmptyExportError` when
    there is no picture (``what`` names the view in that message)."""
    pictures = _checked(list(pictures), what)
    height = max(np.asarray(p.image).shape[0] for p in pictures)
    columns = []
    for p in pictures:
        rgb = _rgb(p.image)
        if rgb.shape[0] != height:
            rgb = resize(rgb, (height, max(1, round(rgb.shape[1] * height / rgb.shape[0]))), smooth=False)
        legend = from_dict(p.legend)
        key = legend_image(legend) if legend is not None else None
        width = max(rgb.shape[1], MIN_CAPTION_WIDTH_PX if p.caption else 1, key.shape[1] if key is not None else 1)
        column = np.full((height, width, 3), 255, np.uint8)
        column[:, : rgb.shape[1]] = rgb
        parts = [column]
        if key is not None:
            block = np.full((key.shape[0], width, 3), 255, np.uint8)
            block[:, : key.shape[1]] = key
            parts.append(block)
        columns.append(np.concatenate(parts + [_caption_block(p.caption, width)], axis=0))
    rows = max(c.shape[0] for c in columns)
    parts = []
    for column in columns:
        padded = np.full((rows, column.shape[1], 3), 255, np.uint8)
        padded[: column.shape[0]] = column
        parts += [padded, np.full((rows, GAP_PX, 3), 255, np.uint8)]
    body = np.concatenate(parts[:-1], axis=1)
    heading = _caption_block(title, body.shape[1]) if title else body[:0]
    return np.concatenate([heading, body], axis=0)


def compose_png(pictures, title: str = "", what: str = "this view") -> bytes:
    """PNG bytes of :func:`compose`."""
    return to_png(compose(pictures, title, what))


def figure(pictures, title: str = "", what: str = "this view"):
    """A matplotlib Figure with one panel per picture, its caption as the panel
    title and a colour bar where the legend gives a colour map and range."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    pictures = _checked(list(pictures), what)
    fig = Figure(figsize=(4 * len(pictures), 4.6))
    for i, p in enumerate(pictures):
        ax = fig.add_subplot(1, len(pictures), i + 1)
        image = np.asarray(p.image)
        ax.imshow(image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image, cmap="gray",
                  vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(p.caption, fontsize=8, wrap=True)
        ax.axis("off")
        legend = from_dict(p.legend)
        if legend is not None:
            low, high = (legend.vmin, legend.vmax) if legend.vmax > legend.vmin else (legend.vmin - 0.5, legend.vmin + 0.5)
            scale = ScalarMappable(Normalize(low, high), colormaps[legend.cmap])
            bar = fig.colorbar(scale, ax=ax, orientation="horizontal", fraction=0.05, pad=0.04)
            bar.set_label(legend.what + (f" ({legend.note})" if legend.note else ""), fontsize=8)
            if legend.relative:
                bar.set_ticks([low, high], labels=[t for _, t in _ticks(legend)[:: 2 if legend.signed else 1]])
            elif legend.signed:
                bar.set_ticks([low, 0.0, high])
            bar.ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title)
    return fig
