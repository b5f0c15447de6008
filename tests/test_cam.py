"""CAM, Grad-CAM and Grad-CAM++ against hand computations.
"""


import keras
import numpy as np
import pytest
import tensorflow as tf

from nbinterp.attribution import (
    CAM,
    GradCAM,
    attribute,
)
from nbinterp.errors import (
    MethodNotApplicableError,
)
from attribution_models import (
    SIZE,
    conv_net,
    linear_copy,
    logits_of,
    images,
    features_and_grads,
)


def test_cam_equals_hand_computation():
    model = conv_net(pool_before_gap=False)  # feature map at input resolution: no upsampling
    logit_model = linear_copy(model, conv_net, pool_before_gap=False)
    x = images(3)
    features = keras.Model(model.input, model.get_layer("conv2").output)(x).numpy()
    kernel, bias = model.get_layer("predictions").get_weights()
    targets = [1, 3, 0]
    expected = np.stack([features[i] @ kernel[:, t] for i, t in enumerate(targets)])
    got = attribute(model, x, target=targets, method="cam")
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # CAM's defining identity: its spatial mean plus the bias is the logit
    logits = logits_of(logit_model, x)[np.arange(3), targets]
    np.testing.assert_allclose(got.mean(axis=(1, 2)) + bias[targets], logits, rtol=1e-5, atol=1e-6)


def test_cam_upsamples_bilinearly(net, x5):
    model, _ = net
    features = keras.Model(model.input, model.get_layer("conv2").output)(x5).numpy()  # (5, 6, 6, 8)
    kernel = model.get_layer("predictions").get_weights()[0]
    low = features @ kernel[:, 2]
    expected = tf.image.resize(low[..., None], (SIZE, SIZE), method="bilinear").numpy()[..., 0]
    np.testing.assert_allclose(attribute(model, x5, target=2, method="cam"), expected, rtol=1e-5, atol=1e-6)


def test_gradcam_equals_hand_computation(net, x5):
    model, logit_model = net
    targets = [0, 1, 2, 3, 4]
    for layer in ("conv2", "conv1"):
        a, g = features_and_grads(model, logit_model, layer, x5, targets)
        weights = g.mean(axis=(1, 2))
        cam = np.maximum(np.einsum("nhwk,nk->nhw", a, weights), 0)
        expected = tf.image.resize(cam[..., None], (SIZE, SIZE), method="bilinear").numpy()[..., 0]
        got = attribute(model, x5, target=targets, method="gradcam", layer=layer if layer == "conv1" else None)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6, err_msg=layer)
        assert got.max() > 0


def test_gradcam_plus_plus_equals_hand_computation(net, x5):
    model, logit_model = net
    a, g = features_and_grads(model, logit_model, "conv2", x5, [2] * 5)
    g = g.astype("float64")
    denom = 2 * g**2 + a.sum(axis=(1, 2), keepdims=True) * g**3
    alpha = np.where(denom != 0, g**2 / np.where(denom != 0, denom, 1), 0)
    weights = (alpha * np.maximum(g, 0)).sum(axis=(1, 2))
    cam = np.maximum(np.einsum("nhwk,nk->nhw", a, weights), 0)
    expected = tf.image.resize(cam[..., None].astype("float32"), (SIZE, SIZE), method="bilinear").numpy()[..., 0]
    got = attribute(model, x5, target=2, method="gradcam_plus_plus")
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-6)


def test_gradcam_default_layer_skips_one_by_one_maps_and_enters_nested_models():
    keras.utils.set_random_seed(0)
    inner_in = keras.Input((12, 12, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="b_conv1")(inner_in)
    h = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="b_conv2")(h)
    backbone = keras.Model(inner_in, h, name="backbone")
    inp = keras.Input((12, 12, 3))
    y = backbone(inp)
    y = keras.layers.Conv2D(6, 6, padding="valid", name="head_1x1")(y)  # (1, 1, 6)
    y = keras.layers.Flatten()(y)
    out = keras.layers.Dense(3, activation="softmax")(y)
    model = keras.Model(inp, out)
    assert GradCAM(model).layer_path == "backbone/b_conv2"
    assert attribute(model, images(2), method="gradcam").shape == (2, SIZE, SIZE)


def test_cam_without_global_average_pooling_is_refused():
    keras.utils.set_random_seed(0)
    inp = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    x = keras.layers.Flatten(name="flat")(x)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x))
    with pytest.raises(MethodNotApplicableError, match="global average pooling"):
        attribute(model, images(1), method="cam")
    with pytest.raises(MethodNotApplicableError, match="global average pooling"):
        CAM(model)


def test_gradcam_needs_a_feature_map_layer(net, x5):
    model, _ = net
    with pytest.raises(MethodNotApplicableError, match="4-D output"):
        attribute(model, x5, method="gradcam", layer="gap")
    with pytest.raises(MethodNotApplicableError, match="does not take a layer"):
        attribute(model, x5, method="gradient", layer="conv1")
