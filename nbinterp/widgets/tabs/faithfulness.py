"""The Saliency tab's Faithfulness panel: is the map on show faithful to the model?

Two buttons, each computed on demand for the current map (the Saliency tab's
image, method, options, target and layer) on the panel's own background
worker, with a progress bar; any change of the map cancels what runs and
clears what is shown:

* **Deletion / insertion**: the deletion and insertion curves of the map
  (:func:`nbinterp.metrics.deletion`, :func:`nbinterp.metrics.insertion`) as
  bqplot lines, and their areas under the curve.
* **Sanity check**: the cascading model-randomisation test of the current
  method (:func:`nbinterp.metrics.randomization_check`): the map of the
  model, then the map after each layer from the top down is re-initialised,
  in a row on an :class:`~nbinterp.widgets.canvas.ImageCanvas`, each with its
  Spearman rank correlation to the original map as caption.

Every number comes from :mod:`nbinterp.metrics`; this module only draws.
"""

from __future__ import annotations

import weakref
from typing import Optional

import ipywidgets as W
import numpy as np

from ... import render
from ...errors import CancelledError, NbinterpError
from ...render.export import ExportPicture, compose
from ..canvas import ImageCanvas
from ..selection import Selection
from ..updates import Job, Scheduler

__all__ = ["FaithfulnessPanel", "sanity_picture"]

CURVES, SANITY = "curves", "sanity"
#: the side a map tile of the sanity row is enlarged to (nearest neighbour), at least
TILE_PX = 96


def _one_line(error) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if isinstance(error, NbinterpError):
        return " ".join(lines)
    return f"{type(error).__name__}: {lines[-1] if lines else ''}"


def _tile(image, heat, opacity, is_sequence):
    """One map as the Saliency tab draws it: over the image, or as a strip for sequences."""
    heat = np.asarray(heat, np.float32)
    if is_sequence:
        return render.upscale_nearest(render.colorize(heat.reshape(1, -1), "magma"), 12)
    picture = render.overlay(image, heat, alpha=opacity, cmap="jet")
    side = max(picture.shape[:2])
    return render.upscale_nearest(picture, max(1, -(-TILE_PX // side)))


def sanity_picture(result, image, opacity=0.5, is_sequence=False) -> np.ndarray:
    """uint8 RGB: the original map and each randomised one in a row, captioned with the
    layers randomised and the rank correlation (``result``: a
    :class:`nbinterp.metrics.Randomization` of one image)."""
    pictures = [ExportPicture(_tile(image, result.original[0], opacity, is_sequence), "original model\nρ = 1")]
    for step, layer in enumerate(result.layers):
        what = f"down to {layer}" if result.cascade and step else layer
        caption = f"{what} random\nρ = {result.rank_correlation[step, 0]:.2f}"
        pictures.append(ExportPicture(_tile(image, result.maps[step, 0], opacity, is_sequence), caption))
    return compose(pictures, what="the sanity check")


class FaithfulnessPanel:
    """The panel; ``tab`` is the Saliency tab it belongs to (its maps and targets).

    ``box`` is its widget. ``compute_curves()`` and ``sanity_check()`` do what
    the two buttons do; ``follow(selection)`` cancels and clears when the map
    changes; ``wait()`` blocks until the panel's worker is idle; ``close()``
    stops the worker and closes the widgets. ``outcomes`` lists how each run
    ended (``("curves" | "sanity", "done" | "cancelled" | "error")``).
    """

    def __init__(self, tab):
        import bqplot as bq

        self.tab = weakref.proxy(tab) if not isinstance(tab, weakref.ProxyType) else tab
        wide = W.Layout(width="190px")
        self.curves_button = W.Button(description="Deletion / insertion", icon="line-chart", layout=wide,
                                      tooltip="Remove (deletion) or add back (insertion) the pixels in the order of "
                                              "the map and follow the class probability")
        self.sanity_button = W.Button(description="Sanity check", icon="random", layout=wide,
                                      tooltip="Randomise the model's layers from the top down and see whether the "
                                              "map changes (Adebayo et al. 2018)")
        self.progress = W.IntProgress(value=0, min=0, max=100, layout=W.Layout(width="140px", visibility="hidden"))
        self.status = W.Label(value="")
        self.status.add_class("nbinterp-faithfulness-status")
        x_scale, y_scale = bq.LinearScale(min=0.0, max=1.0), bq.LinearScale(min=0.0, max=1.0)
        scales = {"x": x_scale, "y": y_scale}
        self.deletion_line = bq.Lines(x=[], y=[], scales=scales, colors=["#e45756"], labels=["deletion"],
                                      display_legend=True)
        self.insertion_line = bq.Lines(x=[], y=[], scales=scales, colors=["#4c78a8"], labels=["insertion"],
                                       display_legend=True)
        self.figure = bq.Figure(marks=[self.deletion_line, self.insertion_line],
                                axes=[bq.Axis(scale=x_scale, label="fraction of pixels removed / inserted",
                                              tick_format=".1f"),
                                      bq.Axis(scale=y_scale, orientation="vertical", label="class probability",
                                              tick_format=".1f")],
                                title="Deletion and insertion", legend_location="right",
                                layout=W.Layout(width="360px", height="260px"),
                                fig_margin={"top": 40, "bottom": 45, "left": 50, "right": 10})
        self.figure.add_class("nbinterp-faithfulness-curves")
        self.auc = W.HTML("")
        self.sanity = ImageCanvas(max_width=720)
        self.sanity.add_class("nbinterp-sanity")
        self.sanity.layout.display = "none"
        # the figure joins the panel once there is a curve to show: bqplot cannot lay out at zero size
        self._figure_holder = W.Box([])
        self.box = W.VBox([W.HBox([self.curves_button, self.sanity_button, self.progress]), self.status,
                           W.HBox([self._figure_holder, self.auc]), self.sanity])
        self.box.add_class("nbinterp-faithfulness")
        self._request: Optional[tuple] = None  # (kind, selection, map key) the worker runs next
        self._shown_key = None  # map key of what the panel shows
        self.outcomes: list[tuple[str, str]] = []
        self.running: Optional[str] = None
        self.last_curves = None  # (deletion, insertion) results on show
        self.last_sanity = None
        self.curves_button.on_click(self._curves_clicked)
        self.sanity_button.on_click(self._sanity_clicked)
        self.scheduler = Scheduler(self._draw, on_progress=self._show_progress, warm_up=False,
                                   name="nbinterp-faithfulness")

    # ------------------------------------------------------------ the current map
    def _map_key(self, selection: Selection):
        ex = self.tab.explorer
        return (ex.image_key(selection.image), selection.method, selection.options, selection.target,
                self.tab.layer_for(selection.method, selection.layer))

    def _applicable(self, selection: Selection) -> bool:
        from ... import attribution

        return selection.method in attribution.METHODS

    # ------------------------------------------------------------ verbs
    def compute_curves(self) -> None:
        """Start the deletion and insertion curves of the current map (the first button)."""
        self._start(CURVES)

    def sanity_check(self) -> None:
        """Start the cascading randomisation check of the current method (the second button)."""
        self._start(SANITY)

    def _curves_clicked(self, _button):
        self.compute_curves()

    def _sanity_clicked(self, _button):
        self.sanity_check()

    def _start(self, kind):
        selection = self.tab.explorer.selection
        if not self._applicable(selection):
            self._set_status("faithfulness needs an attribution method; pick one in the Method menu", error=True)
            return
        self._request = (kind, selection, self._map_key(selection))
        self._set_status("computing the deletion and insertion curves…" if kind == CURVES
                         else "randomising the layers from the top down…")
        self.scheduler.request()

    def follow(self, selection: Selection) -> None:
        """A control changed: when the map changed, cancel what runs and clear what is shown."""
        applicable = self._applicable(selection)
        self.curves_button.disabled = self.sanity_button.disabled = not applicable
        key = self._map_key(selection) if applicable else None
        pending = self._request[2] if self._request is not None else None
        if pending is not None and pending != key:
            self._request = None
            self.scheduler.request()  # cancels the running job; the new draw has nothing to do
            self._set_status("")
        if self._shown_key is not None and self._shown_key != key:
            self._clear()

    def wait(self, timeout: float = 120) -> None:
        """Block until the panel's worker has finished (or given up) what was asked."""
        if not self.scheduler.wait(timeout):
            raise TimeoutError("the faithfulness panel did not finish in time")

    def close(self) -> None:
        self.scheduler.close()
        self.curves_button.on_click(self._curves_clicked, remove=True)
        self.sanity_button.on_click(self._sanity_clicked, remove=True)

    @property
    def widgets(self) -> tuple:
        """Widgets that are not always inside ``box`` (for closing)."""
        return (self.figure, self.sanity)

    # ------------------------------------------------------------ worker
    def _draw(self, job: Job) -> None:
        request = self._request
        if request is None:
            return
        kind, selection, key = request
        self.running = kind
        outcome = "done"
        try:
            if kind == CURVES:
                self._draw_curves(selection, key, job)
            else:
                self._draw_sanity(selection, key, job)
            if job.superseded:
                outcome = "cancelled"
        except CancelledError:
            outcome = "cancelled"
        except Exception as error:  # one line in the panel, never a traceback
            outcome = "error"
            self._set_status(_one_line(error), error=True)
        finally:
            self.running = None
            self.progress.layout.visibility = "hidden"
            if self._request is request:
                self._request = None
        self.outcomes.append((kind, outcome))

    def _model(self, selection, image):
        """The model the tab's maps explain: the Explorer's, unless the tab explains a wrapped one."""
        explained = getattr(self.tab, "explained_model", None)
        return explained(selection, image) if callable(explained) else self.tab.explorer.model

    def _map(self, selection, job):
        heat, target, layer = self.tab.heat(selection, selection.method, selection.option_values, job)
        return heat, target, layer

    def _draw_curves(self, selection, key, job):
        from ... import metrics

        ex = self.tab.explorer
        heat, target, _ = self._map(selection, job)
        image = ex.image_array(selection.image)
        common = dict(target=target, preprocess=ex.preprocess, cancel=job.cancel, **ex.explained(selection))
        model = self._model(selection, image)
        deleted = metrics.deletion(model, image, heat,
                                   progress=lambda f: job.progress(0.5 * f, "deletion"), **common)
        inserted = metrics.insertion(model, image, heat,
                                     progress=lambda f: job.progress(0.5 + 0.5 * f, "insertion"), **common)
        if job.superseded:
            return
        if not self._figure_holder.children:
            self._figure_holder.children = (self.figure,)
        with self.deletion_line.hold_sync():
            self.deletion_line.x, self.deletion_line.y = deleted.fractions, deleted.scores[0]
        with self.insertion_line.hold_sync():
            self.insertion_line.x, self.insertion_line.y = inserted.fractions, inserted.scores[0]
        self.figure.title = f"Deletion and insertion for class {target}"
        self.auc.value = (f"<b>AUC</b><br>deletion {deleted.auc[0]:.3f} <small>(lower is better)</small><br>"
                          f"insertion {inserted.auc[0]:.3f} <small>(higher is better)</small>")
        self.last_curves = (deleted, inserted)
        self._shown_key = key
        self._set_status(f"{ex.method_label(selection.method)}: deletion AUC {deleted.auc[0]:.3f}, "
                         f"insertion AUC {inserted.auc[0]:.3f}")

    def _draw_sanity(self, selection, key, job):
        from ... import metrics

        ex = self.tab.explorer
        image = ex.image_array(selection.image)
        _, target, layer = self._map(selection, job)
        result = metrics.randomization_check(self._model(selection, image), image, selection.method,
                                             target=target, layer=layer, preprocess=ex.preprocess,
                                             cancel=job.cancel, progress=lambda f: job.progress(f, "sanity check"),
                                             **ex.explained(selection), **selection.option_values)
        picture = sanity_picture(result, ex.shown_image(selection.image, selection.input), selection.opacity,
                                 ex.is_sequence)
        if job.superseded:
            return
        with self.sanity.hold_sync():
            self.sanity.set_image(picture)
            self.sanity.label = (f"{ex.method_label(selection.method)}: the map as the layers are randomised from the "
                                 "top down; ρ = Spearman rank correlation with the original map")
        self.sanity.layout.display = ""
        self.last_sanity = result
        self._shown_key = key
        final = result.rank_correlation[-1, 0]
        if final < 0.5:
            verdict = "the map changes with the weights"
        else:
            verdict = "the map stays close to the trained model's: it shows the input more than the weights"
        self._set_status(f"sanity check: ρ = {final:.2f} with every layer random; {verdict}")

    # ------------------------------------------------------------ display
    def _show_progress(self, job, fraction, what):
        if what:
            self.progress.description = what
        self.progress.value = int(round(100 * fraction))
        self.progress.layout.visibility = "visible"

    def _set_status(self, text, error=False):
        self.status.value = ("⚠ " if error and text else "") + str(text)

    def _clear(self):
        with self.deletion_line.hold_sync():
            self.deletion_line.x, self.deletion_line.y = [], []
        with self.insertion_line.hold_sync():
            self.insertion_line.x, self.insertion_line.y = [], []
        self.auc.value = ""
        self.sanity.layout.display = "none"
        self.last_curves = self.last_sanity = None
        self._shown_key = None
