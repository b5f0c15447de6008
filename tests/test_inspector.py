"""Inspector: layers, params, kernels, activations and kernel responses against independent computations."""

import numpy as np
import pytest
import keras
import tensorflow as tf

from nbinterp import Inspector
from nbinterp.errors import (
    IndexOutOfRangeError,
    InputShapeError,
    InvalidInputError,
    NoKernelError,
    NotSupportedError,
    UnknownLayerError,
)


def naive_conv(x, w, stride=1, padding="valid", dilation=1):
    """Cross-correlation of one image x (H, W, C) with kernels w (kh, kw, C, O), by loops."""
    kh, kw, _, n_out = w.shape
    ekh, ekw = (kh - 1) * dilation + 1, (kw - 1) * dilation + 1
    H, W, _ = x.shape
    if padding == "same":
        out_h, out_w = -(-H // stride), -(-W // stride)
        pad_h = max((out_h - 1) * stride + ekh - H, 0)
        pad_w = max((out_w - 1) * stride + ekw - W, 0)
        x = np.pad(x, ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
    H, W, _ = x.shape
    out_h, out_w = (H - ekh) // stride + 1, (W - ekw) // stride + 1
    out = np.zeros((out_h, out_w, n_out))
    for i in range(out_h):
        for j in range(out_w):
            patch = x[i * stride : i * stride + ekh : dilation, j * stride : j * stride + ekw : dilation, :]
            out[i, j] = np.tensordot(patch, w, axes=([0, 1, 2], [0, 1, 2]))
    return out


def naive_conv1d(x, w, padding="valid", dilation=1):
    """x (T, C), w (k, C, O)."""
    k = w.shape[0]
    ek = (k - 1) * dilation + 1
    if padding == "causal":
        x = np.pad(x, ((ek - 1, 0), (0, 0)))
    elif padding == "same":
        total = ek - 1
        x = np.pad(x, ((total // 2, total - total // 2), (0, 0)))
    T = x.shape[0] - ek + 1
    return np.stack([np.tensordot(x[t : t + ek : dilation], w, axes=([0, 1], [0, 1])) for t in range(T)])


@pytest.fixture(scope="module")
def cnn():
    keras.utils.set_random_seed(1)
    inp = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inp)
    x = keras.layers.Conv2D(5, 3, strides=2, padding="valid", activation="relu", name="conv2")(x)
    x = keras.layers.Conv2D(3, 3, padding="same", dilation_rate=2, activation="tanh", name="conv3")(x)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw")(x)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Flatten(name="flat")(x)
    x = keras.layers.Dense(3, activation="softmax", name="out")(x)
    return keras.Model(inp, x, name="cnn")


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0, 1, (4, 12, 12, 3)).astype("float32")


@pytest.fixture(scope="module")
def nested():
    keras.utils.set_random_seed(2)
    backbone = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    inp = keras.Input((32, 32, 3))
    x = backbone(inp)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(4, activation="softmax", name="head")(x)
    return keras.Model(inp, x, name="classifier"), backbone


def test_params_add_up_to_keras_count(cnn, nested):
    for model in (cnn, nested[0]):
        ins = Inspector(model)
        top = [info for info in ins.layers if info.depth == 0]
        assert sum(info.params for info in top) == model.count_params()
        assert sum(info.trainable_params for info in top) == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        for info in ins.layers:
            if not info.is_group:
                layer = ins.plan.resolve(info.name).op
                assert info.params == layer.count_params()
    ins = Inspector(cnn)
    conv1 = ins.layer("conv1")
    assert conv1.params == 3 * 3 * 3 * 4 + 4 and conv1.has_kernel and conv1.kind == "Conv2D"
    assert conv1.output_shape == (None, 12, 12, 4) and conv1.channels == 4
    assert not ins.layer("pool").has_kernel


def test_frozen_layers_count_as_non_trainable(nested):
    model, backbone = nested
    backbone.trainable = False
    try:
        ins = Inspector(model)
        info = ins.layer("vgg16")
        assert info.is_group and info.trainable_params == 0 and info.params == backbone.count_params()
        assert ins.summary().non_trainable_params == backbone.count_params()
    finally:
        backbone.trainable = True


def test_nested_layers_resolve_and_match_hand_built_submodel(nested):
    model, backbone = nested
    ins = Inspector(model)
    assert "vgg16/block1_conv1" in ins.layer_names
    assert ins.layer("vgg16/block3_conv2").output_shape == (None, 8, 8, 256)
    x = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    sub = keras.Model(backbone.inputs, backbone.get_layer("block3_conv2").output)
    np.testing.assert_allclose(ins.activations("vgg16/block3_conv2", x), sub(x), rtol=1e-5, atol=1e-4)
    # a unique bare name resolves too
    np.testing.assert_allclose(ins.activations("block3_conv2", x), sub(x), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(ins.predict(x), model(x), rtol=1e-5, atol=1e-6)


def test_activations_equal_submodel_for_sequential():
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((10, 10, 1)),
            keras.layers.Conv2D(3, 3, activation="relu", name="c1"),
            keras.layers.MaxPooling2D(name="p1"),
            keras.layers.Flatten(),
            keras.layers.Dense(2, name="d"),
        ]
    )
    ins = Inspector(model)
    x = np.random.default_rng(2).uniform(size=(3, 10, 10, 1)).astype("float32")
    w, b = model.get_layer("c1").get_weights()
    expected = np.stack([np.maximum(naive_conv(im, w) + b, 0) for im in x])
    np.testing.assert_allclose(ins.activations("c1", x), expected, rtol=1e-5, atol=1e-5)
    # grayscale without channel axis is accepted
    np.testing.assert_allclose(ins.activations("c1", x[0, :, :, 0]), expected[:1], rtol=1e-5, atol=1e-5)


def test_kernels_and_bias_layouts(cnn):
    ins = Inspector(cnn)
    assert ins.kernels("conv1").shape == (3, 3, 3, 4)
    assert ins.kernels("dw").shape == (3, 3, 3, 2)
    assert ins.kernels("out").shape == (2 * 2 * 6, 3)  # flattened 2x2x6 pool output -> 3 classes
    np.testing.assert_array_equal(ins.kernels("conv2"), cnn.get_layer("conv2").get_weights()[0])
    np.testing.assert_array_equal(ins.bias("conv2"), cnn.get_layer("conv2").get_weights()[1])
    conv1d = keras.Sequential([keras.Input((20, 4)), keras.layers.Conv1D(6, 5, name="c", use_bias=False)])
    ins1 = Inspector(conv1d)
    assert ins1.kernels("c").shape == (5, 4, 6)
    assert ins1.bias("c") is None


def test_first_layer_kernel_response_equals_pre_activation(cnn, images):
    ins = Inspector(cnn)
    pre = ins.pre_activations("conv1", images[0])
    w, b = cnn.get_layer("conv1").get_weights()
    np.testing.assert_allclose(pre[0], naive_conv(images[0], w, padding="same") + b, rtol=1e-5, atol=1e-5)
    for k in range(4):
        resp = ins.kernel_response("conv1", k, images[0])
        assert resp.shape == (12, 12)
        np.testing.assert_allclose(resp, pre[0, :, :, k], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layer", ["conv2", "conv3"])
def test_deeper_kernel_response_equals_explicit_conv_of_previous_activation(cnn, images, layer):
    ins = Inspector(cnn)
    conv = cnn.get_layer(layer)
    w, b = conv.get_weights()
    prev = ins.layer_input(layer, images[1])[0]
    expected = naive_conv(prev, w, stride=conv.strides[0], padding=conv.padding, dilation=conv.dilation_rate[0]) + b
    pre = ins.pre_activations(layer, images[1])[0]
    np.testing.assert_allclose(pre, expected, rtol=1e-4, atol=1e-5)
    k = w.shape[-1] - 1
    np.testing.assert_allclose(ins.kernel_response(layer, k, images[1]), expected[..., k], rtol=1e-4, atol=1e-5)
    # per-input-channel contributions sum (plus bias) to the full response
    parts = [ins.kernel_response(layer, k, images[1], input_channel=c) for c in range(w.shape[2])]
    np.testing.assert_allclose(
        parts[0], naive_conv(prev[..., :1], w[:, :, :1, k : k + 1], conv.strides[0], conv.padding, conv.dilation_rate[0])[..., 0],
        rtol=1e-4, atol=1e-5,
    )
    np.testing.assert_allclose(np.sum(parts, axis=0) + b[k], expected[..., k], rtol=1e-4, atol=1e-5)


def test_depthwise_kernel_response(cnn, images):
    ins = Inspector(cnn)
    dw = cnn.get_layer("dw")
    w, b = dw.get_weights()  # (3, 3, 3, 2)
    prev = ins.layer_input("dw", images[2])[0]
    pre = ins.pre_activations("dw", images[2])[0]
    for k in (0, 3, 5):
        c, m = divmod(k, 2)
        expected = naive_conv(prev[..., c : c + 1], w[:, :, c : c + 1, m : m + 1], padding="same")[..., 0] + b[k]
        np.testing.assert_allclose(ins.kernel_response("dw", k, images[2]), expected, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(pre[..., k], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("padding,dilation", [("valid", 1), ("same", 2), ("causal", 2)])
def test_conv1d_kernel_response(padding, dilation):
    keras.utils.set_random_seed(4)
    model = keras.Sequential(
        [
            keras.Input((30, 3)),
            keras.layers.Conv1D(4, 3, padding="same", activation="relu", name="c1"),
            keras.layers.Conv1D(5, 3, padding=padding, dilation_rate=dilation, activation="relu", name="c2"),
        ]
    )
    ins = Inspector(model)
    x = np.random.default_rng(5).normal(size=(30, 3)).astype("float32")
    prev = ins.layer_input("c2", x)[0]
    w, b = model.get_layer("c2").get_weights()
    expected = naive_conv1d(prev, w, padding=padding, dilation=dilation) + b
    for k in range(5):
        resp = ins.kernel_response("c2", k, x)
        assert resp.ndim == 1
        np.testing.assert_allclose(resp, expected[:, k], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ins.pre_activations("c2", x)[0], expected, rtol=1e-4, atol=1e-5)


def test_no_retrace_across_images_and_batch_sizes(cnn):
    ins = Inspector(cnn)
    rng = np.random.default_rng(6)
    before = ins.trace_count
    ins.activations("conv2", rng.uniform(size=(1, 12, 12, 3)))
    ins.kernel_response("conv2", 0, rng.uniform(size=(12, 12, 3)))
    ins.kernel_response("conv2", 1, rng.uniform(size=(12, 12, 3)), input_channel=2)
    after_first = ins.trace_count
    # at most three traces: conv2's output and input in one forward pass, the kernel response,
    # one input channel's part (the two response functions are shared by every conv layer of
    # the same configuration, so another test may have traced them already)
    assert 1 <= after_first - before <= 3
    for i in range(10):
        ins.activations("conv2", rng.uniform(size=(12, 12, 3)))
        ins.kernel_response("conv2", i % 5, rng.uniform(size=(12, 12, 3)), input_channel=(i % 4) if i % 2 else None)
    for n in (2, 5, 9):
        ins.activations("conv2", rng.uniform(size=(n, 12, 12, 3)))
    assert ins.trace_count == after_first


def test_cache_hits_and_evicts_at_budget(cnn, images):
    per_entry = 1 * 12 * 12 * 4 * 4  # one image at conv1, float32
    ins = Inspector(cnn, cache_bytes=3 * per_entry)
    first = ins.activations("conv1", images[0])
    hits = ins.cache.hits
    again = ins.activations("conv1", images[0])
    assert ins.cache.hits == hits + 1 and again is first
    assert not again.flags.writeable
    for im in images:
        ins.activations("conv1", im)
    assert ins.cache.nbytes <= 3 * per_entry
    assert len(ins.cache) == 3 and ins.cache.evictions >= 1
    # the oldest image was evicted and is computed again (a miss)
    misses = ins.cache.misses
    ins.activations("conv1", images[0])
    assert ins.cache.misses == misses + 1


def test_preprocess_is_applied_once():
    calls = []

    def preprocess(x):
        calls.append(x.shape)
        return x * 2.0 - 1.0

    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(1, 1, use_bias=False, name="c", kernel_initializer="ones")])
    ins = Inspector(model, preprocess=preprocess)
    x = np.arange(16, dtype="uint8").reshape(4, 4, 1)
    out = ins.activations("c", x)
    assert len(calls) == 1
    np.testing.assert_allclose(out[0, :, :, 0], x[:, :, 0] * 2.0 - 1.0)
    assert np.array_equal(x, np.arange(16, dtype="uint8").reshape(4, 4, 1))  # input left untouched


def test_errors_are_typed_and_clear(cnn, images):
    ins = Inspector(cnn)
    with pytest.raises(UnknownLayerError, match="conv2"):
        ins.activations("conv_2", images)
    with pytest.raises(NoKernelError, match="pool"):
        ins.kernels("pool")
    with pytest.raises(IndexOutOfRangeError, match="0 to 3"):
        ins.kernel_response("conv1", 4, images[0])
    with pytest.raises(IndexOutOfRangeError):
        ins.kernel_response("conv2", 0, images[0], input_channel=7)
    with pytest.raises(InputShapeError, match=r"\(12, 12, 3\)"):
        ins.activations("conv1", np.zeros((2, 28, 28, 3)))
    with pytest.raises(InputShapeError, match="one image"):
        ins.kernel_response("conv1", 0, images)
    bad = images[:1].copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        ins.activations("conv1", bad)
    with pytest.raises(InvalidInputError, match="empty"):
        ins.activations("conv1", np.zeros((0, 12, 12, 3)))
    with pytest.raises(NotSupportedError, match="Dense"):
        ins.kernel_response("out", 0, images[0])
    a, b = keras.Input((3,), name="a"), keras.Input((3,), name="b")
    two = keras.Model([a, b], keras.layers.Add()([a, b]))
    with pytest.raises(InvalidInputError, match="2 inputs"):
        Inspector(two).predict(np.zeros((1, 3)))


def test_model_is_left_untouched(cnn, images):
    before = [w.copy() for w in cnn.get_weights()]
    nodes = {layer.name: len(layer._inbound_nodes) for layer in cnn.layers}
    out_before = np.asarray(cnn(images))
    ins = Inspector(cnn)
    ins.pre_activations("out", images)
    ins.logits(images)
    ins.kernel_response("conv2", 1, images[0])
    assert all(np.array_equal(a, b) for a, b in zip(before, cnn.get_weights()))
    assert {layer.name: len(layer._inbound_nodes) for layer in cnn.layers} == nodes
    assert cnn.get_layer("out").activation is keras.activations.softmax
    np.testing.assert_allclose(cnn(images), out_before, rtol=1e-6)
    np.testing.assert_allclose(tf.nn.softmax(ins.logits(images)), out_before, rtol=1e-5, atol=1e-6)


def test_summary_text_and_html_escape_user_names(tmp_path):
    inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 3, name="<img src=x onerror=alert(1)>")(inp)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inp, keras.layers.Dense(2)(x), name="m&m")
    summary = Inspector(model).summary()
    assert "<img src=x onerror=alert(1)>" in summary.text
    assert "<img" not in summary.html and "&lt;img src=x onerror=alert(1)&gt;" in summary.html
    assert f"{model.count_params():,}" in summary.text
    assert summary.total_params == model.count_params()
    # .keras files load with safe mode
    path = tmp_path / "m.keras"
    model.save(path)
    ins = Inspector(str(path))
    assert ins.summary().total_params == model.count_params()


def test_grouped_conv_kernel_response():
    keras.utils.set_random_seed(7)
    model = keras.Sequential([keras.Input((9, 9, 4)), keras.layers.Conv2D(6, 3, groups=2, padding="same", name="g")])
    ins = Inspector(model)
    x = np.random.default_rng(8).normal(size=(9, 9, 4)).astype("float32")
    w, b = model.get_layer("g").get_weights()  # (3, 3, 2, 6)
    for k in (1, 4):
        group = k // 3
        xs = x[..., 2 * group : 2 * group + 2]
        expected = naive_conv(xs, w[..., k : k + 1], padding="same")[..., 0] + b[k]
        np.testing.assert_allclose(ins.kernel_response("g", k, x), expected, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(ins.pre_activations("g", x)[0, ..., k], expected, rtol=1e-4, atol=1e-5)
        c = 2 * group + 1
        part = naive_conv(x[..., c : c + 1], w[:, :, 1:2, k : k + 1], padding="same")[..., 0]
        np.testing.assert_allclose(ins.kernel_response("g", k, x, input_channel=c), part, rtol=1e-4, atol=1e-5)
    with pytest.raises(NotSupportedError, match="group"):
        ins.kernel_response("g", 0, x, input_channel=3)


def test_kernel_shape_matches_kernels(cnn):
    ins = Inspector(cnn)
    for name in ("conv1", "conv2", "dw", "out"):
        assert ins.kernel_shape(name) == ins.kernels(name).shape
    with pytest.raises(NoKernelError):
        ins.kernel_shape("pool")


# --------------------------------------------------------------------------- more convolution kinds
def _conv_kinds_model(fmt="channels_last"):
    keras.utils.set_random_seed(3)
    shape = (10, 10, 3) if fmt == "channels_last" else (3, 10, 10)
    inp = keras.Input(shape)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", data_format=fmt, name="conv")(inp)
    x = keras.layers.SeparableConv2D(5, 3, depth_multiplier=2, padding="same", activation="relu",
                                     bias_initializer="random_normal", data_format=fmt, name="sep")(x)
    x = keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu",
                                     bias_initializer="random_normal", data_format=fmt, name="up")(x)
    return keras.Model(inp, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D(data_format=fmt)(x)))


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_kernel_responses_of_separable_and_transposed_convolutions_equal_the_pre_activation(fmt):
    model = _conv_kinds_model(fmt)
    ins = Inspector(model)
    image = np.random.default_rng(0).uniform(size=model.input_shape[1:]).astype("float32")
    channel_axis = -1 if fmt == "channels_last" else 1
    for name, outputs, inputs in (("sep", 5, 4), ("up", 3, 5)):
        pre = np.moveaxis(ins.pre_activations(name, image), channel_axis, -1)[0]
        for k in range(outputs):
            response = ins.kernel_response(name, k, image)
            np.testing.assert_allclose(response, pre[..., k], rtol=1e-4, atol=1e-5, err_msg=f"{name} {k}")
            parts = sum(ins.kernel_response(name, k, image, input_channel=c) for c in range(inputs))
            bias = ins.bias(name)[k]
            np.testing.assert_allclose(parts + bias, pre[..., k], rtol=1e-4, atol=1e-5)


def test_separable_depthwise_stage_equals_tf_depthwise_conv():
    model = _conv_kinds_model()
    ins = Inspector(model)
    image = np.random.default_rng(1).uniform(size=(10, 10, 3)).astype("float32")
    layer_in = ins.layer_input("sep", image)
    expected = tf.nn.depthwise_conv2d(layer_in, model.get_layer("sep").depthwise_kernel, (1, 1, 1, 1), "SAME")[0]
    np.testing.assert_allclose(ins.depthwise_stage("sep", image), expected.numpy(), rtol=1e-5, atol=1e-6)
    mixed = ins.depthwise_stage("sep", image) @ ins.pointwise_kernels("sep") + ins.bias("sep")
    np.testing.assert_allclose(mixed, ins.pre_activations("sep", image)[0], rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- nested rows and files
def test_top_level_rows_sum_to_count_params_and_inner_rows_name_their_parent():
    keras.utils.set_random_seed(0)
    inner_in = keras.Input((12, 12, 3))
    h = keras.layers.Conv2D(4, 3, name="c1")(inner_in)
    h = keras.layers.BatchNormalization(name="bn")(h)
    base = keras.Model(inner_in, h, name="base")
    model = keras.Sequential([keras.Input((12, 12, 3)), base, keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(3)])
    rows = Inspector(model).layers
    assert sum(r.params for r in rows if r.depth == 0) == model.count_params()
    inner = [r for r in rows if r.depth == 1]
    assert {r.name for r in inner} == {"base/c1", "base/bn"} and all(r.parent == "base" for r in inner)
    assert sum(r.params for r in inner) == base.count_params()


def test_legacy_h5_files_open_by_path_and_custom_objects_are_named(tmp_path):
    keras.utils.set_random_seed(1)
    inp = keras.Input((8, 8, 1))
    x = keras.layers.SeparableConv2D(4, 3, activation="relu", name="sep")(inp)
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x)))
    path = tmp_path / "legacy.h5"
    model.save(path)  # Keras 2 style full-model HDF5
    x = np.random.default_rng(0).uniform(size=(2, 8, 8, 1)).astype("float32")
    loaded = Inspector(str(path))
    np.testing.assert_allclose(loaded.activations("sep", x), Inspector(model).activations("sep", x), rtol=1e-6)

    @keras.saving.register_keras_serializable(package="nbinterp_test")
    class Doubler(keras.layers.Layer):
        def call(self, inputs):
            return inputs * 2

    inp = keras.Input((3,))
    custom = keras.Model(inp, keras.layers.Dense(2)(Doubler(name="double")(inp)))
    custom_path = tmp_path / "custom.keras"
    custom.save(custom_path)
    keras.saving.get_custom_objects().pop("nbinterp_test>Doubler", None)
    with pytest.raises(InvalidInputError, match="needs custom objects to load: .*Doubler"):
        Inspector(custom_path)
    objects = {"nbinterp_test>Doubler": Doubler}
    assert Inspector(custom_path, custom_objects=objects).layer("double").kind == "Doubler"
