"""What a newcomer does first with the demo Explorer, in a real JupyterLab: the header
controls show only on the tabs they act on, a click on a class bar that is not the top
one explains that class, and Maximize draws a picture."""

from __future__ import annotations

from explorer_helpers import canvas, open_explorer, show_tab, status_text, wait_drawn, wait_status_settled
from helpers import canvas_pixels, real_errors, wait_for_pixels_change, widget_by_label

SETUP = """
import os
os.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'
import nbinterp
from nbinterp import demo
digits = demo.load_digits("test")
ex = nbinterp.Explorer(demo.load_model(), digits.images[:8], labels=digits.labels[:8],
                       class_names=digits.class_names, warm_up=False)
ex.wait()
ex
"""

SALIENCY_CONTROLS = ("Method", "Target", "Opacity")
# bqplot's complaint when a figure is laid out at zero size (negative rectangle sizes)
BQPLOT_LAYOUT_ERRORS = ("negative value", "<rect> attribute")


def visibility(explorer, label):
    """The computed CSS visibility of the control labelled ``label``."""
    control = widget_by_label(explorer, label)
    assert control.count() == 1, f"no control labelled {label!r}"
    return control.evaluate("(el) => getComputedStyle(el).visibility")


def saliency_caption(page):
    return page.locator(".nbinterp-saliency .nbinterp-canvas-label").first.text_content() or ""


def wait_caption(page, text, timeout=120_000):
    page.wait_for_function(
        """(text) => {
            const l = document.querySelector('.nbinterp-saliency .nbinterp-canvas-label');
            return l && l.textContent.includes(text);
        }""",
        arg=text, timeout=timeout,
    )


def colours(pixels):
    """How many distinct RGB colours a canvas shows."""
    return len({tuple(p) for p in pixels[..., :3].reshape(-1, 3)})


def option_texts(select):
    return [t.replace("\xa0", " ") for t in select.locator("option").all_text_contents()]


def test_newcomer_first_steps(page, browser_log, scratch_notebook):
    explorer = open_explorer(page, scratch_notebook([SETUP]))

    # controls only where they act: Method, Target and Opacity belong to Saliency
    for label in SALIENCY_CONTROLS:
        assert visibility(explorer, label) == "hidden", f"{label} shows on Activations"
    for label in ("Layer", "Image", "Channel"):
        assert visibility(explorer, label) == "visible", f"{label} hidden on Activations"
    show_tab(page, explorer, "Saliency")
    for label in SALIENCY_CONTROLS:
        assert visibility(explorer, label) == "visible", f"{label} hidden on Saliency"
    show_tab(page, explorer, "Activations")
    for label in SALIENCY_CONTROLS:
        assert visibility(explorer, label) == "hidden", f"{label} shows again on Activations"

    # the class chart: a click on the third bar (not the top class) explains that class
    show_tab(page, explorer, "Saliency")
    saliency = canvas(page, "saliency")
    saliency.wait_for(state="visible", timeout=60_000)
    wait_drawn(page, saliency)
    page.wait_for_function(
        "(root) => root.querySelectorAll('.bqplot rect.bar').length >= 3",
        arg=explorer.element_handle(), timeout=60_000,
    )
    wait_status_settled(page)
    bars = explorer.locator(".bqplot rect.bar")
    axes = explorer.evaluate(
        """(root) => Array.from(root.querySelectorAll('.bqplot .axis')).map(
            (a) => Array.from(a.querySelectorAll('.tick text')).map((t) => t.textContent))"""
    )
    classes = next(ticks for ticks in axes if len(ticks) == bars.count())
    target = widget_by_label(explorer, "Target").locator("select")
    assert target.evaluate("(s) => s.selectedIndex") == 0, "Target should start at 'top predicted'"
    heights = bars.evaluate_all("(bs) => bs.map((b) => parseFloat(b.getAttribute('height')))")
    assert heights[2] < heights[0], f"the third bar should be a class below the top one: {heights}"
    before = canvas_pixels(page, saliency)
    box = bars.nth(2).bounding_box()
    assert box and box["height"] >= 3, f"the third bar is too small to click: {box}"
    bars.nth(2).click()
    page.wait_for_function("(s) => s.selectedIndex !== 0", arg=target.element_handle(), timeout=30_000)
    chosen = target.evaluate("(s) => s.options[s.selectedIndex].text").replace("\xa0", " ")
    assert chosen.split(":")[0].strip() == classes[2].split(":")[0].strip(), (chosen, classes)
    assert chosen.split(":")[0].strip() != classes[0].split(":")[0].strip(), (chosen, classes)
    after = wait_for_pixels_change(page, saliency, before, timeout=60)
    wait_status_settled(page)
    assert after[..., :3].max() > after[..., :3].min(), "the redrawn saliency map is blank"
    label = saliency_caption(page)
    assert f"for class {classes[2].split(':')[0].strip()}" in label, (label, classes)

    # Maximize on conv1's channel 0: that unit wants plain brightness, and the caption says so
    method = widget_by_label(explorer, "Method").locator("select")
    labels = option_texts(method)
    maximize = next(i for i, text in enumerate(labels) if text.startswith("Maximize"))
    before = canvas_pixels(page, saliency)
    method.select_option(index=maximize)
    wait_for_pixels_change(page, saliency, before, timeout=120)
    wait_caption(page, "wants")
    wait_status_settled(page, timeout=120_000)
    assert "⚠" not in status_text(page), status_text(page)
    caption = saliency_caption(page)
    if colours(canvas_pixels(page, saliency)) <= 2:
        assert "uniform image" in caption, f"a flat picture without a word why: {caption}"
    assert visibility(explorer, "Opacity") == "hidden", "Opacity shows though Maximize draws no overlay"

    # Maximize on the output layer: what the chosen class wants, a picture, not one flat colour
    clicked = classes[2].split(":")[0].strip()
    layer = widget_by_label(explorer, "Layer").locator("select")
    names = [t.split(" ")[0] for t in option_texts(layer)]
    before = canvas_pixels(page, saliency)
    layer.select_option(index=names.index("predictions"))
    wait_for_pixels_change(page, saliency, before, timeout=120)
    wait_caption(page, f"what class {clicked} of")
    wait_status_settled(page, timeout=120_000)
    assert "⚠" not in status_text(page), status_text(page)
    assert visibility(explorer, "Target") == "visible", "Maximize on the output aims at the Target class"
    assert colours(canvas_pixels(page, saliency)) > 16, f"Maximize drew a flat picture: {saliency_caption(page)}"

    noisy = [m for m in browser_log.messages if any(s in m for s in BQPLOT_LAYOUT_ERRORS)]
    assert noisy == [], noisy
    assert real_errors(browser_log.errors) == []
    assert browser_log.dialogs == []
