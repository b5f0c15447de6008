"""Per-feature attributions of a model's tabular inputs, as bqplot bar charts beside the
Saliency tab's map: one chart per tabular (vector) input, one bar per feature, the
attribution of the selected method (or gradient × input, for methods that need a
feature map) for the same image, target and head as the map."""

from __future__ import annotations

import ipywidgets as W
import numpy as np

from ...core.cache import ByteBudgetCache
from ...errors import MethodNotApplicableError, NotSupportedError
from ..inputs_table import names_for

FALLBACK = "gradient_x_input"
CACHE_BYTES = 4 * 2**20


def tabular_inputs(spec) -> list[int]:
    """Indices of the float vector inputs of a model with several inputs (none for one input)."""
    if len(spec.inputs) < 2:
        return []
    return [i for i, s in enumerate(spec.inputs) if s.kind == "vector" and s.dtype.kind == "f"]


class FeatureBars:
    """The bar charts of one Explorer's tabular inputs; ``box`` gets them once shown."""

    def __init__(self, explorer):
        import bqplot as bq

        self.explorer = explorer
        spec = explorer.inspector.spec
        self.inputs = tabular_inputs(spec)
        self.names = {i: names_for(getattr(explorer, "feature_names", None), spec, i) for i in self.inputs}
        self.figures, self.bars = {}, {}
        for i in self.inputs:
            x_scale, y_scale = bq.OrdinalScale(), bq.LinearScale()
            bars = bq.Bars(x=[], y=[], scales={"x": x_scale, "y": y_scale}, colors=["#54a24b"],
                           tooltip=bq.Tooltip(fields=["x", "y"], formats=["", ".4f"], labels=["feature", "attribution"]))
            self.bars[i] = bars
            self.figures[i] = bq.Figure(
                marks=[bars], title=f"{spec.inputs[i].name}: attribution per feature",
                axes=[bq.Axis(scale=x_scale, tick_rotate=-45, tick_style={"font-size": "9px"}),
                      bq.Axis(scale=y_scale, orientation="vertical", tick_format=".2~g")],
                layout=W.Layout(width="360px", height="260px"),
                fig_margin={"top": 40, "bottom": 70, "left": 50, "right": 10})
        self.box = W.VBox([])
        self.values: dict[int, np.ndarray] = {}  # what each chart shows now
        self.methods: dict[int, str] = {}  # the method behind each chart
        self._cache = ByteBudgetCache(CACHE_BYTES)

    def show(self):
        """Put the charts in ``box`` (bqplot cannot lay out at zero size, so not before the tab shows)."""
        if self.inputs and not self.box.children:
            self.box.children = tuple(self.figures[i] for i in self.inputs)

    def compute(self, selection, method, options, target, job):
        """``(values, method used)`` per tabular input for the selection's example (cached)."""
        from ... import attribution

        ex = self.explorer
        out = {}
        for i in self.inputs:
            key = (ex.image_key(selection.image), i, selection.output, method, tuple(sorted(options.items())), target)
            hit = self._cache.get(key)
            if hit is None:
                used, values = method, None
                for name, opts in ((method, options), (FALLBACK, {})):
                    used = name
                    try:
                        values = attribution.attribute(
                            ex.model, ex.image_array(selection.image), target=target, method=name, input=i,
                            output=selection.output, preprocess=ex.preprocess, cancel=job.cancel, **opts)[0]
                        break
                    except (MethodNotApplicableError, NotSupportedError):
                        continue
                if values is None:
                    continue
                values.setflags(write=False)
                hit = (values, used)
                self._cache.put(key, hit)
            out[i] = hit
        return out

    def update(self, selection, method, options, target, job):
        """Draw the attributions of ``method`` for the selection on every chart."""
        if not self.inputs:
            return
        spec = self.explorer.inspector.spec
        for i, (values, used) in self.compute(selection, method, options, target, job).items():
            if job.superseded:
                return
            with self.bars[i].hold_sync():
                self.bars[i].x = self.names[i]
                self.bars[i].y = [float(v) for v in values]
                self.bars[i].colors = ["#54a24b" if v >= 0 else "#e45756" for v in values]
            label = self.explorer.method_label(used)
            note = "" if used == method else f" ({self.explorer.method_label(method)} needs a feature map)"
            self.figures[i].title = f"{spec.inputs[i].name}: {label} per feature{note}"
            self.values[i], self.methods[i] = values, used

    def widgets(self):
        return (self.box,) + tuple(self.figures.values())

    def close(self):
        self._cache.clear()


__all__ = ["FeatureBars", "tabular_inputs"]
