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
from .faithfulness import FaithfulnessPanel
from .feature_bars import FeatureBars
from .head_charts import HeadCharts, head_names

MAXIMIZE = "maximize"
HEAT_CACHE_BYTES = 32 * 2**20


#: methods whose partial maps the overlay draws while they run
PROGRESSIVE = ("occlusion",)

#: the shortest bar, as a fraction of the chart's height: every listed class stays clickable
BAR_FLOOR = 0.06
#: room above a full bar (a fraction of it) for the bar's text
CHART_HEADROOM = 0.15


def bar_heights(scores, probabilities):
    """(heights in 0..1, texts) of the class chart's bars: probabilities as they are (a
    bar never below ``BAR_FLOOR``), other scores relative to the lowest listed one; the
    texts give the true values."""
    scores = np.asarray(scores, np.float64)
    if probabilities:
        heights = scores
        texts = [f"{100 * p:.1f}%" if p >= 0.001 else f"{100 * p:.2g}%" for p in scores]
    else:
        span = float(np.ptp(scores)) if scores.size else 0.0
        heights = (scores - scores.min()) / span if span > 0 else np.ones_like(scores)
        texts = [f"{v:+.3g}" for v in scores]
    return [float(h) for h in np.clip(heights, BAR_FLOOR, 1.0)], texts


class SaliencyTab(Tab):
    title = "Saliency"

    def build(self):
        import bqplot as bq

        self.overlay = ImageCanvas(max_width=360)
        self.overlay.add_class("nbinterp-saliency")
        self.tokens = W.HTML("")
        # heights run 0..1; the headroom above 1 keeps the top bar's text clear of the title
        x_scale, y_scale = bq.OrdinalScale(), bq.LinearScale(min=0.0, max=1.0 + CHART_HEADROOM)
        self.bars = bq.Bars(x=[], y=[], scales={"x": x_scale, "y": y_scale}, colors=["#4c78a8"],
                            tooltip=bq.Tooltip(fields=["x"], labels=["class"]),
                            interactions={"click": "select"}, selected_style={"fill": "#f58518"})
        # each bar's score as text above it: the height of small bars is only a floor
        self.bar_labels = bq.Label(x=[], y=[], text=[], scales={"x": x_scale, "y": y_scale}, align="middle",
                                   y_offset=-6, default_size=12, colors=["#333333"])
        self.chart = bq.Figure(marks=[self.bars, self.bar_labels],
                               axes=[bq.Axis(scale=x_scale, label="class"),
                                     bq.Axis(scale=y_scale, orientation="vertical", tick_format=".0%",
                                             tick_values=[0.0, 0.5, 1.0])],
                               title="Top classes (click a bar to explain it)",
                               padding_y=0.0,  # the axis runs from 0, not from a padded -4 %
                               layout=W.Layout(width="360px", height="280px", min_width="360px", min_height="280px"),
                               fig_margin={"top": 40, "bottom": 40, "left": 50, "right": 10})
        self.bar_classes: list[int] = []
        self.bars.on_element_click(self._bar_clicked)
        self._undo.append(lambda: self.bars.on_element_click(self._bar_clicked, remove=True))
        # the chart joins the tab when the tab is first shown: bqplot cannot lay out at zero size
        self._chart_holder = W.Box([])
        self.heat_cache = ByteBudgetCache(HEAT_CACHE_BYTES)
        self._bars_key = None
        self._explained: dict = {}  # what attribution explains on a spatial output -> the wrapped model
        ex = self.explorer
        self.explain_row = W.HBox([ex.explain, ex.position_row, ex.position_col])
        self.explain_row.layout.display = "" if views.is_spatial_output(ex.inspector) else "none"
        self.faithfulness = FaithfulnessPanel(self)
        self.features = FeatureBars(self.explorer)  # tabular inputs: attribution per feature
        self.heads = HeadCharts(self.explorer, self._head_selected)  # multi-output models: a chart per head
        return W.VBox([self.note, self.explain_row, W.HBox([self.overlay, self._chart_holder, self.features.box]),
                       self.tokens, self.faithfulness.box])

    @property
    def canvases(self):
        return (self.overlay,)

    def extra_widgets(self):
        return (self.chart,) + self.faithfulness.widgets + self.features.widgets() + self.heads.widgets()

    def close(self):
        self.faithfulness.close()
        self.heads.close()
        self.features.close()
        super().close()
        self.heat_cache.clear()
        self._explained.clear()

    # ------------------------------------------------------------ controls
    def follow(self, selection: Selection) -> None:
        # the chart joins the page the first time its tab shows and stays: bqplot draws a figure
        # first rendered at zero size (inside a hidden tab) with negative widths and heights,
        # while a figure already drawn keeps its size when its tab is hidden and shown again
        if selection.tab == self.title and not self._chart_holder.children:
            self._chart_holder.children = (self.heads.box if self.heads.active else self.chart,)
            self.heads.show()
            self.features.show()
        position = "" if selection.output_position is not None else "none"
        for control in (self.explorer.position_row, self.explorer.position_col):
            control.layout.display = position
        self.faithfulness.follow(selection)

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

    def explained_model(self, selection: Selection, image):
        """The model an attribution explains: the Explorer's model for a classifier; for a
        spatial output, the model with its output reduced to one score per class, the mean
        over every position or the value at ``selection.output_position``."""
        import keras

        ex = self.explorer
        if len(ex.model.outputs) > 1 or not views.is_spatial_output(ex.inspector):
            return ex.model
        position = selection.output_position
        grid = tuple(np.asarray(ex.inspector.predict(image)).shape[1:-1]) if position is not None else ()
        key = (position, grid)
        model = self._explained.get(key)
        if model is not None:
            return model
        out = ex.model.outputs[0]
        rank = len(out.shape) - 2  # spatial axes of the output
        if rank not in (1, 2):
            raise NbinterpError(f"attribution explains outputs with one or two position axes; this output is {out.shape}")
        if position is None:
            pool = keras.layers.GlobalAveragePooling2D if rank == 2 else keras.layers.GlobalAveragePooling1D
            score = pool(name="nbinterp_mean_over_positions")(out)
        else:
            for axis, (p, size) in enumerate(zip(position[:rank], grid)):
                if not 0 <= p < size:
                    what = ("row", "column")[axis]
                    raise NbinterpError(f"output position {what} {p} is out of range: the output has {size} "
                                        f"{what}s for this image (0 to {size - 1})")
            if rank == 2:
                (r, c), (h, w) = position, grid
                crop = keras.layers.Cropping2D(((r, h - 1 - r), (c, w - 1 - c)), name="nbinterp_position")(out)
            else:
                t, length = position[0], grid[0]
                crop = keras.layers.Cropping1D((t, length - 1 - t), name="nbinterp_position")(out)
            score = keras.layers.Reshape((int(out.shape[-1]),), name="nbinterp_position_scores")(crop)
        model = keras.Model(ex.model.inputs, score, name=f"{ex.model.name}_explained")
        self._explained[key] = model
        return model

    def _explained_text(self, selection):
        if not views.is_spatial_output(self.explorer.inspector):
            return ""
        if selection.output_position is None:
            return ", averaged over every output position"
        return f" at output position {tuple(selection.output_position)}"

    @staticmethod
    def signed(method: str, options: dict) -> bool:
        """Whether ``method`` with ``options`` gives a signed map (drawn diverging around 0)."""
        from ... import attribution

        reduce = options.get("reduce")
        cls = attribution.METHODS.get(method)
        return reduce == "sum" or (reduce is None and getattr(cls, "sign", None) == "signed")

    @staticmethod
    def magnitude(method: str, options: dict) -> bool:
        """Whether an unsigned map of ``method`` is a magnitude (else non-negative by construction)."""
        from ... import attribution

        cls = attribution.METHODS.get(method)
        return options.get("reduce") == "max_abs" or getattr(cls, "sign", None) is not None

    def _target(self, selection, image):
        if selection.target >= 0:
            return selection.target
        return views.top_classes(self.explorer.inspector, image, 1, output=selection.output)[0][0]

    def heat(self, selection: Selection, method: str, options: dict, job: Job, draw_partial=None):
        """The attribution map of ``method`` for the selection's image and target (cached).
        ``draw_partial(map, fraction)`` receives partial maps of methods that have them
        (occlusion: a coarse map first, refined as patches complete)."""
        from ... import attribution

        ex = self.explorer
        image = ex.image_array(selection.image)
        target = self._target(selection, image)
        layer = self.layer_for(method, selection.layer)
        key = (ex.image_key(selection.image), method, tuple(sorted(options.items())), target, layer,
               selection.output_position, selection.input, selection.output)
        heat = self.heat_cache.get(key)
        if heat is not None:
            return heat, target, layer
        done = [0.0]

        def progress(fraction):
            done[0] = fraction
            job.progress(fraction, "computing")

        extra = {}
        if draw_partial is not None and method in PROGRESSIVE:
            extra["preview"] = lambda maps: draw_partial(maps[0], done[0])
        heat = attribution.attribute(self.explained_model(selection, image), image, target=target, method=method,
                                     layer=layer, preprocess=ex.preprocess, cancel=job.cancel, progress=progress,
                                     **extra, **ex.explained(selection), **options)[0]
        heat.setflags(write=False)
        self.heat_cache.put(key, heat)
        job.check()
        return heat, target, layer

    def needs(self, selection: Selection) -> list[Work]:
        from ... import attribution

        ex = self.explorer
        work = []
        for name in attribution.METHODS:
            if name == selection.method or not attribution.METHODS[name].prefetch:
                continue
            # each method starts from its own kind of map when chosen: warm that one
            options = {k: v for k, v in ex.method_option_values(name).items() if k != "reduce"}
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
        if self._bars_key != bars_key and selection.tab == self.title:
            heights, texts = bar_heights(scores, probabilities)
            labels = [f"{i}: {n}" if n != str(i) else str(i) for i, n in zip(indices, names)]
            with self.bars.hold_sync(), self.bar_labels.hold_sync():
                self.bars.x, self.bars.y = labels, heights
                self.bar_labels.x, self.bar_labels.y, self.bar_labels.text = labels, heights, texts
            self.bar_classes = indices
            axis = self.chart.axes[1]
            axis.label = "probability" if probabilities else "score (relative)"
            axis.tick_format = ".0%" if probabilities else ""
            self._bars_key = bars_key
        target = indices[0] if selection.target < 0 else selection.target
        self.bars.selected = [indices.index(target)] if target in indices else []
        self.heads.update(selection, target)
        if selection.method == MAXIMIZE:
            self._update_maximize(selection, image, job)
            return
        options = selection.option_values
        key = (ex.image_key(selection.image), selection.method, selection.options, target,
               self.layer_for(selection.method, selection.layer), selection.opacity, selection.output_position,
               selection.input, selection.output)
        self.features.update(selection, selection.method, options, target, job)
        if self._shown.get(id(self.overlay)) == key:
            return
        heat, target, layer = self.heat(selection, selection.method, options, job,
                                        draw_partial=self._partial_drawer(selection, image, job))
        tokens = None
        if ex.is_sequence and ex.vocabulary is not None:
            vocabulary = ex.vocabulary
            tokens = [vocabulary[int(t)] if 0 <= int(t) < len(vocabulary) else str(int(t)) for t in np.asarray(image).reshape(-1)]
        legend = views.attribution_legend(heat, target, signed=self.signed(selection.method, options),
                                          magnitude=self.magnitude(selection.method, options))
        result = views.saliency_view(heat, ex.shown_image(selection.image, selection.input), selection.opacity,
                                     ex.is_sequence, tokens, legend)
        picture = result["overlay"]
        names = head_names(ex, selection.output)
        name = names[target] if names and target < len(names) else str(target)
        picture.label = (ex.method_label(selection.method) + (f" at {layer}" if layer else "")
                         + f" for class {target}" + (f" ({name})" if name != str(target) else "")
                         + self._explained_text(selection))
        self.show(self.overlay, key, lambda: picture, job)
        self.tokens.value = result.get("html", "")

    def _partial_drawer(self, selection, image, job):
        """Draws the partial maps a progressive method hands over while it runs (the
        attribution spaces them out: the first, the coarse cover, then every few percent)."""
        ex = self.explorer

        def draw(heat, fraction):
            if job.superseded:
                return
            picture = views.saliency_view(heat, image, selection.opacity, ex.is_sequence)["overlay"]
            with self.overlay.hold_sync():
                self.overlay.set_image(picture.image)
                self.overlay.label = (f"{ex.method_label(selection.method)}: computing, "
                                      f"{100 * fraction:.0f}% done (coarse map, refined as patches complete)")
            self._shown.pop(id(self.overlay), None)  # the finished map replaces it

        return draw

    def _noise_start(self, image):
        """A start for the ascent of the image's size: faint noise around the middle of the
        images' range."""
        from ...units.maximize import infer_input_range

        lo, hi = infer_input_range(self.explorer.model, image)
        noise = np.random.default_rng(0).standard_normal(np.shape(image)).astype(np.float32)
        return (lo + (hi - lo) * np.clip(0.5 + 0.05 * noise, 0.0, 1.0)).astype(np.float32)

    def _update_maximize(self, selection, image, job):
        from ...units.maximize import Channel, Class, maximize

        ex, layer, options = self.explorer, selection.layer, selection.option_values
        ins = ex.inspector
        heads = list(ins.plan.output_keys)
        if ins.plan.output_key(layer) in heads:  # an output layer: its class (or unit, for other heads)
            head = heads.index(ins.plan.output_key(layer))
            target = self._target(selection.replace(output=head, target=selection.target if head == selection.output
                                                    else -1), image)
            name = ex.model.name if len(heads) == 1 else layer
            if views.is_spatial_output(ins, head):
                objective, label = Channel(layer, target), f"class {target} of {name} (mean over positions)"
            else:
                objective, label = Class(target, output=head), f"class {target} of {name}"
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
        if any(d is None for d in ins.input_shape):  # sizes the model leaves open: the images' size
            options = dict(options, start=self._noise_start(image))
        try:
            result = maximize(ex.model, objective, progress=False, preprocess=ex.preprocess, cancel=job.cancel, **held,
                              callback=lambda step, value: job.progress((step + 1) / steps, "ascent"), **options)
        except CancelledError:
            return
        picture = views.maximize_view(result, "what " + label + " wants")
        self.show(self.overlay, key, lambda: picture, job)
        self.tokens.value = ""
