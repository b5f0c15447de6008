"""Top classes of every head of a multi-output model, one small bqplot bar chart per head,
for the Saliency tab; a click on a bar explains that head's class (or unit)."""

from __future__ import annotations

import ipywidgets as W

from ... import views

TOP_K = 5


def head_names(explorer, output):
    """The class names of head ``output``: ``class_names`` as a list names the first head's
    classes; a dict ``{output name: names}`` names any head's."""
    names = explorer.class_names
    if isinstance(names, dict):
        spec = explorer.inspector.spec.outputs[output]
        found = names.get(spec.name, names.get(spec.name.rsplit("/", 1)[-1]))
        return None if found is None else [str(n) for n in found]
    return names if output == 0 else None


class HeadCharts:
    """One chart per output; ``box`` gets them once the tab is shown (bqplot needs a size)."""

    def __init__(self, explorer, on_select):
        import bqplot as bq

        self.explorer = explorer
        self.on_select = on_select  # called with (head, class)
        outputs = explorer.inspector.spec.outputs
        self.figures, self.bars, self.classes = [], [], []
        self._handlers = []
        for head, out in enumerate(outputs if len(outputs) > 1 else ()):
            x_scale, y_scale = bq.OrdinalScale(), bq.LinearScale()
            bars = bq.Bars(x=[], y=[], scales={"x": x_scale, "y": y_scale}, colors=["#4c78a8"],
                           tooltip=bq.Tooltip(fields=["x", "y"], formats=["", ".3f"], labels=["class", "score"]),
                           interactions={"click": "select"}, selected_style={"fill": "#f58518"})

            def clicked(_bars, event, head=head):
                index = event.get("data", {}).get("index")
                if index is not None and 0 <= int(index) < len(self.classes[head]):
                    self.on_select(head, self.classes[head][int(index)])

            bars.on_element_click(clicked)
            self._handlers.append((bars, clicked))
            self.bars.append(bars)
            self.classes.append([])
            self.figures.append(bq.Figure(
                marks=[bars], title=f"{out.name.rsplit('/', 1)[-1]}: top classes",
                axes=[bq.Axis(scale=x_scale), bq.Axis(scale=y_scale, orientation="vertical", tick_format=".3~g")],
                layout=W.Layout(width="260px", height="220px"),
                fig_margin={"top": 40, "bottom": 35, "left": 45, "right": 10}))
        self.box = W.VBox([])
        self._shown_key = None

    @property
    def active(self) -> bool:
        return bool(self.figures)

    def show(self):
        if self.figures and not self.box.children:
            self.box.children = tuple(self.figures)

    def update(self, selection, target):
        """Every head's top classes for the selection's example; the explained bar selected."""
        if not self.figures:
            return
        ex = self.explorer
        key = ex.image_key(selection.image)
        if key != self._shown_key:
            example = ex.image_array(selection.image)
            for head, bars in enumerate(self.bars):
                indices, scores, names, probabilities = views.top_classes(ex.inspector, example, TOP_K,
                                                                          head_names(ex, head), output=head)
                with bars.hold_sync():
                    bars.x = [f"{i}: {n}" if n != str(i) else str(i) for i, n in zip(indices, names)]
                    bars.y = scores
                self.classes[head] = indices
                self.figures[head].axes[1].label = "probability" if probabilities else "score"
            self._shown_key = key
        for head, bars in enumerate(self.bars):
            chosen = head == selection.output and target in self.classes[head]
            bars.selected = [self.classes[head].index(target)] if chosen else []
            outputs = ex.inspector.spec.outputs
            mark = "▶ " if head == selection.output else ""
            self.figures[head].title = f"{mark}{outputs[head].name.rsplit('/', 1)[-1]}: top classes"

    def widgets(self):
        return (self.box,) + tuple(self.figures)

    def close(self):
        for bars, handler in self._handlers:
            bars.on_element_click(handler, remove=True)
        self._handlers.clear()


__all__ = ["HeadCharts", "head_names"]
