"""ImageCanvas in a real browser: exact pixels, text-only captions, clicks."""

from __future__ import annotations

import numpy as np

from helpers import canvas_by_label, canvas_pixels, open_notebook, real_errors, run_all

SETUP = """
import numpy as np
from nbinterp.widgets.canvas import ImageCanvas
"""

RGB = """
rgb = np.array([[[255, 0, 0], [0, 255, 0]],
                [[0, 0, 255], [255, 255, 255]]], dtype=np.uint8)
ImageCanvas(rgb, scale=8, label="rgb-check")
"""

GRAY = """
gray = np.array([[0, 64], [128, 255]], dtype=np.uint8)
ImageCanvas(gray, scale=8, label="gray-check")
"""

AUTO = """
ImageCanvas(np.full((7, 10, 3), 200, dtype=np.uint8), max_width=45, label="auto-zoom-check")
"""

XSS = """
evil = "<img src=x onerror=alert(1)>"
clicks = []
xss = ImageCanvas(np.zeros((4, 4), dtype=np.uint8), scale=10, label=evil,
                  regions=[{"id": "r1", "x": 2, "y": 0, "w": 2, "h": 4, "title": evil}],
                  highlight="r1")
def on_click(event):
    clicks.append(event)
    xss.label = f"clicked x={event['x']} y={event['y']} id={event['id']} n={event['n']}"
xss.on_click(on_click)
xss
"""


def blocks(pixels, zoom):
    """Per data pixel: the set of distinct colours in its zoom x zoom block."""
    h, w = pixels.shape[0] // zoom, pixels.shape[1] // zoom
    return {
        (y, x): {tuple(c) for c in pixels[y * zoom:(y + 1) * zoom, x * zoom:(x + 1) * zoom].reshape(-1, 4)}
        for y in range(h)
        for x in range(w)
    }


def test_canvas_draws_exact_pixels_and_text_only_captions(page, browser_log, scratch_notebook):
    path = scratch_notebook([SETUP, RGB, GRAY, AUTO, XSS])
    open_notebook(page, path)
    run_all(page)

    rgb_root = canvas_by_label(page, "rgb-check")
    rgb_root.wait_for(state="visible", timeout=60_000)
    rgb = canvas_pixels(page, rgb_root)
    assert rgb.shape == (16, 16, 4)
    assert blocks(rgb, 8) == {
        (0, 0): {(255, 0, 0, 255)},
        (0, 1): {(0, 255, 0, 255)},
        (1, 0): {(0, 0, 255, 255)},
        (1, 1): {(255, 255, 255, 255)},
    }

    gray_root = canvas_by_label(page, "gray-check")
    gray = canvas_pixels(page, gray_root)
    assert gray.shape == (16, 16, 4)
    assert blocks(gray, 8) == {
        (0, 0): {(0, 0, 0, 255)},
        (0, 1): {(64, 64, 64, 255)},
        (1, 0): {(128, 128, 128, 255)},
        (1, 1): {(255, 255, 255, 255)},
    }
    style = gray_root.locator("canvas.nbinterp-canvas").evaluate(
        "(c) => getComputedStyle(c).imageRendering"
    )
    assert style == "pixelated"

    # auto zoom: largest integer zoom with 10 * zoom <= 45
    auto = canvas_pixels(page, canvas_by_label(page, "auto-zoom-check"))
    assert auto.shape == (7 * 4, 10 * 4, 4)
    assert np.all(auto == np.array([200, 200, 200, 255], dtype=np.uint8))

    # a caption that looks like HTML is shown as text, never parsed
    evil = "<img src=x onerror=alert(1)>"
    xss_root = canvas_by_label(page, evil)
    xss_root.wait_for(state="visible")
    assert xss_root.locator(".nbinterp-canvas-label").text_content() == evil
    assert page.locator(".jp-OutputArea img[src='x']").count() == 0
    assert xss_root.locator("img").count() == 0

    # the highlighted region is outlined on the overlay, nothing outside it
    alpha = np.array(
        xss_root.locator("canvas.nbinterp-canvas-overlay").evaluate(
            """(c) => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)"""
        ),
        dtype=np.uint8,
    ).reshape(40, 40, 4)[..., 3]
    assert alpha[:, 20:].any() and alpha[:, :20].max() == 0
    assert alpha[5:35, 25:35].max() == 0  # outline only, not filled

    # hovering the region shows its title, also as text
    canvas = xss_root.locator("canvas.nbinterp-canvas")
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 35, box["y"] + 15)  # image pixel (3, 1): inside r1
    tooltip = xss_root.locator(".nbinterp-canvas-tooltip")
    tooltip.wait_for(state="visible", timeout=10_000)
    assert tooltip.text_content() == evil
    assert tooltip.locator("img").count() == 0

    # a click travels to Python and back (the handler rewrites the caption)
    page.mouse.click(box["x"] + 35, box["y"] + 15)
    clicked = page.locator(".nbinterp-canvas-label", has_text="clicked x=3 y=1 id=r1 n=1")
    clicked.wait_for(timeout=30_000)
    page.mouse.click(box["x"] + 5, box["y"] + 25)  # pixel (0, 2): no region
    page.locator(".nbinterp-canvas-label", has_text="clicked x=0 y=2 id=None n=2").wait_for(
        timeout=30_000
    )

    page.wait_for_timeout(300)
    assert browser_log.dialogs == []
    assert real_errors(browser_log.errors) == []
