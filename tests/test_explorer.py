"""Explorer driven headless: every view's data equals a fresh computation from the backend."""

import datetime
import io
import random

import keras
import numpy as np
import pytest
from PIL import Image

import nbinterp
from nbinterp import demo, views
from nbinterp.errors import InputShapeError, UnknownLayerError
from nbinterp.render import colorize


def upload(name, content):
    """What ipywidgets' FileUpload holds after a browser upload."""
    return {"name": name, "type": "image/png", "size": len(content), "content": memoryview(content),
            "last_modified": datetime.datetime(2026, 1, 1)}


def canvas_equals(canvas, picture):
    return canvas.image is not None and np.array_equal(canvas.image.reshape(picture.image.shape), picture.image) \
        if canvas.image.size == picture.image.size else False


def test_controls_carry_the_four_labels(explorer):
    assert explorer.layer.description == "Layer"
    assert explorer.channel.description == "Channel"
    assert explorer.image.description == "Image"
    assert explorer.method.description == "Method"
    assert explorer.layer.value == "conv1" and explorer.channel.max == 7
    assert set(explorer.method.options) >= {("Gradient", "gradient")} or "gradient" in [v for _, v in explorer.method.options]


def test_channel_and_layer_changes_update_every_view(explorer, digits):
    ins = explorer.inspector
    explorer.layer.value = "conv2"
    explorer.wait()
    assert explorer.channel.max == 15 and explorer.input_channel.max == 7
    explorer.channel.value = 5
    explorer.image.value = 3
    explorer.wait()
    image = digits.images[3]
    assert canvas_equals(tab(explorer, "Activations").enlarged, views.activation_channel(ins, "conv2", image, 5))
    assert canvas_equals(tab(explorer, "Activations").grid, views.activation_grid(ins, "conv2", image, True, 0))
    assert tab(explorer, "Activations").grid.highlight == 5
    assert canvas_equals(tab(explorer, "Filters").selected, views.filter_selected(ins, "conv2", 5, 0))
    assert canvas_equals(tab(explorer, "Kernel response").response, views.kernel_response_view(ins, "conv2", 5, image, shown_channel=0)["response"])
    # by default the response is the layer's own pre-activation channel (all input channels + bias)
    pre = ins.pre_activations("conv2", image)[0, :, :, 5]
    shown = tab(explorer, "Kernel response").response.image
    step = shown.shape[0] // pre.shape[0]
    assert np.array_equal(shown[::step, ::step], colorize(pre, "RdBu_r", symmetric=True))
    # one input channel's contribution on request
    explorer.single_channel.value = True
    explorer.input_channel.value = 2
    explorer.wait()
    part = ins.kernel_response("conv2", 5, image, input_channel=2)
    shown = tab(explorer, "Kernel response").response.image
    assert np.array_equal(shown[::step, ::step], colorize(part, "RdBu_r", symmetric=True))
    explorer.single_channel.value = False
    explorer.input_channel.value = 0
    explorer.wait()
    # the channel view really is the layer's activation, colour-mapped
    acts = ins.activations("conv2", image)[0, :, :, 5]
    expected = colorize(acts, "viridis")
    shown = tab(explorer, "Activations").enlarged.image
    factor = shown.shape[0] // acts.shape[0]
    assert np.array_equal(shown[::factor, ::factor], expected)
    assert "⚠" not in explorer.status.value


def test_first_layer_kernel_response_shows_the_pre_activation(explorer, digits):
    explorer.layer.value = "conv1"
    explorer.channel.value = 2
    explorer.image.value = 0
    explorer.wait()
    pre = explorer.inspector.pre_activations("conv1", digits.images[0])[0, :, :, 2]
    expected = colorize(pre, "RdBu_r", symmetric=True)
    shown = tab(explorer, "Kernel response").response.image
    factor = shown.shape[0] // pre.shape[0]
    assert np.array_equal(shown[::factor, ::factor], expected)


def test_clicking_a_tile_selects_its_channel(explorer):
    explorer.layer.value = "conv3"
    explorer.wait()
    region = tab(explorer, "Activations").grid.regions[11]
    tab(explorer, "Activations").grid.clicked = {"x": region["x"] + 1, "y": region["y"] + 1, "id": region["id"], "n": 99}
    explorer.wait()
    assert explorer.channel.value == 11 and tab(explorer, "Activations").grid.highlight == 11
    assert tab(explorer, "Activations").enlarged.label.startswith("channel 11")


def test_saliency_view_matches_attribute(explorer, digits):
    explorer.tabs.selected_index = 3
    explorer.method.value = "gradient_x_input"
    explorer.image.value = 4
    explorer.opacity.value = 0.7
    explorer.wait()
    heat = nbinterp.attribute(explorer.model, digits.images[4], method="gradient_x_input")[0]
    expected = views.saliency_view(heat, digits.images[4], 0.7)["overlay"]
    assert canvas_equals(tab(explorer, "Saliency").overlay, expected)
    # the bar chart shows the top classes; clicking a bar explains that class
    probs = explorer.model.predict(digits.images[4:5], verbose=0)[0]
    assert tab(explorer, "Saliency").bar_classes[0] == int(np.argmax(probs))
    second = tab(explorer, "Saliency").bar_classes[1]
    tab(explorer, "Saliency").select_bar(1)
    explorer.wait()
    assert explorer.target.value == second
    heat2 = nbinterp.attribute(explorer.model, digits.images[4], target=second, method="gradient_x_input")[0]
    assert canvas_equals(tab(explorer, "Saliency").overlay, views.saliency_view(heat2, digits.images[4], 0.7)["overlay"])
    explorer.target.value = -1
    explorer.tabs.selected_index = 2
    explorer.wait()


def test_method_options_follow_the_method(explorer):
    explorer.method.value = "smoothgrad"
    shown = explorer.options_box.children
    controls = explorer.method_options["smoothgrad"]
    assert {"samples", "noise"} <= set(controls) and {controls["samples"], controls["noise"]} <= set(shown)
    explorer.method.value = "gradient"
    assert explorer.options_box.children == (explorer.sign,)  # gradient has no options, only a sign
    explorer.method.value = "gradcam"
    assert explorer.sign not in explorer.options_box.children
    explorer.method.value = "gradient"


def test_architecture_row_selects_layer(explorer):
    tab(explorer, "Architecture").table.value = "conv2"
    explorer.wait()
    assert explorer.layer.value == "conv2"
    assert any("conv2" in label for label, _ in tab(explorer, "Architecture").table.options)


def test_rapid_changes_settle_on_the_final_state(digits):
    ex = nbinterp.Explorer(demo.load_model(), digits.images[:8], labels=digits.labels[:8], class_names=digits.class_names)
    rng = random.Random(0)
    layers = ["conv1", "conv2", "conv3", "pool1"]
    for _ in range(200):
        what = rng.randrange(4)
        if what == 0:
            ex.layer.value = rng.choice(layers)
        elif what == 1:
            ex.channel.value = rng.randrange(ex.channel.max + 1)
        elif what == 2:
            ex.image.value = rng.randrange(8)
        else:
            ex.shared_scale.value = rng.random() < 0.5
    ex.wait()
    ins, layer, c, i = ex.inspector, ex.layer.value, ex.channel.value, ex.image.value
    image = digits.images[i]
    assert canvas_equals(tab(ex, "Activations").grid, views.activation_grid(ins, layer, image, ex.shared_scale.value, c // views.PAGE_SIZE))
    assert canvas_equals(tab(ex, "Activations").enlarged, views.activation_channel(ins, layer, image, c))
    if ins.layer(layer).has_kernel:
        assert canvas_equals(tab(ex, "Filters").selected, views.filter_selected(ins, layer, c, ex.input_channel.value))
    assert tab(ex, "Activations").grid.highlight == c
    ex.close()


def test_errors_go_to_the_status_line(digits):
    inp = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="<img src=x onerror=alert(1)>")(inp)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inp, keras.layers.Dense(10, activation="softmax", name="out")(x))
    ex = nbinterp.Explorer(model, digits.images[:3])
    ex.tabs.selected_index = 3
    ex.method.value = "cam"
    ex.wait()
    assert ex.status.value.startswith("⚠") and "global average pooling" in ex.status.value.lower()
    ex.method.value = "gradient"
    ex.wait()
    assert "⚠" not in ex.status.value
    # a layer name with markup is plain text in the controls and labels
    assert ("<img src=x onerror=alert(1)> (Conv2D)", "<img src=x onerror=alert(1)>") in ex.layer.options
    ex.layer.value = next(value for label, value in ex.layer.options if label.endswith("(Flatten)"))
    ex.tabs.selected_index = 0
    ex.wait()
    assert "no kernels" in ex.status.value
    # a broken upload is reported, not raised
    ex.upload.value = (upload("broken.png", b"not an image"),)
    ex.wait()
    assert "broken.png" in ex.status.value
    ex.close()


def test_uploaded_image_is_resized_and_selected(explorer):
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 255, (60, 90, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    n = len(explorer.image.options)
    explorer.upload.value = (upload("mine.png", buffer.getvalue()),)
    explorer.wait()
    assert len(explorer.image.options) == n + 1 and explorer.image.value == n
    assert explorer.images[n].shape == (28, 28, 1) and explorer.images[n].dtype == np.uint8
    assert "mine.png" in explorer.image.options[n][0]


def test_bad_construction_raises_typed_errors(digits):
    with pytest.raises(InputShapeError, match=r"\(28, 28, 1\)"):
        nbinterp.Explorer(demo.load_model(), np.zeros((2, 32, 32, 3)))
    ex = nbinterp.Explorer(demo.load_model(), digits.images[:2])
    with pytest.raises(Exception) as info:
        ex.layer.value = "nope"
    assert not isinstance(info.value, UnknownLayerError) or "nope" in str(info.value)
    ex.close()


def test_keras_path_dense_and_conv1d_models(tmp_path, digits):
    dense = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(name="flat"),
                              keras.layers.Dense(12, activation="sigmoid", name="hidden"), keras.layers.Dense(3, name="out")])
    path = tmp_path / "dense.keras"
    dense.save(path)
    ex = nbinterp.Explorer(str(path), digits.images[:2])
    ex.layer.value = "hidden"
    ex.tabs.selected_index = 0
    ex.wait()
    assert "⚠" not in ex.status.value
    assert tab(ex, "Filters").grid.image.shape[0] > 1  # weights drawn as 28x28 images
    ex.tabs.selected_index = 1
    ex.wait()
    assert "convolution" in ex.status.value
    ex.close()

    text = keras.Sequential([keras.Input((12,), dtype="int32"), keras.layers.Embedding(30, 8, name="emb"),
                             keras.layers.Conv1D(6, 3, activation="relu", name="conv"),
                             keras.layers.GlobalMaxPooling1D(), keras.layers.Dense(2, activation="softmax")])
    tokens = np.random.default_rng(1).integers(0, 30, (3, 12))
    vocabulary = [f"w{i}" for i in range(29)] + ["<b>bold</b>"]
    tokens[0, 0] = 29
    ex = nbinterp.Explorer(text, tokens, vocabulary=vocabulary)
    ex.layer.value = "conv"
    ex.tabs.selected_index = 3
    ex.wait()
    assert "⚠" not in ex.status.value, ex.status.value
    assert "&lt;b&gt;bold&lt;/b&gt;" in tab(ex, "Saliency").tokens.value and "<b>" not in tab(ex, "Saliency").tokens.value
    ex.tabs.selected_index = 2
    ex.wait()
    assert tab(ex, "Activations").grid.image.shape[0] >= 6
    ex.close()


def test_export_png_and_figure(explorer):
    png = explorer.export_png("Activations")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    figure = explorer.figure("Filters")
    assert len([ax for ax in figure.axes if ax.images]) == 2  # one panel per picture (plus colour bars)


def test_gradcam_explains_the_selected_layer(explorer, digits):
    explorer.tabs.selected_index = 3
    explorer.layer.value = "conv2"
    explorer.method.value = "gradcam"
    explorer.image.value = 2
    explorer.opacity.value = 0.5
    explorer.wait()
    heat = nbinterp.attribute(explorer.model, digits.images[2], method="gradcam", layer="conv2")[0]
    assert canvas_equals(tab(explorer, "Saliency").overlay, views.saliency_view(heat, digits.images[2], 0.5)["overlay"])
    explorer.layer.value = "predictions"  # no feature map: Grad-CAM falls back to its default layer
    explorer.wait()
    heat = nbinterp.attribute(explorer.model, digits.images[2], method="gradcam")[0]
    assert canvas_equals(tab(explorer, "Saliency").overlay, views.saliency_view(heat, digits.images[2], 0.5)["overlay"])
    assert "⚠" not in explorer.status.value
    explorer.method.value = "gradient"
    explorer.tabs.selected_index = 2
    explorer.wait()


def test_top_images_view_matches_the_scan(explorer, digits):
    from nbinterp import reconstruct, top_activations

    explorer.layer.value = "conv2"
    explorer.channel.value = 3
    explorer.tabs.selected_index = views_tab("Top images")
    explorer.wait()
    assert "⚠" not in explorer.status.value, explorer.status.value
    data = np.stack(explorer.images)
    result = top_activations(explorer.model, "conv2", 3, data, k=9)
    recons = [reconstruct(explorer.model, "conv2", 3, im, position=pos) for im, pos in zip(result.images, result.positions)]
    expected = views.top_images_view(result, recons)
    assert canvas_equals(tab(explorer, "Top images").images, expected["images"])
    assert canvas_equals(tab(explorer, "Top images").patches, expected["patches"])
    assert canvas_equals(tab(explorer, "Top images").reconstructions, expected["reconstructions"])
    titles = [r["title"] for r in tab(explorer, "Top images").images.regions]
    assert titles[0].startswith(f"example {int(result.indices[0])}:")
    # cached per (layer, channel): coming back is instant and identical
    explorer.channel.value = 4
    explorer.wait()
    explorer.channel.value = 3
    explorer.wait()
    assert canvas_equals(tab(explorer, "Top images").images, expected["images"])
    explorer.tabs.selected_index = 2
    explorer.wait()


def test_maximize_method_shows_what_a_channel_wants(explorer):
    explorer.tabs.selected_index = 3
    explorer.layer.value = "conv3"
    explorer.channel.value = 2
    explorer.method.value = "maximize"
    explorer.method_options["maximize"]["steps"].value = 40
    explorer.wait()
    label = tab(explorer, "Saliency").overlay.label
    assert "channel 2 of conv3" in label and "40 steps" in label, label
    start, end = [float(v) for v in label.split("objective ")[1].split(" in ")[0].split(" → ")]
    assert end > start
    # the output layer: class visualisation for the chosen target
    explorer.layer.value = "predictions"
    explorer.target.value = 7
    explorer.wait()
    assert "class 7" in tab(explorer, "Saliency").overlay.label
    explorer.method.value = "gradient"
    explorer.target.value = -1
    explorer.tabs.selected_index = 2
    explorer.wait()


def test_a_new_selection_cancels_a_running_scan(digits):
    big = np.concatenate([digits.images] * 4)
    ex = nbinterp.Explorer(demo.load_model(), digits.images[:4], dataset=big)
    ex.layer.value = "conv3"
    ex.tabs.selected_index = views_tab("Top images")
    ex.channel.value = 1  # starts a scan of the big dataset...
    ex.channel.value = 5  # ...which this supersedes
    ex.wait()
    scanned = tab(ex, "Top images").scanned()
    assert ("conv3", 1) not in scanned  # the superseded scan stopped, nothing kept
    assert ("conv3", 5) in scanned
    assert tab(ex, "Top images").images.label == f"conv3, channel 5: top 9 of {len(big)} examples"
    ex.close()


def views_tab(title):
    from nbinterp.widgets.explorer import TAB_TITLES

    return TAB_TITLES.index(title)


def tab(explorer, title):
    """The Explorer's tab object of that title."""
    return explorer.tabs_by_title[title]
