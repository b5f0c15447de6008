"""Explorer state: refused values, sticky upload messages, uploads as the model
receives them (and ranked by Top images), option tables, export, one message per picture."""

import datetime
import io

import numpy as np
import pytest
from PIL import Image

import nbinterp
from nbinterp import demo, views
from nbinterp.errors import NbinterpError
from nbinterp.render.export import EmptyExportError, ExportPicture, compose
from nbinterp.widgets.selection import Selection


def upload(name, content):
    return {"name": name, "type": "image/png", "size": len(content), "content": memoryview(content),
            "last_modified": datetime.datetime(2026, 1, 1)}


def png(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_selection_is_a_frozen_hashable_value(explorer):
    s = explorer.selection
    assert isinstance(s, Selection) and s.layer == explorer.layer.value and s.tab == "Activations"
    assert hash(s) == hash(explorer.selection)
    with pytest.raises(Exception):
        s.layer = "conv2"
    t = s.replace(options={"samples": 5, "noise": 0.1})
    assert t.options == (("noise", 0.1), ("samples", 5)) and t.option_values == {"samples": 5, "noise": 0.1}
    assert [tab.title for tab in explorer.tab_objects] == list(explorer.tabs_by_title)


def test_no_layer_is_refused_with_a_message(explorer):
    explorer.layer.value = "conv2"
    explorer.wait()
    explorer.layer.value = None
    explorer.wait()
    assert explorer.layer.value == "conv2"
    assert "Layer" in explorer.status.value and "⚠" in explorer.status.value
    explorer.image.value = None
    assert explorer.image.value is not None


def test_an_upload_error_outlives_the_update_in_flight(explorer):
    explorer.channel.value = (explorer.channel.value + 1) % (explorer.channel.max + 1)  # a draw is running...
    explorer.upload.value = (upload("broken.png", b"not an image"),)  # ...when the upload fails
    explorer.wait()
    assert "broken.png" in explorer.status.value and "⚠" in explorer.status.value
    explorer.channel.value = 0  # a later change clears it
    explorer.wait()
    assert "broken.png" not in explorer.status.value and "updated in" in explorer.status.value


def test_an_opposite_polarity_upload_is_reported_and_can_be_inverted(explorer, digits):
    paper = 255 - digits.images[5][..., 0]  # dark ink on white paper
    n = len(explorer.images)
    explorer.upload.value = (upload("paper.png", png(paper)),)
    explorer.wait()
    assert explorer.image.value == n and "paper.png" in explorer.image.options[n][0]
    assert "paper.png" in explorer.status.value and "Invert" in explorer.status.value
    assert explorer.invert.layout.display != "none"
    assert np.array_equal(explorer.images[n][..., 0], paper)
    assert np.array_equal(explorer.preview.image[..., 0], paper)  # shown as the model receives it
    explorer.invert.value = True
    explorer.wait()
    assert np.array_equal(explorer.images[n][..., 0], 255 - paper)
    assert np.array_equal(explorer.preview.image[..., 0], 255 - paper)
    expected = views.activation_grid(explorer.inspector, explorer.layer.value, explorer.images[n], True, 0)
    assert np.array_equal(explorer.tabs_by_title["Activations"].grid.image.reshape(expected.image.shape), expected.image)
    explorer.image.value = 0
    assert explorer.invert.layout.display == "none"


def test_top_images_rank_the_uploads_too(digits):
    ex = nbinterp.Explorer(demo.load_model(), digits.images[:5])
    ex.layer.value = "conv2"
    ex.tabs.selected_index = [t.title for t in ex.tab_objects].index("Top images")
    ex.wait()
    top = ex.tabs_by_title["Top images"]
    assert top.images.label.endswith("of 5 examples")
    ex.upload.value = (upload("extra.png", png(digits.images[7][..., 0])),)
    ex.wait()
    assert top.images.label.endswith("of 6 examples"), top.images.label
    ex.close()


def test_method_controls_follow_the_option_table(monkeypatch, digits):
    from nbinterp.attribution import GradCAM, SmoothGrad
    from nbinterp.core.options import FloatOption, IntOption, SeedOption

    table = (
        IntOption("samples", 20, "Samples", "noisy copies", low=1, high=500, step=1),
        FloatOption("noise", 0.2, "Noise σ", low=0.0, high=1.0, step=0.01),
        SeedOption("seed", 0, "Seed", ui=None),
    )
    monkeypatch.setattr(SmoothGrad, "option_table", table, raising=False)
    monkeypatch.setattr(GradCAM, "follows_selected_layer", False, raising=False)
    ex = nbinterp.Explorer(demo.load_model(), digits.images[:2])
    controls = ex.method_options["smoothgrad"]
    assert set(controls) == {"samples", "noise"}  # ui=None: not shown
    assert controls["samples"].description == "Samples" and controls["samples"].max == 500
    assert controls["noise"].description == "Noise σ" and controls["noise"].step == 0.01
    assert ex.tabs_by_title["Saliency"].layer_for("gradcam", "conv2") is None
    ex.close()


def test_export_shows_captions_and_refuses_an_empty_view(explorer):
    explorer.tabs.selected_index = 2
    explorer.wait()
    png_bytes = explorer.export_png("Activations")
    picture = np.asarray(Image.open(io.BytesIO(png_bytes)))
    tallest = max(c.image.shape[0] for c in explorer.tabs_by_title["Activations"].canvases)
    assert picture.shape[0] > tallest  # title and captions are in the PNG
    with pytest.raises(EmptyExportError, match="Architecture"):
        explorer.export_png("Architecture")
    with pytest.raises(NbinterpError, match="no view named"):
        explorer.export_png("Nope")
    with pytest.raises(EmptyExportError):
        compose([])
    white = np.full((10, 10), 255, np.uint8)
    composed = compose([ExportPicture(white, "a caption"), ExportPicture(white, "")])
    assert composed.shape[0] > 10 and composed[10:].min() < 128  # dark caption text under the picture
    figure = explorer.figure("Activations")
    assert len([ax for ax in figure.axes if ax.images]) == 2 and len(figure.axes) > 2  # colour bars


def test_a_picture_travels_as_one_message(explorer):
    canvas = explorer.tabs_by_title["Activations"].enlarged
    sent = []
    original = canvas.send_state
    canvas.send_state = lambda key=None: sent.append(set(key) if key is not None else None) or original(key)
    try:
        explorer.channel.value = (explorer.channel.value + 1) % (explorer.channel.max + 1)
        explorer.wait()
    finally:
        del canvas.send_state
    assert len(sent) == 1 and {"data", "label"} <= sent[0]  # one update (shape too, when it changes)


def test_cache_stats_report_bytes(explorer):
    stats = explorer.cache_stats()
    assert stats["inspector"]["bytes"] > 0 and stats["inspector"]["budget"] == 512 * 2**20
    assert {"pictures", "attributions"} <= set(stats)
