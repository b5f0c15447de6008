"""Layer-wise relevance propagation against independent references.

References: ``tf.GradientTape`` gradient x input on the same model, the
model's own logit (conservation), numpy implementations of the rules on a
Dense network, and a hand-folded copy of a BatchNormalization model.
"""

import gc
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf

from nbinterp.attribution import METHODS, attribute, trace_count
from nbinterp.errors import InvalidInputError, MethodNotApplicableError

LRP = ("lrp_epsilon", "lrp_gamma", "lrp_alpha_beta", "lrp_composite")
# options under which every rule conserves relevance on bias-free networks
CONSERVING = {
    "lrp_epsilon": {"epsilon": 0.0},
    "lrp_gamma": {"gamma": 0.25},
    "lrp_alpha_beta": {"alpha": 1.0},  # beta > 0 conserves only where both signs contribute
    "lrp_composite": {"epsilon": 0.0},
}


def images(n, size=12, channels=3, seed=0, low=-1.0):
    return np.random.default_rng(seed).uniform(low, 1.0, (n, size, size, channels)).astype("float32")


def logit_of(model, x, targets):
    """The target logits of a model with a linear head."""
    out = model(x, training=False).numpy()
    return out[np.arange(len(x)), targets]


def tape_gxi(model, x, targets):
    """gradient x input of the target logit, summed over channels (independent of nbinterp)."""
    return (x * _tape_grad(model, x, targets)).sum(axis=-1)


def _tape_grad(model, x, targets):
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = tf.reduce_sum(tf.gather(model(x, training=False), np.asarray(targets)[:, None], batch_dims=1))
    return tape.gradient(score, x).numpy()


def _seed(seed):
    keras.utils.set_random_seed(seed)


def bias_free_cnn(seed=0, pool="max", channels_first=False):
    _seed(seed)
    fmt = "channels_first" if channels_first else "channels_last"
    shape = (3, 12, 12) if channels_first else (12, 12, 3)
    inp = keras.Input(shape)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", use_bias=False, data_format=fmt)(inp)
    if pool == "max":
        x = keras.layers.MaxPooling2D(data_format=fmt)(x)
    else:
        x = keras.layers.AveragePooling2D(2, data_format=fmt)(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", use_bias=False, data_format=fmt)(x)
    x = keras.layers.Flatten(data_format=fmt)(x)
    x = keras.layers.Dense(10, activation="relu", use_bias=False)(x)
    x = keras.layers.Dropout(0.3)(x)
    return keras.Model(inp, keras.layers.Dense(4, use_bias=False)(x))


def bias_free_mlp(seed=0):
    _seed(seed)
    inp = keras.Input((12,))
    x = keras.layers.Dense(16, activation="relu", use_bias=False)(inp)
    x = keras.layers.Dense(9, activation="relu", use_bias=False)(x)
    return keras.Model(inp, keras.layers.Dense(4, use_bias=False)(x))


def residual_net(seed=0, bias=False):
    """Add (residual) and Concatenate branches, average and global pooling, depthwise and separable convs."""
    _seed(seed)
    inp = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", use_bias=bias)(inp)
    y = keras.layers.Conv2D(6, 3, padding="same", use_bias=bias)(x)
    y = keras.layers.ReLU()(y)
    x = keras.layers.Add(name="add")([x, y])
    a = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu", use_bias=bias, name="dw")(x)
    b = keras.layers.SeparableConv2D(5, 3, padding="same", activation="relu", use_bias=bias, name="sep")(x)
    x = keras.layers.Concatenate(name="cat")([a, b])
    x = keras.layers.AveragePooling2D(2, name="avg")(x)
    x = keras.layers.Conv2D(7, 3, activation="relu", use_bias=bias, name="top")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, keras.layers.Dense(4, activation="softmax", use_bias=bias, name="out")(x))


def linear_head(model):
    """The same model with its softmax output layer made linear (weights shared)."""
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    clone.layers[-1].activation = keras.activations.linear
    return clone


# ---------------------------------------------------------------------------
# LRP-epsilon -> gradient x input


@pytest.mark.parametrize("build", [bias_free_mlp, bias_free_cnn, residual_net])
def test_epsilon_to_zero_is_gradient_times_input_on_bias_free_relu_networks(build):
    model = build(seed=1)
    x = np.random.default_rng(1).normal(size=(3, 12)).astype("float32") if build is bias_free_mlp else images(3)
    targets = [0, 2, 3]
    reference = linear_head(model) if build is residual_net else model
    expected = tape_gxi(reference, x, targets) if x.ndim == 4 else (x * _tape_grad(reference, x, targets))
    got = attribute(model, x, target=targets, method="lrp_epsilon", epsilon=1e-9)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max())


def test_large_epsilon_absorbs_relevance():
    model = bias_free_cnn(seed=2)
    x = images(2, seed=2)
    logits = logit_of(model, x, [1, 1])
    small = attribute(model, x, target=1, method="lrp_epsilon").sum(axis=(1, 2))
    large = attribute(model, x, target=1, method="lrp_epsilon", epsilon=1.0).sum(axis=(1, 2))
    np.testing.assert_allclose(small, logits, rtol=1e-4)
    assert (np.abs(large) < 0.9 * np.abs(logits)).all()


# ---------------------------------------------------------------------------
# conservation


@pytest.mark.parametrize("name", LRP)
@pytest.mark.parametrize("arch", ["max", "avg", "residual"])
def test_relevance_is_conserved_on_bias_free_networks(name, arch):
    model = residual_net(seed=3) if arch == "residual" else bias_free_cnn(seed=3, pool=arch)
    x = images(4, seed=3)
    targets = np.array([0, 1, 2, 3])
    reference = linear_head(model) if arch == "residual" else model
    logits = logit_of(reference, x, targets)
    maps = attribute(model, x, target=targets, method=name, **CONSERVING[name])
    assert maps.shape == (4, 12, 12)
    np.testing.assert_allclose(maps.sum(axis=(1, 2)), logits, rtol=1e-4, atol=1e-6)


def test_conservation_holds_layer_by_layer_between_the_input_and_a_cut():
    """The relevance a sub-network hands to its input sums to the relevance at its output."""
    model = residual_net(seed=4)
    x = images(2, seed=4)
    cut = model.get_layer("add")  # the relevance at its output, from the upper part alone
    upper_in = keras.Input(cut.output.shape[1:])
    y = model.get_layer("cat")([model.get_layer("dw")(upper_in), model.get_layer("sep")(upper_in)])
    for name in ("avg", "top", "gap", "out"):
        y = model.get_layer(name)(y)
    upper = keras.Model(upper_in, y)
    features = keras.Model(model.input, cut.output)(x).numpy()
    whole = attribute(model, x, target=1, method="lrp_gamma").sum(axis=(1, 2))
    at_cut = attribute(upper, features, target=1, method="lrp_gamma").sum(axis=(1, 2))
    logits = logit_of(linear_head(model), x, [1, 1])
    np.testing.assert_allclose(at_cut, logits, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(whole, at_cut, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------------
# the rules against numpy, on a Dense network with biases


def _rms(z):
    return np.sqrt(np.mean(z * z))


def numpy_lrp(weights, x, target, rule, epsilon=0.0, gamma=0.0, alpha=1.0, low=None, high=None, first="same"):
    """LRP of a ReLU MLP by the textbook formulas, one example (``weights``: [(W, b)] per layer)."""
    activations = [x]
    for k, (w, b) in enumerate(weights):
        z = activations[-1] @ w + b
        activations.append(np.maximum(z, 0) if k < len(weights) - 1 else z)
    relevance = np.zeros_like(activations[-1])
    relevance[target] = activations[-1][target]
    for k in reversed(range(len(weights))):
        w, b = weights[k]
        a = activations[k]
        z = a @ w + b
        this = rule if (k > 0 or first == "same") else first
        if this == "epsilon":
            s = relevance / (z + epsilon * _rms(z) * np.where(z >= 0, 1.0, -1.0))
            relevance = a * (w @ s)
        elif this == "gamma":
            wg, bg = w + gamma * np.maximum(w, 0), b + gamma * np.maximum(b, 0)
            s = relevance / (a @ wg + bg)
            relevance = a * (wg @ s)
        elif this == "alpha_beta":
            beta = alpha - 1.0
            contrib = a[:, None] * w
            pos, neg = np.maximum(contrib, 0), np.minimum(contrib, 0)
            zp, zn = pos.sum(0) + np.maximum(b, 0), neg.sum(0) + np.minimum(b, 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                shares = alpha * np.where(zp != 0, pos / zp, 0) - beta * np.where(zn != 0, neg / zn, 0)
            relevance = shares @ relevance
        elif this == "zb":
            lo, hi = np.full_like(a, low), np.full_like(a, high)
            contrib = a[:, None] * w - lo[:, None] * np.maximum(w, 0) - hi[:, None] * np.minimum(w, 0)
            relevance = (contrib / contrib.sum(0)) @ relevance
    return relevance


def mlp_with_bias(seed=5):
    _seed(seed)
    init = keras.initializers.RandomNormal(0.05, 0.1, seed=seed)
    inp = keras.Input((7,))
    x = keras.layers.Dense(11, activation="relu", bias_initializer=init)(inp)
    x = keras.layers.Dense(6, activation="relu", bias_initializer=init)(x)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax", bias_initializer=init)(x))
    weights = [(layer.kernel.numpy(), layer.bias.numpy()) for layer in model.layers[1:]]
    return model, weights


@pytest.mark.parametrize(
    "name, options, rule, numpy_options",
    [
        ("lrp_epsilon", {"epsilon": 0.3}, "epsilon", {"epsilon": 0.3}),
        ("lrp_gamma", {"gamma": 0.5}, "gamma", {"gamma": 0.5}),
        ("lrp_alpha_beta", {"alpha": 1.0}, "alpha_beta", {"alpha": 1.0}),
        ("lrp_alpha_beta", {"alpha": 2.0}, "alpha_beta", {"alpha": 2.0}),
    ],
)
def test_rules_match_the_textbook_formulas(name, options, rule, numpy_options):
    model, weights = mlp_with_bias()
    x = np.random.default_rng(5).normal(size=(4, 7)).astype("float32")
    targets = [0, 1, 2, 0]
    got = attribute(model, x, target=targets, method=name, **options)
    for i, t in enumerate(targets):
        expected = numpy_lrp(weights, x[i].astype("float64"), t, rule, **numpy_options)
        np.testing.assert_allclose(got[i], expected, rtol=2e-4, atol=1e-5 * np.abs(expected).max(), err_msg=str(i))


def test_composite_is_zb_first_then_epsilon_on_dense_layers():
    model, weights = mlp_with_bias(seed=6)
    x = np.random.default_rng(6).uniform(-1, 1, size=(3, 7)).astype("float32")
    got = attribute(model, x, target=1, method="lrp_composite", epsilon=0.2, low=-1.0, high=1.0)
    default = attribute(model, x, target=1, method="lrp_composite", epsilon=0.2)
    for i in range(3):
        expected = numpy_lrp(weights, x[i].astype("float64"), 1, "epsilon", epsilon=0.2, first="zb", low=-1.0, high=1.0)
        np.testing.assert_allclose(got[i], expected, rtol=2e-4, atol=1e-5 * np.abs(expected).max())
        own = numpy_lrp(weights, x[i].astype("float64"), 1, "epsilon", epsilon=0.2, first="zb",
                        low=x[i].min(), high=x[i].max())
        np.testing.assert_allclose(default[i], own, rtol=2e-4, atol=1e-5 * np.abs(own).max())
    with pytest.raises(InvalidInputError, match="low must not exceed high"):
        attribute(model, x, method="lrp_composite", low=1.0, high=0.0)


def test_composite_assigns_gamma_to_the_lower_convolutions_and_epsilon_above():
    from nbinterp.attribution.lrp import LRPComposite

    _seed(7)
    inp = keras.Input((12, 12, 3))
    x = keras.layers.ZeroPadding2D(name="pad")(inp)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="c1")(x)
    for k in range(2, 6):
        x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name=f"c{k}")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(5, activation="relu", name="d1")(x)
    model = keras.Model(inp, keras.layers.Dense(3, name="out")(x))
    rules = LRPComposite(model).rules
    assert rules == {"c1": "zb", "c2": "gamma", "c3": "gamma", "c4": "epsilon", "c5": "epsilon",
                     "d1": "epsilon", "out": "epsilon"}


def test_alpha1_beta0_relevance_is_non_negative():
    model = residual_net(seed=8, bias=True)
    x = images(6, seed=8)
    logits = linear_head(model)(x).numpy()
    top = logits.argmax(axis=1)
    assert (logits.max(axis=1) > 0).all()
    maps = attribute(model, x, target=top, method="lrp_alpha_beta", alpha=1.0)
    assert (maps >= -1e-7 * np.abs(maps).max()).all()
    assert (maps.reshape(6, -1).max(axis=1) > 0).all()
    # alpha = 2 (beta = 1) is signed
    assert (attribute(model, x, target=top, method="lrp_alpha_beta", alpha=2.0) < 0).any()


# ---------------------------------------------------------------------------
# BatchNormalization


def _bn_model(seed=9):
    _seed(seed)
    inp = keras.Input((10, 10, 2))
    x = keras.layers.Conv2D(5, 3, padding="same", name="conv")(inp)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False, name="dw")(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(6, name="fc")(x)
    x = keras.layers.BatchNormalization(name="bn3")(x)
    x = keras.layers.ReLU()(x)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="out")(x))
    rng = np.random.default_rng(seed)
    for name in ("bn1", "bn2", "bn3"):
        bn = model.get_layer(name)
        n = bn.gamma.shape[0]
        bn.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.3, n), rng.normal(0, 0.3, n), rng.uniform(0.5, 2, n)])
    return model


def _folded(model):
    """The BatchNormalization layers folded into the layers before them, by hand (numpy)."""

    def fold(bn):
        gamma, beta, mean, var = (w.astype("float64") for w in model.get_layer(bn).get_weights())
        scale = gamma / np.sqrt(var + model.get_layer(bn).epsilon)
        return scale, beta - mean * scale

    inp = keras.Input((10, 10, 2))
    conv = keras.layers.Conv2D(5, 3, padding="same", activation="relu")
    dw = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, activation="relu")
    fc = keras.layers.Dense(6, activation="relu")
    out = keras.layers.Dense(3)
    x = conv(inp)
    x = keras.layers.GlobalAveragePooling2D()(dw(x))
    folded = keras.Model(inp, out(fc(x)))
    s, t = fold("bn1")
    kernel, bias = model.get_layer("conv").get_weights()
    conv.set_weights([kernel * s, bias * s + t])
    s, t = fold("bn2")
    (kernel,) = model.get_layer("dw").get_weights()  # (3, 3, 5, 2): output channel c * 2 + m
    dw.set_weights([kernel * s.reshape(5, 2), t])
    s, t = fold("bn3")
    kernel, bias = model.get_layer("fc").get_weights()
    fc.set_weights([kernel * s, bias * s + t])
    out.set_weights(model.get_layer("out").get_weights())
    return folded


@pytest.mark.parametrize("name", LRP)
def test_batch_normalization_is_folded_into_the_layer_before_it(name):
    model = _bn_model()
    folded = _folded(model)
    x = np.random.default_rng(9).normal(size=(3, 10, 10, 2)).astype("float32")
    np.testing.assert_allclose(linear_head(model)(x).numpy(), folded(x).numpy(), rtol=1e-4, atol=1e-5)
    options = {"epsilon": 0.1} if name in ("lrp_epsilon", "lrp_composite") else {}
    got = attribute(model, x, target=[0, 1, 2], method=name, **options)
    expected = attribute(folded, x, target=[0, 1, 2], method=name, **options)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    assert np.abs(got).max() > 0


def test_a_batch_normalization_that_cannot_be_folded_is_a_linear_layer():
    _seed(10)
    inp = keras.Input((8, 8, 2))
    x = keras.layers.BatchNormalization(name="bn")(inp)
    x = keras.layers.Conv2D(4, 3, activation="relu", use_bias=False)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(3, use_bias=False)(x))
    bn = model.get_layer("bn")
    bn.set_weights([np.array([1.5, 0.5]), np.zeros(2), np.zeros(2), np.array([1.0, 4.0])])  # no shift: conserving
    x = np.random.default_rng(10).normal(size=(2, 8, 8, 2)).astype("float32")
    got = attribute(model, x, target=1, method="lrp_epsilon", epsilon=0.0)
    np.testing.assert_allclose(got, tape_gxi(model, x, [1, 1]), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=(1, 2)), logit_of(model, x, [1, 1]), rtol=1e-4)


# ---------------------------------------------------------------------------
# layers, formats, batches


def test_unsupported_layers_are_refused_naming_them():
    _seed(11)
    inp = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    x = keras.layers.LayerNormalization(name="layer_norm")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(3)(x))
    for name in LRP:
        with pytest.raises(MethodNotApplicableError, match=r"'layer_norm' \(LayerNormalization\)"):
            attribute(model, images(1), method=name)
    seq = keras.Input((10, 3))
    rnn = keras.Model(seq, keras.layers.Dense(2)(keras.layers.LSTM(4, name="lstm")(seq)))
    with pytest.raises(MethodNotApplicableError, match=r"'lstm' \(LSTM\)"):
        attribute(rnn, np.zeros((1, 10, 3), "float32"), method="lrp_epsilon")
    inp = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(4, 3, activation="softmax", name="soft_conv")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    soft = keras.Model(inp, keras.layers.Dense(3)(x))
    with pytest.raises(MethodNotApplicableError, match="'soft_conv'.*'softmax' activation"):
        attribute(soft, images(1), method="lrp_gamma")
    # a nested model called twice is one opaque step of the graph
    block_in = keras.Input((12, 12, 3))
    block = keras.Model(block_in, keras.layers.Conv2D(3, 3, padding="same")(block_in), name="shared_block")
    inp = keras.Input((12, 12, 3))
    x = keras.layers.GlobalAveragePooling2D()(block(block(inp)))
    twice = keras.Model(inp, keras.layers.Dense(3)(x))
    with pytest.raises(MethodNotApplicableError, match=r"'shared_block.*' \(Functional\).*nested model"):
        attribute(twice, images(1), method="lrp_composite")


def test_nested_models_are_walked_like_the_flat_model():
    _seed(12)
    inner_in = keras.Input((12, 12, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inner_in)
    h = keras.layers.MaxPooling2D(name="p")(h)
    block = keras.Sequential([keras.Input((6, 6, 4)), keras.layers.Conv2D(5, 3, activation="relu", name="c2")],
                             name="block")
    backbone = keras.Model(inner_in, block(h), name="backbone")
    inp = keras.Input((12, 12, 3))
    y = keras.layers.GlobalAveragePooling2D()(backbone(keras.layers.Rescaling(2.0, offset=-1.0)(inp)))
    nested = keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="out")(y))
    flat_in = keras.Input((12, 12, 3))
    z = keras.layers.Rescaling(2.0, offset=-1.0)(flat_in)
    for layer in (backbone.get_layer("c1"), backbone.get_layer("p"), block.get_layer("c2"),
                  nested.layers[-2], nested.get_layer("out")):
        z = layer(z)
    flat = keras.Model(flat_in, z)
    x = images(3, seed=12, low=0.0)
    for name in LRP:
        np.testing.assert_allclose(attribute(nested, x, target=2, method=name),
                                   attribute(flat, x, target=2, method=name), rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("name", LRP)
def test_channels_first_gives_the_channels_last_maps(name):
    last = bias_free_cnn(seed=13, pool="avg")
    first = bias_free_cnn(seed=13, pool="avg", channels_first=True)
    first.set_weights(last.get_weights())  # Flatten(channels_first) flattens in channels_last order
    x = images(3, seed=13)
    x_first = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    np.testing.assert_allclose(first(x_first).numpy(), last(x).numpy(), rtol=1e-4, atol=1e-5)
    got = attribute(first, x_first, target=[0, 1, 2], method=name)
    assert got.shape == (3, 12, 12)
    np.testing.assert_allclose(got, attribute(last, x, target=[0, 1, 2], method=name), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", LRP)
def test_batches_with_per_row_targets_equal_single_images(name):
    model = residual_net(seed=14, bias=True)
    x = images(5, seed=14)
    targets = [3, 0, 2, 1, 3]
    batch = attribute(model, x, target=targets, method=name, batch_size=2)
    for i, t in enumerate(targets):
        one = attribute(model, x[i], target=t, method=name)
        np.testing.assert_allclose(batch[i], one[0], rtol=1e-4, atol=1e-6 * np.abs(one).max())
    top = linear_head(model)(x).numpy().argmax(axis=1)
    method = METHODS[name](model)
    np.testing.assert_allclose(method.attribute(x), attribute(model, x, target=top, method=name), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(method.last_targets, top)


def test_one_compiled_function_per_method_whatever_the_images_targets_or_options():
    model = residual_net(seed=15, bias=True)
    for name in LRP:
        attribute(model, images(1), method=name)
    attribute(model, images(1), method="lrp_alpha_beta", alpha=2.0)  # beta > 0: its own function
    before = trace_count("lrp_epsilon")
    assert before > 0
    for n in (1, 3, 4):
        x = images(n, seed=n)
        attribute(model, x, target=n % 4, method="lrp_epsilon", epsilon=0.01 * n)
        attribute(model, x, method="lrp_gamma", gamma=0.1 * n)
        attribute(model, x, method="lrp_alpha_beta", alpha=1.5 + n)
        attribute(model, x, method="lrp_composite", epsilon=0.1 * n, gamma=0.2, low=-1.0, high=1.0)
    assert trace_count("lrp_epsilon") == before


def test_weight_updates_are_followed_and_models_are_freed():
    model = residual_net(seed=17, bias=True)
    x = images(2, seed=17)
    first = attribute(model, x, target=0, method="lrp_gamma")
    model.set_weights([w * 1.5 for w in model.get_weights()])
    assert not np.allclose(attribute(model, x, target=0, method="lrp_gamma"), first)
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


def test_other_inputs_branches_are_constants_whatever_their_layers():
    _seed(18)
    image, series = keras.Input((12, 12, 3), name="image"), keras.Input((6, 2), name="series")
    a = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(5, 3, activation="relu", use_bias=False)(image))
    b = keras.layers.LSTM(3, name="lstm")(series)
    out = keras.layers.Dense(3, use_bias=False)(keras.layers.Concatenate()([a, b]))
    model = keras.Model([image, series], out)
    x = [images(2, seed=18), np.random.default_rng(18).normal(size=(2, 6, 2)).astype("float32")]
    maps = attribute(model, x, target=[0, 2], input="image", method="lrp_epsilon", epsilon=0.0)
    tensors = [tf.convert_to_tensor(v) for v in x]
    with tf.GradientTape() as tape:
        tape.watch(tensors[0])
        score = tf.reduce_sum(tf.gather(model(tensors), [[0], [2]], batch_dims=1))
    expected = (x[0] * tape.gradient(score, tensors[0]).numpy()).sum(axis=-1)
    np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-6)
    with pytest.raises(MethodNotApplicableError, match="'lstm' \\(LSTM\\)"):
        attribute(model, x, input="series", method="lrp_epsilon")


def test_token_models_get_relevance_per_token():
    _seed(16)
    tokens = keras.Input((20,), dtype="int32")
    e = keras.layers.Embedding(40, 6, name="embed")(tokens)
    x = keras.layers.Conv1D(7, 3, padding="same", activation="relu", use_bias=False)(e)
    x = keras.layers.GlobalMaxPooling1D()(x)
    model = keras.Model(tokens, keras.layers.Dense(4, use_bias=False)(x))
    ids = np.random.default_rng(16).integers(0, 40, (3, 20))
    maps = attribute(model, ids, target=1, method="lrp_epsilon", epsilon=0.0)
    assert maps.shape == (3, 20)
    np.testing.assert_allclose(maps.sum(axis=1), model(ids).numpy()[:, 1], rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------------
# real architectures


def test_demo_cnn():
    from nbinterp import demo

    model = demo.load_model()
    digits = demo.load_digits("test")
    x = (digits[0] if isinstance(digits, tuple) else digits)[:4]
    for name in LRP:
        maps = attribute(model, x, method=name)
        assert maps.shape == (4, 28, 28) and np.isfinite(maps).all() and np.abs(maps).max() > 0, name
    # the trained demo: LRP-epsilon (-> 0) is gradient x input (with its Rescaling layer)
    np.testing.assert_allclose(attribute(model, x, target=3, method="lrp_epsilon", epsilon=0.0),
                               attribute(model, x, target=3, method="gradient_x_input"), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("arch", ["VGG16", "ResNet50"])
def test_imagenet_architectures(arch):
    model = getattr(keras.applications, arch)(weights=None, input_shape=(64, 64, 3))
    x = np.random.default_rng(0).uniform(-100, 100, (2, 64, 64, 3)).astype("float32")
    for name in LRP:
        maps = attribute(model, x, target=[1, 500], method=name)
        assert maps.shape == (2, 64, 64), name
        assert np.isfinite(maps).all() and np.abs(maps).max() > 0, name
