"""The tour notebook in a real JupyterLab: the Explorer's four controls redraw their canvases,
a tile click selects its channel, the status line stays clean; screenshots for the README."""

from __future__ import annotations

import shutil
from pathlib import Path

from explorer_helpers import (
    canvas,
    click_channel_tile,
    click_tab,
    open_explorer,
    press_channel_right,
    status_text,
    wait_status_settled,
)
from helpers import (
    canvas_pixels,
    real_errors,
    screenshot_output,
    slider_handle,
    wait_for_pixels_change,
    widget_by_label,
)

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def test_tour_explorer_controls_drive_the_canvases(page, browser_log):
    explorer = open_explorer(page, "notebooks/00_tour.ipynb")
    # the README's screenshots show the notebook without the file browser beside it
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    wait_status_settled(page)
    for label in ("Layer", "Channel", "Image", "Method"):
        assert widget_by_label(explorer, label).count() == 1, f"no control labelled {label!r}"

    # Activations tab (the default): ArrowRight on the Channel slider and a click on a
    # tile of the grid select a channel, and the enlarged channel redraws
    channel_view = press_channel_right(page, explorer)
    grid = click_channel_tile(page, explorer, channel_view)

    # Image dropdown -> the grid redraws
    before = canvas_pixels(page, grid)
    widget_by_label(explorer, "Image").locator("select").select_option(index=3)
    wait_for_pixels_change(page, grid, before)

    # Layer dropdown -> the grid redraws with conv2's 16 channels
    before = canvas_pixels(page, grid)
    layer_select = widget_by_label(explorer, "Layer").locator("select")
    names = [t.replace("\xa0", " ").split(" ")[0] for t in layer_select.locator("option").all_text_contents()]
    layer_select.select_option(index=names.index("conv2"))
    wait_for_pixels_change(page, grid, before)
    wait_status_settled(page)
    DOCS.mkdir(exist_ok=True)
    page.mouse.move(0, 0)
    screenshot_output(page, explorer, DOCS / "explorer-activations.png")
    shutil.copyfile(DOCS / "explorer-activations.png", DOCS / "screenshot.png")

    # Filters tab shows kernels; Kernel response tab shows image | kernel | response
    click_tab(page, "Filters")
    assert canvas_pixels(page, canvas(page, "filters-grid")).size > 0
    click_tab(page, "Kernel response")
    response = canvas(page, "response")
    before = canvas_pixels(page, response)
    handle = slider_handle(widget_by_label(explorer, "Channel"))
    handle.focus()
    page.keyboard.press("ArrowRight")
    wait_for_pixels_change(page, response, before)
    screenshot_output(page, explorer, DOCS / "explorer-kernel-response.png")

    # Saliency tab: Method dropdown -> the overlay redraws
    click_tab(page, "Saliency")
    saliency = canvas(page, "saliency")
    page.wait_for_function(
        "(el) => el.width > 1", arg=saliency.element_handle(), timeout=60_000
    )
    before = canvas_pixels(page, saliency)
    method_select = widget_by_label(explorer, "Method").locator("select")
    labels = [t.replace("\xa0", " ") for t in method_select.locator("option").all_text_contents()]
    method_select.select_option(index=labels.index("Grad-CAM"))
    wait_for_pixels_change(page, saliency, before, timeout=60)
    wait_status_settled(page)
    assert "⚠" not in status_text(page), status_text(page)
    page.mouse.move(0, 0)
    screenshot_output(page, explorer, DOCS / "explorer-saliency.png")

    assert "⚠" not in status_text(page), status_text(page)
    assert real_errors(browser_log.errors) == []
    assert browser_log.dialogs == []
