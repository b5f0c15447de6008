"""nbinterp.core.graph: the flattened, path-addressable graph of a model."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nbinterp.core.graph import entry_shape, last_feature_map, plan_for, shape_of_key, static_shape
from nbinterp.errors import NotSupportedError, UnknownLayerError


def nested():
    keras.utils.set_random_seed(0)
    inner_in = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inner_in)
    block = keras.Model(inner_in, h, name="block")
    inp = keras.Input((8, 8, 3))
    x = block(inp)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, keras.layers.Dense(2, activation="softmax", name="out")(x))


def test_paths_address_nested_layers_and_bare_names_resolve_when_unique():
    plan = plan_for(nested())
    assert plan.paths == ["block", "block/conv", "gap", "out"]
    assert plan.resolve("conv").path == "block/conv"
    with pytest.raises(UnknownLayerError, match="did you mean 'block/conv'"):
        plan.resolve("block/cnv")


def test_run_computes_layer_outputs_pre_activations_and_logits():
    model = nested()
    plan = plan_for(model)
    x = tf.constant(np.random.default_rng(0).uniform(size=(2, 8, 8, 3)).astype("float32"))
    conv = plan.resolve("block/conv")
    out, pre, logits = plan.run([x], [plan.output_key("block/conv"), plan.pre_activation_key(conv), plan.logit_key()])
    np.testing.assert_allclose(out.numpy(), np.maximum(pre.numpy(), 0), rtol=1e-6)
    np.testing.assert_allclose(tf.nn.softmax(logits).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)
    assert model.get_layer("out").activation.__name__ == "softmax"  # the model is left as it was


def test_one_shape_helper_for_keys_entries_and_tensors():
    model = nested()
    plan = plan_for(model)
    assert entry_shape(plan, plan.resolve("block")) == (None, 8, 8, 4)
    assert entry_shape(plan, plan.resolve("gap")) == (None, 4)
    assert shape_of_key(plan, plan.input_keys[0]) == static_shape(model.inputs[0]) == (None, 8, 8, 3)
    assert last_feature_map(plan, 4).path == "block/conv"
    assert last_feature_map(plan, 3) is None


def test_subclassed_models_are_refused_with_the_rebuild_recipe():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    net = Net()
    net(np.zeros((1, 3), "float32"))
    with pytest.raises(NotSupportedError, match="keras.Input"):
        plan_for(net)
