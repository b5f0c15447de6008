"""The Architecture tab: layers, output shapes and parameter counts; a row click selects the layer."""

from __future__ import annotations

import ipywidgets as W

from ..selection import Selection
from ..updates import Job
from .base import Tab


class ArchitectureTab(Tab):
    title = "Architecture"

    def build(self):
        ins = self.explorer.inspector
        summary = ins.summary()
        rows = []
        for info in ins.layers:
            name = "  " * info.depth + info.name.rsplit("/", 1)[-1] + ("/" if info.is_group else "")
            shape = "(" + ", ".join("None" if d is None else str(d) for d in info.output_shape) + ")"
            rows.append((f"{name:<28} {info.kind:<22} {shape:<22} {info.params:>12,}", info.name))
        self.table = W.Select(options=rows, rows=14, layout=W.Layout(width="720px"))
        self.table.add_class("nbinterp-architecture")
        self.table.value = self.explorer.layer.value
        self.observe(self.table, self._row_clicked)
        style = W.HTML("<style>.nbinterp-architecture select{font-family:monospace;}</style>")
        totals = W.Label(value=(f"Total params: {summary.total_params:,} · trainable: {summary.trainable_params:,}"
                                f" · non-trainable: {summary.non_trainable_params:,}"))
        return W.VBox([style, self.table, totals])

    def follow(self, selection: Selection) -> None:
        if self.table.value != selection.layer:
            self.table.value = selection.layer

    def update(self, selection: Selection, job: Job) -> None:
        """Nothing to compute: the table follows the Layer control in :meth:`follow`."""

    def _row_clicked(self, change):
        layer = change["new"]
        if layer and layer != self.explorer.layer.value:
            self.explorer.layer.value = layer
