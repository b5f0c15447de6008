"""Legends in a real browser: each colour bar drawn under a map is the palette of
that map over its range (canvas pixels against an independent Keras computation
and matplotlib's palette table), and hovering a map reads out its value."""

from __future__ import annotations

import numpy as np
from explorer_helpers import canvas, click_tab, open_explorer
from helpers import canvas_pixels, real_errors

SETUP = """
import nbinterp
from nbinterp import demo
digits = demo.load_digits("test")
ex = nbinterp.Explorer(demo.load_model(), digits.images[:3], class_names=digits.class_names, warm_up=False)
ex.layer.value = "conv2"
ex.wait()
ex
"""


def palette(name):
    import matplotlib

    table = matplotlib.colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3]
    return np.round(table * 255).astype(np.uint8)


def legend_bar(page, map_css):
    """The colour bar row (256 columns) of the legend under the canvas ``nbinterp-<map_css>``."""
    from nbinterp.render import legend as L

    root = page.locator(f".nbinterp-{map_css} .nbinterp-canvas-root").first
    legend = root.locator("canvas.nbinterp-canvas-legend")
    legend.wait_for(state="attached", timeout=60_000)
    page.wait_for_function("(c) => c.width > 0", arg=legend.element_handle(), timeout=60_000)
    pixels = canvas_pixels(page, legend)[..., :3]
    text = legend.get_attribute("data-text")
    # the bar: the one run of 256 columns starting at the margin whose rows are all alike
    rows = [y for y in range(pixels.shape[0])
            if len({tuple(c) for c in pixels[y, L.MARGIN:L.MARGIN + 256]}) > 32
            and np.array_equal(pixels[y, L.MARGIN:L.MARGIN + 256], pixels[y + 1, L.MARGIN:L.MARGIN + 256])]
    assert rows, f"no colour bar found in the legend ({text})"
    return pixels[rows[0], L.MARGIN:L.MARGIN + 256], text


def matches(colours, bar, values, vmin, vmax):
    """Fraction of ``colours`` that equal the bar at the column of their value (±1 for rounding)."""
    index = np.round((values - vmin) / (vmax - vmin) * 255).astype(int)
    good = 0
    for colour, i in zip(colours, index):
        near = bar[max(0, i - 1):min(255, i + 1) + 1]
        good += any(np.array_equal(colour, c) for c in near)
    return good / len(colours)


def test_colour_bars_match_their_maps(page, browser_log, scratch_notebook):
    import keras

    from nbinterp import demo

    model = demo.load_model()
    image = demo.load_digits("test").images[:1]
    acts = keras.Model(model.inputs[0], model.get_layer("conv2").output)(image).numpy()[0]

    open_explorer(page, scratch_notebook([SETUP]))

    # Activations (shared scale): the enlarged channel 0 over the whole layer's range
    bar, text = legend_bar(page, "activation-channel")
    np.testing.assert_array_equal(bar, palette("viridis"))
    lo, hi = float(acts.min()), float(acts.max())
    ends = [float(v.replace("−", "-")) for v in text.rsplit(": ", 1)[1].split(" … ")]
    assert abs(ends[0] - lo) <= 1e-3 * max(1.0, abs(hi)) and abs(ends[1] - hi) <= 1e-3 * max(1.0, abs(hi)), text
    pixels = canvas_pixels(page, canvas(page, "activation-channel"))[..., :3]
    zoom = pixels.shape[0] // acts.shape[0]
    centres = pixels[zoom // 2::zoom, zoom // 2::zoom][: acts.shape[0], : acts.shape[1]]
    assert matches(centres.reshape(-1, 3), bar, acts[..., 0].reshape(-1), lo, hi) > 0.99

    # hovering a pixel of the map reads out its value
    view = canvas(page, "activation-channel")
    box = view.bounding_box()
    scale = box["width"] / pixels.shape[1]
    row, col = 5, 7
    page.mouse.move(box["x"] + (col + 0.5) * zoom * scale, box["y"] + (row + 0.5) * zoom * scale)
    tooltip = page.locator(".nbinterp-activation-channel .nbinterp-canvas-tooltip").first
    tooltip.wait_for(state="visible", timeout=10_000)
    line = tooltip.text_content()
    assert f"activation at ({col}, {row}):" in line, line
    shown = float(line.rsplit(":", 1)[1].strip().replace("−", "-"))
    assert abs(shown - acts[row, col, 0]) <= 2e-3 * max(abs(acts[row, col, 0]), 1e-3)

    # Kernel response: signed, diverging around zero over ±max|response|
    click_tab(page, "Kernel response")
    bar, text = legend_bar(page, "response")
    rdbu = palette("RdBu_r")
    np.testing.assert_array_equal(bar, rdbu)
    assert text.startswith("response before activation"), text
    conv = model.get_layer("conv2")
    pre = keras.Model(model.inputs[0], conv.input)(image).numpy()
    kernel, bias = (w.numpy() for w in conv.weights[:2])
    response = np.zeros(acts.shape[:2])  # an independent 'same' correlation
    kh, kw = kernel.shape[:2]
    pre = np.pad(pre, ((0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2), (0, 0)))
    for y in range(response.shape[0]):
        for x in range(response.shape[1]):
            response[y, x] = np.sum(pre[0, y:y + kh, x:x + kw, :] * kernel[..., 0]) + bias[0]
    top = float(np.abs(response).max())
    ends = [float(v.replace("−", "-")) for v in text.rsplit(": ", 1)[1].split(" … ")]
    assert abs(ends[0] + top) <= 1e-3 * top and abs(ends[1] - top) <= 1e-3 * top, text
    view = canvas(page, "response")
    page.wait_for_function("(c) => c.width > 1", arg=view.element_handle(), timeout=60_000)
    pixels = canvas_pixels(page, view)[..., :3]
    zoom = pixels.shape[0] // response.shape[0]
    centres = pixels[zoom // 2::zoom, zoom // 2::zoom][: response.shape[0], : response.shape[1]]
    assert matches(centres.reshape(-1, 3), bar, response.reshape(-1), -top, top) > 0.99
    # zero sits at the bar's centre: the colour of a zero response is the middle entry
    assert np.array_equal(bar[128], rdbu[128]) and rdbu[128].min() > 240

    assert real_errors(browser_log.errors) == []
