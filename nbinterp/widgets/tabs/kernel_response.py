"""The Kernel response tab: image | kernel | the image convolved with that kernel alone."""

from __future__ import annotations

import ipywidgets as W

from ... import views
from ...errors import NbinterpError
from ..canvas import ImageCanvas
from ..selection import Selection
from ..updates import Job, Work
from .base import Tab, neighbours

PARTS = ("input", "kernel", "response")


class KernelResponseTab(Tab):
    title = "Kernel response"

    def build(self):
        self.input = ImageCanvas(max_width=224)
        self.input.add_class("nbinterp-response-input")
        self.kernel = ImageCanvas(max_width=224)
        self.kernel.add_class("nbinterp-response-kernel")
        self.response = ImageCanvas(max_width=224)
        self.response.add_class("nbinterp-response")
        # the three panels wrap onto a second row rather than clip in a narrow notebook
        panels = W.HBox([self.input, self.kernel, self.response], layout=W.Layout(flex_flow="row wrap"))
        return W.VBox([self.note, self.explorer.single_channel, panels])

    @property
    def canvases(self):
        return (self.input, self.kernel, self.response)

    def _key(self, selection, channel):
        single = selection.input_channel if selection.single_channel else None
        return ("response", selection.layer, channel, self.explorer.image_key(selection.image), single,
                selection.input_channel)

    def _pictures(self, selection, channel):
        ins, image = self.explorer.inspector, self.explorer.image_array(selection.image)
        single = selection.input_channel if selection.single_channel else None

        def make():
            pictures = views.kernel_response_view(ins, selection.layer, channel, image, input_channel=single,
                                                  shown_channel=selection.input_channel)
            return pictures

        return self.cached(self._key(selection, channel), make)

    def needs(self, selection: Selection) -> list[Work]:
        ins = self.explorer.inspector
        if not views.has_kernel_response(ins, selection.layer):
            return []
        n = views.channel_count(ins, selection.layer)
        return [Work(f"kernel response of channel {c}", lambda job, c=c: self._pictures(selection, c))
                for c in neighbours(selection.channel, n)]

    def update(self, selection: Selection, job: Job) -> None:
        ins, layer = self.explorer.inspector, selection.layer
        if not views.has_kernel_response(ins, layer):
            self.clear(*self.canvases)
            info = ins.layer(layer)
            if info.is_group:
                raise NbinterpError(f"{layer} is a nested block ({info.kind}) whose first layer with weights is not "
                                    "a convolution; pick one of its convolution layers for kernel responses")
            raise NbinterpError(f"kernel responses need a convolution layer (Conv, DepthwiseConv, SeparableConv or "
                                f"ConvTranspose); {layer} is {info.kind}: pick a convolution layer")
        key = self._key(selection, selection.channel)
        pictures = self._pictures(selection, selection.channel)
        for canvas, part in zip(self.canvases, PARTS):
            self.show(canvas, key, lambda p=pictures[part]: p, job)
