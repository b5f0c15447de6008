"""The Explorer on models with several inputs or outputs, headless: every tab renders, and
the Input/Output pickers and the feature charts show what attribute(..., input=, output=) gives."""

import numpy as np
import pytest

import nbinterp
from nbinterp import views
from nbinterp.attribution import attribute
from nbinterp.render import display_image
from nbinterp.widgets.explorer import TAB_TITLES

from test_multi_io import image_and_features, two_heads
from test_multi_io_units import two_images


def canvas_equals(canvas, picture):
    image = canvas.image
    return image is not None and image.size == picture.image.size and \
        np.array_equal(image.reshape(picture.image.shape), picture.image)


def show_every_tab(ex):
    """Open each tab in turn; no tab may report an error."""
    for index, title in enumerate(TAB_TITLES):
        ex.tabs.selected_index = index
        ex.wait()
        tab = ex.tabs_by_title[title]
        assert tab.note.value == "", (title, tab.note.value)
        assert not ex.status.value.startswith("⚠"), (title, ex.status.value)
    ex.tabs.selected_index = TAB_TITLES.index("Saliency")
    ex.wait()


def expected_overlay(ex, heat, index, input):
    return views.saliency_view(heat, ex.shown_image(index, input), ex.opacity.value)["overlay"]


@pytest.fixture(scope="module")
def lesions():
    rng = np.random.default_rng(7)
    model = image_and_features()
    data = [rng.uniform(size=(3, 12, 12, 3)).astype("float32"), rng.normal(size=(3, 10)).astype("float32")]
    names = ["<b>age</b>"] + [f"marker {i}" for i in range(1, 10)]
    ex = nbinterp.Explorer(model, data, feature_names=names, warm_up=False)
    ex.wait()
    yield model, data, ex
    ex.close()


def test_image_and_features_every_tab_and_the_inputs_table(lesions):
    model, data, ex = lesions
    assert ex.input.layout.display == "none" and ex.output.layout.display == "none"  # one image input, one head
    show_every_tab(ex)
    table = ex.inputs_table.value
    assert "&lt;b&gt;age&lt;/b&gt;" in table and "<b>age</b>" not in table
    assert f"{data[1][0, 3]:.4g}" in table
    ex.image.value = 2
    ex.wait()
    assert f"{data[1][2, 3]:.4g}" in ex.inputs_table.value
    np.testing.assert_array_equal(ex.shown_image(2), data[0][2])
    shown = display_image(data[0][2])
    assert np.array_equal(ex.preview.image.reshape(shown.shape), shown)  # the preview is the image input


def test_feature_bars_equal_attribute_on_the_tabular_input(lesions):
    model, data, ex = lesions
    sal = ex.tabs_by_title["Saliency"]
    ex.tabs.selected_index = TAB_TITLES.index("Saliency")
    ex.image.value = 1
    ex.target.value = 3
    ex.method.value = "gradient_x_input"
    ex.wait()
    example = [data[0][1], data[1][1]]
    expected = attribute(model, example, target=3, method="gradient_x_input", input="meta")[0]
    np.testing.assert_allclose(sal.features.values[1], expected, rtol=1e-5, atol=1e-7)
    assert list(sal.features.bars[1].x) == ["<b>age</b>"] + [f"marker {i}" for i in range(1, 10)]
    heat = attribute(model, example, target=3, method="gradient_x_input", input="image")[0]
    assert canvas_equals(sal.overlay, expected_overlay(ex, heat, 1, 0))
    # a method that needs a feature map falls back to gradient x input for the features
    ex.method.value = "gradcam"
    ex.wait()
    assert sal.features.methods[1] == "gradient_x_input"
    np.testing.assert_allclose(sal.features.values[1], expected, rtol=1e-5, atol=1e-7)
    assert "needs a feature map" in sal.features.figures[1].title
    ex.method.value = "gradient"
    ex.wait()


def two_image_data(seed):
    """Two examples for ``two_images``, as a dict by input name in the opposite order to the model's."""
    rng = np.random.default_rng(seed)
    return {"right": rng.uniform(size=(2, 10, 10, 1)).astype("float32"),
            "left": rng.uniform(size=(2, 10, 10, 1)).astype("float32")}


def test_two_images_input_picker_changes_the_map_and_the_preview():
    model, data = two_images(), two_image_data(8)
    ex = nbinterp.Explorer(model, data, warm_up=False)
    try:
        assert ex.input.layout.display == "" and [v for _, v in ex.input.options] == [0, 1]
        show_every_tab(ex)
        ex.target.value = 2
        example = [data["left"][0], data["right"][0]]
        sal = ex.tabs_by_title["Saliency"]
        shown = []
        for index, name in ((0, "left"), (1, "right")):
            ex.input.value = index
            ex.wait()
            heat = attribute(model, example, target=2, input=name)[0]
            assert canvas_equals(sal.overlay, expected_overlay(ex, heat, 0, index))
            assert np.array_equal(ex.shown_image(0), data[name][0])
            shown.append(sal.overlay.image.copy())
        assert not np.array_equal(shown[0], shown[1])
        assert not sal.features.inputs  # no tabular input, no feature charts
        # maximize optimises the picked input, holding the other at the current example
        ex.layer.value = "conv_right"
        ex.method.value = "maximize"
        ex.wait()
        assert not ex.status.value.startswith("⚠"), ex.status.value
    finally:
        ex.close()


def test_two_heads_output_picker_and_top_classes_per_head():
    model = two_heads()
    x = np.random.default_rng(9).uniform(size=(2, 12, 12, 3)).astype("float32")
    ex = nbinterp.Explorer(model, x, class_names={"classes": ["cat", "dog", "owl", "eel"]}, warm_up=False)
    try:
        assert ex.output.layout.display == "" and len(ex.target.options) == 5
        show_every_tab(ex)
        sal = ex.tabs_by_title["Saliency"]
        predictions = [np.asarray(p) for p in model(x[:1])]
        for head, values in enumerate(predictions):
            order = np.argsort(-values[0])[: len(sal.heads.classes[head])]
            assert sal.heads.classes[head] == order.tolist()
            np.testing.assert_allclose(sal.heads.bars[head].y, values[0][order], rtol=1e-5)
        assert sal.heads.bars[0].x[0].endswith(["cat", "dog", "owl", "eel"][int(np.argmax(predictions[0]))])
        ex.output.value = 1
        assert len(ex.target.options) == 4 and ex.target.value == -1  # the box head's 3 units
        ex.target.value = 2
        ex.wait()
        heat = attribute(model, x[0], target=2, output="box")[0]
        assert canvas_equals(sal.overlay, expected_overlay(ex, heat, 0, 0))
        # a click on a bar of the first head's chart explains that head's class
        sal.heads.on_select(0, sal.heads.classes[0][1])
        ex.wait()
        assert ex.output.value == 0 and ex.target.value == sal.heads.classes[0][1]
        heat = attribute(model, x[0], target=ex.target.value, output=0)[0]
        assert canvas_equals(sal.overlay, expected_overlay(ex, heat, 0, 0))
        # Maximize on either head's layer ascends that head's class logit
        ex.method.value = "maximize"
        for head, layer in ((0, "classes"), (1, "box")):
            ex.output.value = head
            ex.target.value = 1
            ex.layer.value = layer
            ex.wait()
            assert not ex.status.value.startswith("⚠"), ex.status.value
            assert sal.overlay.label.startswith(f"what class 1 of {layer} wants"), sal.overlay.label
    finally:
        ex.close()


def _png(array):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_upload_replaces_the_selected_image_input_of_a_copy_of_the_current_example():
    from test_explorer import upload

    model, data = two_images(), two_image_data(10)
    ex = nbinterp.Explorer(model, data, warm_up=False)
    try:
        assert ex.upload.layout.display != "none"
        ex.image.value = 0
        ex.input.value = 1  # "right" (a different index from the example's: neither stands for the other)
        ex.tabs.selected_index = TAB_TITLES.index("Saliency")
        ex.wait()
        picture = np.zeros((20, 20), np.uint8)
        picture[5:15, 5:15] = 255  # light on dark, like the random images' bright range
        ex.upload.value = (upload("square.png", _png(picture)),)
        ex.wait()
        assert ex.image.value == 2 and "square.png as right of #0" in ex.image.options[2][0]
        left, right = ex.image_array(2)
        np.testing.assert_array_equal(left, data["left"][0])  # the other input is the example's
        assert right.shape == (10, 10, 1) and right.dtype == np.float32 and 0 <= right.min() < right.max() <= 1
        assert right[5, 5, 0] > right[0, 0, 0]  # the square, resized
        assert not ex.status.value.startswith("⚠"), ex.status.value
        # every view explains the new example: the map is attribute() on it
        heat = attribute(model, [left, right], target=ex.target.value if ex.target.value >= 0 else None,
                         input="right")[0]
        assert canvas_equals(ex.tabs_by_title["Saliency"].overlay, expected_overlay(ex, heat, 2, 1))
        # Invert flips the uploaded input only
        ex.invert.value = True
        ex.wait()
        left2, right2 = ex.image_array(2)
        np.testing.assert_array_equal(left2, data["left"][0])
        np.testing.assert_allclose(right2, 1 - right, atol=1e-6)
    finally:
        ex.close()


def test_an_upload_on_an_image_and_features_model_keeps_the_features(lesions):
    from test_explorer import upload

    model, data, ex = lesions
    ex.image.value = 2
    ex.wait()
    colour = np.random.default_rng(11).integers(0, 255, (30, 24, 3), dtype=np.uint8)
    ex.upload.value = (upload("lesion.png", _png(colour)),)
    ex.wait()
    index = ex.image.value
    image, meta = ex.image_array(index)
    assert image.shape == (12, 12, 3) and image.dtype == np.float32
    np.testing.assert_array_equal(meta, data[1][2])
    assert f"{data[1][2, 3]:.4g}" in ex.inputs_table.value
    assert not ex.status.value.startswith("⚠"), ex.status.value
