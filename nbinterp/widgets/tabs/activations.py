"""The Activations tab: every channel of the layer for the image, and the selected one enlarged."""

from __future__ import annotations

import ipywidgets as W
import numpy as np

from ... import views
from ...render.export import ExportPicture
from ..canvas import ImageCanvas
from ..selection import Selection
from ..updates import Job, Work
from .base import Tab, neighbours


def page_of(ins, selection: Selection) -> int:
    """The activation-grid page that holds the selected channel."""
    return selection.channel // views.PAGE_SIZE if views.activation_pages(ins, selection.layer) > 1 else 0


def output_rank(ins, layer) -> int:
    """Axes of ``layer``'s output per example: 1 for vectors (Dense, global pooling), 2 for
    sequences, 3 for feature maps."""
    return len(ins.layer(layer).output_shape) - 1


class ActivationsTab(Tab):
    """Feature maps as a grid of tiles (at least ``views.TILE_TARGET_PX`` pixels each,
    drawn at zoom 1) beside the selected channel enlarged; a single-channel map only
    enlarged; a vector (Dense, global pooling) as a bar chart of its unit values."""

    title = "Activations"

    def build(self):
        import bqplot as bq

        self.grid = ImageCanvas(max_width=560, scale=1)  # tiles are enlarged already: never zoomed further
        self.grid.add_class("nbinterp-activation-grid")
        self.enlarged = ImageCanvas(max_width=280)
        self.enlarged.add_class("nbinterp-activation-channel")
        self.on_canvas_click(self.grid, self.select_channel)
        x_scale, y_scale = bq.OrdinalScale(), bq.LinearScale()
        self.unit_bars = bq.Bars(x=[], y=[], scales={"x": x_scale, "y": y_scale}, colors=["#4c78a8"],
                                 tooltip=bq.Tooltip(fields=["x", "y"], formats=["", "+.4f"], labels=["unit", "value"]),
                                 interactions={"click": "select"}, selected_style={"fill": "#f58518"})
        self.unit_bars.on_element_click(self._unit_clicked)
        self._undo.append(lambda: self.unit_bars.on_element_click(self._unit_clicked, remove=True))
        self.units_chart = bq.Figure(marks=[self.unit_bars],
                                     axes=[bq.Axis(scale=x_scale, label="unit", num_ticks=10),
                                           bq.Axis(scale=y_scale, orientation="vertical", label="activation",
                                                   tick_format=".3~g")],
                                     layout=W.Layout(width="640px", height="280px", min_width="640px",
                                                     min_height="280px"),
                                     fig_margin={"top": 40, "bottom": 40, "left": 60, "right": 10})
        self._units_holder = W.Box([])  # the units chart, once it has shown
        self._vector_picture = None
        self.maps = W.HBox([self.grid, self.enlarged])
        ex = self.explorer
        return W.VBox([self.note, W.HBox([ex.shared_scale, ex.page]), self.maps, self._units_holder])

    @property
    def canvases(self):
        return (self.grid, self.enlarged)

    def extra_widgets(self):
        return (self.units_chart,)

    def pictures(self):
        if self._vector_picture is not None:
            picture = self._vector_picture
            legend = picture.legend.as_dict() if picture.legend is not None else {}
            return [ExportPicture(np.array(picture.image), picture.label, legend)]
        shown = super().pictures()
        if self.grid.layout.display == "none" and shown and shown[0].caption == self.grid.label:
            shown = shown[1:]  # a single-channel layer: the enlarged view alone
        return shown

    def _unit_clicked(self, bars, event):
        index = event.get("data", {}).get("index")
        if index is not None:
            self.select_channel({"id": int(index)})

    @property
    def units_shown(self) -> bool:
        """Whether the units chart (not the maps) is what the tab shows."""
        return bool(self._units_holder.children) and self._units_holder.layout.display != "none"

    def follow(self, selection: Selection) -> None:
        vector = output_rank(self.explorer.inspector, selection.layer) == 1
        # the chart joins the page the first time it shows on the visible tab and stays,
        # hidden on layers with maps: bqplot lays out a figure at zero size when its first
        # render lands in a hidden tab, while a figure drawn once keeps its size
        if vector and selection.tab == self.title and not self._units_holder.children:
            self._units_holder.children = (self.units_chart,)
        self._units_holder.layout.display = "" if vector else "none"
        self.maps.layout.display = "none" if vector else ""

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

    def _update_vector(self, selection, acts, job):
        """A vector output: one bar per unit (the selected one highlighted)."""
        values = acts[0]
        n = values.shape[0]
        self.clear(self.grid, self.enlarged)
        self._vector_picture = views.activation_grid(self.explorer.inspector, selection.layer,
                                                     self.explorer.image_array(selection.image))
        if job.superseded:
            return
        c = min(selection.channel, n - 1)
        with self.unit_bars.hold_sync():
            self.unit_bars.x = [str(i) for i in range(n)]
            self.unit_bars.y = [float(v) for v in values]
            self.unit_bars.selected = [c]
        self.units_chart.title = (f"{selection.layer}: {n} units, unit {c} = {float(values[c]):+.4f} "
                                  "(click a bar to select a unit)")

    def update(self, selection: Selection, job: Job) -> None:
        ins, layer = self.explorer.inspector, selection.layer
        acts = ins.activations(layer, self.explorer.image_array(selection.image))
        self.follow(selection)
        if acts.ndim == 2:
            self._update_vector(selection, acts, job)
            return
        self._vector_picture = None
        single = acts.ndim > 3 and acts.shape[-1] == 1  # one map: the enlarged view alone
        self.grid.layout.display = "none" if single else ""
        key, grid = self._grid(selection, selection.image)
        self.show(self.grid, key, lambda: grid, job)
        self.grid.highlight = selection.channel
        key, enlarged = self._channel(selection, selection.image)
        self.show(self.enlarged, key, lambda: enlarged, job)
