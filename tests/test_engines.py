"""The shared compiled engines and their one owner (nbinterp.core.compiled / engines).

Trace counts are read from the package-wide counter before and after, on
models built for the test, so earlier tests cannot make them pass.
"""

import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

from nbinterp import Inspector
from nbinterp.attribution import METHODS, attribute
from nbinterp.core import backward, compiled
from nbinterp.core.engines import engines_for
from nbinterp.errors import CancelledError, InvalidInputError

GRADIENT_FAMILY = ("gradient", "gradient_x_input", "smoothgrad", "vargrad", "squaregrad",
                   "integrated_gradients", "interior_gradients")
SMALL = {"smoothgrad": {"samples": 3}, "vargrad": {"samples": 3}, "squaregrad": {"samples": 3},
         "integrated_gradients": {"steps": 4}}


def cnn(seed=0, size=12, classes=4, depth=2):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3))
    x = inp
    for i in range(depth):
        x = keras.layers.Conv2D(4 + i, 3, padding="same", activation="relu", name=f"conv{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, keras.layers.Dense(classes, activation="softmax", name="out")(x))


def images(n, size=12, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, size, size, 3)).astype("float32")


def traces():
    return {kind: compiled.trace_count(kind) for kind in ("forward", "gradient", "feature_gradient")}


def delta(before):
    now = traces()
    return {k: now[k] - before[k] for k in now}


@pytest.mark.parametrize("target", [2, None])
def test_the_gradient_family_traces_the_model_once(target):
    model = cnn(seed=1)
    before = traces()
    for name in GRADIENT_FAMILY + ("guided_backprop", "deconvnet"):
        attribute(model, images(2), method=name, target=target, **SMALL.get(name, {}))
    # one gradient engine for nine methods and every backward rule; top classes come from it too
    assert delta(before) == {"forward": 0, "gradient": 1, "feature_gradient": 0}


def test_cam_family_shares_one_engine_per_layer_and_occlusion_reuses_it():
    model = cnn(seed=2)
    before = traces()
    for name in ("cam", "gradcam", "gradcam_plus_plus", "occlusion"):
        attribute(model, images(2), method=name)
    assert delta(before) == {"forward": 0, "gradient": 0, "feature_gradient": 1}
    attribute(model, images(2), method="gradcam", layer="conv0")
    assert delta(before)["feature_gradient"] == 2


def test_forward_work_gives_the_same_logits_on_every_engine():
    model = cnn(seed=3)
    x = images(3)
    engines = engines_for(model)
    expected = engines.run(engines.head_keys(), [x])[-1]  # the forward engine
    compiled.forget(model)
    engines.gradients(x, np.full(3, -1, np.int32), [x])
    np.testing.assert_allclose(engines.logits([x], via_gradients=True), expected, rtol=1e-5, atol=1e-6)
    engines.feature_gradients(engines.feature_layer_key(), [x], np.full(3, -1, np.int32))
    np.testing.assert_allclose(engines.logits([x]), expected, rtol=1e-5, atol=1e-6)


def test_switching_among_twenty_layers_after_one_all_layer_pass_traces_nothing():
    model = cnn(seed=4, depth=20)
    ins = Inspector(model)
    x = images(1)
    ins.warm_layers(x)
    before = ins.trace_count
    hits = ins.cache.hits
    layers = [name for name in ins.layer_names if name.startswith("conv")]
    assert len(layers) == 20
    for name in layers:
        expected = keras.Model(model.input, model.get_layer(name).output)(x).numpy()
        np.testing.assert_allclose(ins.activations(name, x), expected, rtol=1e-5, atol=1e-6)
        ins.pre_activations(name, x)
    assert ins.trace_count == before
    assert ins.cache.hits - hits == 40


def test_warm_layers_splits_into_groups_within_the_cache_budget():
    model = cnn(seed=5, depth=6, size=16)
    x = images(2, size=16)
    per_layer = 2 * 16 * 16 * 8 * 4
    ins = Inspector(model, cache_bytes=6 * per_layer)
    ins.warm_layers(x)
    assert ins.cache.nbytes <= ins.cache.max_bytes
    np.testing.assert_allclose(
        ins.activations("conv5", x), keras.Model(model.input, model.get_layer("conv5").output)(x).numpy(),
        rtol=1e-5, atol=1e-6,
    )


def test_compiled_functions_stay_within_their_budget(monkeypatch):
    keras.utils.set_random_seed(6)
    inp = keras.Input((10, 10, 3))
    x = inp
    for i in range(40):
        x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name=f"c{i}")(x)
    model = keras.Model(inp, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x)))
    xs = images(1, size=10)
    attribute(model, xs, method="gradcam", layer="c0")
    one = compiled.stats(model).by_kind["feature_gradient"][1]
    assert one > 0
    monkeypatch.setattr(compiled, "budget", 5 * one)
    first = attribute(model, xs, method="gradcam", layer="c3")
    for i in range(40):
        attribute(model, xs, method="gradcam_plus_plus", layer=f"c{i}")
        attribute(model, xs, method="gradcam", layer=f"c{i}")
        assert compiled.stats().nbytes <= 5 * one
    assert compiled.stats().evictions > 0
    # an evicted engine is traced again on demand and gives the same map
    np.testing.assert_allclose(attribute(model, xs, method="gradcam", layer="c3"), first, rtol=1e-5, atol=1e-7)


def test_progress_arrives_in_order_and_cancel_stops_within_one_chunk():
    model = cnn(seed=7)
    seen = []
    attribute(model, images(2), method="smoothgrad", samples=10, batch_size=4, target=0, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 5

    stop = threading.Event()
    chunks = []

    def progress(fraction):
        chunks.append(fraction)
        stop.set()  # ask to stop after the first chunk

    with pytest.raises(CancelledError):
        attribute(model, images(2), method="occlusion", patch=2, stride=1, batch_size=8,
                  progress=progress, cancel=stop)
    assert len(chunks) == 1
    with pytest.raises(InvalidInputError, match="cancel"):
        attribute(model, images(1), cancel=3)


def test_huge_sample_counts_are_refused_with_the_bound():
    model = cnn(seed=8)
    with pytest.raises(InvalidInputError, match="samples must be an integer between 1 and 10000"):
        attribute(model, images(1), method="smoothgrad", samples=10**7)


def test_every_option_is_declared_once_with_a_ui_hint():
    for name, cls in METHODS.items():
        assert cls.options == {o.name: o.default for o in cls.option_table}, name
        for option in cls.option_table:
            assert option.ui in (None, "int", "float", "bool", "choice") and option.text
            assert option.check(option.default) is not None or option.default is None
    assert not any(c.follows_selected_layer for n, c in METHODS.items() if n != "gradcam" and n != "gradcam_plus_plus")
    assert METHODS["gradcam"].follows_selected_layer and not METHODS["cam"].follows_selected_layer


# --------------------------------------------------------------------------- backward rules
def leaky_relu6_net():
    keras.utils.set_random_seed(9)
    inp = keras.Input((6,))
    h = keras.layers.Dense(10, name="a")(inp)
    h = keras.layers.LeakyReLU(negative_slope=0.2, name="leaky")(h)
    h = keras.layers.Dense(10, activation="relu6", name="b")(h)
    return keras.Model(inp, keras.layers.Dense(3, name="out")(h))


def test_guided_and_deconvnet_rules_on_leaky_relu_and_relu6_equal_hand_computation():
    model = leaky_relu6_net()
    (wa, ba), (wb, bb), (wo, _) = (model.get_layer(n).get_weights() for n in ("a", "b", "out"))
    x = np.random.default_rng(0).normal(size=(5, 6)).astype("float32") * 3
    target = 1
    pa = x @ wa + ba
    ha = np.where(pa > 0, pa, 0.2 * pa)
    pb = ha @ wb + bb
    d_b = ((pb > 0) & (pb < 6)).astype("float32")
    d_a = np.where(pa > 0, 1.0, 0.2).astype("float32")
    g = wo[:, target]
    guided = ((np.maximum((np.maximum(g, 0) * d_b) @ wb.T, 0)) * d_a) @ wa.T
    deconv = np.maximum(np.maximum(np.broadcast_to(g, pb.shape), 0) @ wb.T, 0) @ wa.T
    np.testing.assert_allclose(attribute(model, x, target=target, method="guided_backprop"), np.abs(guided),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(attribute(model, x, target=target, method="deconvnet"), np.abs(deconv),
                               rtol=1e-4, atol=1e-6)


def test_rules_cover_the_relu_family_only():
    model = leaky_relu6_net()
    plan = Inspector(model).plan
    steps = {s.path: s for s in plan.steps}
    assert backward.is_relu_family(steps["leaky"], "leaky_relu")
    assert backward.is_relu_family(steps["b"], "relu6")
    assert not backward.is_relu_family(steps["b"], "tanh")
    assert backward.override("gradient") is None
    with pytest.raises(ValueError, match="rules are"):
        backward.override("bogus")


# --------------------------------------------------------------------------- one model resolver
def test_every_entry_point_takes_a_model_file(tmp_path):
    model = cnn(seed=10)
    path = tmp_path / "model.keras"
    model.save(path)
    x = images(2)
    np.testing.assert_allclose(attribute(str(path), x, target=1), attribute(model, x, target=1), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(attribute(path, x, target=1, method="gradcam"),
                               attribute(model, x, target=1, method="gradcam"), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(attribute(Inspector(model), x, target=1), attribute(model, x, target=1), rtol=1e-6)


def test_unreadable_model_files_say_what_is_wrong(tmp_path):
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip file")
    with pytest.raises(InvalidInputError, match="exists but is not a readable Keras model"):
        Inspector(broken)
    with pytest.raises(InvalidInputError, match="no model file"):
        attribute(tmp_path / "missing.keras", images(1))
    with pytest.raises(InvalidInputError, match="preprocess must be a function"):
        Inspector(cnn(), preprocess=5)


def test_compiled_functions_die_with_their_model():
    import gc
    import weakref

    model = cnn(seed=11)
    attribute(model, images(1))
    assert compiled.stats(model).functions >= 1
    ref = weakref.ref(model)
    before = compiled.stats().functions
    del model
    gc.collect()
    assert ref() is None
    assert compiled.stats().functions < before


def test_engines_run_inside_tf_functions_without_a_model_reference():
    model = cnn(seed=12)
    engines = engines_for(model)
    assert not any(getattr(v, "__self__", None) is model for v in vars(engines).values())
    x = images(2)
    grads, logits, used = engines.gradients(x, np.array([1, -1], np.int32), [x])
    assert grads.shape == (2, 12, 12, 3) and used[0] == 1 and used[1] == logits[1].argmax()
    tf.debugging.assert_all_finite(grads, "gradients")


# --------------------------------------------------------------------------- data formats and CAM heads
def _pair_of_formats(seed=13):
    """The same network in channels_last and channels_first layouts, with the same weights."""
    keras.utils.set_random_seed(seed)
    models = []
    for fmt, shape in (("channels_last", (12, 12, 3)), ("channels_first", (3, 12, 12))):
        inp = keras.Input(shape)
        x = keras.layers.Conv2D(5, 3, padding="same", activation="relu", data_format=fmt, name="c1")(inp)
        x = keras.layers.MaxPooling2D(data_format=fmt, name="pool")(x)
        x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", data_format=fmt, name="c2")(x)
        x = keras.layers.GlobalAveragePooling2D(data_format=fmt, name="gap")(x)
        models.append(keras.Model(inp, keras.layers.Dense(4, activation="softmax", name="out")(x)))
    models[1].set_weights(models[0].get_weights())  # conv kernels are (kh, kw, in, out) in both
    return models


def test_channels_first_models_get_the_maps_of_the_channels_last_model():
    last, first = _pair_of_formats()
    x = images(3)
    x_first = np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)))
    for name in METHODS:
        if name == "interior_gradients" or name.startswith("lrp") or name in ("kernel_shap", "lime", "rise"):
            continue
        options = dict(SMALL.get(name, {}))
        if "samples" in options:  # noise is drawn in the input's own layout: compare without it
            options["noise"] = 0.0
        expected = attribute(last, x, target=1, method=name, **options)
        got = attribute(first, x_first, target=1, method=name, **options)
        assert got.shape == (3, 12, 12), name
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5, err_msg=name)


def test_mixed_data_formats_are_refused_clearly():
    inp = keras.Input((3, 12, 12))
    x = keras.layers.Conv2D(4, 3, data_format="channels_first")(inp)
    x = keras.layers.GlobalAveragePooling2D(data_format="channels_last")(x)
    model = keras.Model(inp, keras.layers.Dense(2)(x))
    with pytest.raises(Exception, match="mixes channels_first and channels_last"):
        attribute(model, np.zeros((1, 3, 12, 12), "float32"))


def test_cam_on_an_all_convolutional_class_map_head_is_the_class_channel():
    keras.utils.set_random_seed(14)
    inp = keras.Input((12, 12, 1))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(inp)
    x = keras.layers.MaxPooling2D()(x)
    maps = keras.layers.Conv2D(4, 3, padding="same", name="class_maps")(x)
    out = keras.layers.Activation("softmax")(keras.layers.GlobalAveragePooling2D()(maps))
    model = keras.Model(inp, out)
    x = np.random.default_rng(1).uniform(size=(2, 12, 12, 1)).astype("float32")
    channel = keras.Model(inp, maps)(x).numpy()[..., 2]
    expected = tf.image.resize(channel[..., None], (12, 12), method="bilinear").numpy()[..., 0]
    np.testing.assert_allclose(attribute(model, x, target=2, method="cam"), expected, rtol=1e-5, atol=1e-6)


def test_spatial_outputs_are_refused_with_the_fix():
    inp = keras.Input((8, 8, 3))
    out = keras.layers.Conv2D(3, 8)(inp)  # (None, 1, 1, 3)
    with pytest.raises(Exception, match="Flatten"):
        attribute(keras.Model(inp, out), np.zeros((1, 8, 8, 3), "float32"))


def test_a_model_collected_while_the_table_is_read_changes_nothing_until_the_next_use():
    """Garbage collection can run in any thread at any allocation, also while another
    use of the table is iterating over it: a dying model's functions are dropped at
    the next use of the table, never from inside the collector."""
    import gc
    import weakref

    model, keeper = cnn(seed=12), cnn(seed=13)
    attribute(model, images(1))
    attribute(keeper, images(1))
    ref = weakref.ref(model)
    before = compiled.stats().functions
    assert before >= 2
    with compiled._LOCK:
        seen = 0
        for index, _slot in enumerate(compiled._TABLE):  # what _evict_locked and stats do
            if index == 0:
                del model
                gc.collect()
            seen += 1
        assert ref() is None and seen == before
    assert compiled.stats().functions < before
    assert compiled.stats(keeper).functions >= 1
