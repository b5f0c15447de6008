"""The Top images tab: the examples that excite the selected channel most, their
receptive-field patches and deconvnet reconstructions.

A scan reads the whole ranked set (the Explorer's images, uploads included, or
its ``dataset``), so it runs only while the tab is open; results are kept per
(layer, channel, version of the ranked data).
"""

from __future__ import annotations

import ipywidgets as W

from ... import views
from ...core.cache import ByteBudgetCache
from ...errors import CancelledError, NbinterpError
from ..canvas import ImageCanvas
from ..selection import Selection
from ..updates import Job
from .base import Tab

TOP_K = 9
TOP_CACHE_BYTES = 64 * 2**20
PARTS = ("images", "patches", "reconstructions")


class TopImagesTab(Tab):
    title = "Top images"
    runs_hidden = False

    def build(self):
        self.images = ImageCanvas(max_width=300)
        self.images.add_class("nbinterp-top-images")
        self.patches = ImageCanvas(max_width=300)
        self.patches.add_class("nbinterp-top-patches")
        self.reconstructions = ImageCanvas(max_width=300)
        self.reconstructions.add_class("nbinterp-top-reconstructions")
        self._results = ByteBudgetCache(TOP_CACHE_BYTES)
        for canvas in self.canvases:  # each caption wraps under its own picture, apart from the next
            canvas.layout.max_width, canvas.layout.margin = "310px", "0 18px 0 0"
        return W.VBox([self.note, W.HBox([self.images, self.patches, self.reconstructions])])

    @property
    def canvases(self):
        return (self.images, self.patches, self.reconstructions)

    def close(self):
        super().close()
        self._results.clear()

    def scanned(self, data_version: int | None = None) -> list[tuple[str, int]]:
        """(layer, channel) pairs whose scan of the current ranked data is kept."""
        version = self.explorer.data_version if data_version is None else data_version
        return [(layer, channel) for layer, channel, v in self._results.keys() if v == version]

    def _scan(self, selection, job):
        from ...units.reconstruct import reconstruct
        from ...units.top_activations import top_activations

        ins, layer, channel = self.explorer.inspector, selection.layer, selection.channel
        data = self.explorer.ranked_data()
        total = len(data) if hasattr(data, "__len__") else None
        result = top_activations(
            ins, layer, channel, data, k=TOP_K, cancel=job.cancel,
            callback=lambda seen, n: job.progress(0.8 * seen / (n or total or max(seen, 1)), "scanning"))
        recons = []
        for i, (image, position) in enumerate(zip(result.images, result.positions)):
            job.check()
            if result.inputs is not None:  # several inputs: the whole example, projected onto result.input
                example = [values[i] for values in result.inputs]
                recons.append(reconstruct(ins, layer, channel, example, position=position, input=result.input))
            else:
                recons.append(reconstruct(ins, layer, channel, image, position=position))
            job.progress(0.8 + 0.2 * (i + 1) / len(result), "scanning")
        return views.top_images_view(result, recons)

    def update(self, selection: Selection, job: Job) -> None:
        if selection.tab != self.title:
            return  # a scan runs only while its tab is open
        layer, channel = selection.layer, selection.channel
        shape = self.explorer.inspector.layer(layer).output_shape
        if len(shape) < 3:
            raise NbinterpError(f"top images need a layer with a spatial output; {layer} outputs {shape}")
        key = (layer, channel, selection.data_version)
        pictures = self._results.get(key)
        if pictures is None:
            try:
                pictures = self._scan(selection, job)
            except CancelledError:
                return
            self._results.put(key, pictures)
        for canvas, part in zip(self.canvases, PARTS):
            self.show(canvas, key, lambda p=pictures[part]: p, job)
