"""The Saliency tab: the chosen attribution method as an overlay, the top classes
as a clickable bar chart, and the "Maximize" pseudo-method (what a unit wants).

Attribution maps are kept in a byte-bounded cache keyed by image, method,
options, target and layer; warm-up fills it with every method's map for the
current image, so switching methods shows a cached map.
"""

from __future__ import annotations


import ipywidgets as W
import numpy as np

from ... import views
from ...core.cache import ByteBudgetCache
from ...errors import CancelledError, NbinterpError
from ..canvas import ImageCanvas
from ..selection import Selection
from ..updates import Job, Work
from .base import Tab
from .feature_bars import FeatureBars
from .head_charts import HeadCharts, head_names

MAXIMIZE = "maximize"
HEAT_CACHE_BYTES = 32 * 2**20


class SaliencyTab(Tab):
    title = "Saliency"

    def build(self):
        import bqplot as bq

        self.overlay = ImageCanvas(max_width=360)
        self.overlay.add_class("nbinterp-saliency")
        self.tokens = W.HTML("")
        x_scale, y_scale = bq.OrdinalScale(), bq.LinearScale(min=0.0)
        self.bars = bq.Bars(x=[], y=[], scales={"x": x_scale, "y": y_scale}, colors=["#4c78a8"],
                            tooltip=bq.Tooltip(fields=["x", "y"], formats=["", ".3f"], labels=["class", "score"]),
                            interactions={"click": "select"}, selected_style={"fill": "#f58518"})
        self.chart = bq.Figure(marks=[self.bars],
                               axes=[bq.Axis(scale=x_scale, label="class"),
                                     bq.Axis(scale=y_scale, orientation="vertical", tick_format=".3~g")],
                               title="Top classes (click a bar to explain it)",
                               layout=W.Layout(width="360px", height="280px"),
                               fig_margin={"top": 40, "bottom": 40, "left": 50, "right": 10})
        self.bar_classes: list[int] = []
        self.bars.on_element_click(self._bar_clicked)
        self._undo.append(lambda: self.bars.on_element_click(self._bar_clicked, remove=True))
        # the chart joins the tab when the tab is first shown: bqplot cannot lay out at zero size
        self._chart_holder = W.Box([])
        self.heat_cache = ByteBudgetCache(HEAT_CACHE_BYTES)
        self._bars_key = None
        self.features = FeatureBars(self.explorer)  # tabular inputs: attribution per feature
        self.heads = HeadCharts(self.explorer, self._head_selected)  # multi-output models: a chart per head
        return W.VBox([self.note, W.HBox([self.overlay, self._chart_holder, self.features.box]), self.tokens])

    @property
    def canvases(self):
        return (self.overlay,)

    def extra_widgets(self):
        return (self.chart,) + self.features.widgets() + self.heads.widgets()

    def close(self):
        self.heads.close()
        self.features.close()
        super().close()
        self.heat_cache.clear()

    # ------------------------------------------------------------ controls
    def follow(self, selection: Selection) -> None:
        if selection.tab == self.title and not self._chart_holder.children:
            self._chart_holder.children = (self.heads.box if self.heads.active else self.chart,)
            self.heads.show()
            self.features.show()

    def select_bar(self, index: int) -> None:
        """Explain the class of bar ``index`` (what a click on that bar does)."""
        if 0 <= index < len(self.bar_classes):
            self.explorer.target.value = self.bar_classes[index]

    def _head_selected(self, head, target):
        ex = self.explorer
        if ex.output.value != head:
            ex.output.value = head
        ex.target.value = target

    def _bar_clicked(self, bar, event):
        index = event.get("data", {}).get("index")
        if index is not None:
            self.select_bar(int(index))

    # ------------------------------------------------------------ computing
    def layer_for(self, method: str, layer: str):
        """The layer ``method`` explains: the selected one when the method follows
        it and it has a spatial feature map, else None (the method's own choice)."""
        from ... import attribution

        cls = attribution.METHODS.get(method)
        if cls is None or not cls.follows_selected_layer:
            return None
        shape = self.explorer.inspector.layer(layer).output_shape
        if len(shape) == 4 and all(d is not None and d > 1 for d in shape[1:3]):
            return layer
        return None

    def _target(self, selection, image):
        if selection.target >= 0:
            return selection.target
        return views.top_classes(self.explorer.inspector, image, 1, output=selection.output)[0][0]

    def heat(self, selection: Selection, method: str, options: dict, job: Job):
        """The attribution map of ``method`` for the selection's image and target (cached)."""
        from ... import attribution

        ex = self.explorer
        image = ex.image_array(selection.image)
        target = self._target(selection, image)
        layer = self.layer_for(method, selection.layer)
        key = (ex.image_key(selection.image), method, tuple(sorted(options.items())), target, layer,
               selection.input, selection.output)
        heat = self.heat_cache.get(key)
        if heat is not None:
            return heat, target, layer
        heat = attribution.attribute(ex.model, image, target=target, method=method, layer=layer,
                                     preprocess=ex.preprocess, cancel=job.cancel,
                                     progress=lambda fraction: job.progress(fraction, "computing"),
                                     **ex.explained(selection), **options)[0]
        heat.setflags(write=False)
        self.heat_cache.put(key, heat)
        job.check()
        return heat, target, layer

    def needs(self, selection: Selection) -> list[Work]:
        from ... import attribution

        ex = self.explorer
        work = []
        for name in attribution.METHODS:
            if name == selection.method:
                continue
            options = ex.method_option_values(name)
            work.append(Work(f"{ex.method_label(name)} for image {selection.image}",
                             lambda job, name=name, options=options: self.heat(selection, name, options, job)))
        return work

    # ------------------------------------------------------------ drawing
    def update(self, selection: Selection, job: Job) -> None:
        ex = self.explorer
        image = ex.image_array(selection.image)
        self.follow(selection)
        indices, scores, names, probabilities = views.top_classes(ex.inspector, image, 5,
                                                                  head_names(ex, selection.output), selection.output)
        bars_key = (ex.image_key(selection.image), selection.output)
        if self._bars_key != bars_key:
            with self.bars.hold_sync():
                self.bars.x = [f"{i}: {n}" if n != str(i) else str(i) for i, n in zip(indices, names)]
                self.bars.y = scores
            self.bar_classes = indices
            self.chart.axes[1].label = "probability" if probabilities else "score"
            self._bars_key = bars_key
        target = indices[0] if selection.target < 0 else selection.target
        self.bars.selected = [indices.index(target)] if target in indices else []
        self.heads.update(selection, target)
        if selection.method == MAXIMIZE:
            self._update_maximize(selection, image, job)
            return
        options = selection.option_values
        key = (ex.image_key(selection.image), selection.method, selection.options, target,
               self.layer_for(selection.method, selection.layer), selection.opacity, selection.input, selection.output)
        self.features.update(selection, selection.method, options, target, job)
        if self._shown.get(id(self.overlay)) == key:
            return
        heat, target, layer = self.heat(selection, selection.method, options, job)
        tokens = None
        if ex.is_sequence and ex.vocabulary is not None:
            vocabulary = ex.vocabulary
            tokens = [vocabulary[int(t)] if 0 <= int(t) < len(vocabulary) else str(int(t)) for t in np.asarray(image).reshape(-1)]
        result = views.saliency_view(heat, ex.shown_image(selection.image, selection.input), selection.opacity,
                                     ex.is_sequence, tokens)
        picture = result["overlay"]
        names = head_names(ex, selection.output)
        name = names[target] if names and target < len(names) else str(target)
        picture.label = (ex.method_label(selection.method) + (f" at {layer}" if layer else "")
                         + f" for class {target}" + (f" ({name})" if name != str(target) else ""))
        legend = {"cmap": "magma" if ex.is_sequence else "jet", "vmin": float(np.min(heat)), "vmax": float(np.max(heat)),
                  "what": "attribution"}
        self.show(self.overlay, key, lambda: picture, job, legend)
        self.tokens.value = result.get("html", "")

    def _update_maximize(self, selection, image, job):
        from ...units.maximize import Channel, Class, maximize

        ex, layer, options = self.explorer, selection.layer, selection.option_values
        ins = ex.inspector
        heads = list(ins.plan.output_keys)
        if ins.plan.output_key(layer) in heads:  # an output layer: its class (or unit, for other heads)
            head = heads.index(ins.plan.output_key(layer))
            target = self._target(selection.replace(output=head, target=selection.target if head == selection.output
                                                    else -1), image)
            objective, label = ((Class(target), f"class {target} of {ex.model.name}") if head == 0
                                else (Channel(layer, target), f"unit {target} of {layer}"))
        else:
            if views.channel_count(ins, layer) == 0:
                raise NbinterpError(f"{layer} has no channels to maximise; pick a conv layer or the output")
            objective, label = Channel(layer, selection.channel), f"channel {selection.channel} of {layer}"
        held = ex.held(selection)  # models with several inputs: the others at the current example
        key = (MAXIMIZE, layer, repr(objective), selection.options, selection.input,
               ex.image_key(selection.image) if held else None)
        if self._shown.get(id(self.overlay)) == key:
            return
        steps = max(int(options.get("steps", 64)), 1)
        try:
            result = maximize(ex.model, objective, progress=False, preprocess=ex.preprocess, cancel=job.cancel, **held,
                              callback=lambda step, value: job.progress((step + 1) / steps, "ascent"), **options)
        except CancelledError:
            return
        picture = views.maximize_view(result, "what " + label + " wants")
        self.show(self.overlay, key, lambda: picture, job)
        self.tokens.value = ""
