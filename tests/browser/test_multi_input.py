"""Models with several inputs or several outputs in a real JupyterLab: every tab of the
Explorer draws for an image + features model, the features table shows the person's
(escaped) names and the example's values, the Saliency tab charts one bar per feature;
on a two-head model the Output picker shows and switching it re-marks the head charts
and redraws the map."""

from __future__ import annotations

import numpy as np

from explorer_helpers import TAB_CANVASES, canvas, click_tab, status_text, wait_drawn, wait_status_settled
from helpers import canvas_pixels, open_notebook, real_errors, run_all, wait_for_pixels_change, widget_by_label

FEATURE_NAMES = ["age <years>", "a & b", "<b>bold</b>", "f3", "f4", "f5", "f6", "f7", "f8", "f9"]

IMAGE_AND_FEATURES = f"""
import os
os.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'
import keras, numpy as np, nbinterp
keras.utils.set_random_seed(0)
image = keras.Input((12, 12, 3), name="image")
meta = keras.Input((10,), name="meta")
x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv1")(image)
x = keras.layers.MaxPooling2D(name="pool")(x)
x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
m = keras.layers.Dense(6, activation="relu", name="meta_dense")(meta)
joined = keras.layers.Concatenate(name="join")([x, m])
out = keras.layers.Dense(5, activation="softmax", name="diagnosis")(joined)
model = keras.Model([image, meta], out, name="lesions")
rng = np.random.default_rng(0)
images = rng.uniform(size=(4, 12, 12, 3)).astype("float32")
features = rng.normal(size=(4, 10)).astype("float32")
ex = nbinterp.Explorer(model, [images, features], feature_names={FEATURE_NAMES!r}, warm_up=False)
ex.wait()
ex
"""

TWO_HEADS = """
import os
os.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'
import keras, numpy as np, nbinterp
keras.utils.set_random_seed(1)
image = keras.Input((12, 12, 3))
x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv")(image)
x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
cls = keras.layers.Dense(4, activation="softmax", name="classes")(x)
box = keras.layers.Dense(3, name="box")(x)
model = keras.Model(image, [cls, box], name="two_heads")
images = np.random.default_rng(1).uniform(size=(3, 12, 12, 3)).astype("float32")
ex = nbinterp.Explorer(model, images, warm_up=False)
ex.wait()
ex
"""


def _features():
    rng = np.random.default_rng(0)
    rng.uniform(size=(4, 12, 12, 3))
    return rng.normal(size=(4, 10)).astype("float32")


def _open(page, scratch_notebook, source):
    open_notebook(page, scratch_notebook([source]))
    run_all(page)
    explorer = page.locator(".nbinterp-explorer").first
    explorer.wait_for(state="visible", timeout=60_000)
    wait_status_settled(page)
    return explorer


def _show_tab(page, explorer, title):
    click_tab(page, title)
    page.wait_for_function(
        """([root, title]) => {
            const tab = Array.from(root.querySelectorAll('.lm-TabBar-tab'))
                .find((t) => t.textContent.trim() === title);
            return tab && tab.classList.contains('lm-mod-current');
        }""",
        arg=[explorer.element_handle(), title],
    )


def _not_blank(page, css, what):
    view = canvas(page, css)
    view.wait_for(state="visible", timeout=60_000)
    wait_drawn(page, view)
    pixels = canvas_pixels(page, view)
    assert pixels[..., :3].max() > pixels[..., :3].min(), f"{what}: blank picture"
    return view


def _figure_titles(explorer):
    return explorer.evaluate(
        """(root) => Array.from(root.querySelectorAll('.bqplot'))
            .filter((f) => f.offsetParent !== null)
            .map((f) => (f.querySelector('.mainheading') || {}).textContent || '')"""
    )


def test_image_and_features_model_in_every_tab(page, browser_log, scratch_notebook):
    explorer = _open(page, scratch_notebook, IMAGE_AND_FEATURES)

    # the non-image inputs of example 0: one row per feature, names as text, values as shown
    table = explorer.locator(".nbinterp-inputs-table").first
    table.wait_for(state="visible", timeout=30_000)
    rows = table.locator("tr").evaluate_all(
        "(rows) => rows.slice(1).map((r) => Array.from(r.cells).map((c) => c.textContent))"
    )
    values = _features()[0]
    assert rows == [[f"meta: {name}", f"{float(v):.4g}"] for name, v in zip(FEATURE_NAMES, values)], rows
    assert table.locator("b").count() == 0, "a feature name was rendered as markup"

    # every tab draws its picture
    titles = [t.strip() for t in explorer.locator(".lm-TabBar-tab").all_text_contents()]
    assert {"Activations", "Saliency", "Architecture"} <= set(titles), titles
    for title in titles:
        _show_tab(page, explorer, title)
        if title in TAB_CANVASES:
            _not_blank(page, TAB_CANVASES[title], title)
        elif title == "Architecture":
            table_select = explorer.locator(".nbinterp-architecture select").first
            table_select.wait_for(state="visible")
            rows = [t.replace("\xa0", " ").split()[0] for t in table_select.locator("option").all_text_contents()]
            assert rows == ["conv1", "pool", "conv2", "gap", "meta_dense", "join", "diagnosis"], rows
        wait_status_settled(page)
        assert "⚠" not in status_text(page), f"{title}: {status_text(page)}"

    # Saliency: a bar per feature of the tabular input, named by the person's names
    _show_tab(page, explorer, "Saliency")
    _not_blank(page, "saliency", "Saliency")
    figure = explorer.locator(".bqplot").filter(
        has=page.locator(".mainheading", has_text="meta:")).first
    figure.wait_for(state="visible", timeout=60_000)
    page.wait_for_function(
        "(fig) => fig.querySelectorAll('rect.bar').length === 10",
        arg=figure.element_handle(), timeout=60_000,
    )
    ticks = figure.evaluate(
        """(fig) => Array.from(fig.querySelectorAll('.axis')).map(
            (a) => Array.from(a.querySelectorAll('.tick text')).map((t) => t.textContent))"""
    )
    assert FEATURE_NAMES in ticks, ticks
    heights = figure.locator("rect.bar").evaluate_all(
        "(bars) => bars.map((b) => parseFloat(b.getAttribute('height')))"
    )
    assert all(h >= 0 for h in heights) and max(heights) > 1, heights

    wait_status_settled(page)
    assert "⚠" not in status_text(page), status_text(page)
    assert real_errors(browser_log.errors) == []
    assert browser_log.dialogs == []


def test_two_heads_output_picker_switches_the_explained_head(page, browser_log, scratch_notebook):
    explorer = _open(page, scratch_notebook, TWO_HEADS)
    output = widget_by_label(explorer, "Output")
    assert output.count() == 1 and output.is_visible(), "the Output picker is not shown"
    names = [t.replace("\xa0", " ") for t in output.locator("option").all_text_contents()]
    assert len(names) == 2, names

    _show_tab(page, explorer, "Saliency")
    saliency = _not_blank(page, "saliency", "Saliency")
    page.wait_for_function(
        """(root) => Array.from(root.querySelectorAll('.bqplot')).filter(
            (f) => f.querySelectorAll('rect.bar').length > 0).length === 2""",
        arg=explorer.element_handle(), timeout=60_000,
    )
    wait_status_settled(page)
    titles = _figure_titles(explorer)
    marked = [t for t in titles if t.startswith("▶")]
    assert len(marked) == 1 and "classes" in marked[0], titles

    before = canvas_pixels(page, saliency)
    output.locator("select").select_option(index=1)
    page.wait_for_function(
        """(root) => Array.from(root.querySelectorAll('.bqplot .mainheading'))
            .some((t) => t.textContent.startsWith('▶') && t.textContent.includes('box'))""",
        arg=explorer.element_handle(), timeout=60_000,
    )
    titles = _figure_titles(explorer)
    marked = [t for t in titles if t.startswith("▶")]
    assert len(marked) == 1 and "box" in marked[0], titles
    wait_for_pixels_change(page, saliency, before, timeout=60)
    wait_status_settled(page)
    assert "⚠" not in status_text(page), status_text(page)
    label = page.locator(".nbinterp-saliency .nbinterp-canvas-label").first.text_content()
    assert "class" in label, label

    assert real_errors(browser_log.errors) == []
    assert browser_log.dialogs == []
