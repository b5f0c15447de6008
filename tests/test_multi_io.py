"""Models with several inputs (image + tabular features, two images) and several outputs."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nbinterp import Inspector
from nbinterp.attribution import METHODS, attribute
from nbinterp.errors import InvalidInputError, MethodNotApplicableError


def image_and_features(seed=0):
    """An image branch and a Dense branch over 10 features, joined by Concatenate."""
    keras.utils.set_random_seed(seed)
    image = keras.Input((12, 12, 3), name="image")
    meta = keras.Input((10,), name="meta")
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv1")(image)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    m = keras.layers.Dense(6, activation="relu", name="meta_dense")(meta)
    joined = keras.layers.Concatenate(name="join")([x, m])
    out = keras.layers.Dense(5, activation="softmax", name="diagnosis")(joined)
    return keras.Model([image, meta], out, name="lesions")


def two_heads(seed=1):
    keras.utils.set_random_seed(seed)
    image = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv")(image)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    cls = keras.layers.Dense(4, activation="softmax", name="classes")(x)
    box = keras.layers.Dense(3, name="box")(x)
    return keras.Model(image, [cls, box])


def logit_tape(model, inputs, output_layer, target, wrt):
    """d logit[target] / d inputs[wrt] with a plain GradientTape, via a linear copy of the head."""
    layer = model.get_layer(output_layer)
    head_in = keras.Model(model.inputs, layer.input)
    xs = [tf.constant(v) for v in inputs]
    with tf.GradientTape() as tape:
        tape.watch(xs[wrt])
        features = head_in(xs)
        logits = tf.matmul(features, layer.kernel) + layer.bias
        score = tf.reduce_sum(logits[:, target])
    return tape.gradient(score, xs[wrt]).numpy()


@pytest.fixture(scope="module")
def lesions():
    rng = np.random.default_rng(0)
    return image_and_features(), [rng.uniform(size=(3, 12, 12, 3)).astype("float32"),
                                  rng.normal(size=(3, 10)).astype("float32")]


def test_activations_of_either_branch_equal_a_hand_built_submodel(lesions):
    model, inputs = lesions
    ins = Inspector(model)
    for name in ("conv2", "meta_dense", "join"):
        expected = keras.Model(model.inputs, model.get_layer(name).output)(inputs).numpy()
        np.testing.assert_allclose(ins.activations(name, inputs), expected, rtol=1e-5, atol=1e-6)
    as_dict = {"meta": inputs[1], "image": inputs[0]}
    np.testing.assert_allclose(ins.activations("join", as_dict), ins.activations("join", inputs), rtol=1e-6)
    np.testing.assert_allclose(ins.predict(inputs), model(inputs).numpy(), rtol=1e-5, atol=1e-6)


def test_gradient_maps_of_the_image_hold_the_features(lesions):
    model, inputs = lesions
    grads = logit_tape(model, inputs, "diagnosis", 2, 0)
    maps = attribute(model, inputs, target=2, input="image")
    np.testing.assert_allclose(maps, np.abs(grads).max(axis=-1), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(attribute(model, inputs, target=2), maps, rtol=1e-6)  # the image is the default


def test_feature_attributions_of_the_tabular_input_are_gradient_times_input(lesions):
    model, inputs = lesions
    grads = logit_tape(model, inputs, "diagnosis", 1, 1)
    values = attribute(model, inputs, target=1, input="meta", method="gradient_x_input")
    assert values.shape == (3, 10)
    np.testing.assert_allclose(values, grads * inputs[1], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(attribute(model, inputs, target=1, input=1, method="gradient_x_input"), values)


def test_every_method_on_the_image_input_and_clear_refusals_on_features(lesions):
    model, inputs = lesions
    small = {"smoothgrad": {"samples": 3}, "vargrad": {"samples": 3}, "squaregrad": {"samples": 3},
             "integrated_gradients": {"steps": 4}}
    for name in METHODS:
        maps = attribute(model, inputs, method=name, input="image", **small.get(name, {}))
        assert maps.shape == (3, 12, 12) and np.isfinite(maps).all(), name
    with pytest.raises(MethodNotApplicableError):
        attribute(model, inputs, method="gradcam", input="meta")
    with pytest.raises(InvalidInputError, match="no input named 'age'"):
        attribute(model, inputs, input="age")
    with pytest.raises(InvalidInputError, match="2 inputs"):
        attribute(model, inputs[0])


def test_two_image_inputs():
    keras.utils.set_random_seed(2)
    a, b = keras.Input((10, 10, 1), name="left"), keras.Input((10, 10, 1), name="right")
    conv = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="shared")
    x = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling2D()(conv(a)),
                                    keras.layers.GlobalAveragePooling2D()(conv(b))])
    model = keras.Model([a, b], keras.layers.Dense(3, name="out")(x))
    rng = np.random.default_rng(1)
    inputs = [rng.uniform(size=(2, 10, 10, 1)).astype("float32") for _ in range(2)]
    for index in (0, 1):
        xs = [tf.constant(v) for v in inputs]
        with tf.GradientTape() as tape:
            tape.watch(xs[index])
            score = tf.reduce_sum(model(xs)[:, 1])
        expected = np.abs(tape.gradient(score, xs[index]).numpy()).max(axis=-1)
        np.testing.assert_allclose(attribute(model, inputs, target=1, input=index), expected, rtol=1e-4, atol=1e-6)


def test_two_heads_explain_either_head_on_its_own_logit():
    model = two_heads()
    x = np.random.default_rng(2).uniform(size=(2, 12, 12, 3)).astype("float32")
    for output, name, target in ((0, "classes", 3), (1, "box", 2)):
        expected = np.abs(logit_tape(model, [x], name, target, 0)).max(axis=-1)
        np.testing.assert_allclose(attribute(model, x, target=target, output=name), expected, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(attribute(model, x, target=target, output=output), expected, rtol=1e-4, atol=1e-6)
    with pytest.raises(InvalidInputError, match="2 outputs .*'classes'.*'box'"):
        attribute(model, x)
    assert attribute(model, x, output="box", method="gradcam", target=0).shape == (2, 12, 12)
