"""A handout: one self-contained HTML page of a session's views (no TensorFlow, no widgets).

Every picture is inlined as a ``data:image/png`` URL with its legend drawn under
it, so the file needs no network and no other file; the page has no script.
Everything that comes from the user (model, layer and class names, captions)
is escaped.
"""

from __future__ import annotations

import base64
import datetime
import html
from pathlib import Path

import numpy as np

from .export import ExportPicture, compose
from .images import to_png
from .legend import from_dict

__all__ = ["handout_html", "write_handout"]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1100px}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
figure{display:inline-block;vertical-align:top;margin:0 1.2em 1.2em 0}
figcaption{font-size:.85em;max-width:420px}
.legend-text{color:#555}
dl.selection{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}
dl.selection dt{font-weight:600}dl.selection dd{margin:0}
table.nbinterp-summary td,table.nbinterp-summary th{padding:1px 8px;border-bottom:1px solid #eee}
img{image-rendering:pixelated}
"""


def _data_url(image) -> str:
    return "data:image/png;base64," + base64.b64encode(to_png(image)).decode("ascii")


def _figure(picture: ExportPicture) -> str:
    """One view: the picture with its legend under it (one image), its caption and legend in words."""
    esc = html.escape
    legend = from_dict(picture.legend)
    image = compose([ExportPicture(np.asarray(picture.image), "", picture.legend)])
    words = [picture.caption] if picture.caption else []
    if legend is not None:
        words.append(f"colours: {legend.text}")
    alt = "; ".join(words) or "view"
    caption = esc(picture.caption)
    if legend is not None:
        caption += (" " if caption else "") + f'<span class="legend-text">(colours: {esc(legend.text)})</span>'
    return (f'<figure><img class="view" src="{_data_url(image)}" alt="{esc(alt, quote=True)}" '
            f'width="{image.shape[1]}" height="{image.shape[0]}"><figcaption>{caption}</figcaption></figure>')


def handout_html(title: str, selection: list, views: list, summary_html: str = "", input_image=None,
                 input_caption: str = "") -> str:
    """The page as a string.

    ``selection``: ``(name, value)`` pairs spelling out what is selected;
    ``views``: ``(section title, [ExportPicture, ...])`` in display order;
    ``summary_html``: the model summary table (already escaped HTML, e.g.
    :attr:`nbinterp.core.summary.Summary.html`); ``input_image``: the example
    shown, as a uint8 picture.
    """
    esc = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>",
             f"<h1>{esc(title)}</h1>",
             f"<p>Saved {esc(datetime.datetime.now().strftime('%Y-%m-%d %H:%M'))} by nbinterp.</p>",
             "<h2>Selection</h2>", '<dl class="selection">']
    parts += [f"<dt>{esc(str(name))}</dt><dd>{esc(str(value))}</dd>" for name, value in selection]
    parts.append("</dl>")
    if input_image is not None:
        image = np.asarray(input_image)
        parts.append(f'<figure><img class="input" src="{_data_url(image)}" alt="{esc(input_caption or "input", quote=True)}">'
                     f"<figcaption>{esc(input_caption)}</figcaption></figure>")
    for section, pictures in views:
        if not pictures:
            continue
        parts.append(f"<h2>{esc(section)}</h2>")
        parts += [_figure(p) for p in pictures]
    if summary_html:
        parts += ["<h2>Model</h2>", summary_html]
    parts.append("</body></html>")
    return "\n".join(parts)


def write_handout(path, page: str) -> Path:
    """Write ``page`` to ``path`` (UTF-8); returns the path."""
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path
