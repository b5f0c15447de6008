"""nbinterp.views: what each view computes from the Inspector, against direct Keras/numpy values."""

import keras
import numpy as np
import pytest

import nbinterp
from nbinterp import views


def _net(head="softmax"):
    keras.utils.set_random_seed(5)
    inp = keras.Input((10, 10, 3), name="image")
    x = keras.layers.Rescaling(1 / 255, name="scale")(inp)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv1")(x)
    x = keras.layers.SeparableConv2D(6, 3, name="sep")(x)
    x = keras.layers.Conv2DTranspose(5, 3, name="up")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(7, activation=head, name="predictions")(x)
    return keras.Model(inp, out)


@pytest.fixture(scope="module")
def ins():
    return nbinterp.Inspector(_net())


def test_channel_counts_follow_the_layers(ins):
    assert [views.channel_count(ins, name) for name in ("conv1", "sep", "up", "gap", "predictions")] == [4, 6, 5, 5, 7]
    # input channels: kernel (kh, kw, in, out) except a transposed kernel (kh, kw, out, in)
    assert views.input_channel_count(ins, "conv1") == 3
    assert views.input_channel_count(ins, "sep") == 4
    assert views.input_channel_count(ins, "up") == 6
    assert views.input_channel_count(ins, "scale") == 0


def test_first_convolution_is_found_through_rescaling(ins):
    assert views.is_first_conv_on_image(ins, "conv1")
    assert not views.is_first_conv_on_image(ins, "sep")


def test_top_classes_are_the_sorted_predictions(ins):
    image = np.random.default_rng(0).uniform(0, 255, (10, 10, 3)).astype("float32")
    probabilities = ins.model.predict(image[None], verbose=0)[0]
    indices, scores, names, is_probability = views.top_classes(ins, image, k=3, class_names=list("abcdefg"))
    assert indices == list(np.argsort(-probabilities)[:3])
    np.testing.assert_allclose(scores, probabilities[indices], rtol=1e-5)
    assert names == [list("abcdefg")[i] for i in indices] and is_probability


def test_scores_of_a_linear_head_are_not_called_probabilities():
    ins = nbinterp.Inspector(_net(head=None))
    image = np.full((10, 10, 3), 128.0, "float32")
    *_, is_probability = views.top_classes(ins, image, k=7)
    assert not is_probability


def test_spatial_outputs_count_their_class_channels():
    inp = keras.Input((None, None, 3))
    out = keras.layers.Conv2D(4, 1, activation="softmax")(keras.layers.Conv2D(3, 3, padding="same")(inp))
    ins = nbinterp.Inspector(keras.Model(inp, out))
    assert views.is_spatial_output(ins) and views.class_count(ins) == 4
    assert views.output_shape(ins) == (None, None, 4)
    image = np.random.default_rng(1).uniform(size=(6, 5, 3)).astype("float32")
    indices, scores, *_ = views.top_classes(ins, image, k=4)
    means = ins.model.predict(image[None], verbose=0)[0].reshape(-1, 4).mean(axis=0)
    np.testing.assert_allclose(scores, means[indices], rtol=1e-5)
    assert indices == list(np.argsort(-means))
