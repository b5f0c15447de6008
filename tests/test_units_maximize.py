"""Feature visualisation: nbinterp.maximize against independent computations."""

import io
import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

import nbinterp
from nbinterp.demo import load_digits, load_model
from nbinterp.errors import CancelledError, IndexOutOfRangeError, InvalidInputError
from nbinterp.units import maximize as mx
from nbinterp.display import Progress
from nbinterp.units.receptive_field import receptive_field


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def digit():
    return load_digits("test").images[3]


def quiet(**kw):
    return dict(progress=False, **kw)


def test_public_names():
    assert nbinterp.maximize is mx.maximize
    assert nbinterp.units.maximize is mx  # the module, so its helpers are reachable
    assert nbinterp.units.Class is mx.Class


def test_class_objective_rises_and_image_is_in_range(model):
    res = nbinterp.maximize(model, 7, steps=40, **quiet())
    assert res.steps_done == 40 and res.objective.shape == (40,)
    assert res.image.shape == (28, 28, 1) and res.image.dtype == np.float32
    assert res.input_range == (0.0, 255.0)
    assert res.image.min() >= 0.0 and res.image.max() <= 255.0
    assert res.objective[-5:].mean() > res.objective[:5].mean() + 10.0
    # the synthesised image is classified as the target class by the model itself
    assert int(np.argmax(model.predict(res.image[None], verbose=0))) == 7


def test_objective_values_are_the_models_values(model):
    """With no jitter or blur, step i's value is the objective of the image before update i."""
    seen = []

    def keep(step, value):
        seen.append((step, value))

    res = nbinterp.maximize(model, mx.Channel("conv3", 4), steps=3, jitter=0, blur_every=0, callback=keep, **quiet())
    assert [s for s, _ in seen] == [0, 1, 2]
    np.testing.assert_allclose([v for _, v in seen], res.objective)
    # recompute step 0's value independently: the same start image (seed 0) through a sub-model
    rng = np.random.default_rng(0)
    x0 = np.clip(0.1 * rng.standard_normal((1, 28, 28, 1)), -1, 1).astype(np.float32)
    raw0 = (x0 + 1.0) * 127.5
    sub = keras.Model(model.inputs, model.get_layer("conv3").output)
    expected = float(np.mean(sub([raw0]).numpy()[0, ..., 4]))
    assert res.objective[0] == pytest.approx(expected, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("objective", [("channel", "conv2", 4), mx.Neuron("conv3", 6, (3, 3))])
def test_channel_and_neuron_objectives_rise(model, objective):
    res = nbinterp.maximize(model, objective, steps=30, **quiet())
    assert res.objective[-5:].mean() > 2 * max(res.objective[:3].mean(), 1e-3)


def test_fourier_parameterisation_rises_and_stays_in_range(model):
    res = nbinterp.maximize(model, 2, steps=30, parameterization="fourier", **quiet())
    assert res.objective[-5:].mean() > res.objective[:5].mean() + 5.0
    assert 0.0 <= res.image.min() and res.image.max() <= 255.0


def test_l2_shrinks_the_image(model):
    def norm(res):
        return float(np.linalg.norm(res.image - 127.5))

    off = nbinterp.maximize(model, 3, steps=30, l2=0.0, seed=5, **quiet())
    on = nbinterp.maximize(model, 3, steps=30, l2=1.0, seed=5, **quiet())
    assert norm(on) < 0.7 * norm(off)


def test_one_deepdream_step_equals_a_hand_computed_step(model, digit):
    """x1 = clip(x0 + lr * g / mean|g|), g the gradient of mean(conv2**2), from an independent sub-model."""
    lr = 0.1
    res = nbinterp.maximize(
        model, mx.DeepDream("conv2"), steps=1, lr=lr, l2=0.0, jitter=0, blur_every=0, start=digit, **quiet()
    )
    assert res.input_range == (0.0, 255.0)  # uint8 start
    sub = keras.Model(model.inputs, model.get_layer("conv2").output)
    x0 = digit.astype(np.float32)[None] / 127.5 - 1.0
    xt = tf.constant(x0)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        value = tf.reduce_mean(tf.square(sub([(xt + 1.0) * 127.5])))
    g = tape.gradient(value, xt).numpy()
    x1 = np.clip(x0 + lr * g / np.mean(np.abs(g)), -1, 1)
    np.testing.assert_allclose(res.image, (x1[0] + 1) * 127.5, atol=2e-3)
    assert res.objective[0] == pytest.approx(float(value), rel=1e-4)
    changed = np.abs(res.image - digit) > 1e-3
    assert changed.any() and not changed.all()  # the layer responds somewhere, not everywhere
    np.testing.assert_array_equal(changed, (g[0] != 0) & (np.abs(x1[0] - x0[0]) > 1e-6))


def test_deepdream_changes_only_the_receptive_field_of_one_unit(model, digit):
    position = (2, 3)
    res = nbinterp.maximize(
        model, ("neuron", "conv2", 4, position), steps=15, l2=0.0, jitter=0, blur_every=0, start=digit, **quiet()
    )
    field = receptive_field(model, "conv2", position)
    inside = np.zeros((28, 28, 1), bool)
    inside[field.slices((28, 28))] = True
    diff = np.abs(res.image - digit.astype(np.float32))
    assert diff[inside].max() > 10.0  # the unit's field changed
    assert diff[~inside].max() < 1e-3  # nothing else did
    assert res.objective[-1] > res.objective[0]


def test_deepdream_with_octaves(model, digit):
    res = nbinterp.maximize(model, ("layer", "conv3"), steps=4, octaves=3, start=digit, **quiet())
    assert res.steps_done == 12 and res.image.shape == (28, 28, 1)
    assert np.abs(res.image - digit).mean() > 1.0


def test_no_retrace_across_targets_and_calls():
    model = load_model()  # fresh: its compiled steps are not cached yet
    before = mx.trace_count(model)
    for c in (1, 4, 9):
        nbinterp.maximize(model, c, steps=2, **quiet())
    after_classes = mx.trace_count(model)
    assert after_classes - before == 1
    for ch in (0, 3, 5, 6):
        nbinterp.maximize(model, mx.Channel("conv3", ch), steps=2, **quiet())
    nbinterp.maximize(model, mx.Neuron("conv3", 2, (1, 1)), steps=2, **quiet())
    nbinterp.maximize(model, mx.Neuron("conv3", 5, (6, 0)), steps=2, **quiet())
    assert mx.trace_count(model) - after_classes == 2  # one per objective kind


def test_cancel_with_an_event_stops_within_a_step(model):
    stop = threading.Event()

    def cb(step, value):
        if step == 3:
            stop.set()

    with pytest.raises(CancelledError) as info:
        nbinterp.maximize(model, 1, steps=50, callback=cb, cancel=stop, **quiet())
    partial = info.value.partial
    assert partial.cancelled and partial.steps_done == 4 and len(partial.objective) == 4
    assert partial.image.shape == (28, 28, 1)


def test_cancel_with_a_callable_and_from_another_thread(model):
    calls = []
    with pytest.raises(CancelledError) as info:
        nbinterp.maximize(model, 1, steps=50, cancel=lambda: len(calls) >= 2, callback=lambda s, v: calls.append(s), **quiet())
    assert info.value.partial.steps_done == 2

    stop = threading.Event()
    errors = []

    def work():
        try:
            nbinterp.maximize(model, 1, steps=100000, cancel=stop, **quiet())
        except CancelledError as err:
            errors.append(err)

    thread = threading.Thread(target=work)
    thread.start()
    stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive() and len(errors) == 1


def test_input_range_inference():
    def with_first(layer):
        inp = keras.Input((6, 6, 3))
        x = layer(inp) if layer is not None else inp
        out = keras.layers.Conv2D(2, 3)(x)
        return keras.Model(inp, out)

    assert mx.infer_input_range(with_first(keras.layers.Rescaling(1 / 255))) == (0.0, 255.0)
    assert mx.infer_input_range(with_first(keras.layers.Rescaling(1 / 127.5, offset=-1))) == (0.0, 255.0)
    assert mx.infer_input_range(with_first(keras.layers.Rescaling(2.0, offset=-1))) == (0.0, 1.0)
    assert mx.infer_input_range(with_first(None)) == (0.0, 255.0)
    assert mx.infer_input_range(None, np.zeros((4, 4), np.uint8)) == (0.0, 255.0)
    assert mx.infer_input_range(None, np.full((4, 4), 0.5, np.float32)) == (0.0, 1.0)
    assert mx.infer_input_range(None, np.array([-0.5, 0.9])) == (-1.0, 1.0)
    assert mx.infer_input_range(None, np.array([3.0, 200.0])) == (0.0, 255.0)
    assert mx.infer_input_range(None, np.array([-300.0, 10.0])) == (-300.0, 10.0)

    model = with_first(keras.layers.Rescaling(2.0, offset=-1))
    res = nbinterp.maximize(model, mx.Channel(model.layers[-1].name, 1), steps=3, **quiet())
    assert res.input_range == (0.0, 1.0) and 0.0 <= res.image.min() and res.image.max() <= 1.0


def test_objective_forms_and_errors(model):
    assert mx.as_objective(3) == mx.Class(3)
    assert mx.as_objective(("class", 3)) == mx.Class(3)
    assert mx.as_objective(("channel", "conv1", 2)) == mx.Channel("conv1", 2)
    assert mx.as_objective(("layer", "conv1")) == mx.DeepDream("conv1")
    assert mx.as_objective(("neuron", "conv1", 2, (1, 1))) == mx.Neuron("conv1", 2, (1, 1))
    with pytest.raises(InvalidInputError):
        mx.as_objective(("channel",))
    with pytest.raises(InvalidInputError):
        mx.as_objective("conv1")
    with pytest.raises(IndexOutOfRangeError):
        nbinterp.maximize(model, 10, steps=1, **quiet())
    with pytest.raises(IndexOutOfRangeError):
        nbinterp.maximize(model, ("channel", "conv1", 8), steps=1, **quiet())
    with pytest.raises(IndexOutOfRangeError):
        nbinterp.maximize(model, ("neuron", "conv3", 0, (7, 0)), steps=1, **quiet())
    with pytest.raises(KeyError):
        nbinterp.maximize(model, ("channel", "conv9", 0), steps=1, **quiet())
    with pytest.raises(InvalidInputError):
        nbinterp.maximize(model, 1, steps=1, parameterization="wavelet", **quiet())


def test_text_progress_line(model, capsys):
    stream = io.StringIO()
    bar = Progress(4, "demo", stream=stream)
    for i in range(1, 5):
        bar.update(i, f"value {i}")
    bar.close()
    text = stream.getvalue()
    assert "demo [####################] 4/4" in text and text.endswith("\n")
    nbinterp.maximize(model, 1, steps=3, progress=True)
    err = capsys.readouterr().err
    assert "maximize" in err and "3/3" in err
    nbinterp.maximize(model, 1, steps=3, progress=False)
    assert capsys.readouterr().err == ""


def test_notebook_progress_is_a_widget(monkeypatch):
    from nbinterp import display

    monkeypatch.setattr(display, "in_notebook_kernel", lambda: True)
    bar = display.progress(5, "maximize")
    assert bar.widget is not None
    for i in range(1, 6):
        bar.update(i, "objective 1.0")
    bar.close()
    assert bar.widget.value == 5 and bar.widget.max == 5 and bar.widget.bar_style == "success"
    cancelled = display.progress(None, "top 9")
    cancelled.update(3)
    cancelled.close("cancelled")
    assert cancelled.widget.bar_style == "danger"


def test_preprocess_is_part_of_the_compiled_step():
    """A model with Rescaling inside equals the same convs with the scaling given as preprocess."""
    keras.utils.set_random_seed(4)
    inp = keras.Input((10, 10, 1))
    conv = keras.layers.Conv2D(3, 3, activation="relu", name="conv")
    inside = keras.Model(inp, conv(keras.layers.Rescaling(1 / 255)(inp)))
    inp2 = keras.Input((10, 10, 1))
    outside = keras.Model(inp2, keras.layers.Conv2D(3, 3, activation="relu", name="conv")(inp2))
    outside.get_layer("conv").set_weights(conv.get_weights())
    a = nbinterp.maximize(inside, mx.Channel("conv", 1), steps=6, **quiet())
    b = nbinterp.maximize(nbinterp.Inspector(outside, preprocess=lambda x: x / 255.0), mx.Channel("conv", 1), steps=6, **quiet())
    assert a.input_range == b.input_range == (0.0, 255.0)
    np.testing.assert_allclose(a.objective, b.objective, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(a.image, b.image, atol=1e-2)


def test_fourier_start_round_trip_and_octave_errors(model, digit):
    param = mx.fourier(digit.shape)
    x = digit.astype(np.float32)[None] / 127.5 - 1.0
    round_trip = (np.asarray(param.to_image(tf.constant(param.from_image(x))))[0] + 1.0) * 127.5
    np.testing.assert_allclose(round_trip, digit.astype(np.float32), atol=1.0)

    inp = keras.Input((12, 12, 1))
    x = keras.layers.Conv2D(2, 3, name="conv")(inp)
    flat = keras.Model(inp, keras.layers.Dense(3)(keras.layers.Flatten()(x)))
    start = np.zeros((12, 12, 1), np.float32)
    nbinterp.maximize(flat, mx.Channel("conv", 0), steps=1, octaves=2, start=start, **quiet())  # convs take any size
    with pytest.raises(nbinterp.errors.NotSupportedError):
        nbinterp.maximize(flat, 0, steps=1, octaves=2, start=start, **quiet())  # the Dense after Flatten does not


def test_fourier_step_is_not_shared_by_widths_with_one_spectrum_shape():
    """Widths 4 and 5 both have 3 rfft bins: a run at width 5 must not reuse the step built for width 4."""

    def make_model():
        keras.utils.set_random_seed(1)
        inp = keras.Input((None, None, 3))
        x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inp)
        return keras.Model(inp, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x)))

    rng = np.random.default_rng(0)
    narrow = rng.uniform(0, 1, (8, 4, 3)).astype(np.float32)
    wide = rng.uniform(0, 1, (8, 5, 3)).astype(np.float32)
    options = dict(steps=3, parameterization="fourier", **quiet())
    alone = nbinterp.maximize(make_model(), mx.Channel("conv", 1), start=wide, **options)
    model = make_model()
    nbinterp.maximize(model, mx.Channel("conv", 1), start=narrow, **options)
    after = nbinterp.maximize(model, mx.Channel("conv", 1), start=wide, **options)
    np.testing.assert_allclose(after.objective, alone.objective, rtol=1e-5)


def test_volumes_are_maximised_without_the_blur():
    inp = keras.Input((6, 6, 6, 1))
    x = keras.layers.Conv3D(2, 3, activation="relu", name="c3d")(inp)
    x = keras.layers.GlobalAveragePooling3D()(x)
    model = keras.Model(inp, keras.layers.Dense(2)(x))
    result = nbinterp.maximize(model, ("channel", "c3d", 1), steps=6, blur_every=2, progress=False)
    assert result.image.shape == (6, 6, 6, 1) and result.steps_done == 6
    assert np.all(np.isfinite(result.image))


def test_a_composite_objective_is_the_weighted_sum_of_its_parts(model, digit):
    """Value and input gradient of Channel + 0.5 * Class - DeepDream equal the sum of the separate ones."""
    parts = [(1.0, mx.Channel("conv3", 5)), (0.5, mx.Class(3)), (-1.0, mx.DeepDream("conv2")), (2.0, mx.Neuron("conv2", 1, (4, 4)))]
    composite = mx.Channel("conv3", 5) + 0.5 * mx.Class(3) - mx.DeepDream("conv2") + mx.Neuron("conv2", 1, (4, 4)) * 2
    assert composite == mx.Sum(tuple(parts))
    x = tf.constant(digit.astype(np.float32)[None])

    def value_and_gradient(objective):
        f = mx.objective_function(model, objective)
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = f(x)
        return float(value), tape.gradient(value, x).numpy()

    value, grad = value_and_gradient(composite)
    separate = [(w, value_and_gradient(o)) for w, o in parts]
    assert value == pytest.approx(sum(w * v for w, (v, _) in separate), rel=1e-5)
    expected = sum(w * g for w, (_, g) in separate)
    assert np.abs(expected).max() > 0
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max())


def test_a_composite_objective_rises_under_maximize(model):
    objective = mx.Channel("conv3", 5) + 0.5 * mx.Class(3)
    res = nbinterp.maximize(model, objective, steps=20, **quiet())
    assert res.target == objective and res.objective[-3:].mean() > res.objective[:3].mean()
    assert sum([mx.Class(1), mx.Class(2)]) == mx.Class(1) + mx.Class(2)
    with pytest.raises(InvalidInputError):
        mx.Class(1) * float("nan")
    with pytest.raises(TypeError):
        mx.Class(1) + 2


@pytest.mark.parametrize(
    "bad",
    [dict(steps=0), dict(steps=2.5), dict(lr=float("nan")), dict(lr=float("inf")), dict(l2=-1.0),
     dict(jitter=-1), dict(blur_sigma=float("nan")), dict(octave_scale=0.5), dict(input_range=(0.0, float("inf"))),
     dict(seed=1.5), dict(steps=True)],
)
def test_maximize_refuses_bad_settings(model, bad):
    with pytest.raises(InvalidInputError):
        nbinterp.maximize(model, 1, **quiet(**bad))


def test_the_options_table_matches_the_signature():
    import inspect

    signature = inspect.signature(mx.maximize).parameters
    for option in mx.MAXIMIZE_OPTIONS:
        assert signature[option.name].default == option.default, option.name
        assert option.check(option.default) == option.default
    offered = [o.name for o in mx.MAXIMIZE_OPTIONS if o.ui is not None]
    assert offered == ["steps", "lr", "l2", "jitter", "blur_every"]
    labels = {o.name: o.label for o in mx.MAXIMIZE_OPTIONS}
    assert labels["l2"] == "L2 penalty" and labels["blur_every"] == "blur every N steps"


def test_units_import_no_widgets():
    import subprocess
    import sys

    code = (
        "import sys, nbinterp.units.maximize, nbinterp.units.top_activations, nbinterp.units.reconstruct, "
        "nbinterp.units.receptive_field, nbinterp.display; print('ipywidgets' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]
