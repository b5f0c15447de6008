"""The Filters tab: a layer's kernels as a grid and the selected kernel enlarged."""

from __future__ import annotations

import ipywidgets as W

from ... import views
from ...errors import NbinterpError
from ..canvas import ImageCanvas
from ..selection import Selection
from ..updates import Job
from .base import Tab


class FiltersTab(Tab):
    title = "Filters"

    def build(self):
        self.grid = ImageCanvas(max_width=448)
        self.grid.add_class("nbinterp-filters-grid")
        self.selected = ImageCanvas(max_width=220)
        self.selected.add_class("nbinterp-filter-selected")
        self.on_canvas_click(self.grid, self.select_channel)
        return W.VBox([self.note, W.HBox([self.grid, self.selected])])

    @property
    def canvases(self):
        return (self.grid, self.selected)

    def update(self, selection: Selection, job: Job) -> None:
        ins = self.explorer.inspector
        layer, channel, ic = selection.layer, selection.channel, selection.input_channel
        try:
            path, _ = views.kernel_layer(ins, layer)
        except NbinterpError:
            self.clear(self.grid, self.selected)
            raise
        info = ins.layer(path)
        if not info.has_kernel:
            self.clear(self.grid, self.selected)
            raise NbinterpError(f"{info.name} ({info.kind}) has no kernels: pick a Conv or Dense layer to see filters")
        self.show(self.grid, ("grid", layer, ic), lambda: views.filters_grid(ins, layer, ic), job)
        self.grid.highlight = channel
        self.show(self.selected, ("selected", layer, channel, ic),
                  lambda: views.filter_selected(ins, layer, channel, ic), job)
