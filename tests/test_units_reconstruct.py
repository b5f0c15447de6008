"""Deconvnet / guided / gradient reconstructions against a hand computation in numpy."""

import keras
import numpy as np
import pytest

import nbinterp
from nbinterp.demo import load_digits, load_model
from nbinterp.errors import IndexOutOfRangeError, InvalidInputError
from nbinterp.units.receptive_field import receptive_field
from nbinterp.units.reconstruct import reconstruct, strongest_position


def conv(x, w, b):
    """Valid cross-correlation of x (H, W, C) with w (kh, kw, C, O), plus bias."""
    kh, kw, _, n_out = w.shape
    out = np.zeros((x.shape[0] - kh + 1, x.shape[1] - kw + 1, n_out))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.tensordot(x[i : i + kh, j : j + kw], w, axes=([0, 1, 2], [0, 1, 2])) + b
    return out


def conv_transpose(s, w, in_shape):
    """Adjoint of ``conv`` (without bias): scatter each output's signal through the kernel."""
    kh, kw, _, _ = w.shape
    out = np.zeros(in_shape)
    for i in range(s.shape[0]):
        for j in range(s.shape[1]):
            out[i : i + kh, j : j + kw] += np.tensordot(w, s[i, j], axes=([3], [0]))
    return out


def maxpool(a):
    """2x2 max pooling, returning the pooled map and the switches (argmax positions)."""
    h, w, c = a.shape[0] // 2, a.shape[1] // 2, a.shape[2]
    pooled = np.zeros((h, w, c))
    switches = np.zeros((h, w, c, 2), int)
    for i in range(h):
        for j in range(w):
            for k in range(c):
                window = a[2 * i : 2 * i + 2, 2 * j : 2 * j + 2, k]
                di, dj = np.unravel_index(np.argmax(window), (2, 2))
                pooled[i, j, k] = window[di, dj]
                switches[i, j, k] = (2 * i + di, 2 * j + dj)
    return pooled, switches


def unpool(s, switches, shape):
    out = np.zeros(shape)
    for i in range(s.shape[0]):
        for j in range(s.shape[1]):
            for k in range(s.shape[2]):
                r, c = switches[i, j, k]
                out[r, c, k] += s[i, j, k]
    return out


def hand_reconstruction(x, w1, b1, w2, b2, channel, position, method):
    """conv -> relu -> maxpool -> conv -> relu, projected back by hand."""
    z1 = conv(x, w1, b1)
    a1 = np.maximum(z1, 0)
    pooled, switches = maxpool(a1)
    z2 = conv(pooled, w2, b2)
    s = np.zeros_like(z2)
    s[position + (channel,)] = 1.0

    def back_relu(signal, z):
        if method == "deconvnet":
            return np.maximum(signal, 0)  # unReLU: ignores the forward mask
        if method == "guided":
            return np.maximum(signal, 0) * (z > 0)
        return signal * (z > 0)

    s = back_relu(s, z2)
    s = conv_transpose(s, w2, pooled.shape)
    s = unpool(s, switches, a1.shape)
    s = back_relu(s, z1)
    return conv_transpose(s, w1, x.shape), z1, z2


@pytest.fixture(scope="module")
def small_net():
    keras.utils.set_random_seed(11)
    inp = keras.Input((12, 12, 2))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="c1")(inp)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    out = keras.layers.Conv2D(3, 2, activation="relu", name="c2", bias_initializer=keras.initializers.Constant(0.3))(x)
    model = keras.Model(inp, out)
    rng = np.random.default_rng(2)
    image = rng.standard_normal((12, 12, 2)).astype(np.float32)
    return model, image


@pytest.mark.parametrize("method", ["deconvnet", "guided", "gradient"])
def test_reconstruction_equals_the_hand_computation(small_net, method):
    model, image = small_net
    w1, b1 = (v.numpy().astype(np.float64) for v in model.get_layer("c1").weights)
    w2, b2 = (v.numpy().astype(np.float64) for v in model.get_layer("c2").weights)
    results = {}
    for channel in range(3):
        for position in [(0, 0), (1, 2), (3, 1)]:
            expected, z1, z2 = hand_reconstruction(image.astype(np.float64), w1, b1, w2, b2, channel, position, method)
            got = reconstruct(model, "c2", channel, image, method=method, position=position)
            assert got.shape == image.shape and got.dtype == np.float32
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
            results[(channel, position)] = (expected, z2[position + (channel,)])
    # the test must distinguish the rules: the hand computation differs between them somewhere
    assert any(np.abs(e).sum() > 0 for e, _ in results.values())
    assert (z1 < 0).any() and (z1 > 0).any()


def test_the_three_rules_differ(small_net):
    model, image = small_net
    outs = {m: reconstruct(model, "c2", 1, image, method=m, position=(1, 1)) for m in ("deconvnet", "guided", "gradient")}
    assert not np.allclose(outs["deconvnet"], outs["gradient"])
    assert not np.allclose(outs["guided"], outs["gradient"])
    assert not np.allclose(outs["deconvnet"], outs["guided"])


def test_strongest_position_is_the_argmax(small_net):
    model, image = small_net
    act = keras.Model(model.inputs, model.get_layer("c2").output)([image[None]]).numpy()[0]
    for channel in range(3):
        pos = strongest_position(model, "c2", channel, image)
        assert pos == tuple(np.unravel_index(np.argmax(act[..., channel]), act.shape[:2]))
        np.testing.assert_array_equal(
            reconstruct(model, "c2", channel, image), reconstruct(model, "c2", channel, image, position=pos)
        )


@pytest.mark.parametrize("method", ["deconvnet", "guided", "gradient"])
def test_reconstruction_lies_in_the_receptive_field(method):
    model = load_model()
    image = load_digits("test").images[5]
    weights_before = [w.numpy().copy() for w in model.weights]
    out_before = model.predict(image[None], verbose=0)
    for layer, channel, position in [("conv2", 4, (1, 1)), ("conv3", 6, None), ("conv3", 1, (6, 6))]:
        rec = reconstruct(model, layer, channel, image, method=method, position=position)
        assert rec.shape == image.shape
        pos = position or strongest_position(model, layer, channel, image)
        inside = np.zeros(image.shape, bool)
        inside[receptive_field(model, layer, pos).slices((28, 28))] = True
        assert not rec[~inside].any()
        if method == "deconvnet" or position is None:  # the strongest unit is on; deconvnet ignores masks
            assert rec[inside].any()
    # the user's model is untouched: weights, activations and its predictions
    assert model.get_layer("conv1").activation is keras.activations.relu
    for before, after in zip(weights_before, model.weights):
        np.testing.assert_array_equal(before, after.numpy())
    np.testing.assert_array_equal(out_before, model.predict(image[None], verbose=0))


def test_public_name_and_errors(small_net):
    model, image = small_net
    assert nbinterp.reconstruct is reconstruct
    with pytest.raises(InvalidInputError):
        reconstruct(model, "c2", 0, image, method="lrp")
    with pytest.raises(IndexOutOfRangeError):
        reconstruct(model, "c2", 3, image)
    with pytest.raises(IndexOutOfRangeError):
        reconstruct(model, "c2", 0, image, position=(4, 0))
    with pytest.raises(InvalidInputError):
        reconstruct(model, "c2", 0, image, position=(1,))
    with pytest.raises(ValueError):
        reconstruct(model, "c2", 0, np.stack([image, image]))


def _capped_relu_net():
    """conv -> relu6 -> conv -> LeakyReLU -> conv -> ReLU(max_value=2) -> GAP -> Dense (logits)."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((10, 10, 2))
    x = keras.layers.Conv2D(4, 3, activation="relu6", name="c1")(inputs)
    x = keras.layers.Conv2D(4, 3, name="c2")(x)
    x = keras.layers.LeakyReLU(negative_slope=0.2)(x)
    x = keras.layers.Conv2D(3, 3, name="c3")(x)
    x = keras.layers.ReLU(max_value=2.0)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, name="logits")(x)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("method, attribution", [("guided", "guided_backprop"), ("deconvnet", "deconvnet")])
def test_reconstruction_of_a_logit_equals_the_attribution_method_on_capped_and_leaky_relus(method, attribution):
    """Both views use the one set of backward rules: projecting logit ``c`` back with
    ``method`` gives the same gradient as the attribution method for class ``c``,
    on a model with relu6, LeakyReLU and a capped ReLU layer."""
    model = _capped_relu_net()
    image = np.random.default_rng(0).normal(size=(10, 10, 2)).astype("float32")
    for target in range(3):
        projected = reconstruct(model, "logits", target, image, method=method)
        expected = np.abs(projected).max(axis=-1)
        got = nbinterp.attribute(model, image[None], target=target, method=attribution)[0]
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
        plain = reconstruct(model, "logits", target, image, method="gradient")
        assert not np.allclose(projected, plain)  # the rules did act on this model
