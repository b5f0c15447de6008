"""attribute(..., reduce=...) and upsample=False: channels kept, summed or max-|.|'d
in one place, checked against GradientTape references."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import nbinterp
from nbinterp.errors import InvalidInputError, MethodNotApplicableError


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(3)
    inp = keras.Input((10, 10, 3))
    x = keras.layers.Conv2D(6, 3, activation="relu", name="conv")(inp)
    x = keras.layers.Conv2D(5, 3, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(4, name="logits")(x)
    return keras.Model(inp, out)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0, 1, (3, 10, 10, 3)).astype(np.float32)


def tape_gradients(model, images, target):
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = model(x)[:, target]
    return tape.gradient(score, x).numpy()


def test_none_keeps_channels_and_sum_is_their_sum(model, images):
    grads = tape_gradients(model, images, 2)
    raw = nbinterp.attribute(model, images, target=2, method="gradient", reduce="none")
    assert raw.shape == images.shape
    np.testing.assert_allclose(raw, grads, rtol=1e-4, atol=1e-6)
    summed = nbinterp.attribute(model, images, target=2, method="gradient", reduce="sum")
    np.testing.assert_allclose(summed, raw.sum(axis=-1), rtol=1e-5, atol=1e-7)
    assert (summed < 0).any() and (summed > 0).any()  # signed
    largest = nbinterp.attribute(model, images, target=2, method="gradient", reduce="max_abs")
    np.testing.assert_allclose(largest, np.abs(raw).max(axis=-1), rtol=1e-5, atol=1e-7)
    # the default of gradient is unchanged: max |.| over channels
    np.testing.assert_allclose(nbinterp.attribute(model, images, target=2, method="gradient"), largest, rtol=1e-6)


def test_reduction_applies_to_every_channel_reducing_method(model, images):
    # gradient x input: default is the signed sum; none is x * grad per channel
    grads = tape_gradients(model, images, 1)
    raw = nbinterp.attribute(model, images, target=1, method="gradient_x_input", reduce="none")
    np.testing.assert_allclose(raw, images * grads, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(nbinterp.attribute(model, images, target=1, method="gradient_x_input"),
                               raw.sum(axis=-1), rtol=1e-4, atol=1e-6)
    for method, options in (("smoothgrad", {"samples": 4}), ("integrated_gradients", {"steps": 8}),
                            ("guided_backprop", {}), ("vargrad", {"samples": 4})):
        raw = nbinterp.attribute(model, images, target=1, method=method, reduce="none", **options)
        assert raw.shape == images.shape, method
        summed = nbinterp.attribute(model, images, target=1, method=method, reduce="sum", **options)
        np.testing.assert_allclose(summed, raw.sum(axis=-1), rtol=1e-4, atol=1e-7, err_msg=method)


def test_gradcam_without_upsampling_is_the_feature_map_resolution(model, images):
    feature = keras.Model(model.input, [model.get_layer("conv").output, model.output])
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        a, logits = feature(x)
        score = logits[:, 3]
    g = tape.gradient(score, a).numpy()
    a = a.numpy()
    reference = np.maximum((a * g.mean(axis=(1, 2), keepdims=True)).sum(axis=-1), 0.0)
    small = nbinterp.attribute(model, images, target=3, method="gradcam", layer="conv", upsample=False)
    assert small.shape == a.shape[:3] == (3, 8, 8)
    np.testing.assert_allclose(small, reference, rtol=1e-4, atol=1e-6)
    full = nbinterp.attribute(model, images, target=3, method="gradcam", layer="conv")
    assert full.shape == images.shape[:3]
    np.testing.assert_allclose(full, tf.image.resize(small[..., None], (10, 10)).numpy()[..., 0], rtol=1e-4, atol=1e-6)
    plus = nbinterp.attribute(model, images, target=3, method="gradcam_plus_plus", upsample=False)
    assert plus.shape == (3, 6, 6)  # the default layer: the last feature map


def test_cam_without_upsampling_and_magnitude(model, images):
    a = keras.Model(model.input, model.get_layer("conv2").output)(images).numpy()
    kernel = model.get_layer("logits").kernel.numpy()
    reference = (a * kernel[:, 0]).sum(axis=-1)
    cam = nbinterp.attribute(model, images, target=0, method="cam", upsample=False)
    assert cam.shape == a.shape[:3]
    np.testing.assert_allclose(cam, reference, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(nbinterp.attribute(model, images, target=0, method="cam", upsample=False, reduce="max_abs"),
                               np.abs(reference), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(nbinterp.attribute(model, images, target=0, method="cam", upsample=False, reduce="sum"),
                               reference, rtol=1e-4, atol=1e-6)


def test_reduce_and_upsample_are_checked(model, images):
    with pytest.raises(InvalidInputError, match="reduce must be one of"):
        nbinterp.attribute(model, images, method="gradient", reduce="mean")
    with pytest.raises(MethodNotApplicableError, match="no.*channel axis|without a channel axis"):
        nbinterp.attribute(model, images, method="gradcam", reduce="none")
    with pytest.raises(MethodNotApplicableError, match="upsample=False is for the CAM family"):
        nbinterp.attribute(model, images, method="smoothgrad", upsample=False)
    with pytest.raises(InvalidInputError, match="upsample must be True or False"):
        nbinterp.attribute(model, images, method="gradcam", upsample="no")


def test_token_models_keep_the_embedding_axis():
    keras.utils.set_random_seed(1)
    inp = keras.Input((7,), dtype="int32")
    x = keras.layers.Embedding(20, 4)(inp)
    x = keras.layers.GlobalAveragePooling1D()(x)
    text = keras.Model(inp, keras.layers.Dense(3)(x))
    tokens = np.array([[1, 4, 2, 9, 0, 3, 5]])
    raw = nbinterp.attribute(text, tokens, target=1, method="gradient", reduce="none")
    assert raw.shape == (1, 7, 4)
    np.testing.assert_allclose(nbinterp.attribute(text, tokens, target=1, method="gradient", reduce="max_abs"),
                               np.abs(raw).max(axis=-1), rtol=1e-5)
    np.testing.assert_allclose(nbinterp.attribute(text, tokens, target=1, method="gradient"),
                               np.sqrt(np.square(raw).sum(axis=-1)), rtol=1e-5)
