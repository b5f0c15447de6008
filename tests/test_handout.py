"""explorer.save_html: one self-contained page, one image per view, no script,
user names escaped; figure() carries labelled colour bars."""

import base64
import io
from html.parser import HTMLParser

import keras
import numpy as np
import pytest
from PIL import Image

import nbinterp

MARKUP_LAYER = "<script>alert(1)"
MARKUP_CLASS = "<b>cat</b> & co"


class Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.images, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def explorer():
    keras.utils.set_random_seed(0)
    inp = keras.Input((12, 12, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu", name=MARKUP_LAYER)(inp)
    x = keras.layers.Conv2D(3, 3, name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(3, name="out")(x), name="tiny")
    images = np.random.default_rng(0).uniform(0, 1, (2, 12, 12, 1)).astype(np.float32)
    ex = nbinterp.Explorer(model, images, labels=[2, 0], class_names=["dog", "bird", MARKUP_CLASS], warm_up=False)
    ex.target.value = 2
    ex.wait()
    yield ex
    ex.close()


def test_save_html_is_one_self_contained_page(explorer, tmp_path):
    path = explorer.save_html(tmp_path / "handout.html")
    raw = open(path, encoding="utf-8").read()
    page = Page()
    page.feed(raw)
    page.close()
    assert "script" not in page.tags and "<script" not in raw.lower()
    assert "http://" not in raw and "https://" not in raw
    views = [img for img in page.images if img.get("class") == "view"]
    pictures = [p for tab in explorer.tab_objects for p in tab.pictures()]
    assert len(views) == len(pictures) > 4
    for img in page.images:
        assert img["src"].startswith("data:image/png;base64,")
        Image.open(io.BytesIO(base64.b64decode(img["src"].split(",", 1)[1]))).verify()
    # each view image is its picture with the legend drawn under it
    first = np.asarray(Image.open(io.BytesIO(base64.b64decode(views[0]["src"].split(",", 1)[1]))).convert("RGB"))
    assert first.shape[0] > pictures[0].image.shape[0]
    text = " ".join(page.text)
    # names with markup arrive as text, never as markup
    assert MARKUP_LAYER in text and MARKUP_CLASS in text
    assert "<b>cat</b>" not in raw and "&lt;b&gt;cat&lt;/b&gt;" in raw
    assert "<script>alert" not in raw
    # the selection is spelled out, and every legend in words
    for words in ("Layer", "Channel", "Method", "Target", "2: " + MARKUP_CLASS, "Top classes", "Total params"):
        assert words in text, words
    legends = [p.legend for p in pictures if p.legend]
    assert legends and text.count("colours: ") >= len(legends)


def test_figure_has_a_labelled_colour_bar_per_map(explorer):
    explorer.layer.value = "conv2"
    explorer.wait()
    fig = explorer.figure("Kernel response")
    labels = [ax.get_xlabel() for ax in fig.axes if ax.get_xlabel()]
    assert any(label.startswith("response before activation") for label in labels)
    bar = next(ax for ax in fig.axes if ax.get_xlabel().startswith("response before activation"))
    ticks = [float(t) for t in bar.get_xticks()]
    assert 0.0 in ticks and ticks[0] == -ticks[-1]  # a signed map: symmetric, zero marked
