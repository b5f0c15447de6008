"""The Explorer on a fully convolutional model: input (None, None, 3), a spatial output."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import nbinterp
from nbinterp.widgets.explorer import TAB_TITLES


@pytest.fixture(scope="module")
def fcn():
    keras.utils.set_random_seed(3)
    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(inp)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="c2")(x)
    x = keras.layers.Conv2D(4, 1, activation="softmax", name="head")(x)
    return keras.Model(inp, x)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((3, 18, 18, 3)).astype("float32")


@pytest.fixture(scope="module")
def explorer(fcn, images):
    ex = nbinterp.Explorer(fcn, images)
    ex.wait()
    yield ex
    ex.close()


def saliency_of(explorer):
    return explorer.tabs_by_title["Saliency"]


def reference_gradient(model, image, score):
    x = tf.convert_to_tensor(image[None])
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = score(model(x))
    return np.max(np.abs(tape.gradient(value, x).numpy()[0]), axis=-1)


def test_every_tab_renders_on_a_fully_convolutional_model(explorer):
    assert [v for _, v in explorer.target.options][1:] == [0, 1, 2, 3]  # the class channels
    for title in TAB_TITLES:
        explorer.tabs.selected_index = TAB_TITLES.index(title)
        for layer in ("c1", "head"):
            explorer.layer.value = layer
            explorer.wait()
            assert not explorer.status.value.startswith("⚠"), (title, layer, explorer.status.value)
            tab = explorer.tabs_by_title[title]
            drawn = [c.image for c in tab.canvases if c.image is not None and c.image.size > 1]
            if title != "Architecture":
                assert drawn, (title, layer)
    # the activations are the images' own size (the model leaves it open)
    assert explorer.inspector.activations("c1", explorer.image_array(0)).shape == (1, 18, 18, 8)


def test_explain_choice_is_shown_and_means_what_it_says(explorer, fcn, images):
    tab = saliency_of(explorer)
    explorer.tabs.selected_index = TAB_TITLES.index("Saliency")
    explorer.method.value = "gradient"
    explorer.target.value = 2
    explorer.explain.value = "mean"
    explorer.wait()
    assert tab.explain_row.layout.display == "" and explorer.position_row.layout.display == "none"
    heat, target, _ = tab.heat(explorer.selection, "gradient", {}, _job())
    expected = reference_gradient(fcn, images[0], lambda y: tf.reduce_mean(y[0, :, :, 2]))
    np.testing.assert_allclose(heat, expected, rtol=1e-4, atol=1e-7)
    assert "averaged over every output position" in tab.overlay.label

    explorer.explain.value = "position"
    explorer.position_row.value, explorer.position_col.value = 4, 11
    explorer.wait()
    assert explorer.position_row.layout.display == ""
    heat, _, _ = tab.heat(explorer.selection, "gradient", {}, _job())
    expected = reference_gradient(fcn, images[0], lambda y: y[0, 4, 11, 2])
    np.testing.assert_allclose(heat, expected, rtol=1e-4, atol=1e-7)
    assert "output position (4, 11)" in tab.overlay.label
    # a position's gradient is local: far pixels (beyond the 5x5 receptive field) get none
    assert np.all(heat[:, :8] == 0) and heat[4, 11] > 0
    explorer.explain.value = "mean"
    explorer.wait()


def test_top_classes_of_a_spatial_output_are_means_over_positions(explorer, fcn, images):
    from nbinterp import views

    indices, scores, _, probabilities = views.top_classes(explorer.inspector, images[1], 4)
    means = fcn(images[1:2]).numpy()[0].reshape(-1, 4).mean(axis=0)
    assert indices == list(np.argsort(-means)) and np.allclose(scores, np.sort(means)[::-1], atol=1e-6)
    assert probabilities


def _job():
    from nbinterp.widgets.updates import Job

    return Job(generation=0)
