"""Explorer: the live inline tool. Layer, Channel, Image and Method controls drive
the tabs listed in ``TABS`` (filters, kernel responses, activations, saliency,
top images, architecture).

The Explorer owns the controls, the images and the status line; each tab (one
class in ``nbinterp.widgets.tabs``) owns its canvases and computes what it
shows from a :class:`~nbinterp.widgets.selection.Selection`. One background
:class:`~nbinterp.widgets.updates.Scheduler` draws the visible tab first, then
the others, latest selection wins; once drawn, it warms caches for likely next
selections until a control changes. Every error lands in the status line as
one line.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import time
import warnings
import weakref
from typing import Optional

import ipywidgets as W
import numpy as np

from .. import views
from ..core import compiled
from ..core.cache import ByteBudgetCache
from ..core.inputs import as_batch, to_numpy
from ..core.inspector import Inspector
from ..core.uploads import Upload, UploadError, decode_upload
from ..errors import CancelledError, InvalidInputError, NbinterpError
from ..render import display_image
from ..render import export
from .canvas import ImageCanvas
from .inputs_table import inputs_table_html
from .selection import Selection
from .tabs import ActivationsTab, ArchitectureTab, FiltersTab, KernelResponseTab, SaliencyTab, TopImagesTab
from .tabs.base import close_widgets
from .tabs.saliency import MAXIMIZE
from .updates import Job, Scheduler, Work

#: the Explorer's tabs, in display order: adding a tab is one class and one entry here
TABS = (FiltersTab, KernelResponseTab, ActivationsTab, SaliencyTab, TopImagesTab, ArchitectureTab)
TAB_TITLES = [tab.title for tab in TABS]
DEFAULT_TAB = "Activations"
#: the Explorer's ascent is shorter than maximize()'s default, to stay interactive
MAXIMIZE_STEPS = 64
PICTURES_CACHE_BYTES = 64 * 2**20
WARM_FILL = 0.8  # warm-up stops once a cache is this full, so it never evicts what is shown
CLOSE_TIMEOUT_S = 10.0
EXIT_TIMEOUT_S = 30.0

_LIVE: "weakref.WeakSet[Explorer]" = weakref.WeakSet()


@atexit.register
def _stop_workers_at_exit():
    """Stop every Explorer's worker before the interpreter tears TensorFlow down
    (a daemon thread inside TensorFlow at exit aborts the process)."""
    for explorer in list(_LIVE):
        explorer._stop_worker(EXIT_TIMEOUT_S)


def _maximize_table(input_shape):
    """Maximize's option table with the Explorer's defaults: fewer steps, and on small
    inputs (28x28 digits) no jitter or blur, which wash out what a unit responds to."""
    from ..units.maximize import MAXIMIZE_OPTIONS

    changes = {"steps": MAXIMIZE_STEPS}
    spatial = [d for d in input_shape[:-1] if d is not None]
    if spatial and max(spatial) < 96:
        changes.update(jitter=0, blur_every=0)
    return tuple(dataclasses.replace(o, default=changes[o.name]) if o.name in changes else o for o in MAXIMIZE_OPTIONS)


#: the Sign control's choices and the ``reduce`` each asks of ``attribute``
SIGN_REDUCTIONS = {"magnitude": "max_abs", "signed": "sum"}


def _default_sign(method):
    """What ``method``'s default map shows ("magnitude" or "signed"), or None when
    it has no sign to choose (non-negative maps, the Maximize pseudo-method)."""
    from .. import attribution

    cls = attribution.METHODS.get(method)
    return getattr(cls, "sign", None) if cls is not None else None


def _class_names_warning(class_names, n):
    """What is wrong with ``class_names`` for a model with ``n`` classes, or None."""
    if class_names is None or not n:
        return None
    if len(class_names) < n:
        return (f"class_names has {len(class_names)} names for {n} classes: "
                f"classes {len(class_names)} to {n - 1} are shown by number")
    if len(class_names) > n:
        return f"class_names has {len(class_names)} names for {n} classes: the last {len(class_names) - n} are not used"
    return None


_LOG = logging.getLogger("nbinterp.explorer")


@dataclasses.dataclass(frozen=True)
class _Uploaded:
    """An upload among the Explorer's examples: the decoded picture, the input it fills
    (None on a single-input model) and the example whose other inputs it keeps."""

    upload: Upload
    input: Optional[int] = None
    base: int = 0


def _one_line(error, where="the Explorer", next_step="try another layer, channel or method"):
    """One status line for an error: NbinterpError messages as they are; anything else
    (an internal error, TensorFlow's stack traces) as what failed, its last line and
    what to do, without the exception's type (which goes to the ``nbinterp.explorer``
    logger with the traceback)."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if isinstance(error, NbinterpError):
        return " ".join(lines)
    _LOG.warning("%s failed", where, exc_info=error)
    detail = f" ({lines[-1][:200]})" if lines else ""
    return f"{where} failed{detail}; {next_step}"


def _class_labels(labels, n_classes):
    """``labels`` as a list of class indices, or a clear InvalidInputError."""
    array = np.asarray(labels.numpy() if hasattr(labels, "numpy") else labels, dtype=object).reshape(-1)
    out = []
    for i, value in enumerate(array):
        number = isinstance(value, (int, np.integer, float, np.floating)) and not isinstance(value, (bool, np.bool_))
        if not number or not np.isfinite(value) or value != int(value):
            names = " (class names go in class_names=)" if isinstance(value, str) else ""
            raise InvalidInputError(f"labels must be class indices (integers); label #{i} is {value!r}{names}")
        if int(value) < 0 or (n_classes and int(value) >= n_classes):
            raise InvalidInputError(f"label #{i} is {int(value)}: class indices run from 0 to {n_classes - 1}"
                                    if n_classes else f"label #{i} is {int(value)}: class indices are >= 0")
        out.append(int(value))
    return out


_STYLE = {"description_width": "initial"}


def _option_control(option):
    """A control for one entry of a method's ``option_table`` (None when not shown)."""
    ui, default = option.ui, option.default
    if ui is None or default is None:
        return None
    common = {"description": option.text, "tooltip": option.help}
    low, high, step = option.low, option.high, option.step
    if ui == "bool":
        return W.Checkbox(value=bool(default), indent=False, **common)
    if ui == "choice":
        return W.Dropdown(options=list(option.choices), value=default, style=_STYLE, **common)
    if ui == "int":
        return W.BoundedIntText(value=int(default), min=int(low) if low is not None else 0,
                                max=int(high) if high is not None else 100_000, step=int(step or 1),
                                style=_STYLE, layout=W.Layout(width="170px"), **common)
    if ui == "float":
        return W.BoundedFloatText(value=float(default), min=float(low) if low is not None else 0.0,
                                  max=float(high) if high is not None else 1e6, step=float(step or 0.05),
                                  style=_STYLE, layout=W.Layout(width="170px"), **common)
    return None


def _controls(table):
    """{option name: control} for the options of ``table`` that a person sets in the UI."""
    return {option.name: control for option in table if (control := _option_control(option)) is not None}


def _cache_info(cache):
    return {"bytes": cache.nbytes, "budget": cache.max_bytes, "entries": len(cache),
            "hits": cache.hits, "misses": cache.misses, "evictions": cache.evictions}


class Explorer(W.VBox):
    """``Explorer(model, images, labels=None, class_names=None, preprocess=None)``

    ``model``: a Keras model or a path to a ``.keras`` file (loaded in safe mode).
    ``images``: the examples to look at, as the model takes them before
    ``preprocess`` (uint8 or float images; integer token ids for text models).
    ``labels``/``class_names``: optional ground truth and class names.
    ``vocabulary``: optional list mapping token ids to words (text models).
    ``dataset``: what the "Top images" view ranks (numpy array, iterable of
    batches or ``tf.data.Dataset``); by default the Explorer's images.
    ``warm_up``: after drawing, compute likely next views in idle time.

    ``model`` may be fully convolutional (input ``(None, None, 3)``, a spatial
    output): the views take their sizes from the images, and ``explorer.explain``
    (with ``.position_row``/``.position_col``) chooses what an attribution explains,
    a class averaged over the output positions or the class at one position.

    Models with several inputs take ``images`` in the model's input structure
    (a list in input order or a dict ``{input name: array}``, one row per
    example); an **Input** control picks the image input the views show
    when there are several, the other inputs of the current example are
    listed in a small table (``feature_names``: a dict ``{input name: names}``,
    or a list for the one tabular input), and tabular inputs get per-feature
    attribution charts in the Saliency tab. Models with several outputs get
    an **Output** control choosing the head whose class is explained
    (``class_names`` may be a dict ``{output name: names}``).

    The controls are ordinary ipywidgets: ``explorer.layer``, ``.channel``,
    ``.image``, ``.method`` (``observe``/``link`` work); ``explorer.selection``
    is their state as one value and ``explorer.tabs_by_title`` the tab objects.
    ``explorer.wait()`` blocks until the views show the current selection,
    ``explorer.warm(block=True)`` until warm-up is done; ``close()`` stops the
    worker and closes every widget.
    """

    def __init__(self, model, images, labels=None, class_names=None, preprocess=None,
                 vocabulary=None, dataset=None, cache_bytes=512 * 2**20, warm_up: bool = True, feature_names=None,
                 **kwargs):
        self._closed = True  # until the worker runs there is nothing to close
        self.inspector = Inspector(model, preprocess=preprocess, cache_bytes=cache_bytes)
        self.model = self.inspector.model
        self.preprocess = preprocess
        if isinstance(class_names, dict):
            self.class_names = {str(k): [str(c) for c in v] for k, v in class_names.items()}
        else:
            self.class_names = None if class_names is None else [str(c) for c in class_names]
        self.feature_names = feature_names
        spec = self.inspector.spec
        self.structured = len(spec.inputs) > 1
        #: the indices of the model's image inputs; the first is shown until the Input control changes
        self.image_inputs = [i for i, one in enumerate(spec.inputs) if one.kind == "image"]
        self._first_input = self.image_inputs[0] if self.image_inputs else 0
        self.vocabulary = vocabulary
        self._images = self._initial_images(images)
        self._n_initial = len(self._images)
        self._image_versions = [0] * len(self._images)
        self._uploads: dict[int, _Uploaded] = {}
        self._dataset = dataset
        self.data_version = 0
        self._labels = None if labels is None else _class_labels(labels, views.class_count(self.inspector))
        if self._labels is not None and len(self._labels) != len(self._images):
            raise ValueError(f"got {len(self._labels)} labels for {len(self._images)} images")
        # attributions are per position for token sequences, 1-D signals and vectors
        self.is_sequence = len(spec.inputs[self._first_input].shape) in (1, 2)
        self.pictures_cache = ByteBudgetCache(PICTURES_CACHE_BYTES)
        self.last_update_seconds = 0.0
        self._status = ("", False)  # (text, is error) of the last draw
        self._notice: Optional[tuple[str, bool, int]] = None  # (text, is error, generation)
        self._hint: Optional[str] = None
        self._handlers: list[tuple[W.Widget, object, str]] = []
        self._warmed_image = None
        self._syncing = False
        self._names_warning = self._check_class_names()
        if self._names_warning:
            warnings.warn(self._names_warning, UserWarning, stacklevel=2)

        self._build_controls()
        self.tab_objects = tuple(tab(self) for tab in TABS)
        self.tabs_by_title = {tab.title: tab for tab in self.tab_objects}
        self.tabs = W.Tab(children=[tab.box for tab in self.tab_objects], titles=TAB_TITLES,
                          selected_index=TAB_TITLES.index(DEFAULT_TAB))
        super().__init__(children=[self._header, self._controls_box, self._status_row, self.tabs], **kwargs)
        self.add_class("nbinterp-explorer")
        self.scheduler = Scheduler(self._draw, plan_warm=self._plan_warm, on_error=self._report,
                                   on_progress=self._show_progress, on_warm=self._show_warming, room=self._has_room,
                                   warm_up=warm_up)
        self._closed = False
        _LIVE.add(self)
        self._wire()
        self._sync_layer_dependent()
        self._show_image()
        self.scheduler.request()

    # ----------------------------------------------------------------- images
    def _initial_images(self, images):
        """Validated examples, kept as given (before preprocess) for display and computation;
        for a model with several inputs each example is a tuple with one array per input."""
        if self.structured:
            self.inspector.batches(images)  # structure, shape/dtype/NaN checks with clear errors
            spec = self.inspector.spec
            ordered = [images[one.name] for one in spec.inputs] if isinstance(images, dict) else list(images)
            batches = []
            for value, one in zip(ordered, spec.inputs):
                raw = to_numpy(value)
                batch = as_batch(raw, one.shape, raw.dtype if raw.dtype.kind in "uif" else one.dtype)
                batch.setflags(write=False)
                batches.append(batch)
            return [tuple(b[i] for b in batches) for i in range(len(batches[0]))]
        self.inspector.batch(images)  # shape/dtype/NaN checks with clear errors
        raw = np.asarray(images.numpy() if hasattr(images, "numpy") else images)
        dtype = raw.dtype if raw.dtype.kind in "uif" else self.inspector.input_dtype
        batch = as_batch(raw, self.inspector.input_shape, dtype)
        batch.setflags(write=False)
        return [batch[i] for i in range(batch.shape[0])]

    @property
    def images(self) -> tuple:
        """The Explorer's images (uploads included), as the model receives them before ``preprocess``."""
        return tuple(self._images)

    @property
    def image_count(self) -> int:
        return len(self._images)

    def image_array(self, index: int):
        """Example ``index`` as the model takes it (a list with one array per input for a
        model with several inputs)."""
        example = self._images[index]
        return list(example) if self.structured else example

    def shown_image(self, index: int, input: Optional[int] = None) -> np.ndarray:
        """The image of example ``index`` that the views draw: the model's input, or for a model
        with several inputs input number ``input`` (default: the one the Input control selects)."""
        example = self._images[index]
        if not self.structured:
            return example
        return example[self.input.value if input is None else input]

    def explained(self, selection) -> dict:
        """``input=``/``output=`` for ``attribute`` on models with several inputs or outputs."""
        out = {}
        if self.structured:
            out["input"] = selection.input
        if len(self.inspector.spec.outputs) > 1:
            out["output"] = selection.output
        return out

    def held(self, selection) -> dict:
        """``input=``/``hold=`` for ``maximize`` on models with several inputs: the selected
        input is optimised, the others held at the current example."""
        if not self.structured:
            return {}
        return {"input": selection.input, "hold": self.image_array(selection.image)}

    def image_key(self, index: int):
        """A cache key for the content of image ``index`` (changes when an upload is inverted)."""
        return (index, self._image_versions[index])

    @property
    def dataset(self):
        """What "Top images" ranks; None means the Explorer's own images."""
        return self._dataset

    @dataset.setter
    def dataset(self, value):
        self._dataset = value
        self.data_version += 1
        self.scheduler.request()

    def ranked_data(self):
        """The data "Top images" ranks now."""
        if self._dataset is not None:
            return self._dataset
        if self.structured:
            return [np.stack([example[i] for example in self._images]) for i in range(len(self.inspector.spec.inputs))]
        return np.stack(self._images)

    def _image_options(self):
        options = []
        for i in range(len(self._images)):
            text = f"#{i}"
            if i in self._uploads:
                placed = self._uploads[i]
                where = (f" as {self.inspector.spec.inputs[placed.input].name} of #{placed.base}"
                         if placed.input is not None else "")
                text += f" ({placed.upload.name}{where})"
            elif self._labels is not None and i < len(self._labels):
                label = self._labels[i]
                names = self._label_names()
                name = names[label] if names and 0 <= label < len(names) else str(label)
                text += f" (label {name})"
            options.append((text, i))
        return options

    # --------------------------------------------------------------- controls
    def _build_controls(self):
        from .. import attribution
        from ..demo import untrained_note

        ins = self.inspector
        viewable = [info for info in ins.layers if info.kind != "InputLayer"]
        default = next((i.name for i in viewable if i.has_kernel and i.kind.startswith("Conv")), None) \
            or next((i.name for i in viewable if i.has_kernel), viewable[0].name)
        wide = W.Layout(width="340px")
        self.layer = W.Dropdown(description="Layer", options=[(f"{i.name} ({i.kind})", i.name) for i in viewable],
                                value=default, layout=wide)
        self.channel = W.IntSlider(description="Channel", min=0, max=0, value=0, continuous_update=True,
                                   layout=W.Layout(width="340px"))
        self.image = W.Dropdown(description="Image", options=self._image_options(), value=0,
                                layout=W.Layout(width="340px"))
        self._method_labels = {name: getattr(cls, "label", None) or name.replace("_", " ")
                               for name, cls in attribution.METHODS.items()}
        self._method_labels[MAXIMIZE] = "Maximize (what the unit wants)"
        self.method_options = {name: _controls(cls.option_table) for name, cls in attribution.METHODS.items()}
        self.method_options[MAXIMIZE] = _controls(_maximize_table(ins.spec.inputs[self._first_input].shape))
        self.method = W.Dropdown(description="Method", options=[(label, name) for name, label in self._method_labels.items()],
                                 value="gradient" if "gradient" in self._method_labels else next(iter(self._method_labels)),
                                 layout=W.Layout(width="340px"))
        self.input_channel = W.IntSlider(description="Input channel", min=0, max=0, value=0,
                                         style=_STYLE, layout=W.Layout(width="340px"))
        self.shared_scale = W.Checkbox(description="Shared scale", value=True, indent=False)
        self.single_channel = W.Checkbox(description="Only the selected input channel", value=False, indent=False)
        self.page = W.IntSlider(description="Page", min=0, max=0, value=0, layout=W.Layout(width="260px"))
        self.opacity = W.FloatSlider(description="Opacity", min=0.0, max=1.0, step=0.05, value=0.5)
        spec = ins.spec
        self.input = W.Dropdown(description="Input", options=[(spec.inputs[i].name, i) for i in self.image_inputs]
                                or [(spec.inputs[0].name, 0)], value=self._first_input, layout=W.Layout(width="340px"),
                                tooltip="The image input the views show and explain")
        self.output = W.Dropdown(description="Output", options=[(o.name, i) for i, o in enumerate(spec.outputs)],
                                 value=0, layout=W.Layout(width="340px"), tooltip="The head whose class is explained")
        self.input.layout.display = "" if len(self.image_inputs) > 1 else "none"
        self.output.layout.display = "" if len(spec.outputs) > 1 else "none"
        self.target = W.Dropdown(description="Target", options=self._target_options(0), value=-1,
                                 layout=W.Layout(width="340px"))
        # spatial outputs (segmentation, detection heads): what an attribution explains
        self.explain = W.Dropdown(description="Explain", value="mean", style=_STYLE, layout=W.Layout(width="340px"),
                                  options=[("the class averaged over every output position", "mean"),
                                           ("the class at one output position", "position")])
        rows, cols = self._output_grid()
        self.position_row = W.BoundedIntText(description="row", min=0, max=max(rows - 1, 0), value=rows // 2,
                                             layout=W.Layout(width="140px"))
        self.position_col = W.BoundedIntText(description="column", min=0, max=max(cols - 1, 0), value=cols // 2,
                                             layout=W.Layout(width="150px"))
        # one fixed-height row for the method's options, so changing the method shifts nothing
        self.options_box = W.HBox([], layout=W.Layout(min_height="34px", flex_flow="row wrap"))
        self.sign = W.Dropdown(description="Sign", options=[("magnitude |·|", "magnitude"), ("signed (+/−)", "signed")],
                               value="magnitude", layout=W.Layout(width="220px"),
                               tooltip="magnitude: how much each pixel matters; signed: red for the class, blue against")
        self.sign.add_class("nbinterp-sign")
        self.upload = W.FileUpload(description="Upload", accept="image/*", multiple=False)
        self.invert = W.Checkbox(description="Invert", value=False, indent=False,
                                 tooltip="Invert the uploaded image (dark-on-light <-> light-on-dark)",
                                 layout=W.Layout(width="90px", display="none"))
        self.preview = ImageCanvas(max_width=84)
        self.preview.add_class("nbinterp-image-preview")
        self.export_button = W.Button(description="Save PNG", icon="download",
                                      tooltip="Save the current view, with its captions, as a PNG download")
        self.download = W.HTML("")  # the browser download link of the last Save PNG
        self.download.add_class("nbinterp-download")
        self.status = W.Label(value="")
        self.status.add_class("nbinterp-status")
        self.progress = W.IntProgress(value=0, min=0, max=100, layout=W.Layout(width="160px", visibility="hidden"))
        note = untrained_note(self.model)
        self._header = W.HBox([W.Label(value=f"Model: {self.model.name}" + (f" — {note}" if note else ""))])
        if note:
            self._header.children[0].add_class("nbinterp-untrained")
        row1 = W.HBox([self.layer, self.channel, self.input_channel])
        row2 = W.HBox([self.image, self.upload, self.invert, self.export_button, self.download])
        row3 = W.HBox([self.method, self.target, self.opacity])
        row4 = W.HBox([self.input, self.output])
        images = len(ins.spec.inputs[self._first_input].shape) == 3
        self.preview.layout.display = "" if images else "none"
        if not self.image_inputs:  # nothing a picture could be
            self.upload.layout.display = "none"
        #: the current example's non-image inputs (models with several inputs)
        self.inputs_table = W.HTML("", layout=W.Layout(display="" if self.structured else "none"))
        self._controls_box = W.HBox([W.VBox([row1, row2, row3, row4, self.options_box]),
                                     W.VBox([self.preview, self.inputs_table])])
        self._status_row = W.HBox([self.progress, self.status])

    def _output_grid(self):
        """(rows, columns) of a spatial output for the Explorer's images (1, 1 otherwise):
        sizes the model leaves open are measured on the first image."""
        if not views.is_spatial_output(self.inspector):
            return 1, 1
        shape = views.output_shape(self.inspector)
        if None in shape[:-1]:
            shape = np.asarray(self.inspector.predict(self._images[0])).shape[1:]
        return (int(shape[0]), int(shape[1]) if len(shape) > 2 else 1)

    def _check_class_names(self):
        """What is wrong with ``class_names`` for each head it names, or None."""
        from .tabs.head_charts import head_names

        problems = []
        for output, spec in enumerate(self.inspector.spec.outputs):
            problem = _class_names_warning(head_names(self, output), views.class_count(self.inspector, output))
            if problem:
                problems.append(problem if len(self.inspector.spec.outputs) == 1 else f"{spec.name}: {problem}")
        return "; ".join(problems) or None

    def _label_names(self):
        """The names of the classes that ``labels`` index (the first head's)."""
        from .tabs.head_charts import head_names

        return head_names(self, 0)

    def _target_options(self, output):
        from .tabs.head_charts import head_names

        options = [("top predicted", -1)]
        n_classes = views.class_count(self.inspector, output)
        names = head_names(self, output)
        for c in range(min(n_classes, 1000)):
            name = names[c] if names and c < len(names) else str(c)
            options.append((f"{c}: {name}", c))
        return options

    def _observe(self, widget, handler, names="value"):
        widget.observe(handler, names=names)
        self._handlers.append((widget, handler, names))

    def _wire(self):
        for control in (self.layer, self.channel, self.image, self.input_channel, self.shared_scale,
                        self.single_channel, self.opacity, self.target, self.method, self.page, self.sign,
                        self.explain, self.position_row, self.position_col, self.input, self.output):
            self._observe(control, self._control_changed)
        self._observe(self.tabs, self._control_changed, "selected_index")
        self._observe(self.tabs, self._tab_changed, "selected_index")
        for controls in self.method_options.values():
            for control in controls.values():
                self._observe(control, self._control_changed)
        self._observe(self.upload, self._uploaded)
        self._observe(self.invert, self._invert_changed)
        self.export_button.on_click(self._save_clicked)
        self._show_method_options()
        self._show_applicable_controls()

    #: the tabs each header control acts on (the others hide it, keeping its place)
    CONTROL_TABS = {"method": ("Saliency",), "target": ("Saliency",), "opacity": ("Saliency",),
                    "input_channel": ("Filters", "Kernel response"), "options_box": ("Saliency",),
                    "channel": ("Filters", "Kernel response", "Activations", "Saliency", "Top images")}

    def applicable_controls(self) -> dict:
        """{control name: whether it acts on what the visible tab shows now}."""
        title = TAB_TITLES[self.tabs.selected_index or 0]
        shows = {name: title in tabs for name, tabs in self.CONTROL_TABS.items()}
        shows["input_channel"] &= not self.input_channel.disabled
        maximize = self.method.value == MAXIMIZE
        shows["opacity"] &= not maximize and not self.is_sequence
        output = self.inspector.plan.output_key(self.layer.value) == self.inspector.plan.output_keys[0]
        shows["target"] &= not maximize or output  # Maximize aims at a class only on the output layer
        shows["channel"] &= title != "Saliency" or (maximize and not output)
        return shows

    def _show_applicable_controls(self):
        """Hide (keeping their place, so nothing shifts) the controls that do not act on the
        visible tab: Method, Target, Opacity and the method's options outside Saliency, the
        Input channel where the layer has one input channel or the tab ignores it."""
        for name, shown in self.applicable_controls().items():
            getattr(self, name).layout.visibility = "visible" if shown else "hidden"

    def _tab_changed(self, change):
        self._show_applicable_controls()

    # ----------------------------------------------------------------- events
    @property
    def selection(self) -> Selection:
        """What the controls select now."""
        method = self.method.value
        return Selection(
            layer=self.layer.value, channel=int(self.channel.value), image=int(self.image.value),
            method=method, options=self.method_option_values(method), target=int(self.target.value),
            opacity=float(self.opacity.value), input_channel=int(self.input_channel.value),
            single_channel=bool(self.single_channel.value), shared_scale=bool(self.shared_scale.value),
            page=int(self.page.value), tab=TAB_TITLES[self.tabs.selected_index or 0], data_version=self.data_version,
            output_position=self._output_position(), input=int(self.input.value), output=int(self.output.value))

    def _output_position(self):
        if self.explain.value != "position" or not views.is_spatial_output(self.inspector, int(self.output.value)):
            return None
        return (int(self.position_row.value), int(self.position_col.value))

    def method_option_values(self, method: str) -> dict:
        """The values of ``method``'s option controls (and ``reduce`` when the Sign
        control asks for other than the method's default map)."""
        values = {name: control.value for name, control in self.method_options.get(method, {}).items()}
        default = _default_sign(method)
        if default is not None and self.sign.value != default:
            values["reduce"] = SIGN_REDUCTIONS[self.sign.value]
        return values

    def method_label(self, method: str) -> str:
        return self._method_labels.get(method, method)

    def _control_changed(self, change):
        owner, new = change["owner"], change["new"]
        if self._syncing:
            return
        if new is None and owner in (self.layer, self.image, self.method, self.target, self.input, self.output):
            self._syncing = True  # put the old value back: nothing to redraw
            try:
                owner.value = change["old"]
            finally:
                self._syncing = False
            self._notify(f"{owner.description}: an empty choice is not allowed; kept {change['old']!r}", error=True)
            return
        if owner is self.layer:
            self._sync_layer_dependent()
        elif owner is self.page and self.channel.value // views.PAGE_SIZE != new:
            self.channel.value = min(new * views.PAGE_SIZE, self.channel.max)  # jump to the page's first channel
        elif owner is self.channel and self.page.value != new // views.PAGE_SIZE and new // views.PAGE_SIZE <= self.page.max:
            self.page.value = new // views.PAGE_SIZE
        elif owner is self.image or owner is self.input:
            self._show_image()
        elif owner is self.output:
            self._syncing = True  # the head's own classes; explain its top one
            try:
                self.target.options = self._target_options(new)
                self.target.value = -1
            finally:
                self._syncing = False
        elif owner is self.method:
            self._show_method_options()
        self._show_applicable_controls()
        self.download.value = ""  # a saved link shows the view as it was
        selection = self.selection
        for tab in self.tab_objects:
            tab.follow(selection)
        self.scheduler.request()

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
        self._show_applicable_controls()

    def _show_method_options(self):
        default = _default_sign(self.method.value)
        if default is not None:  # each method starts from its own kind of map
            self._syncing = True
            try:
                self.sign.value = default
            finally:
                self._syncing = False
        sign = (self.sign,) if default is not None else ()
        self.options_box.children = sign + tuple(self.method_options.get(self.method.value, {}).values())

    def _show_image(self):
        """The preview shows the selected image exactly as the model receives it; the
        Invert box appears for uploads."""
        index = self.image.value
        upload = self._uploads[index].upload if index in self._uploads else None
        self._syncing = True
        try:
            self.invert.layout.display = "" if upload is not None else "none"
            self.invert.value = bool(upload is not None and upload.inverted)
        finally:
            self._syncing = False
        if self.structured:
            spec = self.inspector.spec
            self.inputs_table.value = inputs_table_html(spec, self._images[index], self.feature_names)
        if self.preview.layout.display != "none":
            image = self.shown_image(index)
            with self.preview.hold_sync():
                self.preview.set_image(display_image(image))
                self.preview.label = f"{image.shape[0]}×{image.shape[1]} as the model receives it"

    def _uploaded(self, change):
        files = change["new"]
        if not files:
            return
        item = files[0] if isinstance(files, (list, tuple)) else next(iter(files.values()))
        name = str(item.get("name", "upload"))
        # several inputs: the picture becomes the selected image input of a copy of the
        # current example, whose other inputs it keeps
        slot = self.input.value if self.structured else None
        base = self.image.value
        try:
            if slot is None:
                upload = decode_upload(bytes(item["content"]), name, self.inspector.input_shape,
                                       like=self._images[: self._n_initial])
                self.inspector.batch(upload.image)
            else:
                spec = self.inspector.spec.inputs[slot]
                upload = decode_upload(bytes(item["content"]), name, spec.shape,
                                       like=[example[slot] for example in self._images[: self._n_initial]])
        except UploadError as error:
            self._notify(str(error), error=True)
            return
        except Exception as error:  # bad files: say why, keep going
            self._notify(_one_line(error, f"the upload {name}", "try a PNG or JPEG image"), error=True)
            return
        finally:
            self.upload.value = ()  # the same file can be uploaded again
        index = len(self._images)
        placed = _Uploaded(upload, slot, base)
        self._images.append(self._example_of(placed))
        self._image_versions.append(0)
        self._uploads[index] = placed
        self._images_changed()
        self.image.options = self._image_options()
        self.image.value = index
        if upload.note:
            self._notify(upload.note, error=True)

    def _invert_changed(self, change):
        index = self.image.value
        if self._syncing or index not in self._uploads or self._uploads[index].upload.inverted == change["new"]:
            return
        placed = self._uploads[index]
        placed = self._uploads[index] = dataclasses.replace(placed, upload=placed.upload.toggled())
        self._images[index] = self._example_of(placed)
        self._image_versions[index] += 1
        self._images_changed()
        self._show_image()
        self.scheduler.request()

    def _example_of(self, placed: "_Uploaded"):
        """The example an upload makes: the picture itself, or for a model with several inputs
        example ``placed.base`` with input ``placed.input`` replaced by the picture."""
        if placed.input is None:
            return placed.upload.image
        example = list(self._images[placed.base])
        example[placed.input] = placed.upload.image
        return tuple(example)

    def _images_changed(self):
        if self._dataset is None:
            self.data_version += 1

    # ---------------------------------------------------------------- drawing
    def wait(self, timeout: float = 120) -> None:
        """Block until the views show the current selection (for scripts and tests)."""
        if not self.scheduler.wait(timeout):
            raise TimeoutError("the Explorer did not finish updating in time")

    def warm(self, block: bool = False, timeout: float = 300) -> bool:
        """Whether warm-up (idle-time computation of likely next views) has finished;
        ``block=True`` waits for it."""
        done = self.scheduler.warm(block, timeout)
        if block and not done:
            raise TimeoutError("the Explorer did not finish warming up in time")
        return done

    def _visible_tab(self, selection):
        return self.tabs_by_title[selection.tab]

    def _draw(self, job: Job) -> None:
        started = time.perf_counter()
        selection = self.selection
        image_key = self.image_key(selection.image)
        if image_key != self._warmed_image:
            try:
                self.inspector.warm_layers(self.image_array(selection.image))
            except Exception:  # the views compute what they need themselves (and report real errors)
                pass
            self._warmed_image = image_key
        visible = self._visible_tab(selection)
        order = [visible] + [tab for tab in self.tab_objects if tab is not visible and tab.runs_hidden]
        message = None
        try:
            for tab in order:
                if job.superseded:
                    return
                text = ""
                try:
                    tab.update(selection, job)
                except CancelledError:
                    return
                except Exception as error:  # one line in the tab (and the status line when visible)
                    text = _one_line(error, f"the {tab.title} view of {selection.layer}",
                                     "pick another layer or method, or report it with the model's summary")
                    if tab is visible:
                        message = text
                tab.set_note(text)
        finally:
            self.progress.layout.visibility = "hidden"
        if job.superseded:
            return
        self.last_update_seconds = time.perf_counter() - started
        if self._notice is not None and job.generation > self._notice[2]:
            self._notice = None  # a later change clears a notice
        self._status = (message, True) if message else (self._summary_line(selection), False)
        self._render_status()

    def _plan_warm(self, job: Job) -> list[Work]:
        selection = self.selection
        visible = self._visible_tab(selection)
        work = []
        for tab in [visible] + [tab for tab in self.tab_objects if tab is not visible]:
            try:
                work.extend(tab.needs(selection))
            except Exception:  # a tab that cannot say what it needs just is not warmed
                continue
        return work

    def _has_room(self) -> bool:
        caches = (self.inspector.cache, self.pictures_cache)
        return all(cache.nbytes <= WARM_FILL * cache.max_bytes for cache in caches)

    def _show_progress(self, job, fraction, what):
        if what:
            self.progress.description = what
        self.progress.value = int(round(100 * fraction))
        self.progress.layout.visibility = "visible"

    def cache_stats(self) -> dict:
        """Bytes and hit counts of the Explorer's caches (and of the compiled
        functions, when the core reports them)."""
        stats = {"inspector": _cache_info(self.inspector.cache), "pictures": _cache_info(self.pictures_cache),
                 "attributions": _cache_info(self.tabs_by_title["Saliency"].heat_cache)}
        functions = compiled.stats(self.model)
        stats["compiled"] = {"functions": functions.functions, "bytes": functions.nbytes,
                             "budget": compiled.budget, "evictions": functions.evictions}
        return stats

    # ----------------------------------------------------------------- status
    def _summary_line(self, s):
        parts = [f"layer {s.layer}", f"channel {s.channel}", f"image {s.image}"]
        if len(self.image_inputs) > 1:
            parts.append(f"input {self.inspector.spec.inputs[s.input].name}")
        if len(self.inspector.spec.outputs) > 1:
            parts.append(f"output {self.inspector.spec.outputs[s.output].name}")
        if self._labels is not None and s.image < len(self._labels):
            label = self._labels[s.image]
            names = self._label_names()
            parts.append("label " + (names[label] if names and 0 <= label < len(names) else str(label)))
        return " · ".join(parts) + f" · updated in {self.last_update_seconds * 1e3:.0f} ms"

    def _render_status(self):
        text, error = self._notice[:2] if self._notice is not None else self._status
        line = ("⚠ " if error else "") + str(text)
        if self._names_warning:
            line += f" · ⚠ {self._names_warning}"
        if self._hint:
            line += f" · warming up: {self._hint}"
        self.status.value = line

    def _notify(self, text, error=False):
        """A message that stays in the status line until a later control change is drawn."""
        self._notice = (" ".join(str(text).split()), error, self.scheduler.generation)
        self._render_status()

    def _show_warming(self, description):
        self._hint = description
        self._render_status()

    def _report(self, error):
        """Unexpected errors: one line in the status, never a traceback wall."""
        self._status = (_one_line(error), True)
        self._render_status()

    # ----------------------------------------------------------------- export
    def _tab_for_export(self, view):
        title = TAB_TITLES[self.tabs.selected_index or 0] if view is None else view
        if title not in self.tabs_by_title:
            raise NbinterpError(f"no view named {title!r}; views are: {', '.join(TAB_TITLES)}")
        self.wait()
        return self.tabs_by_title[title]

    def export_png(self, view: Optional[str] = None) -> bytes:
        """PNG bytes of a view's pictures side by side with their captions (view = a tab title)."""
        tab = self._tab_for_export(view)
        return export.compose_png(tab.pictures(), title=f"{self.model.name}: {tab.title}", what=f"the {tab.title} tab")

    def figure(self, view: Optional[str] = None):
        """A matplotlib Figure of a view, with colour bars (for handouts and papers)."""
        tab = self._tab_for_export(view)
        return export.figure(tab.pictures(), title=f"{self.model.name}: {tab.title}", what=f"the {tab.title} tab")

    def save_html(self, path) -> str:
        """Write a handout: one self-contained HTML file (pictures inline, no script,
        no network) with every view drawn for the current selection, its legends,
        the selection spelled out and the model summary. Returns the path."""
        from ..render import handout

        self.wait()
        s, ins = self.selection, self.inspector
        label = dict((v, t) for t, v in self.image.options).get(s.image, f"#{s.image}")
        target = dict((v, t) for t, v in self.target.options).get(s.target, str(s.target))
        indices, scores, names, probabilities = views.top_classes(ins, self._images[s.image], 5, self.class_names)
        chosen = [("Model", self.model.name), ("Image", label), ("Layer", f"{s.layer} ({ins.layer(s.layer).kind})"),
                  ("Channel", f"{s.channel} of {views.channel_count(ins, s.layer)}")]
        if views.input_channel_count(ins, s.layer):
            chosen.append(("Input channel", str(s.input_channel) + (" only" if s.single_channel else "")))
        options = {k: v for k, v in s.option_values.items() if k != "reduce"}
        chosen += [("Method", self.method_label(s.method) + "".join(f", {k} = {v}" for k, v in options.items())),
                   ("Target", target)]
        if _default_sign(s.method) is not None:
            chosen.append(("Sign", self.sign.value))
        chosen += [("Top classes", ", ".join(f"{i}: {n} ({v:.3f})" if n != str(i) else f"{i} ({v:.3f})"
                                             for i, n, v in zip(indices, names, scores))
                    + (" (probabilities)" if probabilities else " (scores)")),
                   ("Colour scale", "shared by all tiles" if s.shared_scale else "per tile"),
                   ("Opacity", f"{s.opacity:.2f}"), ("Visible tab", s.tab)]
        sections = [(tab.title, tab.pictures()) for tab in self.tab_objects]
        image = display_image(self._images[s.image]) if len(ins.input_shape) == 3 else None
        page = handout.handout_html(f"{self.model.name}: what the network sees", chosen, sections,
                                    ins.summary().html, image, f"image {label} as the model receives it")
        return str(handout.write_handout(path, page))

    def download_name(self, view: Optional[str] = None) -> str:
        """The file name Save PNG offers for a view (default: the visible tab)."""
        view = TAB_TITLES[self.tabs.selected_index or 0] if view is None else view
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in self.layer.value)
        return f"nbinterp-{view.lower().replace(' ', '-')}-{safe}.png"

    def _save_clicked(self, _button):
        """Save PNG: the view with its captions (:meth:`export_png`) as a link that downloads
        it in the browser (nothing is written beside the notebook)."""
        import base64
        import html

        try:
            view = TAB_TITLES[self.tabs.selected_index or 0]
            name = self.download_name(view)
            data = base64.b64encode(self.export_png(view)).decode("ascii")
            self.download.value = (f'<a download="{html.escape(name)}" href="data:image/png;base64,{data}" '
                                   f'title="the {html.escape(view)} view with its captions">⬇ {html.escape(name)}</a>')
            self._notify(f"{name} is ready: click its link to download it")
        except Exception as error:
            self.download.value = ""
            self._notify(_one_line(error, "Save PNG", "pick a view that shows a picture"), error=True)

    # -------------------------------------------------------------- lifecycle
    def _stop_worker(self, timeout):
        scheduler = getattr(self, "scheduler", None)
        return True if scheduler is None else scheduler.close(timeout)

    def close(self) -> None:
        """Stop the worker (cancelling what runs), close every widget of the
        Explorer and drop its caches."""
        if getattr(self, "_closed", True):
            return
        self._closed = True
        _LIVE.discard(self)
        self._stop_worker(CLOSE_TIMEOUT_S)
        for widget, handler, names in self._handlers:
            widget.unobserve(handler, names=names)
        self._handlers.clear()
        self.export_button.on_click(self._save_clicked, remove=True)
        for tab in getattr(self, "tab_objects", ()):
            tab.close()
        option_controls = [c for controls in self.method_options.values() for c in controls.values()]
        close_widgets(*self.children, self.layout, *option_controls, self.invert, self.preview, self.sign)
        self.pictures_cache.clear()
        self.inspector.cache.clear()
        self._images = []
        super().close()


__all__ = ["Explorer", "TABS"]
