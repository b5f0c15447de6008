"""Attribution maps: which input pixels (or tokens) drive a class score.

Quick use::

    maps = nbinterp.attribute(model, images, method="smoothgrad", samples=25)

or, Captum style, one object per method that can be reused::

    from nbinterp.attribution import GradCAM
    maps = GradCAM(model, layer="conv3").attribute(images, target=7)

Every method explains the target class *logit* (the output before a final
softmax/sigmoid), returns float32 maps ``(N, H, W)`` for image models and
``(N, T)`` for sequence and text models, and runs as one compiled TensorFlow
function per model and method, batching its model evaluations.

``METHODS`` maps each method name to its class; each class carries
``label`` (a short human name), ``option_table`` (one
:class:`nbinterp.core.options.Option` per option, with its default, bounds
and UI hint; ``options`` is the name -> default view of it), ``uses_layer``
(whether it takes ``layer=``) and ``follows_selected_layer`` (whether a UI
should pass its selected layer), for building UI controls.

Adding a method is one class (a subclass of :class:`Attribution` with an
``_explain`` around the shared engines) plus one entry in ``METHODS``.
"""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np

from ..errors import UnknownMethodError
from .base import Attribution, trace_count
from .cam import CAM, GradCAM, GradCAMPlusPlus
from .gradients import Gradient, GradientXInput, InteriorGradients
from .guided import Deconvnet, GuidedBackprop
from .integrated import IntegratedGradients
from .kernel_shap import KernelSHAP
from .lime import LIME
from .lrp import LRPAlphaBeta, LRPComposite, LRPEpsilon, LRPGamma
from .occlusion import Occlusion
from .rise import RISE
from .smoothgrad import SmoothGrad, SquareGrad, VarGrad

from ..types import Cancel, Images, LayerRef, ModelLike, Progress, Target



__all__ = [
    "METHODS",
    "Attribution",
    "CAM",
    "Deconvnet",
    "Gradient",
    "GradientXInput",
    "GradCAM",
    "GradCAMPlusPlus",
    "GuidedBackprop",
    "IntegratedGradients",
    "InteriorGradients",
    "KernelSHAP",
    "LIME",
    "LRPAlphaBeta",
    "LRPComposite",
    "LRPEpsilon",
    "LRPGamma",
    "Occlusion",
    "RISE",
    "SmoothGrad",
    "SquareGrad",
    "VarGrad",
    "attribute",
    "get_method",
    "trace_count",
]

#: method name -> class, in the order a UI should list them
METHODS = {
    cls.name: cls
    for cls in (
        Gradient,
        GradientXInput,
        SmoothGrad,
        VarGrad,
        SquareGrad,
        IntegratedGradients,
        InteriorGradients,
        GuidedBackprop,
        Deconvnet,
        CAM,
        GradCAM,
        GradCAMPlusPlus,
        Occlusion,
        KernelSHAP,
        LIME,
        RISE,
        LRPEpsilon,
        LRPGamma,
        LRPAlphaBeta,
        LRPComposite,
    )
}

_ALIASES = {
    "saliency": "gradient",
    "vanilla_gradient": "gradient",
    "input_x_gradient": "gradient_x_input",
    "ig": "integrated_gradients",
    "grad_cam": "gradcam",
    "gradcam++": "gradcam_plus_plus",
    "grad_cam_plus_plus": "gradcam_plus_plus",
    "guided_backpropagation": "guided_backprop",
}

# constructor arguments that ``attribute(..., **options)`` passes through
_CONSTRUCTOR_OPTIONS = ("preprocess", "batch_size", "input", "output")


def get_method(name) -> type:
    """The class of a method by name (case and '-' / ' ' insensitive)."""
    if isinstance(name, type) and issubclass(name, Attribution):
        return name
    if not isinstance(name, str):
        raise UnknownMethodError(f"method must be a name (str), got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key in METHODS:
        return METHODS[key]
    close = difflib.get_close_matches(key, list(METHODS) + list(_ALIASES), n=4, cutoff=0.6)
    close = list(dict.fromkeys(_ALIASES.get(c, c) for c in close))[:2]  # an alias and its method are one name
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    raise UnknownMethodError(
        f"unknown attribution method {name!r}{hint}; valid methods are: {', '.join(METHODS)}"
    )


def attribute(
    model: ModelLike,
    images: Images,
    target: Target = None,
    method: str = "gradient",
    layer: LayerRef | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    **options: Any,
) -> np.ndarray:
    """Attribution maps of ``images`` for the ``target`` class of ``model``.

    ``method``: a name from ``METHODS`` (e.g. "gradient", "smoothgrad",
    "integrated_gradients", "gradcam", "occlusion"). ``target``: class index,
    one per image, or None for the top predicted class. ``layer``: the
    feature map for Grad-CAM / Grad-CAM++ (default: the last one).
    ``options``: the method's options (``METHODS[method].options``) plus
    ``preprocess=`` (applied once to the images) and ``batch_size=``.
    ``progress``: called with the fraction done (0..1) after each chunk;
    ``cancel``: a ``threading.Event`` or callable that stops the call with
    :class:`~nbinterp.errors.CancelledError` before its next chunk.
    ``preview``: called with partial maps (the shape of the result) while a long
    method runs; occlusion hands a complete coarse map first, then refines it.
    ``model`` may also be an Inspector or a path to a model file.
    ``reduce``: ``"max_abs"``, ``"sum"`` (signed) or ``"none"`` (keep the
    channel axis) instead of the method's own reduction over channels;
    ``upsample=False`` (CAM, Grad-CAM, Grad-CAM++) keeps the feature map's
    resolution. Each method's ``sign`` says what its default map shows.

    Returns float32 maps ``(N, H, W)`` for image models, ``(N, T)`` for
    sequence and text models.
    """
    cls = get_method(method)
    init = {name: options.pop(name) for name in _CONSTRUCTOR_OPTIONS if name in options}
    return cls(model, layer=layer, **init).attribute(images, target=target, progress=progress, cancel=cancel, **options)
