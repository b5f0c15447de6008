"""RISE against independent references: a naive loop over the same masks, and the masks
against TensorFlow's own bilinear resize of the random grids."""

import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

from nbinterp import demo
from nbinterp.attribution import METHODS, RISE, attribute
from nbinterp.attribution.rise import rise_masks
from nbinterp.errors import CancelledError, InvalidInputError

SIZE = 12


def conv_net(head="softmax", shape=(SIZE, SIZE, 3), fmt="channels_last", seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape)
    x = keras.layers.Conv2D(5, 3, padding="same", activation="relu", data_format=fmt, name="c1")(inp)
    x = keras.layers.GlobalAveragePooling2D(data_format=fmt, name="gap")(x)
    return keras.Model(inp, keras.layers.Dense(4, activation=head, name="out")(x))


def images(n, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, SIZE, SIZE, 3)).astype("float32")


def softmax(logits):
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_equals_a_naive_loop_over_the_same_masks():
    model = conv_net(head=None)  # the model outputs logits; RISE reads their softmax
    x = images(2, seed=1)
    targets = [1, 3]
    options = {"masks": 60, "cells": 4, "p": 0.4, "seed": 11}
    masks = RISE(model).masks_for(x.shape, options)[:]
    assert masks.shape == (60, SIZE, SIZE) and masks.dtype == np.float32
    expected = np.zeros((2, SIZE, SIZE))
    for i in range(2):
        for mask in masks:
            masked = x[i] * mask[:, :, None]
            probability = softmax(model(masked[None], training=False).numpy().astype(np.float64))[0, targets[i]]
            expected[i] += probability * mask
    expected /= 60 * 0.4
    got = attribute(model, x, target=targets, method="rise", batch_size=16, **options)
    assert got.shape == (2, SIZE, SIZE) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_masks_are_shifted_bilinear_upsamplings_of_random_grids():
    generator = rise_masks((20, 28), masks=30, cells=5, p=0.3, seed=2)
    masks = generator[:]
    np.testing.assert_array_equal(generator[3], masks[3])
    cell = (4, 6)  # ceil(20 / 5), ceil(28 / 5)
    big = (6 * cell[0], 6 * cell[1])
    for k in range(30):
        grid = generator.grids[k].astype("float32")[None, :, :, None]
        up = tf.image.resize(grid, big, method="bilinear", antialias=False).numpy()[0, :, :, 0]
        dy, dx = generator.shifts[k]
        assert 0 <= dy < cell[0] and 0 <= dx < cell[1]
        np.testing.assert_allclose(masks[k], up[dy : dy + 20, dx : dx + 28], rtol=1e-5, atol=1e-6)
    assert 0.0 <= masks.min() and masks.max() <= 1.0
    assert abs(generator.grids.mean() - 0.3) < 0.08
    assert len(np.unique(generator.shifts[:, 0])) > 1  # the shifts vary
    same = rise_masks((20, 28), masks=30, cells=5, p=0.3, seed=2)[:]
    np.testing.assert_array_equal(same, masks)
    assert not np.array_equal(rise_masks((20, 28), masks=30, cells=5, p=0.3, seed=3)[:], masks)


def test_softmax_and_linear_heads_agree_and_seeds_matter():
    model = conv_net(seed=3)
    linear = conv_net(head=None, seed=3)
    linear.set_weights(model.get_weights())
    x = images(3, seed=2)
    maps = attribute(model, x, method="rise", masks=80)
    np.testing.assert_allclose(attribute(linear, x, method="rise", masks=80), maps, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(attribute(model, x, method="rise", masks=80, batch_size=7), maps, rtol=1e-5, atol=1e-7)
    assert not np.allclose(attribute(model, x, method="rise", masks=80, seed=1), maps)


def test_channels_first_model_gets_the_channels_last_maps():
    last = conv_net(seed=5)
    first = conv_net(shape=(3, SIZE, SIZE), fmt="channels_first", seed=5)
    first.set_weights(last.get_weights())
    x = images(2, seed=4)
    expected = attribute(last, x, target=2, method="rise", masks=50)
    got = attribute(first, np.ascontiguousarray(np.moveaxis(x, -1, 1)), target=2, method="rise", masks=50)
    assert got.shape == (2, SIZE, SIZE)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_demo_cnn_and_sequence_shapes():
    digits = demo.load_digits("test").images[:3]
    method = RISE(demo.load_model())
    maps = method.attribute(digits, masks=200)
    assert maps.shape == (3, 28, 28) and np.isfinite(maps).all() and maps.min() >= 0 and maps.max() > 0
    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 3))
    h = keras.layers.GlobalAveragePooling1D()(keras.layers.Conv1D(4, 3, activation="relu")(inp))
    sequence = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(h))
    assert rise_masks((16,), masks=5, cells=4)[:].shape == (5, 16)
    assert attribute(sequence, np.ones((2, 16, 3), "float32"), method="rise", masks=40).shape == (2, 16)


def test_options_are_validated_and_declared():
    model = conv_net()
    with pytest.raises(InvalidInputError, match="masks must be an integer between 1 and 50000"):
        attribute(model, images(1), method="rise", masks=10**6)
    with pytest.raises(InvalidInputError, match="p must be a finite number between 0.01 and 1.0"):
        attribute(model, images(1), method="rise", p=0.0)
    with pytest.raises(InvalidInputError, match="cells"):
        attribute(model, images(1), method="rise", cells=0)
    assert METHODS["rise"].options == {"masks": 2000, "cells": 7, "p": 0.5, "seed": 0}


def test_cancel_stops_before_the_next_chunk():
    method = RISE(conv_net(), batch_size=25)
    event = threading.Event()
    fractions = []

    def progress(fraction):
        fractions.append(fraction)
        event.set()

    with pytest.raises(CancelledError, match="RISE was cancelled"):
        method.attribute(images(2), target=0, masks=500, progress=progress, cancel=event)
    assert len(fractions) == 1 and fractions[0] == pytest.approx(25 / 1000)
