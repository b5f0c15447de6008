"""The tour notebook, run in JupyterLab: the Channel slider redraws the canvas."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import (
    canvas_by_label,
    canvas_pixels,
    open_notebook,
    real_errors,
    run_all,
    screenshot_output,
    slider_handle,
    wait_for_pixels_change,
    widget_by_label,
)

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "screenshot.png"


def test_tour_channel_slider_redraws_feature_map(page, browser_log):
    open_notebook(page, "notebooks/00_tour.ipynb")
    run_all(page)

    control = widget_by_label(page, "Channel")
    control.wait_for(state="visible", timeout=60_000)
    fmap = canvas_by_label(page, re.compile(r"^conv1 channel 0\b"))
    fmap.wait_for(state="visible", timeout=60_000)
    # pin the element: the locator above stops matching once the caption changes
    fmap = fmap.element_handle()
    canvas = fmap.query_selector("canvas.nbinterp-canvas")

    before = canvas_pixels(page, canvas)
    assert before.shape == (28 * 8, 28 * 8, 4)
    assert before[..., :3].max() > before[..., :3].min(), "feature map drawn blank"

    handle = slider_handle(control)
    handle.focus()
    page.keyboard.press("ArrowRight")

    after = wait_for_pixels_change(page, canvas, before, timeout=30)
    assert after.shape == before.shape
    label = fmap.query_selector(".nbinterp-canvas-label")
    assert re.match(r"^conv1 channel 1\b", label.text_content())
    assert control.locator(".widget-readout").first.text_content().strip() == "1"

    page.mouse.move(0, 0)
    screenshot_output(page, control, SCREENSHOT)
    assert SCREENSHOT.stat().st_size > 5_000

    assert real_errors(browser_log.errors) == []
    assert browser_log.dialogs == []
