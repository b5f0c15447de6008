"""The unit views (top_activations, maximize, reconstruct) on models with several inputs."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nbinterp.errors import IndexOutOfRangeError, InvalidInputError
from nbinterp.units.maximize import Channel, Class, maximize
from nbinterp.units.reconstruct import reconstruct
from nbinterp.units.top_activations import top_activations
from nbinterp.units.maximize import objective_function

from test_multi_io import image_and_features, two_heads


def two_images(seed=2):
    keras.utils.set_random_seed(seed)
    a, b = keras.Input((10, 10, 1), name="left"), keras.Input((10, 10, 1), name="right")
    conv_a = keras.layers.Conv2D(4, 3, padding="same", name="conv_left")(a)
    conv_b = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_right")(b)
    x = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling2D()(conv_a),
                                    keras.layers.GlobalAveragePooling2D()(conv_b)])
    return keras.Model([a, b], keras.layers.Dense(3, name="out")(x))


@pytest.fixture(scope="module")
def lesions():
    rng = np.random.default_rng(5)
    return image_and_features(), [rng.uniform(size=(7, 12, 12, 3)).astype("float32"),
                                  rng.normal(size=(7, 10)).astype("float32")]


def test_top_activations_rank_structured_data_like_a_numpy_loop(lesions):
    model, (images, meta) = lesions
    sub = keras.Model(model.inputs, model.get_layer("conv2").output)
    channel = 3
    maps = sub([images, meta]).numpy()[..., channel]
    scores = maps.reshape(len(images), -1).max(axis=1)
    order = np.argsort(-scores, kind="stable")[:4]
    for data in ([images, meta], {"meta": meta, "image": images},
                 tf.data.Dataset.from_tensor_slices(((images, meta), np.zeros(7))).batch(3)):
        result = top_activations(model, "conv2", channel, data, k=4, batch_size=3)
        np.testing.assert_array_equal(result.indices, order)
        np.testing.assert_allclose(result.scores, scores[order], rtol=1e-5)
        np.testing.assert_array_equal(result.images, images[order])
        np.testing.assert_array_equal(result.inputs[1], meta[order])
        assert result.input == "image" and result.seen == 7
        # the patch: the image input cropped to the receptive field of the strongest position
        # (two 3x3 'same' convs around a 2x pool: rows 2p-3 .. 2p+4, clipped)
        for index, patch, box, position in zip(result.indices, result.patches, result.boxes, result.positions):
            np.testing.assert_array_equal(position, np.unravel_index(np.argmax(maps[index]), maps.shape[1:]))
            expected = [max(2 * p - 3, 0) for p in position] + [min(2 * p + 5, 12) for p in position]
            np.testing.assert_array_equal(box, expected)
            np.testing.assert_array_equal(patch, images[index][box[0]:box[2], box[1]:box[3]])


def test_top_activations_of_a_feature_branch_rank_the_features(lesions):
    model, (images, meta) = lesions
    values = keras.Model(model.inputs, model.get_layer("meta_dense").output)([images, meta]).numpy()[:, 2]
    result = top_activations(model, "meta_dense", 2, [images, meta], k=3)
    order = np.argsort(-values, kind="stable")[:3]
    np.testing.assert_array_equal(result.indices, order)
    assert result.input == "meta"
    np.testing.assert_array_equal(result.images, meta[order])
    with pytest.raises(InvalidInputError, match="2 inputs"):
        top_activations(model, "conv2", 0, images)


def test_maximize_one_step_on_the_right_image_holding_the_left():
    model = two_images()
    rng = np.random.default_rng(3)
    left, right = (rng.uniform(size=(1, 10, 10, 1)).astype("float32") for _ in range(2))
    lr = 0.1
    result = maximize(model, Class(1), steps=1, lr=lr, l2=0.0, jitter=0, blur_every=0, progress=False,
                      start=[left, right], input="right")
    # by hand: the ascent works in x = 2 * image - 1 (range (0, 1)) and normalises the gradient
    xs = [tf.constant(left), tf.constant(right)]
    with tf.GradientTape() as tape:
        tape.watch(xs[1])
        logit = model(xs)[0, 1]
    g = tape.gradient(logit, xs[1]).numpy()
    x = np.clip(2 * right - 1 + lr * g / np.abs(g).mean(), -1, 1)
    np.testing.assert_allclose(result.image, (x[0] + 1) / 2, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(result.objective[0], float(logit), rtol=1e-5)
    # held: other values of the left image change the logit of the same right image
    other = maximize(model, Class(1), steps=1, lr=lr, l2=0.0, jitter=0, blur_every=0, progress=False,
                     start=right, hold={"left": 1 - left}, input="right")
    expected = float(model([1 - left, right])[0, 1])
    np.testing.assert_allclose(other.objective[0], expected, rtol=1e-5)
    with pytest.raises(InvalidInputError, match="'left'"):
        maximize(model, Class(1), steps=1, progress=False, input="right")


def test_maximize_a_channel_of_either_branch_and_its_objective_function():
    model = two_images()
    rng = np.random.default_rng(4)
    example = [rng.uniform(size=(1, 10, 10, 1)).astype("float32") for _ in range(2)]
    result = maximize(model, Channel("conv_left", 2), steps=4, progress=False, input="left", hold=example,
                      jitter=0, blur_every=0)
    sub = keras.Model(model.inputs, model.get_layer("conv_left").output)
    by_hand = float(sub([result.image[None], example[1]])[0, ..., 2].numpy().mean())
    f = objective_function(model, Channel("conv_left", 2), input="left", hold=example)
    np.testing.assert_allclose(float(f(result.image[None])), by_hand, rtol=1e-5, atol=1e-6)
    assert result.objective[-1] > result.objective[0]


def test_reconstruct_projects_onto_the_chosen_input():
    model = two_images()
    rng = np.random.default_rng(6)
    example = [rng.uniform(size=(10, 10, 1)).astype("float32") for _ in range(2)]
    sub = keras.Model(model.inputs, model.get_layer("conv_right").output)
    xs = [tf.constant(v[None]) for v in example]
    with tf.GradientTape() as tape:
        tape.watch(xs[1])
        unit = sub(xs)[0, 4, 5, 1]
    expected = tape.gradient(unit, xs[1]).numpy()[0]
    got = reconstruct(model, "conv_right", 1, example, method="gradient", position=(4, 5))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert got.shape == (10, 10, 1)


@pytest.mark.parametrize("output, size", [(0, 4), (1, 3)])
def test_maximize_the_class_of_either_head_on_its_own_logit(output, size):
    """Class(index, output=k) ascends head k's logit (before its softmax), one step equal
    to the normalised gradient step by hand; indices are checked against that head."""
    model = two_heads()
    start = np.random.default_rng(7).uniform(size=(1, 12, 12, 3)).astype("float32")
    lr = 0.1
    result = maximize(model, Class(size - 1, output=output), steps=1, lr=lr, l2=0.0, jitter=0, blur_every=0,
                      progress=False, start=start)
    head = model.get_layer(["classes", "box"][output])
    logits = keras.Model(model.inputs, head.output if output else head.input)
    x = tf.constant(start)
    with tf.GradientTape() as tape:
        tape.watch(x)
        pre = logits(x)
        logit = (pre @ head.kernel + head.bias if output == 0 else pre)[0, size - 1]
    g = tape.gradient(logit, x).numpy()
    expected = np.clip(2 * start - 1 + lr * g / np.abs(g).mean(), -1, 1)
    np.testing.assert_allclose(result.image, (expected[0] + 1) / 2, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(result.objective[0], float(logit), rtol=1e-5)
    with pytest.raises(IndexOutOfRangeError, match="class"):
        maximize(model, Class(size, output=output), steps=1, progress=False)
    with pytest.raises(IndexOutOfRangeError, match="output"):
        maximize(model, Class(0, output=2), steps=1, progress=False)


def test_the_class_short_form_names_the_head():
    from nbinterp.units.maximize import as_objective

    assert as_objective(("class", 2, 1)) == Class(2, output=1)
    assert as_objective(("class", 2)) == Class(2) == Class(2, output=0)
