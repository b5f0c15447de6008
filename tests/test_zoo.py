"""Every architecture of keras.applications (weights=None, at a small valid input size) through
every view: activations of every layer, kernel responses of each convolution kind, every
attribution method (or a MethodNotApplicableError naming why), maximize, top_activations and
the Explorer's layer sweep.

The full matrix is marked ``slow`` (run it with ``--run-slow``); the default run builds every
architecture once and checks its parameter rows and one forward pass, and runs the full matrix
on one small architecture.
"""

import keras
import numpy as np
import pytest

from nbinterp import Explorer, Inspector
from nbinterp.attribution import METHODS, attribute
from nbinterp.errors import MethodNotApplicableError
from nbinterp.units.maximize import Channel, maximize
from nbinterp.units.top_activations import top_activations

#: the smallest input each architecture accepts at weights=None (most downsample 32x)
SIZES = {"InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71}
ARCHITECTURES = sorted(n for n, v in vars(keras.applications).items() if callable(v) and n[:1].isupper())
#: the one architecture whose full matrix runs by default: small, and it has Rescaling,
#: hard-swish, squeeze-and-excitation, depthwise convolutions and no Flatten
DEFAULT_FULL = "MobileNetV3Small"
#: cheap option values for the attribution methods
SMALL = {"smoothgrad": {"samples": 2}, "vargrad": {"samples": 2}, "squaregrad": {"samples": 2},
         "integrated_gradients": {"steps": 3}, "occlusion": {"patch": 16}}


def build(name):
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    size = SIZES.get(name, 32)
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3))
    x = np.random.default_rng(0).uniform(0, 255, size=(2, size, size, 3)).astype("float32")
    return model, x


#: untrained networks so deep that the float32 rounding differences of two correct forward
#: passes grow to the size of the values by the head (measured layer by layer on
#: EfficientNetV2L: 1e-6 relative after block 2, 1e-4 in block 5, order 1 in block 7): there the
#: whole forward is compared up to a layer where it is still well conditioned, and the head on
#: the Inspector's own features
CHAOTIC = {"EfficientNetV2L": "block5e_activation"}


def close(got, expected):
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4 * max(1.0, float(np.abs(expected).max())))


def assert_logits_match(ins, model, x, name):
    """The Inspector's logits equal the head applied to Keras' own features (logits, not
    probabilities: an untrained network's softmax is one-hot, and near ties flip)."""
    head = model.layers[-1]
    if name in CHAOTIC:
        layer = CHAOTIC[name]
        close(ins.activations(layer, x), keras.Model(model.inputs, model.get_layer(layer).output)(x).numpy())
        head_input = ins.layer_input(head.name, x)
    else:
        head_input = keras.Model(model.inputs, head.input)(x).numpy()
    if isinstance(head, keras.layers.Dense):  # Dense(activation="softmax"): its pre-activation
        expected = head_input @ head.kernel.numpy() + head.bias.numpy()
    else:  # a separate Activation("softmax") layer (MobileNets): its input
        assert isinstance(head, keras.layers.Activation), type(head).__name__
        expected = head_input
    close(ins.logits(x), expected)


def test_the_list_covers_keras_applications():
    assert len(ARCHITECTURES) >= 30 and DEFAULT_FULL in ARCHITECTURES


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_every_architecture_builds_and_runs_forward(name):
    model, x = build(name)
    ins = Inspector(model)
    top = [info for info in ins.layers if info.depth == 0]
    assert sum(info.params for info in top) == model.count_params()
    assert_logits_match(ins, model, x[:1], name)


def conv_kinds(ins):
    """The first layer of each convolution kind of a model."""
    kinds = {}
    for info in ins.layers:
        if info.kind in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose", "Conv1D"):
            kinds.setdefault(info.kind, info.name)
    return kinds


def full_matrix(name):
    model, x = build(name)
    ins = Inspector(model)
    one = x[:1]

    # activations of every layer, from one warm-up pass: the cache answers each of them
    ins.warm_layers(one)
    misses = ins.cache.misses
    for info in ins.layers:
        if info.kind == "InputLayer" or info.is_group or "@" in info.name:
            continue
        acts = ins.activations(info.name, one)
        assert np.isfinite(acts).all(), info.name
    assert ins.cache.misses == misses
    assert_logits_match(ins, model, one, name)

    # kernel responses: the sum over input channels plus the bias is the layer's pre-activation
    kinds = conv_kinds(ins)
    assert "Conv2D" in kinds
    for kind, layer in kinds.items():
        response = ins.kernel_response(layer, 0, one)
        pre = ins.pre_activations(layer, one)[0, ..., 0]
        np.testing.assert_allclose(response, pre, rtol=1e-3, atol=1e-3 * max(1.0, float(np.abs(pre).max())),
                                   err_msg=f"{kind} {layer}")

    # every attribution method, or a refusal that says why
    refused = {}
    for method in METHODS:
        try:
            maps = attribute(model, one, target=1, method=method, **SMALL.get(method, {}))
        except MethodNotApplicableError as error:
            text = str(error)
            assert len(text) > 30 and any(w in text for w in ("needs", "requires", "no ", "not ")), text
            refused[method] = text
            continue
        assert maps.shape == (1,) + one.shape[1:3] and np.isfinite(maps).all(), method
    # CAM may need global pooling right before the head; LRP has rules for linear layers, pooling and
    # merges, and names the first layer it has none for (e.g. the Multiply of a hard-swish)
    assert set(refused) <= {"cam", "lrp_epsilon", "lrp_gamma", "lrp_alpha_beta", "lrp_composite"}, refused
    lrp = {m: t for m, t in refused.items() if m.startswith("lrp")}
    assert len(lrp) in (0, 4), lrp  # the four LRP methods share their layer rules
    for text in lrp.values():
        assert "(" in text and ")" in text, text  # the layer and its class

    # maximize: a few steps on a middle convolution's channel climb it
    layer = kinds["Conv2D"]
    result = maximize(model, Channel(layer, 0), steps=3, progress=False, jitter=0, blur_every=0)
    assert result.image.shape == one.shape[1:] and np.isfinite(result.objective).all()

    # top_activations of a tiny set rank by the channel's maximum, as the activations say
    ranked = top_activations(ins, layer, 0, x, k=2)
    scores = ins.activations(layer, x)[..., 0].reshape(len(x), -1).max(axis=1)
    np.testing.assert_allclose(ranked.scores, np.sort(scores)[::-1], rtol=1e-4, atol=1e-5)

    # the Explorer's layer sweep: every layer once, the status never an error
    ex = Explorer(model, x, warm_up=False)
    try:
        ex.wait()
        for _, layer in ex.layer.options:
            ex.layer.value = layer
            ex.wait()
            assert not ex.status.value.startswith("⚠"), (layer, ex.status.value)
    finally:
        ex.close()


def test_the_full_matrix_on_one_small_architecture():
    full_matrix(DEFAULT_FULL)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in ARCHITECTURES if n != DEFAULT_FULL])
def test_the_full_matrix(name):
    full_matrix(name)
