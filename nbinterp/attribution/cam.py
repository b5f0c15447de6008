"""Class activation maps: CAM, Grad-CAM and Grad-CAM++.

All three weight the channels of a convolutional feature map ``A`` (shape
``(h, w, K)``, or ``(t, K)`` for sequence models) and upsample the weighted
sum to the input size with bilinear (linear, for sequences) interpolation;
``attribute(..., upsample=False)`` returns the weighted sum at the feature
map's own resolution, ``(N, h, w)`` or ``(N, t)``.
CAM needs only a forward pass (the model's shared forward engine); Grad-CAM
and Grad-CAM++ share one feature-gradient engine per layer.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from ..core.graph import entry_shape, last_feature_map, shape_of_key
from ..errors import MethodNotApplicableError
from .base import Attribution

_PASS_THROUGH = tuple(
    cls
    for cls in (
        getattr(keras.layers, name, None)
        for name in ("Dropout", "AlphaDropout", "GaussianDropout", "GaussianNoise", "Activation", "Identity", "Flatten")
    )
    if cls is not None
)
_FINAL_ACTIVATIONS = tuple(
    cls for cls in (getattr(keras.layers, n, None) for n in ("Activation", "Softmax")) if cls is not None
)
_GAP = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalAveragePooling1D)


def upsample(info, cam, x_shape):
    """Feature-resolution maps (B, h, w) or (B, t) -> input resolution, (bi)linear (numpy)."""
    if info.kind == "tokens":
        size = tuple(x_shape[1:2])
    else:
        size = tuple(x_shape[2:]) if info.channels_first else tuple(x_shape[1:-1])
    if info.kind == "image":
        return tf.image.resize(cam[..., None], size, method="bilinear").numpy()[..., 0]
    resized = tf.image.resize(cam[:, :, None, None], (size[0], 1), method="bilinear").numpy()
    return resized[:, :, 0, 0]


def _feature_rank(info):
    return 4 if info.kind == "image" else 3


def _describe(step):
    return f"{step.path!r} ({type(step.op).__name__})" if step is not None else "the model input"


def cam_head(plan, num_classes):
    """``(feature key, (Dense step, kernel rows)))`` of a CAM head. The Dense step is None
    when the features are the class maps themselves; kernel rows ``(start, stop)`` pick the
    pooled features' part when they are concatenated with other features, else None.

    Two heads qualify: conv -> global average pooling -> Dense (Dropout, noise,
    Activation, Identity and Flatten layers may sit between the pooling and
    the Dense layer), and the all-convolutional head conv (one channel per
    class) -> global average pooling, where the class activation map of
    class ``c`` is channel ``c`` itself. A separate softmax may follow either.
    """
    step = plan.producer(plan.output_keys[0])
    if step is not None and isinstance(step.op, _FINAL_ACTIVATIONS):
        step = plan.producer(step.in_keys[0])
    if step is not None and isinstance(step.op, _GAP):
        shape = entry_shape(plan, step)
        if shape is not None and shape[-1] == num_classes:
            return step.in_keys[0], (None, None)
    if step is None or not isinstance(step.op, keras.layers.Dense):
        raise MethodNotApplicableError(
            "CAM needs global average pooling before the output: conv -> GlobalAveragePooling -> Dense, "
            "or a last convolution with one channel per class -> GlobalAveragePooling; "
            f"this model's output comes from {_describe(step)}. Grad-CAM works on any convolutional model."
        )
    dense = step
    current = plan.producer(dense.in_keys[0])
    while current is not None and isinstance(current.op, _PASS_THROUGH) and len(current.in_keys) == 1:
        current = plan.producer(current.in_keys[0])
    rows = None
    if current is not None and isinstance(current.op, keras.layers.Concatenate) and len(current.in_keys) > 1:
        # pooled image features joined with other features (e.g. patient metadata): the CAM
        # uses the Dense weights of the pooled part only
        offset = 0
        for key in current.in_keys:
            source = plan.producer(key)
            width = (shape_of_key(plan, key) or (None, None))[-1]
            if width is None:
                break
            if source is not None and isinstance(source.op, _GAP) and rows is None:
                rows, current = (offset, offset + int(width)), source
            offset += int(width)
    if current is None or not isinstance(current.op, _GAP):
        raise MethodNotApplicableError(
            "CAM needs global average pooling before the output layer "
            f"(conv -> GlobalAveragePooling -> Dense); the output layer {dense.path!r} is fed by "
            f"{_describe(current)}. Grad-CAM works on any convolutional model."
        )
    return current.in_keys[0], (dense, rows)


def channels_last(info, values):
    """A feature map batch with its channel axis last (channels_first models keep it at 1)."""
    return np.moveaxis(values, 1, -1) if info.channels_first else values


def default_layer(plan, info):
    """The last layer whose output is a feature map with more than one position."""
    rank = _feature_rank(info)
    step = last_feature_map(plan, rank)
    if step is not None:
        return step
    raise MethodNotApplicableError(
        f"no layer of this model has a {rank}-D output with more than one position; "
        "Grad-CAM needs a convolutional feature map"
    )


class CAM(Attribution):
    """Class activation mapping (CAM).

    Zhou, Khosla, Lapedriza, Oliva & Torralba, "Learning Deep Features for
    Discriminative Localization", CVPR 2016.

    For models whose head is conv -> GlobalAveragePooling -> Dense
    (Dropout/Activation may sit in between). Map:
    ``sum_k w[k, c] * A_k`` at the feature map ``A`` entering the pooling,
    with ``w`` the Dense kernel and ``c`` the target class, upsampled
    bilinearly to the input size. Not rectified: negative evidence stays
    negative. Its spatial mean plus the Dense bias is the target logit.
    For all-convolutional classifiers whose last convolution has one channel
    per class followed by global average pooling (the mini-Xception design),
    the map of class ``c`` is channel ``c`` of that convolution, upsampled.
    """

    name = "cam"
    label = "CAM"
    engines = ("feature_gradient",)
    sign = "signed"
    channel_reduction = False
    upsamples = True

    def _setup(self):
        if self.info.kind == "vector":
            raise MethodNotApplicableError("CAM needs a model with spatial or sequence inputs")
        self._feature_key, (self._dense, self._rows) = cam_head(self.plan, self.info.num_classes)

    def _explain(self, x, targets, options, run):
        info = self.info
        class_weights = None
        if self._dense is not None:  # (classes, K), read now: maps follow weight updates
            kernel = np.asarray(keras.ops.convert_to_numpy(self._dense.op.kernel), np.float32)
            if self._rows is not None:
                kernel = kernel[self._rows[0]:self._rows[1]]
            class_weights = kernel.T

        def explain(rows, tc):
            # the feature-gradient engine of this layer, shared with Grad-CAM there (the
            # backward part from the logits down to the pooled features is the head only)
            features, _, _, tc = self.feature_gradients_at(rows, self._feature_key, tc)
            features = channels_last(info, features)
            if class_weights is None:  # one channel per class: the map is that channel
                cam = np.take_along_axis(features, tc.reshape((-1,) + (1,) * (features.ndim - 1)), -1)[..., 0]
            else:
                weights = class_weights[tc].reshape((len(tc),) + (1,) * (features.ndim - 2) + (-1,))
                cam = (features * weights).sum(axis=-1)
            return (upsample(info, cam, x.shape) if self.upsample else cam), tc

        return self.single_pass(x, targets, run, explain)


class GradCAM(Attribution):
    """Grad-CAM.

    Selvaraju, Cogswell, Das, Vedantam, Parikh & Batra, "Grad-CAM: Visual
    Explanations from Deep Networks via Gradient-based Localization",
    ICCV 2017.

    Map: ``ReLU(sum_k a_k A_k)`` with ``a_k`` the spatial mean of
    ``dS/dA_k`` (``S`` the target logit), upsampled bilinearly to the input
    size. ``layer``: the feature map ``A``; by default the last layer whose
    output is 4-D (3-D for sequence models) with more than one spatial
    position, searched inside nested models too (paths ``"outer/inner"``).
    Only the backward pass from the score down to ``A`` is computed.
    """

    name = "gradcam"
    label = "Grad-CAM"
    uses_layer = True
    follows_selected_layer = True
    engines = ("feature_gradient",)
    sign = None  # rectified: positive evidence only
    channel_reduction = False
    upsamples = True

    def _setup(self):
        info = self.info
        if info.kind == "vector":
            raise MethodNotApplicableError(f"{self.label} needs a model with spatial or sequence inputs")
        rank = _feature_rank(info)
        if self.layer is None:
            entry = default_layer(self.plan, info)
        else:
            entry = self.plan.resolve(self.layer)
            shape = entry_shape(self.plan, entry)
            if shape is None or len(shape) != rank:
                raise MethodNotApplicableError(
                    f"{self.label} needs a layer with a {rank}-D output (a feature map "
                    f"{'(batch, height, width, channels)' if rank == 4 else '(batch, steps, channels)'}); "
                    f"layer {entry.path!r} outputs shape {shape}"
                )
        self.layer_path = entry.path
        self._feature_key = self.plan.output_key(entry.path)

    @staticmethod
    def _weights(features, grads, spatial_axes):
        return grads.mean(axis=spatial_axes)

    def _explain(self, x, targets, options, run):
        info, weigh = self.info, self._weights

        def explain(rows, tc):
            features, grads, _, tc = self.feature_gradients_at(rows, self._feature_key, tc)
            features, grads = channels_last(info, features), channels_last(info, grads)
            spatial = tuple(range(1, features.ndim - 1))
            weights = weigh(features, grads, spatial)  # (B, K)
            weights = weights.reshape((len(tc),) + (1,) * len(spatial) + (-1,))
            cam = np.maximum((features * weights).sum(axis=-1), 0.0)
            return (upsample(info, cam, x.shape) if self.upsample else cam), tc

        return self.single_pass(x, targets, run, explain)


class GradCAMPlusPlus(GradCAM):
    """Grad-CAM++.

    Chattopadhay, Sarkar, Howlader & Balasubramanian, "Grad-CAM++: Improved
    Visual Explanations for Deep Convolutional Networks", WACV 2018.

    Channel weights ``w_k = sum_ij alpha_ij^k ReLU(dS/dA_ij^k)`` with
    ``alpha = g^2 / (2 g^2 + sum_ab A_ab^k g^3)`` (``g = dS/dA``; 0 where
    the denominator is 0), the closed form of the paper for an exponential
    of the score; the exponential's positive per-image factor is left out,
    as it only rescales each map. Map: ``ReLU(sum_k w_k A_k)``, upsampled
    bilinearly. ``layer`` as for Grad-CAM.
    """

    name = "gradcam_plus_plus"
    label = "Grad-CAM++"

    @staticmethod
    def _weights(features, grads, spatial_axes):
        g2 = np.square(grads)
        g3 = g2 * grads
        totals = features.sum(axis=spatial_axes, keepdims=True)
        denominator = 2.0 * g2 + totals * g3
        safe = np.where(denominator != 0.0, denominator, 1.0)
        alpha = np.where(denominator != 0.0, g2 / safe, 0.0)
        return (alpha * np.maximum(grads, 0.0)).sum(axis=spatial_axes)
