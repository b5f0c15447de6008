"""Attribution on text models: gradients at the embedding.
"""


import keras
import numpy as np
import pytest

from nbinterp.attribution import (
    attribute,
)
from attribution_models import (
    text_net,
    text_head,
    tape_gradients,
    logits_of,
)


@pytest.fixture(scope="module")
def text():
    model = text_net()
    return model, text_head(model)


def test_text_gradient_is_taken_at_the_embedding(text):
    model, head = text
    tokens = np.random.default_rng(0).integers(0, 40, (3, 20)).astype("int32")
    embedded = model.get_layer("embed")(tokens).numpy()
    g = tape_gradients(head, embedded, [1, 2, 3])
    targets = [1, 2, 3]
    got = attribute(model, tokens, target=targets)
    np.testing.assert_allclose(got, np.linalg.norm(g, axis=-1), rtol=1e-5, atol=1e-7)
    got = attribute(model, tokens, target=targets, method="gradient_x_input")
    np.testing.assert_allclose(got, (embedded * g).sum(-1), rtol=1e-5, atol=1e-7)


def test_text_integrated_gradients_completeness(text):
    model, head = text
    tokens = np.random.default_rng(1).integers(0, 40, (2, 20)).astype("int32")
    embedded = model.get_layer("embed")(tokens).numpy()
    maps = attribute(model, tokens, target=[0, 3], method="integrated_gradients", steps=128)
    f_x = logits_of(head, embedded)[[0, 1], [0, 3]]
    f_0 = logits_of(head, np.zeros_like(embedded))[[0, 1], [0, 3]]
    np.testing.assert_allclose(maps.sum(axis=1), f_x - f_0, rtol=0.01)


def test_text_embedding_inside_a_nested_model(text):
    model, _ = text
    encoder = keras.Model(model.input, model.get_layer("gap").output, name="encoder")
    tokens = keras.Input((20,), dtype="int32")
    nested = keras.Model(tokens, model.get_layer("predictions")(encoder(tokens)))
    ids = np.random.default_rng(2).integers(0, 40, (2, 20)).astype("int32")
    np.testing.assert_allclose(attribute(nested, ids, target=[1, 2]), attribute(model, ids, target=[1, 2]), rtol=1e-5)


def test_padding_tokens_get_no_attribution():
    keras.utils.set_random_seed(0)
    tokens = keras.Input((10,), dtype="int32")
    e = keras.layers.Embedding(20, 4, mask_zero=True)(tokens)
    out = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling1D()(e))
    model = keras.Model(tokens, out)
    ids = np.array([[1, 2, 3, 4, 0, 0, 0, 0, 0, 0]])
    for name in ("gradient", "integrated_gradients"):
        maps = attribute(model, ids, target=1, method=name)
        assert np.all(maps[0, 4:] == 0) and np.all(maps[0, :4] != 0), name
