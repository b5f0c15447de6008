"""Attribution methods against independent references.

References are computed without nbinterp: a plain ``tf.GradientTape`` on a
separately built copy of each model whose output layer is linear (same
weights), numpy formulas, and naive Python loops.
"""

import gc
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf

import nbinterp
from nbinterp.attribution import (
    CAM,
    METHODS,
    GradCAM,
    Gradient,
    SmoothGrad,
    attribute,
    trace_count,
)
from nbinterp.errors import (
    IndexOutOfRangeError,
    InvalidInputError,
    MethodNotApplicableError,
    UnknownMethodError,
)

CLASSES = 5
SIZE = 12


# ---------------------------------------------------------------------------
# models and independent references


def _bias(seed):
    return keras.initializers.RandomNormal(mean=0.05, stddev=0.1, seed=seed)


def conv_net(head="softmax", seed=0, size=SIZE, pool_before_gap=True):
    """conv -> (pool) -> conv -> GAP -> Dense; non-zero biases so ReLU gating varies along paths."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3), name="image")
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", bias_initializer=_bias(1), name="conv1")(inp)
    if pool_before_gap:
        x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", bias_initializer=_bias(2), name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dropout(0.5, name="drop")(x)
    out = keras.layers.Dense(CLASSES, activation=head, bias_initializer=_bias(3), name="predictions")(x)
    return keras.Model(inp, out, name=f"conv_net_{head}")


def linear_copy(model, builder, **kwargs):
    """The same architecture with a linear output layer, carrying the model's weights."""
    copy = builder(head=None, **kwargs)
    copy.set_weights(model.get_weights())
    return copy


def smooth_net(head="softmax", seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(5, 3, padding="same", activation="tanh", bias_initializer=_bias(4), name="conv1")(inp)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="softplus", bias_initializer=_bias(5), name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(CLASSES, activation=head, bias_initializer=_bias(6), name="predictions")(x)
    return keras.Model(inp, out)


def text_net(head="softmax", seed=0, length=20, vocab=40, dim=6):
    keras.utils.set_random_seed(seed)
    tokens = keras.Input((length,), dtype="int32", name="tokens")
    e = keras.layers.Embedding(vocab, dim, name="embed")(tokens)
    x = keras.layers.Conv1D(7, 3, padding="same", activation="relu", bias_initializer=_bias(7), name="conv")(e)
    x = keras.layers.GlobalAveragePooling1D(name="gap")(x)
    out = keras.layers.Dense(4, activation=head, bias_initializer=_bias(8), name="predictions")(x)
    return keras.Model(tokens, out)


def text_head(model):
    """The part of a text model after its embedding, as a separate model on (T, E) inputs."""
    emb = model.get_layer("embed")
    inp = keras.Input((model.input_shape[1], emb.output_dim))
    x = inp
    for name in ("conv", "gap"):
        x = model.get_layer(name)(x)
    dense = model.get_layer("predictions")
    head = keras.layers.Dense(dense.units, name="linear_head")
    out = head(x)
    head.set_weights(dense.get_weights())
    return keras.Model(inp, out)


def tape_gradients(logit_model, x, targets):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = logit_model(x, training=False)
        score = tf.reduce_sum(tf.gather(logits, np.asarray(targets)[:, None], batch_dims=1))
    return tape.gradient(score, x).numpy()


def logits_of(logit_model, x):
    return logit_model(tf.constant(x), training=False).numpy()


def images(n, size=SIZE, seed=0, channels=3):
    return np.random.default_rng(seed).uniform(0, 1, (n, size, size, channels)).astype("float32")


@pytest.fixture(scope="module")
def net():
    model = conv_net()
    return model, linear_copy(model, conv_net)


@pytest.fixture(scope="module")
def x5():
    return images(5)


# ---------------------------------------------------------------------------
# gradient family


def test_gradient_equals_tape_on_logits(net, x5):
    model, logit_model = net
    targets = np.array([0, 1, 2, 3, 4])
    expected = np.abs(tape_gradients(logit_model, x5, targets)).max(axis=-1)
    got = attribute(model, x5, target=targets, method="gradient")
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert np.abs(expected).max() > 0


def test_default_target_is_top_class(net, x5):
    model, logit_model = net
    top = logits_of(logit_model, x5).argmax(axis=1)
    method = Gradient(model)
    got = method.attribute(x5)
    np.testing.assert_array_equal(method.last_targets, top)
    np.testing.assert_allclose(got, attribute(model, x5, target=top), rtol=1e-6)


def test_gradient_x_input_is_sum_of_x_times_gradient(net, x5):
    model, logit_model = net
    expected = (x5 * tape_gradients(logit_model, x5, [3] * 5)).sum(axis=-1)
    got = attribute(model, x5, target=3, method="gradient_x_input")
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_chunking_does_not_change_results(net, x5):
    model, _ = net
    for name in ("gradient", "integrated_gradients", "occlusion", "gradcam"):
        whole = attribute(model, x5, target=1, method=name, batch_size=64)
        pieces = attribute(model, x5, target=1, method=name, batch_size=2)
        np.testing.assert_allclose(pieces, whole, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize(
    "name, options",
    [("smoothgrad", {"samples": 3}), ("integrated_gradients", {"steps": 4}),
     ("interior_gradients", {"alpha": [0.5, 1.0]}), ("occlusion", {})],
)
def test_top_class_resolution_matches_explicit_targets(name, options):
    """Methods that only see perturbed copies resolve the top class from clean rows in their batches."""
    # a "brightest channel" classifier, so that the top class differs between images
    keras.utils.set_random_seed(0)
    inp = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="predictions")(x))
    rng = np.random.default_rng(0)
    kernel = rng.normal(0, 0.05, (3, 3, 3, 4)).astype("float32")
    kernel[1, 1, :3, :3] += np.eye(3, dtype="float32")
    model.get_layer("conv").set_weights([kernel, np.zeros(4, "float32")])
    model.get_layer("predictions").set_weights(
        [np.eye(4, 3, dtype="float32") * 5 + rng.normal(0, 0.1, (4, 3)).astype("float32"), np.zeros(3, "float32")]
    )
    x5 = images(5)
    x5[np.arange(5), :, :, np.arange(5) % 3] += 1.0
    top = model.predict(x5, verbose=0).argmax(axis=1)
    np.testing.assert_array_equal(top, np.arange(5) % 3)
    for batch_size in (2, 7, 64):
        method = METHODS[name](model, batch_size=batch_size)
        automatic = method.attribute(x5, **options)
        np.testing.assert_array_equal(method.last_targets, top)
        explicit = method.attribute(x5, target=top, **options)
        np.testing.assert_allclose(automatic, explicit, rtol=1e-5, atol=1e-7, err_msg=f"{name} {batch_size}")


def test_interior_gradients_are_gradients_at_scaled_inputs(net, x5):
    model, logit_model = net
    g3 = tape_gradients(logit_model, 0.3 * x5, [2] * 5)
    g7 = tape_gradients(logit_model, 0.7 * x5, [2] * 5)
    got = attribute(model, x5, target=2, method="interior_gradients", alpha=[0.3, 0.7])
    np.testing.assert_allclose(got, np.abs((g3 + g7) / 2).max(axis=-1), rtol=1e-5, atol=1e-7)
    single = attribute(model, x5, target=2, method="interior_gradients", alpha=1.0)
    np.testing.assert_allclose(single, attribute(model, x5, target=2), rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------
# SmoothGrad family


def test_smoothgrad_without_noise_is_gradient(net, x5):
    model, logit_model = net
    g = tape_gradients(logit_model, x5, [4] * 5)
    # 3 samples per image, chunks of 4 items: chunks straddle images
    sg = attribute(model, x5, target=4, method="smoothgrad", samples=3, noise=0.0, batch_size=4)
    np.testing.assert_allclose(sg, np.abs(g).max(axis=-1), rtol=1e-5, atol=1e-7)
    vg = attribute(model, x5, target=4, method="vargrad", samples=3, noise=0.0, batch_size=4)
    np.testing.assert_allclose(vg, 0.0, atol=1e-9)
    sq = attribute(model, x5, target=4, method="squaregrad", samples=3, noise=0.0)
    np.testing.assert_allclose(sq, (g**2).max(axis=-1), rtol=1e-5, atol=1e-12)


def quadratic_net(head=None):
    """logit_c = sum_i W[i, c] * x_i^2: gradient 2 W x, so the noise statistics are known exactly."""
    keras.utils.set_random_seed(3)
    inp = keras.Input((4, 4, 2))
    x = keras.layers.Lambda(lambda t: t * t, name="square")(inp)
    x = keras.layers.Flatten(name="flat")(x)
    out = keras.layers.Dense(3, activation=head, use_bias=False, name="predictions")(x)
    return keras.Model(inp, out)


def test_smoothgrad_noise_scale_and_variance():
    model = quadratic_net("softmax")
    w = model.get_layer("predictions").get_weights()[0][:, 1].reshape(4, 4, 2)
    x = np.random.default_rng(1).uniform(-1, 2, (1, 4, 4, 2)).astype("float32")
    noise = 0.1
    sigma = noise * (x.max() - x.min())
    options = dict(target=1, samples=4000, noise=noise, seed=5)
    # E[2 W (x + e)] = 2 W x ; Var[2 W (x + e)] = 4 W^2 sigma^2 ; E[g^2] = 4 W^2 (x^2 + sigma^2)
    sg = attribute(model, x, method="smoothgrad", **options)
    np.testing.assert_allclose(sg[0], np.abs(2 * w * x[0]).max(-1), rtol=0.05, atol=0.02 * np.abs(w).max())
    vg = attribute(model, x, method="vargrad", **options)
    np.testing.assert_allclose(vg[0], (4 * w**2 * sigma**2).max(-1), rtol=0.1)
    sq = attribute(model, x, method="squaregrad", **options)
    np.testing.assert_allclose(sq[0], (4 * w**2 * (x[0] ** 2 + sigma**2)).max(-1), rtol=0.1)


def test_smoothgrad_seed_controls_noise(net, x5):
    model, _ = net
    a = attribute(model, x5[:2], target=0, method="smoothgrad", samples=8, seed=1)
    b = attribute(model, x5[:2], target=0, method="smoothgrad", samples=8, seed=1)
    c = attribute(model, x5[:2], target=0, method="smoothgrad", samples=8, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


# ---------------------------------------------------------------------------
# integrated gradients


@pytest.mark.parametrize("builder", [smooth_net, conv_net], ids=["tanh-softplus", "relu-cnn"])
def test_integrated_gradients_completeness(builder):
    model = builder()
    logit_model = linear_copy(model, builder)
    shape = model.input_shape[1:]
    x = np.random.default_rng(2).uniform(0, 1, (3,) + shape).astype("float32")
    baseline = np.full(shape, 0.25, "float32")
    targets = [0, 2, 4]
    maps = attribute(model, x, target=targets, method="integrated_gradients", steps=128, baseline=baseline)
    f_x = logits_of(logit_model, x)[np.arange(3), targets]
    f_b = logits_of(logit_model, np.broadcast_to(baseline, x.shape).copy())[np.arange(3), targets]
    np.testing.assert_allclose(maps.reshape(3, -1).sum(axis=1), f_x - f_b, rtol=0.01)
    assert np.all(np.abs(f_x - f_b) > 1e-3)  # the identity is not vacuous


def test_integrated_gradients_is_a_midpoint_sum(net, x5):
    model, logit_model = net
    steps = 4
    total = np.zeros_like(x5)
    for k in range(steps):
        total += tape_gradients(logit_model, (k + 0.5) / steps * x5, [1] * 5)
    expected = (x5 * total / steps).sum(axis=-1)
    got = attribute(model, x5, target=1, method="integrated_gradients", steps=steps)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------------
# CAM family


def test_cam_equals_hand_computation():
    model = conv_net(pool_before_gap=False)  # feature map at input resolution: no upsampling
    logit_model = linear_copy(model, conv_net, pool_before_gap=False)
    x = images(3)
    features = keras.Model(model.input, model.get_layer("conv2").output)(x).numpy()
    kernel, bias = model.get_layer("predictions").get_weights()
    targets = [1, 3, 0]
    expected = np.stack([features[i] @ kernel[:, t] for i, t in enumerate(targets)])
    got = attribute(model, x, target=targets, method="cam")
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # CAM's defining identity: its spatial mean plus the bias is the logit
    logits = logits_of(logit_model, x)[np.arange(3), targets]
    np.testing.assert_allclose(got.mean(axis=(1, 2)) + bias[targets], logits, rtol=1e-5, atol=1e-6)


def test_cam_upsamples_bilinearly(net, x5):
    model, _ = net
    features = keras.Model(model.input, model.get_layer("conv2").output)(x5).numpy()  # (5, 6, 6, 8)
    kernel = model.get_layer("predictions").get_weights()[0]
    low = features @ kernel[:, 2]
    expected = tf.image.resize(low[..., None], (SIZE, SIZE), method="bilinear").numpy()[..., 0]
    np.testing.assert_allclose(attribute(model, x5, target=2, method="cam"), expected, rtol=1e-5, atol=1e-6)


def _features_and_grads(model, logit_model, layer, x, targets):
    feature_model = keras.Model(logit_model.input, [logit_model.get_layer(layer).output, logit_model.output])
    with tf.GradientTape() as tape:
        features, logits = feature_model(tf.constant(x))
        score = tf.reduce_sum(tf.gather(logits, np.asarray(targets)[:, None], batch_dims=1))
    return features.numpy(), tape.gradient(score, features).numpy()


def test_gradcam_equals_hand_computation(net, x5):
    model, logit_model = net
    targets = [0, 1, 2, 3, 4]
    for layer in ("conv2", "conv1"):
        a, g = _features_and_grads(model, logit_model, layer, x5, targets)
        weights = g.mean(axis=(1, 2))
        cam = np.maximum(np.einsum("nhwk,nk->nhw", a, weights), 0)
        expected = tf.image.resize(cam[..., None], (SIZE, SIZE), method="bilinear").numpy()[..., 0]
        got = attribute(model, x5, target=targets, method="gradcam", layer=layer if layer == "conv1" else None)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6, err_msg=layer)
        assert got.max() > 0


def test_gradcam_plus_plus_equals_hand_computation(net, x5):
    model, logit_model = net
    a, g = _features_and_grads(model, logit_model, "conv2", x5, [2] * 5)
    g = g.astype("float64")
    denom = 2 * g**2 + a.sum(axis=(1, 2), keepdims=True) * g**3
    alpha = np.where(denom != 0, g**2 / np.where(denom != 0, denom, 1), 0)
    weights = (alpha * np.maximum(g, 0)).sum(axis=(1, 2))
    cam = np.maximum(np.einsum("nhwk,nk->nhw", a, weights), 0)
    expected = tf.image.resize(cam[..., None].astype("float32"), (SIZE, SIZE), method="bilinear").numpy()[..., 0]
    got = attribute(model, x5, target=2, method="gradcam_plus_plus")
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-6)


def test_gradcam_default_layer_skips_one_by_one_maps_and_enters_nested_models():
    keras.utils.set_random_seed(0)
    inner_in = keras.Input((12, 12, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="b_conv1")(inner_in)
    h = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="b_conv2")(h)
    backbone = keras.Model(inner_in, h, name="backbone")
    inp = keras.Input((12, 12, 3))
    y = backbone(inp)
    y = keras.layers.Conv2D(6, 6, padding="valid", name="head_1x1")(y)  # (1, 1, 6)
    y = keras.layers.Flatten()(y)
    out = keras.layers.Dense(3, activation="softmax")(y)
    model = keras.Model(inp, out)
    assert GradCAM(model).layer_path == "backbone/b_conv2"
    assert attribute(model, images(2), method="gradcam").shape == (2, SIZE, SIZE)


# ---------------------------------------------------------------------------
# occlusion


def test_occlusion_equals_naive_loop(net):
    model, logit_model = net
    x = images(2, seed=4)
    patch, stride, fill, target = 4, 3, 0.5, 3
    base = logits_of(logit_model, x)[:, target]
    total = np.zeros(x.shape[:3])
    count = np.zeros(x.shape[1:3])
    starts = [0, 3, 6, 8]  # 0, 3, 6 and the last one moved to touch the edge (12 - 4)
    for r in starts:
        for c in starts:
            occluded = x.copy()
            occluded[:, r : r + patch, c : c + patch, :] = fill
            drop = base - logits_of(logit_model, occluded)[:, target]
            total[:, r : r + patch, c : c + patch] += drop[:, None, None]
            count[r : r + patch, c : c + patch] += 1
    expected = total / count
    got = attribute(model, x, target=target, method="occlusion", patch=patch, stride=stride, fill=fill)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------------
# guided backprop and deconvnet


def single_relu_net(head="softmax", relu="dense"):
    """x -> Dense -> one ReLU (inside the Dense, as a layer, or a capped ReLU layer) -> Dense."""
    keras.utils.set_random_seed(5)
    inp = keras.Input((6,))
    activation = "relu" if relu == "dense" else None
    h = keras.layers.Dense(10, activation=activation, bias_initializer=_bias(9), name="hidden")(inp)
    if relu == "activation":
        h = keras.layers.Activation("relu")(h)
    elif relu == "capped":
        h = keras.layers.ReLU(max_value=0.5)(h)
    out = keras.layers.Dense(3, activation=head, name="predictions")(h)
    return keras.Model(inp, out)


@pytest.mark.parametrize("relu", ["dense", "activation", "capped"])
def test_guided_backprop_and_deconvnet_change_only_the_relu_backward(relu):
    model = single_relu_net(relu=relu)
    w1, b1 = model.get_layer("hidden").get_weights()
    w2 = model.get_layer("predictions").get_weights()[0]
    x = np.random.default_rng(0).normal(size=(8, 6)).astype("float32")
    target = 1
    pre = x @ w1 + b1
    gate = ((pre > 0) & ((pre < 0.5) if relu == "capped" else True)).astype("float32")  # (8, 10)
    assert 0 < gate.mean() < 1
    upstream = w2[:, target]  # gradient reaching the ReLU output, (10,)
    plain = (gate * upstream) @ w1.T
    guided = (gate * np.maximum(upstream, 0)) @ w1.T
    deconv = np.broadcast_to(np.maximum(upstream, 0) @ w1.T, plain.shape)
    assert (upstream > 0).any() and (upstream < 0).any()

    for method, expected in (("gradient", plain), ("guided_backprop", guided), ("deconvnet", deconv)):
        got = attribute(model, x, target=target, method=method)
        np.testing.assert_allclose(got, np.abs(expected), rtol=1e-5, atol=1e-7, err_msg=method)
    assert not np.allclose(plain, guided)


def test_guided_equals_gradient_where_upstream_gradient_is_positive():
    model = single_relu_net()
    w2 = model.get_layer("predictions").get_weights()[0]
    positive = int(np.argmax((w2 > 0).sum(axis=0)))
    # make every upstream gradient positive for one class: guided == plain
    w2_pos = w2.copy()
    w2_pos[:, positive] = np.abs(w2_pos[:, positive]) + 0.01
    model.get_layer("predictions").set_weights([w2_pos, model.get_layer("predictions").get_weights()[1]])
    x = np.random.default_rng(1).normal(size=(4, 6)).astype("float32")
    np.testing.assert_allclose(
        attribute(model, x, target=positive, method="guided_backprop"), attribute(model, x, target=positive), rtol=1e-6
    )


# ---------------------------------------------------------------------------
# text models


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


# ---------------------------------------------------------------------------
# contract over every method and model kind


def _sequential():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(5, 3, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(CLASSES, activation="softmax"),
        ]
    )


def _nested():
    keras.utils.set_random_seed(0)
    inner_in = keras.Input((SIZE, SIZE, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="b1")(inner_in)
    h = keras.layers.MaxPooling2D(name="bpool")(h)
    h = keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="b2")(h)
    backbone = keras.Model(inner_in, h, name="backbone")
    inp = keras.Input((SIZE, SIZE, 3))
    y = keras.layers.Rescaling(2.0, offset=-1.0)(inp)
    y = backbone(y)
    y = keras.layers.GlobalAveragePooling2D()(y)
    out = keras.layers.Dense(CLASSES, activation="softmax")(y)
    return keras.Model(inp, out)


def _float_sequence():
    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 3))
    x = keras.layers.Conv1D(5, 3, activation="relu")(inp)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(inp, keras.layers.Dense(CLASSES, activation="softmax")(x))


CONTRACT_MODELS = {
    "sequential": (_sequential, lambda: images(3), (3, SIZE, SIZE)),
    "functional": (conv_net, lambda: images(3), (3, SIZE, SIZE)),
    "nested": (_nested, lambda: images(3), (3, SIZE, SIZE)),
    "text": (text_net, lambda: np.random.default_rng(0).integers(0, 40, (3, 20)), (3, 20)),
    "sequence": (_float_sequence, lambda: np.random.default_rng(0).normal(size=(3, 16, 3)), (3, 16)),
}
FAST_OPTIONS = {"smoothgrad": {"samples": 4}, "vargrad": {"samples": 4}, "squaregrad": {"samples": 4},
                "integrated_gradients": {"steps": 8}}


@pytest.fixture(scope="module")
def contract_models():
    return {name: (build(), make()) for name, (build, make, _) in CONTRACT_MODELS.items()}


@pytest.mark.parametrize("kind", list(CONTRACT_MODELS))
def test_every_method_honours_the_output_contract(kind, contract_models):
    model, inputs = contract_models[kind]
    expected = CONTRACT_MODELS[kind][2]
    for name in METHODS:
        maps = attribute(model, inputs, method=name, **FAST_OPTIONS.get(name, {}))
        assert isinstance(maps, np.ndarray) and maps.dtype == np.float32, name
        assert maps.shape == expected, (name, maps.shape)
        assert np.isfinite(maps).all(), name
        assert np.abs(maps).max() > 0, name
        one = attribute(model, inputs[0], method=name, **FAST_OPTIONS.get(name, {}))
        assert one.shape == (1,) + expected[1:], name


@pytest.mark.parametrize("name", list(METHODS))
def test_softmax_and_linear_heads_give_the_same_maps(name, net, x5):
    model, logit_model = net
    options = FAST_OPTIONS.get(name, {})
    targets = [0, 1, 2, 3, 4]
    np.testing.assert_allclose(
        attribute(model, x5, target=targets, method=name, **options),
        attribute(logit_model, x5, target=targets, method=name, **options),
        rtol=1e-5,
        atol=1e-7,
    )


# ---------------------------------------------------------------------------
# compiled functions are reused


def test_trace_counts_stay_flat():
    model = conv_net(seed=11)
    calls = [
        ("gradient", {}),
        ("smoothgrad", {"samples": 3}),
        ("integrated_gradients", {"steps": 4}),
        ("occlusion", {}),
        ("gradcam", {}),
        ("interior_gradients", {"alpha": 0.5}),
    ]
    for name, options in calls:
        attribute(model, images(1), method=name, **options)
    before = trace_count()
    for name, options in calls:
        for n, seed in ((1, 1), (3, 2), (7, 3)):
            attribute(model, images(n, seed=seed), method=name, target=seed % CLASSES, **options)
            attribute(model, images(n, seed=seed), method=name, batch_size=2, **options)
    attribute(model, images(2), method="smoothgrad", samples=5, noise=0.05, seed=9)
    attribute(model, images(2), method="integrated_gradients", steps=7, baseline=0.5)
    attribute(model, images(2), method="occlusion", patch=5, stride=2, fill=1.0)
    attribute(model, images(2), method="interior_gradients", alpha=[0.2, 0.4, 0.9])
    assert trace_count() == before
    # a different Grad-CAM layer is a different function, traced once
    attribute(model, images(2), method="gradcam", layer="conv1")
    attribute(model, images(4), method="gradcam", layer="conv1")
    assert trace_count() == before + 1
    assert trace_count("gradcam") >= 2


def test_any_image_size_without_retracing():
    keras.utils.set_random_seed(0)
    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x))
    names = ("gradient", "occlusion", "gradcam", "cam")
    for name in names:
        attribute(model, images(1, size=9), method=name)
    before = trace_count()
    for name in names:
        for size in (9, 16, 23):
            assert attribute(model, images(2, size=size), method=name).shape == (2, size, size)
    assert trace_count() == before


# ---------------------------------------------------------------------------
# errors


def test_cam_without_global_average_pooling_is_refused():
    keras.utils.set_random_seed(0)
    inp = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    x = keras.layers.Flatten(name="flat")(x)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x))
    with pytest.raises(MethodNotApplicableError, match="global average pooling"):
        attribute(model, images(1), method="cam")
    with pytest.raises(MethodNotApplicableError, match="global average pooling"):
        CAM(model)


def test_target_out_of_range_names_the_number_of_classes(net, x5):
    model, _ = net
    with pytest.raises(IndexOutOfRangeError, match=f"{CLASSES} classes"):
        attribute(model, x5, target=CLASSES)
    with pytest.raises(IndexOutOfRangeError, match=f"{CLASSES} classes"):
        attribute(model, x5, target=[0, 1, 2, 3, -1], method="smoothgrad")
    with pytest.raises(IndexError):
        attribute(model, x5, target=1.5)
    for value in (float("inf"), float("nan")):
        with pytest.raises(IndexOutOfRangeError, match="integer class index"):
            attribute(model, x5, target=value)
    with pytest.raises(InvalidInputError, match="one per image"):
        attribute(model, x5, target=[0, 1])


def test_unknown_method_lists_the_valid_ones(net, x5):
    model, _ = net
    with pytest.raises(UnknownMethodError) as err:
        attribute(model, x5, method="smoothgard")
    assert "smoothgrad" in str(err.value) and "integrated_gradients" in str(err.value)
    assert isinstance(err.value, ValueError)
    # names are forgiving about case and separators
    np.testing.assert_allclose(attribute(model, x5, method="Grad-CAM"), attribute(model, x5, method="gradcam"))


def test_gradcam_needs_a_feature_map_layer(net, x5):
    model, _ = net
    with pytest.raises(MethodNotApplicableError, match="4-D output"):
        attribute(model, x5, method="gradcam", layer="gap")
    with pytest.raises(MethodNotApplicableError, match="does not take a layer"):
        attribute(model, x5, method="gradient", layer="conv1")


def test_bad_options_are_reported(net, x5):
    model, _ = net
    with pytest.raises(InvalidInputError, match="samples"):
        attribute(model, x5, method="smoothgrad", samples=0)
    with pytest.raises(InvalidInputError, match="samples"):
        attribute(model, x5, method="smoothgrad", samples=2.5)
    # whole numbers from a UI's float fields are fine
    np.testing.assert_array_equal(
        attribute(model, x5, method="smoothgrad", samples=2.0, seed=3.0),
        attribute(model, x5, method="smoothgrad", samples=2, seed=3),
    )
    with pytest.raises(InvalidInputError, match="unknown option 'sample'"):
        attribute(model, x5, method="smoothgrad", sample=3)
    with pytest.raises(InvalidInputError, match="baseline"):
        attribute(model, x5, method="integrated_gradients", baseline=np.zeros((5, 5)))
    with pytest.raises(InvalidInputError, match="batch_size"):
        attribute(model, x5, batch_size=0)


def test_multi_input_models_ask_which_input_to_explain():
    a, b = keras.Input((4,)), keras.Input((4,))
    model = keras.Model([a, b], keras.layers.Dense(2)(keras.layers.Concatenate()([a, b])))
    with pytest.raises(InvalidInputError, match="2 inputs .*choose one with input="):
        attribute(model, [np.zeros((1, 4)), np.zeros((1, 4))])
    assert attribute(model, [np.zeros((1, 4)), np.ones((1, 4))], input=1).shape == (1, 4)


# ---------------------------------------------------------------------------
# the user's model is left alone


def _snapshot(model):
    return {
        "weights": [w.copy() for w in model.get_weights()],
        "activations": {layer.name: getattr(layer, "activation", None) for layer in model.layers},
        "nodes": {layer.name: len(layer._inbound_nodes) for layer in model.layers},
    }


def test_model_is_unchanged_by_every_method(x5):
    model = conv_net(seed=21)
    before = _snapshot(model)
    outputs = model(x5, training=False).numpy()
    for name in METHODS:
        attribute(model, x5, method=name, **FAST_OPTIONS.get(name, {}))
    after = _snapshot(model)
    for w0, w1 in zip(before["weights"], after["weights"]):
        np.testing.assert_array_equal(w0, w1)
    assert after["activations"] == before["activations"]
    assert after["nodes"] == before["nodes"]
    np.testing.assert_array_equal(model(x5, training=False).numpy(), outputs)
    np.testing.assert_allclose(outputs.sum(axis=1), 1.0, rtol=1e-5)  # still a softmax


def test_maps_follow_weight_updates_and_models_are_freed(x5):
    model = conv_net(seed=31)
    first = attribute(model, x5, target=0)
    model.set_weights([w * 1.5 for w in model.get_weights()])
    assert not np.allclose(attribute(model, x5, target=0), first)
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


# ---------------------------------------------------------------------------
# registry for UIs


def test_methods_registry_describes_labels_and_options():
    assert set(METHODS) == {
        "gradient", "gradient_x_input", "smoothgrad", "vargrad", "squaregrad", "integrated_gradients",
        "interior_gradients", "cam", "gradcam", "gradcam_plus_plus", "occlusion", "guided_backprop", "deconvnet",
        "lrp_epsilon", "lrp_gamma", "lrp_alpha_beta", "lrp_composite",
    }
    assert METHODS["smoothgrad"].options == {"samples": 50, "noise": 0.2, "seed": 0}
    assert METHODS["integrated_gradients"].options == {"baseline": 0.0, "steps": 50}
    assert METHODS["gradcam"].uses_layer and not METHODS["gradient"].uses_layer
    for name, cls in METHODS.items():
        assert cls.name == name and cls.label and cls.__doc__
    assert nbinterp.attribute is attribute
    assert isinstance(SmoothGrad(conv_net()), nbinterp.attribution.Attribution)
