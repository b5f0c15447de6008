"""Models with several inputs or several outputs in a real JupyterLab: every tab of the
Explorer draws for an image + features model, the features table shows the person's
(escaped) names and the example's values, the Saliency tab charts one bar per feature;
on a two-head model the Output picker shows and switching it re-marks the head charts
and redraws the map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from explorer_helpers import TAB_CANVASES, canvas, open_explorer, show_tab, status_text, wait_drawn, wait_status_settled
from helpers import canvas_pixels, real_errors, wait_for_pixels_change, widget_by_label

ROOT = Path(__file__).resolve().parents[2]
FEATURE_NAMES = ["age <years>", "a & b", "<b>bold</b>", "f3", "f4", "f5", "f6", "f7", "f8", "f9"]

# the kernel builds the models of the headless multi-input tests (tests/test_multi_io.py)
PRELUDE = f"""
import os, sys
os.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'
sys.path.insert(0, {str(ROOT / "tests")!r})
import numpy as np, nbinterp
from test_multi_io import image_and_features, two_heads
"""

IMAGE_AND_FEATURES = PRELUDE + f"""
model = image_and_features()
rng = np.random.default_rng(0)
images = rng.uniform(size=(4, 12, 12, 3)).astype("float32")
features = rng.normal(size=(4, 10)).astype("float32")
ex = nbinterp.Explorer(model, [images, features], feature_names={FEATURE_NAMES!r}, warm_up=False)
ex.wait()
ex
"""

TWO_HEADS = PRELUDE + """
images = np.random.default_rng(1).uniform(size=(3, 12, 12, 3)).astype("float32")
ex = nbinterp.Explorer(two_heads(), images, warm_up=False)
ex.wait()
ex
"""


def _inputs():
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(4, 12, 12, 3)).astype("float32")
    return images, rng.normal(size=(4, 10)).astype("float32")


def _gradient_x_features():
    """d logit[top class] / d features × features of example 0, by a plain GradientTape."""
    from test_multi_io import image_and_features, logit_tape

    model = image_and_features()
    images, features = _inputs()
    top = int(np.argmax(model([images[:1], features[:1]]).numpy()[0]))
    grads = logit_tape(model, [images[:1], features[:1]], "diagnosis", top, 1)
    return (grads * features[:1])[0]


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
    explorer = open_explorer(page, scratch_notebook([IMAGE_AND_FEATURES]))

    # the non-image inputs of example 0: one row per feature, names as text, values as shown
    table = explorer.locator(".nbinterp-inputs-table").first
    table.wait_for(state="visible", timeout=30_000)
    rows = table.locator("tr").evaluate_all(
        "(rows) => rows.slice(1).map((r) => Array.from(r.cells).map((c) => c.textContent))"
    )
    values = _inputs()[1][0]
    assert rows == [[f"meta: {name}", f"{float(v):.4g}"] for name, v in zip(FEATURE_NAMES, values)], rows
    assert table.locator("b").count() == 0, "a feature name was rendered as markup"

    # every tab draws its picture
    titles = [t.strip() for t in explorer.locator(".lm-TabBar-tab").all_text_contents()]
    assert {"Activations", "Saliency", "Architecture"} <= set(titles), titles
    for title in titles:
        show_tab(page, explorer, title)
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
    show_tab(page, explorer, "Saliency")
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

    # Gradient × input per feature: each bar's colour is the sign of d logit / d feature × feature
    # of the top class (a GradientTape on the same model), the longest bar the largest |value|
    expected = _gradient_x_features()
    method = widget_by_label(explorer, "Method").locator("select")
    labels = [t.replace("\xa0", " ") for t in method.locator("option").all_text_contents()]
    method.select_option(index=labels.index("Gradient × input"))
    page.wait_for_function(
        "(fig) => (fig.querySelector('.mainheading') || {}).textContent.includes('Gradient × input')",
        arg=figure.element_handle(), timeout=60_000,
    )
    wait_status_settled(page)
    fills = figure.locator("rect.bar").evaluate_all("(bars) => bars.map((b) => getComputedStyle(b).fill)")
    green, red = "rgb(84, 162, 75)", "rgb(228, 87, 86)"
    assert fills == [green if v >= 0 else red for v in expected], (fills, expected)
    heights = figure.locator("rect.bar").evaluate_all(
        "(bars) => bars.map((b) => parseFloat(b.getAttribute('height')))"
    )
    assert int(np.argmax(heights)) == int(np.argmax(np.abs(expected))), (heights, expected)

    wait_status_settled(page)
    assert "⚠" not in status_text(page), status_text(page)
    assert real_errors(browser_log.errors) == []
    assert browser_log.dialogs == []


def test_two_heads_output_picker_switches_the_explained_head(page, browser_log, scratch_notebook):
    explorer = open_explorer(page, scratch_notebook([TWO_HEADS]))
    output = widget_by_label(explorer, "Output")
    assert output.count() == 1 and output.is_visible(), "the Output picker is not shown"
    names = [t.replace("\xa0", " ") for t in output.locator("option").all_text_contents()]
    assert len(names) == 2, names

    show_tab(page, explorer, "Saliency")
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
