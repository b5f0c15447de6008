"""The contract every method in METHODS honours: shapes, targets, errors, options, trace counts, model safety.
"""

import gc
import weakref

import keras
import numpy as np
import pytest

import nbinterp
from nbinterp.attribution import (
    METHODS,
    SmoothGrad,
    attribute,
    trace_count,
)
from nbinterp.errors import (
    IndexOutOfRangeError,
    InvalidInputError,
    UnknownMethodError,
)
from attribution_models import (
    CLASSES,
    SIZE,
    conv_net,
    text_net,
    images,
)


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
                "integrated_gradients": {"steps": 8}, "kernel_shap": {"samples": 64}, "lime": {"samples": 64},
                "rise": {"masks": 100}}


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


def test_methods_registry_describes_labels_and_options():
    assert set(METHODS) == {
        "gradient", "gradient_x_input", "smoothgrad", "vargrad", "squaregrad", "integrated_gradients",
        "interior_gradients", "cam", "gradcam", "gradcam_plus_plus", "occlusion", "guided_backprop", "deconvnet",
        "kernel_shap", "lime", "rise", "lrp_epsilon", "lrp_gamma", "lrp_alpha_beta", "lrp_composite",
    }
    assert METHODS["smoothgrad"].options == {"samples": 50, "noise": 0.2, "seed": 0}
    assert METHODS["integrated_gradients"].options == {"baseline": 0.0, "steps": 50}
    assert METHODS["gradcam"].uses_layer and not METHODS["gradient"].uses_layer
    for name, cls in METHODS.items():
        assert cls.name == name and cls.label and cls.__doc__
    assert nbinterp.attribute is attribute
    assert isinstance(SmoothGrad(conv_net()), nbinterp.attribution.Attribution)
