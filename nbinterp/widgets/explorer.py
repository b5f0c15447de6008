"""Explorer: the live inline tool. Layer, Channel, Image and Method controls drive
filter, kernel-response, activation-grid, saliency and architecture views.

The widget composes controls and canvases; what each view shows comes from
``nbinterp.views`` (backend + rendering). Updates run on one background worker,
latest selection wins, and every error lands in the status line.
"""

from __future__ import annotations

import io
import threading
import time

import ipywidgets as W
import numpy as np

from .. import views
from ..core.cache import ByteBudgetCache
from ..errors import NbinterpError
from ..core.inputs import as_batch
from ..core.inspector import Inspector
from ..render import resize, to_png
from .canvas import ImageCanvas
from .updates import LatestWins

MAX_UPLOAD_PIXELS = 40_000_000  # refuse decompression bombs before decoding
TAB_TITLES = ["Filters", "Kernel response", "Activations", "Saliency", "Top images", "Architecture"]
MAXIMIZE = "maximize"
MAXIMIZE_OPTIONS = {"steps": 64, "lr": 0.05, "l2": 0.001, "jitter": 2, "blur_every": 4}


def _method_table():
    from .. import attribution

    table = {}
    for name, cls in attribution.METHODS.items():
        label = getattr(cls, "label", None) or name.replace("_", " ")
        options = dict(getattr(cls, "options", {}) or {})
        table[name] = (label, options)
    table[MAXIMIZE] = ("Maximize (what the unit wants)", dict(MAXIMIZE_OPTIONS))
    return table


def _maximize_defaults(input_shape):
    """Ascent settings for the model's input size: jitter and blur regularise large
    images, but on small ones (28x28 digits) they wash out what a unit responds to."""
    options = dict(MAXIMIZE_OPTIONS)
    spatial = [d for d in input_shape[:-1] if d is not None]
    if spatial and max(spatial) < 96:
        options.update(jitter=0, blur_every=0)
    return options


def _one_line(error):
    """``Type: last line of the message`` (TensorFlow errors carry whole stack traces)."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[-1] if lines else ''}"


def _option_widget(name, default):
    description = name.replace("_", " ")
    style = {"description_width": "initial"}
    if isinstance(default, bool):
        return W.Checkbox(value=default, description=description, indent=False)
    if isinstance(default, int):
        return W.BoundedIntText(value=default, min=1 if default >= 1 else 0, max=100_000, description=description,
                                style=style, layout=W.Layout(width="150px"))
    if isinstance(default, float):
        return W.BoundedFloatText(value=default, min=0.0, max=1e6, step=0.05, description=description,
                                  style=style, layout=W.Layout(width="150px"))
    return None  # arrays (baselines) and other objects keep their defaults


class Explorer(W.VBox):
    """``Explorer(model, images, labels=None, class_names=None, preprocess=None)``

    ``model``: a Keras model or a path to a ``.keras`` file (loaded in safe mode).
    ``images``: the examples to look at, as the model takes them before
    ``preprocess`` (uint8 or float images; integer token ids for text models).
    ``labels``/``class_names``: optional ground truth and class names.
    ``vocabulary``: optional list mapping token ids to words (text models).
    ``dataset``: what the "Top images" view ranks (numpy array, iterable of
    batches or ``tf.data.Dataset``); by default the Explorer's images.

    The controls are ordinary ipywidgets: ``explorer.layer``, ``.channel``,
    ``.image``, ``.method`` (``observe``/``link`` work). ``explorer.wait()``
    blocks until the views show the current selection.
    """

    def __init__(self, model, images, labels=None, class_names=None, preprocess=None,
                 vocabulary=None, dataset=None, cache_bytes=512 * 2**20, **kwargs):
        self.inspector = Inspector(model, preprocess=preprocess, cache_bytes=cache_bytes)
        self.model = self.inspector.model
        self.preprocess = preprocess
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        self.vocabulary = vocabulary
        self._images = self._initial_images(images)
        self.dataset = dataset  # what "Top images" ranks (default: the Explorer's images)
        self._top_cache = ByteBudgetCache(64 * 2**20)  # "Top images" pictures per (layer, channel)
        self._labels = None if labels is None else [int(x) for x in np.asarray(labels).reshape(-1)]
        if self._labels is not None and len(self._labels) != len(self._images):
            raise ValueError(f"got {len(self._labels)} labels for {len(self._images)} images")
        # attributions are per position for token sequences, 1-D signals and vectors
        self._is_sequence = len(self.inspector.input_shape) in (1, 2)
        self._last = {}  # picture name -> key of what it shows
        self._heat = None
        self._error = None
        self._lock = threading.RLock()
        self.last_update_seconds = 0.0

        self._build_controls()
        self._build_views()
        super().__init__(children=[self._header, self._controls_box, self._status_row, self.tabs], **kwargs)
        self.add_class("nbinterp-explorer")
        self._updates = LatestWins(self._update, on_error=self._report)
        self._wire()
        self._sync_layer_dependent()
        self._updates.request()

    # ----------------------------------------------------------------- images
    def _initial_images(self, images):
        """Validated examples, kept as given (before preprocess) for display and computation."""
        self.inspector.batch(images)  # shape/dtype/NaN checks with clear errors
        raw = np.asarray(images.numpy() if hasattr(images, "numpy") else images)
        dtype = raw.dtype if raw.dtype.kind in "uif" else self.inspector.input_dtype
        batch = as_batch(raw, self.inspector.input_shape, dtype)
        return [batch[i] for i in range(batch.shape[0])]

    def _image_options(self):
        options = []
        for i in range(len(self._images)):
            text = f"#{i}"
            if i >= self._n_initial:
                text += f" ({self._upload_names.get(i, 'uploaded')})"
            elif self._labels is not None and i < len(self._labels):
                label = self._labels[i]
                name = self.class_names[label] if self.class_names and 0 <= label < len(self.class_names) else str(label)
                text += f" (label {name})"
            options.append((text, i))
        return options

    # --------------------------------------------------------------- controls
    def _build_controls(self):
        ins = self.inspector
        self._n_initial = len(self._images)
        self._upload_names = {}
        viewable = [info for info in ins.layers if info.kind != "InputLayer"]
        default = next((i.name for i in viewable if i.has_kernel and i.kind.startswith("Conv")), None) \
            or next((i.name for i in viewable if i.has_kernel), viewable[0].name)
        self.layer = W.Dropdown(description="Layer", options=[(f"{i.name} ({i.kind})", i.name) for i in viewable],
                                value=default, layout=W.Layout(width="340px"))
        self.channel = W.IntSlider(description="Channel", min=0, max=0, value=0, continuous_update=True,
                                   layout=W.Layout(width="340px"))
        self.image = W.Dropdown(description="Image", options=self._image_options(), value=0,
                                layout=W.Layout(width="340px"))
        self._methods = _method_table()
        self._methods[MAXIMIZE] = (self._methods[MAXIMIZE][0], _maximize_defaults(ins.input_shape))
        method_options = [(label, name) for name, (label, _) in self._methods.items()]
        self.method = W.Dropdown(description="Method", options=method_options, value="gradient" if "gradient" in self._methods else method_options[0][1],
                                 layout=W.Layout(width="340px"))
        self.input_channel = W.IntSlider(description="Input channel", min=0, max=0, value=0,
                                         style={"description_width": "initial"}, layout=W.Layout(width="340px"))
        self.shared_scale = W.Checkbox(description="Shared scale", value=True, indent=False)
        self.single_channel = W.Checkbox(description="Only the selected input channel", value=False, indent=False)
        self.page = W.IntSlider(description="Page", min=0, max=0, value=0, layout=W.Layout(width="260px"))
        self.opacity = W.FloatSlider(description="Opacity", min=0.0, max=1.0, step=0.05, value=0.5)
        target_options = [("top predicted", -1)]
        n_classes = int(np.prod(self.model.outputs[0].shape[1:])) if self.model.outputs else 0
        for c in range(min(n_classes, 1000)):
            name = self.class_names[c] if self.class_names and c < len(self.class_names) else str(c)
            target_options.append((f"{c}: {name}", c))
        self.target = W.Dropdown(description="Target", options=target_options, value=-1, layout=W.Layout(width="340px"))
        self.method_options = {}
        for name, (_, options) in self._methods.items():
            widgets = {}
            for key, default_value in options.items():
                widget = _option_widget(key, default_value)
                if widget is not None:
                    widgets[key] = widget
            self.method_options[name] = widgets
        self._options_box = W.HBox([])
        self.upload = W.FileUpload(description="Upload", accept="image/*", multiple=False)
        self.export_button = W.Button(description="Save PNG", icon="download", tooltip="Save the current view as a PNG file")
        self.status = W.Label(value="")
        self.status.add_class("nbinterp-status")
        self.progress = W.IntProgress(value=0, min=0, max=100, layout=W.Layout(width="160px", visibility="hidden"))
        from ..demo import untrained_note

        note = untrained_note(self.model)
        self._header = W.HBox([W.Label(value=f"Model: {self.model.name}" + (f" — {note}" if note else ""))])
        if note:
            self._header.children[0].add_class("nbinterp-untrained")
        row1 = W.HBox([self.layer, self.channel, self.input_channel])
        row2 = W.HBox([self.image, self.upload, self.export_button])
        row3 = W.HBox([self.method, self.target, self.opacity])
        self._controls_box = W.VBox([row1, row2, row3, self._options_box])
        self._status_row = W.HBox([self.progress, self.status])

    def _build_views(self):
        self.filters_canvas = ImageCanvas(max_width=448)
        self.kernel_canvas = ImageCanvas(max_width=220)
        self.response_input_canvas = ImageCanvas(max_width=224)
        self.response_kernel_canvas = ImageCanvas(max_width=224)
        self.response_canvas = ImageCanvas(max_width=224)
        self.grid_canvas = ImageCanvas(max_width=560)
        self.channel_canvas = ImageCanvas(max_width=280)
        self.saliency_canvas = ImageCanvas(max_width=360)
        self.top_images_canvas = ImageCanvas(max_width=300)
        self.top_patches_canvas = ImageCanvas(max_width=300)
        self.top_recon_canvas = ImageCanvas(max_width=300)
        for canvas, css in ((self.filters_canvas, "filters-grid"), (self.kernel_canvas, "filter-selected"),
                            (self.response_input_canvas, "response-input"), (self.response_kernel_canvas, "response-kernel"),
                            (self.response_canvas, "response"), (self.grid_canvas, "activation-grid"),
                            (self.channel_canvas, "activation-channel"), (self.saliency_canvas, "saliency"),
                            (self.top_images_canvas, "top-images"), (self.top_patches_canvas, "top-patches"),
                            (self.top_recon_canvas, "top-reconstructions")):
            canvas.add_class(f"nbinterp-{css}")
        self.tokens_html = W.HTML("")
        self._notes = {title: W.Label(value="") for title in TAB_TITLES}
        import bqplot as bq

        x_sc, y_sc = bq.OrdinalScale(), bq.LinearScale(min=0.0)
        self.class_bars = bq.Bars(x=[], y=[], scales={"x": x_sc, "y": y_sc}, colors=["#4c78a8"],
                                  tooltip=bq.Tooltip(fields=["x", "y"], formats=["", ".3f"], labels=["class", "score"]),
                                  interactions={"click": "select"}, selected_style={"fill": "#f58518"})
        self.class_chart = bq.Figure(marks=[self.class_bars],
                                     axes=[bq.Axis(scale=x_sc, label="class"), bq.Axis(scale=y_sc, orientation="vertical", tick_format=".3~g")],
                                     title="Top classes (click a bar to explain it)",
                                     layout=W.Layout(width="360px", height="280px"),
                                     fig_margin={"top": 40, "bottom": 40, "left": 50, "right": 10})
        self._bar_classes = []
        self.architecture = W.Select(options=[], rows=14, layout=W.Layout(width="720px"))
        self.architecture.add_class("nbinterp-architecture")
        self._summary = self.inspector.summary()
        self._arch_style = W.HTML("<style>.nbinterp-architecture select{font-family:monospace;}</style>")
        self._arch_totals = W.Label(value=(f"Total params: {self._summary.total_params:,} · trainable: "
                                           f"{self._summary.trainable_params:,} · non-trainable: {self._summary.non_trainable_params:,}"))
        rows = []
        for info in self.inspector.layers:
            indent = "  " * info.depth
            name = indent + info.name.rsplit("/", 1)[-1] + ("/" if info.is_group else "")
            shape = "(" + ", ".join("None" if d is None else str(d) for d in info.output_shape) + ")"
            rows.append((f"{name:<28} {info.kind:<22} {shape:<22} {info.params:>12,}", info.name))
        self.architecture.options = rows

        filters = W.VBox([self._notes["Filters"], W.HBox([self.filters_canvas, self.kernel_canvas])])
        response = W.VBox([self._notes["Kernel response"], self.single_channel,
                           W.HBox([self.response_input_canvas, self.response_kernel_canvas, self.response_canvas])])
        activations = W.VBox([self._notes["Activations"], W.HBox([self.shared_scale, self.page]),
                              W.HBox([self.grid_canvas, self.channel_canvas])])
        # the chart joins its tab when the tab is first shown: bqplot cannot lay out at zero size
        self._chart_holder = W.Box([])
        saliency = W.VBox([self._notes["Saliency"], W.HBox([self.saliency_canvas, self._chart_holder]), self.tokens_html])
        top = W.VBox([self._notes["Top images"],
                      W.HBox([self.top_images_canvas, self.top_patches_canvas, self.top_recon_canvas])])
        arch = W.VBox([self._arch_style, self.architecture, self._arch_totals])
        self.tabs = W.Tab(children=[filters, response, activations, saliency, top, arch])
        for i, title in enumerate(TAB_TITLES):
            self.tabs.set_title(i, title)
        self.tabs.selected_index = 2

    def _wire(self):
        for control in (self.channel, self.image, self.input_channel, self.shared_scale, self.single_channel,
                        self.opacity, self.target, self.method):
            control.observe(self._changed, names="value")
        self.layer.observe(self._layer_changed, names="value")
        self.page.observe(self._page_changed, names="value")
        self.channel.observe(self._channel_moved, names="value")
        self.method.observe(self._method_changed, names="value")
        self.tabs.observe(self._changed, names="selected_index")
        for widgets in self.method_options.values():
            for widget in widgets.values():
                widget.observe(self._changed, names="value")
        self.grid_canvas.on_click(self._tile_clicked)
        self.filters_canvas.on_click(self._tile_clicked)
        self.class_bars.on_element_click(self._bar_clicked)
        self.architecture.observe(self._row_clicked, names="value")
        self.architecture.value = self.layer.value
        self.upload.observe(self._uploaded, names="value")
        self.export_button.on_click(lambda _: self._save_png())
        self._method_changed()

    # ----------------------------------------------------------------- events
    def _changed(self, change=None):
        self._updates.request()

    def _layer_changed(self, change):
        self._sync_layer_dependent()
        if self.architecture.value != self.layer.value:
            self.architecture.value = self.layer.value
        self._updates.request()

    def _page_changed(self, change):
        """The Page slider jumps to the first channel of that page of the activation grid."""
        if self.channel.value // views.PAGE_SIZE != change["new"]:
            self.channel.value = min(change["new"] * views.PAGE_SIZE, self.channel.max)

    def _channel_moved(self, change):
        page = change["new"] // views.PAGE_SIZE
        if self.page.value != page and page <= self.page.max:
            self.page.value = page

    def _sync_layer_dependent(self):
        layer = self.layer.value
        n = views.channel_count(self.inspector, layer)
        n_in = views.input_channel_count(self.inspector, layer)
        with self.hold_trait_notifications():
            self.channel.max = max(n - 1, 0)
            self.channel.disabled = n <= 1
            self.input_channel.max = max(n_in - 1, 0)
            self.input_channel.disabled = n_in <= 1 or views.is_first_conv_on_image(self.inspector, layer) and n_in == 3
            pages = views.activation_pages(self.inspector, layer)
            self.page.max = pages - 1
            self.page.value = min(self.page.value, pages - 1)
            self.page.layout.visibility = "visible" if pages > 1 else "hidden"

    def _method_changed(self, change=None):
        widgets = self.method_options.get(self.method.value, {})
        self._options_box.children = tuple(widgets.values())

    def _tile_clicked(self, event):
        channel = event.get("id")
        if isinstance(channel, int) and 0 <= channel <= self.channel.max:
            self.channel.value = channel

    def _bar_clicked(self, bar, event):
        index = event.get("data", {}).get("index")
        if index is not None and index < len(self._bar_classes):
            self.target.value = self._bar_classes[index]

    def _row_clicked(self, change):
        if change["new"] and change["new"] != self.layer.value:
            self.layer.value = change["new"]

    def _uploaded(self, change):
        files = change["new"]
        if not files:
            return
        item = files[0] if isinstance(files, (list, tuple)) else next(iter(files.values()))
        name = str(item.get("name", "upload"))
        try:
            image = self._decode_upload(bytes(item["content"]))
        except Exception as error:  # bad files: say why, keep going
            self._set_status(f"Could not use {name}: {error}", error=True)
            return
        self._images.append(image)
        self._upload_names[len(self._images) - 1] = name
        self.image.options = self._image_options()
        self.image.value = len(self._images) - 1

    def _decode_upload(self, content):
        from PIL import Image

        shape = self.inspector.input_shape
        if len(shape) != 3 or shape[-1] not in (1, 3):
            raise NbinterpError("this model does not take images")
        with Image.open(io.BytesIO(content)) as pil:
            width, height = pil.size
            if width * height > MAX_UPLOAD_PIXELS:
                raise NbinterpError(f"image of {width}×{height} pixels is too large")
            pil = pil.convert("L" if shape[-1] == 1 else "RGB")
            target = (shape[0] or height, shape[1] or width)
            array = np.asarray(pil.resize((target[1], target[0]), Image.BILINEAR), dtype=np.uint8)
        return array[..., None] if shape[-1] == 1 else array

    # ----------------------------------------------------------------- state
    def _state(self):
        method = self.method.value
        options = {k: w.value for k, w in self.method_options.get(method, {}).items()}
        return {
            "layer": self.layer.value, "channel": int(self.channel.value), "image": int(self.image.value),
            "input_channel": int(self.input_channel.value), "shared": bool(self.shared_scale.value),
            "single_channel": bool(self.single_channel.value),
            "page": int(self.page.value), "method": method, "options": options,
            "target": int(self.target.value), "opacity": float(self.opacity.value),
            "tab": self.tabs.selected_index or 0,
        }

    def wait(self, timeout=120):
        """Block until the views show the current selection (for scripts and tests)."""
        if not self._updates.wait(timeout):
            raise TimeoutError("the Explorer did not finish updating in time")

    def close(self):
        updates = getattr(self, "_updates", None)
        if updates is not None:
            updates.close()
        super().close()

    # ---------------------------------------------------------------- updates
    def _update(self, generation):
        started = time.perf_counter()
        s = self._state()
        image = self._images[s["image"]]
        order = [s["tab"]] + [i for i in range(len(TAB_TITLES)) if i != s["tab"]]
        messages = []
        for tab in order:
            if self._updates.superseded(generation):
                return
            text = ""
            try:
                self._update_tab(tab, s, image, generation)
            except Exception as error:  # one line in the tab (and the status line when visible), never a traceback
                text = str(error) if isinstance(error, NbinterpError) else _one_line(error)
                if tab == s["tab"]:
                    messages.append(text)
            note = self._notes[TAB_TITLES[tab]]
            note.value = text
            note.layout.display = "" if text else "none"
        if self._updates.superseded(generation):
            return
        self.last_update_seconds = time.perf_counter() - started
        if messages:
            self._set_status(messages[0], error=True)
        else:
            self._set_status(self._summary_line(s))

    def _apply(self, canvas, key, make, generation):
        """Render ``make()`` onto ``canvas`` unless it already shows ``key``."""
        name = id(canvas)
        if self._last.get(name) == key:
            return
        picture = make()
        if self._updates.superseded(generation):
            return
        with canvas.hold_sync():
            canvas.set_image(picture.image)
            canvas.regions = picture.regions
            canvas.label = picture.label
            canvas.highlight = picture.highlight
        self._last[name] = key

    def _clear(self, *canvases):
        for canvas in canvases:
            if self._last.get(id(canvas)) != "empty":
                with canvas.hold_sync():
                    canvas.set_image(np.full((1, 1), 255, np.uint8))
                    canvas.regions, canvas.label, canvas.highlight = [], "", None
                self._last[id(canvas)] = "empty"

    def _update_tab(self, tab, s, image, generation):
        ins = self.inspector
        layer, channel, ic = s["layer"], s["channel"], s["input_channel"]
        title = TAB_TITLES[tab]
        if title == "Filters":
            info = ins.layer(layer)
            if not info.has_kernel:
                self._clear(self.filters_canvas, self.kernel_canvas)
                raise NbinterpError(f"{info.name} ({info.kind}) has no kernels: pick a Conv or Dense layer to see filters")
            self._apply(self.filters_canvas, ("fgrid", layer, ic),
                        lambda: views.filters_grid(ins, layer, ic), generation)
            self.filters_canvas.highlight = channel
            self._apply(self.kernel_canvas, ("fsel", layer, channel, ic),
                        lambda: views.filter_selected(ins, layer, channel, ic), generation)
        elif title == "Kernel response":
            op = ins.plan.resolve(layer).op
            if not views._conv_layer(op):
                self._clear(self.response_input_canvas, self.response_kernel_canvas, self.response_canvas)
                raise NbinterpError(f"kernel responses need a convolution layer; {layer} is {type(op).__name__}")
            single = ic if s["single_channel"] else None
            key = ("resp", layer, channel, s["image"], single, ic)
            if self._last.get(id(self.response_canvas)) != key:
                pictures = views.kernel_response_view(ins, layer, channel, image, input_channel=single, shown_channel=ic)
                for canvas, part in ((self.response_input_canvas, "input"), (self.response_kernel_canvas, "kernel"),
                                     (self.response_canvas, "response")):
                    self._apply(canvas, key, lambda p=pictures[part]: p, generation)
        elif title == "Activations":
            page = channel // views.PAGE_SIZE if views.activation_pages(ins, layer) > 1 else 0
            self._apply(self.grid_canvas, ("grid", layer, s["image"], s["shared"], page),
                        lambda: views.activation_grid(ins, layer, image, s["shared"], page), generation)
            self.grid_canvas.highlight = channel
            self._apply(self.channel_canvas, ("chan", layer, s["image"], channel),
                        lambda: views.activation_channel(ins, layer, image, channel), generation)
        elif title == "Saliency":
            if s["tab"] == tab and not self._chart_holder.children:
                self._chart_holder.children = (self.class_chart,)
            self._update_saliency(s, image, generation)
        elif title == "Top images":
            if s["tab"] != tab:
                return  # a dataset scan runs only while its tab is open
            self._update_top_images(s, generation)
        elif title == "Architecture":
            pass  # the table follows the Layer control through _layer_changed, on the control's thread

    def _update_saliency(self, s, image, generation):
        from .. import attribution

        ins = self.inspector
        indices, scores, names, probabilities = views.top_classes(ins, image, 5, self.class_names)
        bar_key = ("bars", s["image"])
        if self._last.get("bars") != bar_key:
            with self.class_bars.hold_sync():
                self.class_bars.x = [f"{i}: {n}" if n != str(i) else str(i) for i, n in zip(indices, names)]
                self.class_bars.y = scores
            self._bar_classes = indices
            self.class_chart.axes[1].label = "probability" if probabilities else "score"
            self._last["bars"] = bar_key
        target = indices[0] if s["target"] < 0 else s["target"]
        self.class_bars.selected = [indices.index(target)] if target in indices else []
        if s["method"] == MAXIMIZE:
            self._update_maximize(s, image, generation)
            return
        layer = self._attribution_layer(s["method"], s["layer"])
        key = ("heat", s["image"], s["method"], tuple(sorted(s["options"].items())), target, layer)
        if self._last.get("heat") != key:
            self.progress.layout.visibility = "visible"
            self.progress.value = 10
            self.progress.description = "computing"
            try:
                heat = attribution.attribute(self.model, image, target=target, method=s["method"], layer=layer,
                                             preprocess=self.preprocess, **s["options"])[0]
            finally:
                self.progress.value = 100
                self.progress.layout.visibility = "hidden"
            if self._updates.superseded(generation):
                return
            self._heat = heat
            self._last["heat"] = key
        tokens = None
        if self._is_sequence and self.vocabulary is not None:
            tokens = [self.vocabulary[int(t)] if 0 <= int(t) < len(self.vocabulary) else str(int(t)) for t in np.asarray(image).reshape(-1)]
        overlay_key = key + (s["opacity"],)
        if self._last.get(id(self.saliency_canvas)) != overlay_key:
            result = views.saliency_view(self._heat, image, s["opacity"], self._is_sequence, tokens)
            picture = result["overlay"]
            name = self.class_names[target] if self.class_names and target < len(self.class_names) else str(target)
            picture.label = (f"{self._methods[s['method']][0]}" + (f" at {layer}" if layer else "")
                             + f" for class {target}" + (f" ({name})" if name != str(target) else ""))
            self._apply(self.saliency_canvas, overlay_key, lambda: picture, generation)
            self.tokens_html.value = result.get("html", "")

    def _cancel_for(self, generation):
        return lambda: self._updates.superseded(generation)

    def _show_progress(self, fraction):
        self.progress.value = int(round(100 * min(max(fraction, 0.0), 1.0)))

    def _run_with_progress(self, what, function):
        """Run a long computation with the progress bar showing; a newer selection cancels it."""
        from ..errors import CancelledError

        self.progress.description = what
        self.progress.value = 0
        self.progress.layout.visibility = "visible"
        try:
            return function()
        except CancelledError:
            return None
        finally:
            self.progress.layout.visibility = "hidden"

    def _update_top_images(self, s, generation):
        from ..units.reconstruct import reconstruct
        from ..units.top_activations import top_activations

        layer, channel = s["layer"], s["channel"]
        shape = self.inspector.layer(layer).output_shape
        if len(shape) < 3:
            raise NbinterpError(f"top images need a layer with a spatial output; {layer} outputs {shape}")
        key = ("top", layer, channel)
        pictures = self._top_cache.get(key)
        if pictures is None:
            data = self.dataset if self.dataset is not None else np.stack(self._images)
            total = len(data) if hasattr(data, "__len__") else None

            def scan():
                result = top_activations(
                    self.inspector, layer, channel, data, k=9, cancel=self._cancel_for(generation),
                    callback=lambda seen, n: self._show_progress(0.8 * seen / (n or total or max(seen, 1))))
                recons = []
                for i, (image, position) in enumerate(zip(result.images, result.positions)):
                    if self._updates.superseded(generation):
                        return None
                    recons.append(reconstruct(self.inspector, layer, channel, image, position=position))
                    self._show_progress(0.8 + 0.2 * (i + 1) / len(result))
                return views.top_images_view(result, recons)

            pictures = self._run_with_progress("scanning", scan)
            if pictures is None:
                return
            self._top_cache.put(key, pictures)
        for canvas, part in ((self.top_images_canvas, "images"), (self.top_patches_canvas, "patches"),
                             (self.top_recon_canvas, "reconstructions")):
            self._apply(canvas, key, lambda p=pictures[part]: p, generation)

    def _update_maximize(self, s, image, generation):
        from ..units.maximize import Channel, Class, maximize

        layer, options = s["layer"], dict(s["options"])
        is_output = self.inspector.plan.output_key(layer) == self.inspector.plan.output_keys[0]
        if is_output:
            target = views.top_classes(self.inspector, image, 1)[0][0] if s["target"] < 0 else s["target"]
            objective, label = Class(target), f"class {target} of {self.model.name}"
        else:
            if views.channel_count(self.inspector, layer) == 0:
                raise NbinterpError(f"{layer} has no channels to maximise; pick a conv layer or the output")
            objective, label = Channel(layer, s["channel"]), f"channel {s['channel']} of {layer}"
        key = ("maximize", layer, repr(objective), tuple(sorted(options.items())))
        if self._last.get(id(self.saliency_canvas)) == key:
            return
        steps = int(options.get("steps", 64))
        result = self._run_with_progress("ascent", lambda: maximize(
            self.model, objective, progress=False, preprocess=self.preprocess,
            cancel=self._cancel_for(generation),
            callback=lambda step, value: self._show_progress((step + 1) / steps), **options))
        if result is None:
            return
        picture = views.maximize_view(result, "what " + label + " wants")
        self._apply(self.saliency_canvas, key, lambda: picture, generation)
        self.tokens_html.value = ""

    def _attribution_layer(self, method, layer):
        """Layer-based methods (Grad-CAM, ...) explain the selected layer when it has a
        spatial feature map; otherwise they pick their own default layer."""
        from .. import attribution

        if method not in attribution.METHODS or not getattr(attribution.METHODS[method], "uses_layer", False) \
                or method == "cam":
            return None
        shape = self.inspector.layer(layer).output_shape
        if len(shape) == 4 and all(d is not None and d > 1 for d in shape[1:3]):
            return layer
        return None

    # ----------------------------------------------------------------- status
    def _summary_line(self, s):
        parts = [f"layer {s['layer']}", f"channel {s['channel']}", f"image {s['image']}"]
        if self._labels is not None and s["image"] < len(self._labels):
            label = self._labels[s["image"]]
            parts.append("label " + (self.class_names[label] if self.class_names and label < len(self.class_names) else str(label)))
        return " · ".join(parts) + f" · updated in {self.last_update_seconds * 1e3:.0f} ms"

    def _set_status(self, text, error=False):
        self.status.value = ("⚠ " if error else "") + str(text)
        self._error = text if error else None

    def _report(self, error):
        """Unexpected errors: one line in the status, never a traceback wall."""
        self._set_status(_one_line(error), error=True)

    # ----------------------------------------------------------------- export
    def _view_pictures(self, view=None):
        view = TAB_TITLES[self.tabs.selected_index or 0] if view is None else view
        canvases = {
            "Filters": [self.filters_canvas, self.kernel_canvas],
            "Kernel response": [self.response_input_canvas, self.response_kernel_canvas, self.response_canvas],
            "Activations": [self.grid_canvas, self.channel_canvas],
            "Saliency": [self.saliency_canvas],
            "Top images": [self.top_images_canvas, self.top_patches_canvas, self.top_recon_canvas],
        }
        if view not in canvases:
            raise NbinterpError(f"no picture to export for {view!r}; choose one of {list(canvases)}")
        self.wait()
        return view, [(c.image, c.label) for c in canvases[view] if c.image is not None and c.image.size > 1]

    def export_png(self, view=None) -> bytes:
        """PNG bytes of the current view's pictures side by side (view = a tab title)."""
        _, pictures = self._view_pictures(view)
        height = max(p.shape[0] for p, _ in pictures)
        parts = []
        for picture, _ in pictures:
            rgb = picture if picture.shape[-1] == 3 else np.repeat(picture[..., :1], 3, axis=-1)
            if rgb.shape[0] != height:
                rgb = resize(rgb, (height, round(rgb.shape[1] * height / rgb.shape[0])), smooth=False)
            parts += [rgb, np.full((height, 8, 3), 255, np.uint8)]
        return to_png(np.concatenate(parts[:-1], axis=1))

    def figure(self, view=None):
        """A matplotlib Figure of the current view (for handouts and papers)."""
        import matplotlib.pyplot as plt
        from matplotlib.figure import Figure

        view, pictures = self._view_pictures(view)
        fig = Figure(figsize=(4 * len(pictures), 4.4))
        for i, (picture, label) in enumerate(pictures):
            ax = fig.add_subplot(1, len(pictures), i + 1)
            ax.imshow(picture if picture.shape[-1] != 1 else picture[..., 0], cmap="gray", interpolation="nearest")
            ax.set_title(label, fontsize=8, wrap=True)
            ax.axis("off")
        fig.suptitle(f"{self.model.name}: {view}")
        del plt
        return fig

    def _save_png(self):
        try:
            view = TAB_TITLES[self.tabs.selected_index or 0]
            path = f"nbinterp-{view.lower().replace(' ', '-')}-{self.layer.value.replace('/', '_')}.png"
            with open(path, "wb") as handle:
                handle.write(self.export_png(view))
            self._set_status(f"saved {path}")
        except Exception as error:
            self._report(error)


__all__ = ["Explorer"]
