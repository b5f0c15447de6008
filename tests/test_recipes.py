"""The README's Limitations recipes work as written: a subclassed model rebuilt as a
Functional one from its own layers, and a (None, 1, 1, k) output flattened."""

import keras
import numpy as np
import pytest

import nbinterp
from nbinterp.errors import NotSupportedError


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv1 = keras.layers.Conv2D(4, 3, activation="relu")
        self.pool = keras.layers.MaxPooling2D()
        self.flatten = keras.layers.Flatten()
        self.dense = keras.layers.Dense(3, activation="softmax")

    def call(self, x):
        return self.dense(self.flatten(self.pool(self.conv1(x))))


def test_a_subclassed_model_is_refused_with_the_rebuild_and_the_rebuild_works():
    keras.utils.set_random_seed(0)
    model = Net()
    x = np.random.default_rng(0).random((2, 28, 28, 1)).astype("float32")
    expected = model(x).numpy()
    with pytest.raises(NotSupportedError, match="keras.Input"):
        nbinterp.attribute(model, x)
    inp = keras.Input((28, 28, 1))
    y = inp
    for layer in [model.conv1, model.pool, model.flatten, model.dense]:  # the README's recipe
        y = layer(y)
    functional = keras.Model(inp, y)
    np.testing.assert_allclose(functional(x).numpy(), expected, rtol=1e-6)
    maps = nbinterp.attribute(functional, x, method="gradient")
    assert maps.shape == (2, 28, 28) and np.all(np.isfinite(maps)) and maps.max() > 0


def test_a_one_by_one_head_is_refused_with_the_flatten_recipe_which_works():
    keras.utils.set_random_seed(1)
    inp = keras.Input((16, 16, 3))
    y = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(inp)
    y = keras.layers.GlobalAveragePooling2D(keepdims=True)(y)
    model = keras.Model(inp, keras.layers.Conv2D(5, 1, activation="softmax")(y))  # (None, 1, 1, 5)
    x = np.random.default_rng(1).random((1, 16, 16, 3)).astype("float32")
    with pytest.raises(NotSupportedError, match="Flatten"):
        nbinterp.attribute(model, x)
    flat = keras.Model(model.input, keras.layers.Flatten()(model.output))  # the README's recipe
    assert flat.output.shape[1:] == (5,)
    maps = nbinterp.attribute(flat, x, method="gradient", target=2)
    assert maps.shape == (1, 16, 16) and maps.max() > 0
