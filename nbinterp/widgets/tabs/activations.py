"""The Activations tab: every channel of the layer for the image, and the selected one enlarged."""

from __future__ import annotations

import ipywidgets as W

from ... import views
from ..canvas import ImageCanvas
from ..selection import Selection
from ..updates import Job, Work
from .base import Tab, neighbours


def page_of(ins, selection: Selection) -> int:
    """The activation-grid page that holds the selected channel."""
    return selection.channel // views.PAGE_SIZE if views.activation_pages(ins, selection.layer) > 1 else 0


class ActivationsTab(Tab):
    title = "Activations"

    def build(self):
        self.grid = ImageCanvas(max_width=560)
        self.grid.add_class("nbinterp-activation-grid")
        self.enlarged = ImageCanvas(max_width=280)
        self.enlarged.add_class("nbinterp-activation-channel")
        self.on_canvas_click(self.grid, self.select_channel)
        ex = self.explorer
        return W.VBox([self.note, W.HBox([ex.shared_scale, ex.page]), W.HBox([self.grid, self.enlarged])])

    @property
    def canvases(self):
        return (self.grid, self.enlarged)

    def _grid(self, selection, image_index):
        ins, image = self.explorer.inspector, self.explorer.image_array(image_index)
        page = page_of(ins, selection)
        key = ("grid", selection.layer, self.explorer.image_key(image_index), selection.shared_scale, page)
        return key, self.cached(key, lambda: views.activation_grid(ins, selection.layer, image, selection.shared_scale, page))

    def _channel(self, selection, image_index):
        ins, image = self.explorer.inspector, self.explorer.image_array(image_index)
        key = ("channel", selection.layer, self.explorer.image_key(image_index), selection.channel, selection.shared_scale)
        return key, self.cached(key, lambda: views.activation_channel(ins, selection.layer, image, selection.channel,
                                                                      selection.shared_scale))

    def _warm_image(self, selection, index, job):
        ins = self.explorer.inspector
        ins.warm_layers(self.explorer.image_array(index))
        job.check()
        self._grid(selection, index)
        self._channel(selection, index)

    def needs(self, selection: Selection) -> list[Work]:
        return [Work(f"activations of image {i}", lambda job, i=i: self._warm_image(selection, i, job))
                for i in neighbours(selection.image, self.explorer.image_count)]

    def update(self, selection: Selection, job: Job) -> None:
        key, grid = self._grid(selection, selection.image)
        self.show(self.grid, key, lambda: grid, job)
        self.grid.highlight = selection.channel
        key, enlarged = self._channel(selection, selection.image)
        self.show(self.enlarged, key, lambda: enlarged, job)
