"""The Architecture tab: layers, output shapes and parameter counts; a row click selects the layer."""

from __future__ import annotations

import html

import ipywidgets as W

from ..selection import Selection
from ..updates import Job
from .base import Tab


def row_text(name, kind, shape, params):
    """One line of the layer list, in fixed columns."""
    return f"{name:<28} {kind:<22} {shape:<22} {params:>12}"


#: the layer list's column headers, aligned with :func:`row_text`
HEADER = row_text("layer", "kind", "output shape", "parameters")


class ArchitectureTab(Tab):
    title = "Architecture"

    def build(self):
        ins = self.explorer.inspector
        summary = ins.summary()
        rows = []
        for info in ins.layers:
            name = "  " * info.depth + info.name.rsplit("/", 1)[-1] + ("/" if info.is_group else "")
            shape = "(" + ", ".join("None" if d is None else str(d) for d in info.output_shape) + ")"
            rows.append((row_text(name, info.kind, shape, f"{info.params:,}"), info.name))
        self.table = W.Select(options=rows, rows=14, layout=W.Layout(width="720px"))
        self.table.add_class("nbinterp-architecture")
        self.table.value = self.explorer.layer.value
        self.observe(self.table, self._row_clicked)
        # the column headers, in the rows' monospace columns (the select's own padding included)
        self.header = W.HTML(f"<pre class='nbinterp-architecture-header'>{html.escape(HEADER)}</pre>")
        style = W.HTML("<style>.nbinterp-architecture select{font-family:monospace;}"
                       ".nbinterp-architecture-header{font-family:monospace;font-weight:bold;margin:0 0 2px 0;"
                       "padding:0 5px;font-size:inherit;}</style>")
        totals = W.Label(value=(f"Total params: {summary.total_params:,} · trainable: {summary.trainable_params:,}"
                                f" · non-trainable: {summary.non_trainable_params:,}"))
        return W.VBox([style, self.header, self.table, totals])

    def follow(self, selection: Selection) -> None:
        if self.table.value != selection.layer:
            self.table.value = selection.layer

    def update(self, selection: Selection, job: Job) -> None:
        """Nothing to compute: the table follows the Layer control in :meth:`follow`."""

    def _row_clicked(self, change):
        layer = change["new"]
        if layer and layer != self.explorer.layer.value:
            self.explorer.layer.value = layer
