"""Views of weights through training: histograms over time, summary
statistics, first-layer filters, and a before/after comparison.

The numbers come from :mod:`nbinterp.weights` and the filter pictures from
:func:`nbinterp.render.filters.kernel_change_banks`, drawn on
:class:`~nbinterp.widgets.canvas.ImageCanvas` widgets; this module only lays
out controls and charts. Text that comes from the model (layer names,
snapshot labels) goes into Label/Dropdown widgets, canvas labels and tooltips
or bqplot marks, which show it as text, never as HTML.
"""

from __future__ import annotations

import bqplot
import ipywidgets as widgets
import numpy as np

from ..errors import InvalidInputError
from ..render import colorize
from ..render.filters import kernel_change_banks
from ..weights.histograms import DEFAULT_NEAR_ZERO_EPS
from .canvas import ImageCanvas

__all__ = ["WeightHistoryView", "WeightComparisonView"]

POOLED = "all trainable"
_HIGHLIGHT = "#d62728"
MAX_FILTER_TILES = 256


def sequential_colors(n: int) -> list[str]:
    """``n`` hex colours ordered from dark purple (first) to yellow (last), for one line per snapshot."""
    if n <= 0:
        return []
    positions = np.linspace(0.0, 1.0, n) if n > 1 else np.array([1.0])
    rgb = colorize(positions, "viridis", vmin=0.0, vmax=1.0)
    return ["#" + "".join(f"{int(x):02x}" for x in row) for row in rgb]


def _tile_regions(bank, kernel_shape):
    """One hover region per tile of a kernel bank, titled with the kernel (and input channel) it shows."""
    per_kernel = kernel_shape[-2] if bank.mode == "slices" else 1
    regions = []
    for i, (x, y, w, h) in enumerate(bank.boxes):
        kernel, channel = divmod(i, per_kernel)
        title = f"filter {kernel}" + (f", input channel {channel}" if bank.mode == "slices" else "")
        regions.append({"id": i, "x": x, "y": y, "w": w, "h": h, "title": title})
    return regions


def _figure(marks, axes, title, height="260px", width=None):
    layout = widgets.Layout(height=height, min_width="280px")
    if width:
        layout.width = width
    return bqplot.Figure(
        marks=marks,
        axes=axes,
        title=title,
        layout=layout,
        fig_margin={"top": 36, "bottom": 44, "left": 64, "right": 16},
        legend_location="top-right",
    )


def _variable_options(history, layer_path):
    return [(POOLED, POOLED)] + [(v.name, v.name) for v in history.variables_of(layer_path)]


class WeightHistoryView(widgets.VBox):
    """Weight histograms per layer over a :class:`~nbinterp.weights.WeightHistory`.

    * ``Layer`` / ``Weights`` dropdowns choose the values (``all trainable``
      pools a layer's kernel and bias);
    * the histogram overlays every snapshot on shared bins, older ones darker,
      with the ``Snapshot`` slider's choice drawn as bars (hover for counts);
    * the mean, standard deviation and fraction of weights near zero
      (``|w| < eps * max|w|``) of the same values over time;
    * the first convolution layer's filters at two snapshots (``From`` and
      ``To``) and their difference (``filter_canvases``; the pictures are in
      ``filter_banks``). Over an RGB input each filter is one colour tile,
      otherwise each (filter, input channel) slice is one tile. Each picture
      has its colour legend (``filter_legends``: the two snapshots share one
      ``±max|w|`` range, the difference has its own) and a per-pixel hover
      readout of the weights it draws; :meth:`export_png` and :meth:`figure`
      export the three pictures with their legends.
    """

    def __init__(self, history, layer=None, bins="auto", eps: float = DEFAULT_NEAR_ZERO_EPS, filter_tile_px: int = 48):
        if len(history) == 0:
            raise InvalidInputError("this history has no snapshots to show")
        if not history.layer_paths:
            raise InvalidInputError("this model has no weights to show")
        self.history = history
        self.bins = bins
        self.eps = eps
        self.filter_tile_px = filter_tile_px
        self._cache = {}

        n = len(history)
        snapshot_options = [(self._option_label(i), i) for i in range(n)]
        self.layer_dropdown = widgets.Dropdown(
            options=[(p, p) for p in history.layer_paths],
            value=layer if layer is not None else history.layer_paths[0],
            description="Layer",
        )
        self.variable_dropdown = widgets.Dropdown(
            options=_variable_options(history, self.layer_dropdown.value), value=POOLED, description="Weights"
        )
        self.snapshot_slider = widgets.SelectionSlider(
            options=snapshot_options,
            value=n - 1,
            description="Snapshot",
            continuous_update=True,
            layout=widgets.Layout(width="420px"),
        )
        self.summary_label = widgets.Label()

        # histogram: every snapshot as a line, the chosen one as bars
        self._hx = bqplot.LinearScale()
        self._hy = bqplot.LinearScale(min=0)
        self.histogram_lines = bqplot.Lines(
            x=[0.0, 1.0],
            y=[[0, 0]],
            scales={"x": self._hx, "y": self._hy},
            colors=sequential_colors(n),
            opacities=[0.7] * n,
            stroke_width=1.5,
            tooltip=bqplot.Tooltip(fields=["name"], show_labels=False),
        )
        self.histogram_bars = bqplot.Bars(
            x=[0.0],
            y=[0],
            scales={"x": self._hx, "y": self._hy},
            colors=[_HIGHLIGHT],
            opacities=[0.35],
            padding=0.0,
            align="center",
            tooltip=bqplot.Tooltip(fields=["x", "y"], labels=["bin centre", "count"], formats=[".4g", "d"]),
        )
        self.histogram_figure = _figure(
            [self.histogram_bars, self.histogram_lines],
            [
                bqplot.Axis(scale=self._hx, label="weight value", tick_format=".3~g"),
                bqplot.Axis(scale=self._hy, orientation="vertical", label="count", tick_format="~s"),
            ],
            "Weight histogram (all snapshots; bars: chosen snapshot)",
            height="320px",
        )

        # summary statistics over time
        self._sx = bqplot.LinearScale()
        self._sy = bqplot.LinearScale()
        self.mean_std_lines = bqplot.Lines(
            x=[0.0],
            y=[[0.0], [0.0]],
            scales={"x": self._sx, "y": self._sy},
            colors=["#1f77b4", "#ff7f0e"],
            labels=["mean", "std"],
            marker="circle",
            marker_size=24,
            tooltip=bqplot.Tooltip(fields=["name", "x", "y"], labels=["", "step", "value"], formats=["", "", ".4g"]),
        )
        self.mean_std_marker = bqplot.Scatter(
            x=[0.0, 0.0], y=[0.0, 0.0], scales={"x": self._sx, "y": self._sy}, colors=[_HIGHLIGHT], default_size=90
        )
        self.mean_std_figure = _figure(
            [self.mean_std_lines, self.mean_std_marker],
            [
                bqplot.Axis(scale=self._sx, label="step", tick_format="~s"),
                bqplot.Axis(scale=self._sy, orientation="vertical", tick_format=".3~g"),
            ],
            "Mean (blue) and std (orange)",
            width="50%",
        )
        self._zx = bqplot.LinearScale()
        self._zy = bqplot.LinearScale(min=0)
        self.near_zero_lines = bqplot.Lines(
            x=[0.0],
            y=[0.0],
            scales={"x": self._zx, "y": self._zy},
            colors=["#2ca02c"],
            marker="circle",
            marker_size=24,
            tooltip=bqplot.Tooltip(fields=["x", "y"], labels=["step", "fraction"], formats=["", ".3%"]),
        )
        self.near_zero_marker = bqplot.Scatter(
            x=[0.0], y=[0.0], scales={"x": self._zx, "y": self._zy}, colors=[_HIGHLIGHT], default_size=90
        )
        self.near_zero_figure = _figure(
            [self.near_zero_lines, self.near_zero_marker],
            [
                bqplot.Axis(scale=self._zx, label="step", tick_format="~s"),
                bqplot.Axis(scale=self._zy, orientation="vertical", tick_format=".2~%"),
            ],
            "Fraction near zero",
            width="50%",
        )
        self.histogram_key = widgets.Label(
            "Lines: one per snapshot, coloured from dark purple (first, "
            f"{history[0].label}) to yellow (last, {history[n - 1].label})." if n > 1 else "One snapshot."
        )
        self.near_zero_note = widgets.Label(
            f"Near zero: |w| < {eps:g} × the largest |w| of the same values in the same snapshot "
            "(exact zeros always count)."
        )

        children = [
            widgets.HBox([self.layer_dropdown, self.variable_dropdown]),
            self.snapshot_slider,
            self.summary_label,
            self.histogram_figure,
            self.histogram_key,
            widgets.HBox([self.mean_std_figure, self.near_zero_figure], layout=widgets.Layout(width="100%")),
            self.near_zero_note,
        ]
        self.filter_layer = history.first_conv_layer()
        self.filter_canvases = ()
        self.filter_banks = ()
        self.filter_legends = ()
        if self.filter_layer is not None:
            children.append(self._build_filter_section(snapshot_options))

        self.layer_dropdown.observe(self._on_layer, names="value")
        self.variable_dropdown.observe(self._on_values, names="value")
        self.snapshot_slider.observe(self._on_snapshot, names="value")
        super().__init__(children=children)
        self._on_values()
        if self.filter_layer is not None:
            self._on_filters()

    # ------------------------------------------------------------------ pieces
    def _option_label(self, i):
        snap = self.history[i]
        return f"{i}: {snap.label}"

    def _build_filter_section(self, snapshot_options):
        n = len(snapshot_options)
        self.from_dropdown = widgets.Dropdown(options=snapshot_options, value=0, description="From")
        self.to_dropdown = widgets.Dropdown(options=snapshot_options, value=n - 1, description="To")
        self.filter_canvases = tuple(ImageCanvas(max_width=320) for _ in range(3))
        self.filter_scale_label = widgets.Label()
        self.from_dropdown.observe(self._on_filters, names="value")
        self.to_dropdown.observe(self._on_filters, names="value")
        return widgets.VBox(
            [
                widgets.Label(f"Filters of the first convolution layer: {self.filter_layer}"),
                widgets.HBox([self.from_dropdown, self.to_dropdown]),
                widgets.HBox(list(self.filter_canvases), layout=widgets.Layout(flex_flow="row wrap", gap="12px")),
                self.filter_scale_label,
            ]
        )

    @property
    def selected_variable(self):
        value = self.variable_dropdown.value
        return None if value == POOLED else value

    def _data(self):
        key = (self.layer_dropdown.value, self.selected_variable)
        if key not in self._cache:
            layer, variable = key
            self._cache[key] = (
                self.history.histogram(layer, bins=self.bins, variable=variable),
                self.history.summary_stats(layer, variable=variable, eps=self.eps),
            )
        return self._cache[key]

    # ------------------------------------------------------------------ events
    def _on_layer(self, change=None):
        with self.variable_dropdown.hold_trait_notifications():
            self.variable_dropdown.options = _variable_options(self.history, self.layer_dropdown.value)
            self.variable_dropdown.value = POOLED
        self._on_values()

    def _on_values(self, change=None):
        hist, stats = self._data()
        steps = np.asarray(self.history.steps, dtype=np.float64)
        with self.histogram_lines.hold_sync():
            self.histogram_lines.x = hist.centers
            self.histogram_lines.y = hist.counts
            self.histogram_lines.labels = list(self.history.labels)
        with self.mean_std_lines.hold_sync():
            self.mean_std_lines.x = steps
            self.mean_std_lines.y = np.stack([stats.mean, stats.std])
        with self.near_zero_lines.hold_sync():
            self.near_zero_lines.x = steps
            self.near_zero_lines.y = stats.fraction_near_zero
        self._on_snapshot()

    def _on_snapshot(self, change=None):
        i = self.snapshot_slider.value
        hist, stats = self._data()
        with self.histogram_bars.hold_sync():
            self.histogram_bars.x = hist.centers
            self.histogram_bars.y = hist.counts[i]
        opacities = [0.35] * len(self.history)
        opacities[i] = 1.0
        self.histogram_lines.opacities = opacities
        step = float(self.history.steps[i])
        with self.mean_std_marker.hold_sync():
            self.mean_std_marker.x = [step, step]
            self.mean_std_marker.y = [stats.mean[i], stats.std[i]]
        with self.near_zero_marker.hold_sync():
            self.near_zero_marker.x = [step]
            self.near_zero_marker.y = [stats.fraction_near_zero[i]]
        extra = f"; {hist.nonfinite[i]} NaN/Inf values left out" if hist.nonfinite[i] else ""
        self.summary_label.value = (
            f"{self.history[i].label}: mean {stats.mean[i]:.4g}, std {stats.std[i]:.4g}, "
            f"{stats.fraction_near_zero[i]:.1%} near zero{extra}"
        )

    def _on_filters(self, change=None):
        a, b = self.from_dropdown.value, self.to_dropdown.value
        kernel_a = self.history[a][f"{self.filter_layer}/kernel"]
        kernel_b = self.history[b][f"{self.filter_layer}/kernel"]
        mode = "rgb" if kernel_a.ndim == 4 and kernel_a.shape[2] == 3 else "slices"
        self.filter_banks = kernel_change_banks(
            kernel_a, kernel_b, mode=mode, min_tile_px=self.filter_tile_px, max_tiles=MAX_FILTER_TILES
        )
        captions = (
            f"At {self.history[a].label}",
            f"At {self.history[b].label}",
            f"Difference ({self.history[b].label} − {self.history[a].label})",
        )
        first, second, diff = self.filter_banks
        self.filter_legends = (
            first.legend("weight", "scale shared by both snapshots"),
            second.legend("weight", "scale shared by both snapshots"),
            diff.legend(f"weight change ({self.history[b].label} − {self.history[a].label})", "its own scale"),
        )
        for canvas, caption, bank, legend in zip(self.filter_canvases, captions, self.filter_banks, self.filter_legends):
            with canvas.hold_sync():
                canvas.set_image(bank.image)
                canvas.regions = _tile_regions(bank, kernel_a.shape)
                canvas.label = caption
                canvas.set_legend(legend)
                canvas.set_readout(bank.readout(), "weight change" if bank is diff else "weight")
        shown = "" if first.shown == first.total else f" (first {first.shown} of {first.total} tiles)"
        self.filter_scale_label.value = (
            f"Filters: full colour at |w| = {first.scale:.3g}; difference: full colour at "
            f"|Δw| = {diff.scale:.3g}{shown}. "
            + ("Colour tiles: each channel's weight as its colour's strength, mid-grey zero; the difference "
               "slice by slice, " if first.rgb else "")
            + "Blue negative, white zero, red positive. Hover a tile for its weights."
        )

    # ------------------------------------------------------------------ export
    def pictures(self) -> list:
        """The filter pictures (``From``, ``To``, difference) with their captions and
        legends, as :class:`~nbinterp.render.export.ExportPicture` objects."""
        from ..render.export import EmptyExportError, ExportPicture

        if self.filter_layer is None:
            raise EmptyExportError("nothing to export: this model has no convolution layer, so this view draws no filters")
        return [ExportPicture(bank.image, canvas.label, legend.as_dict())
                for canvas, bank, legend in zip(self.filter_canvases, self.filter_banks, self.filter_legends)]

    def _export_title(self):
        return f"Filters of {self.filter_layer}" if self.filter_layer is not None else "Weights"

    def export_png(self) -> bytes:
        """PNG bytes of the filter pictures side by side, each with its legend and caption."""
        from ..render import export

        return export.compose_png(self.pictures(), title=self._export_title(), what="this weight history's filters")

    def figure(self):
        """A matplotlib Figure of the filter pictures, with their colour bars."""
        from ..render import export

        return export.figure(self.pictures(), title=self._export_title(), what="this weight history's filters")


class WeightComparisonView(widgets.VBox):
    """Per-layer change between two weight sets, with before/after histograms."""

    def __init__(self, comparison):
        self.comparison = comparison
        layers = comparison.by_layer
        names = [c.layer_path for c in layers]
        relative = [c.relative_change if np.isfinite(c.relative_change) else np.nan for c in layers]

        self.header = widgets.Label(
            f"Weight change from {comparison.before_label} to {comparison.after_label}"
            + (": identical." if comparison.identical else ".")
        )
        self._bx = bqplot.OrdinalScale()
        self._by = bqplot.LinearScale(min=0)
        self.change_bars = bqplot.Bars(
            x=names,
            y=relative,
            scales={"x": self._bx, "y": self._by},
            colors=["#1f77b4"],
            tooltip=bqplot.Tooltip(fields=["x", "y"], labels=["layer", "‖Δ‖/‖before‖"], formats=["", ".4g"]),
        )
        self.change_figure = _figure(
            [self.change_bars],
            [
                bqplot.Axis(scale=self._bx, tick_rotate=-30 if len(names) > 6 else 0),
                bqplot.Axis(scale=self._by, orientation="vertical", tick_format=".3~g"),
            ],
            "Relative change per layer (‖Δ‖ / ‖before‖)",
        )

        self.layer_dropdown = widgets.Dropdown(options=[(p, p) for p in names], description="Layer")
        self._hx = bqplot.LinearScale()
        self._hy = bqplot.LinearScale(min=0)
        self.histogram_lines = bqplot.Lines(
            x=[0.0],
            y=[[0.0], [0.0]],
            scales={"x": self._hx, "y": self._hy},
            colors=["#1f77b4", "#d62728"],
            labels=[comparison.before_label, comparison.after_label],
            display_legend=True,
            tooltip=bqplot.Tooltip(fields=["name", "x", "y"], labels=["", "weight", "count"], formats=["", ".4g", "d"]),
        )
        self.histogram_figure = _figure(
            [self.histogram_lines],
            [
                bqplot.Axis(scale=self._hx, label="weight value", tick_format=".3~g"),
                bqplot.Axis(scale=self._hy, orientation="vertical", label="count", tick_format="~s"),
            ],
            "Histogram before and after",
        )
        self.stats_label = widgets.Label()
        self.table = widgets.HTML(comparison._repr_html_())  # every user string in it is escaped
        self.layer_dropdown.observe(self._on_layer, names="value")
        super().__init__(
            [
                self.header,
                self.change_figure,
                self.layer_dropdown,
                self.stats_label,
                self.histogram_figure,
                widgets.Accordion([self.table], titles=("Table of all weight variables",)),
            ]
        )
        if names:
            self._on_layer()

    def _on_layer(self, change=None):
        c = self.comparison.layer(self.layer_dropdown.value)
        with self.histogram_lines.hold_sync():
            self.histogram_lines.x = c.histogram.centers
            self.histogram_lines.y = c.histogram.counts
        self.stats_label.value = (
            f"mean {c.mean_before:.4g} → {c.mean_after:.4g}, std {c.std_before:.4g} → {c.std_after:.4g}, "
            f"mean |Δ| {c.mean_abs_change:.3g}, ‖Δ‖/‖before‖ {c.relative_change:.3g}"
        )

