"""User-supplied names (layers, classes) render as text in the Explorer: markup runs nothing."""

from __future__ import annotations

import numpy as np
from explorer_helpers import canvas, click_tab, open_explorer, wait_status_settled
from helpers import canvas_pixels, real_errors, widget_by_label


def test_user_supplied_names_render_as_text(page, browser_log, scratch_notebook):
    evil = "<img src=x onerror=alert(1)>"
    path = scratch_notebook(
        [
            "import os\nos.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'\n"
            "import keras, numpy as np, nbinterp\n"
            "inp = keras.Input((12, 12, 1))\n"
            f"x = keras.layers.Conv2D(3, 3, activation='relu', name={evil!r})(inp)\n"
            "x = keras.layers.GlobalAveragePooling2D()(x)\n"
            "model = keras.Model(inp, keras.layers.Dense(2, activation='softmax')(x), name='m')\n"
            "images = np.random.default_rng(0).integers(0, 255, (3, 12, 12, 1)).astype('uint8')\n"
            f"ex = nbinterp.Explorer(model, images, labels=[0, 1, 0], class_names=[{evil!r}, 'b<i>old</i>'])\n"
            "ex"
        ]
    )
    explorer = open_explorer(page, path)
    # ipywidgets shows spaces in options as no-break spaces
    layer_options = [t.replace("\xa0", " ") for t in widget_by_label(explorer, "Layer").locator("option").all_text_contents()]
    assert any(evil in text for text in layer_options), layer_options
    image_options = [t.replace("\xa0", " ") for t in widget_by_label(explorer, "Image").locator("option").all_text_contents()]
    assert any(evil in text for text in image_options), image_options
    click_tab(page, "Saliency")
    wait_status_settled(page)
    click_tab(page, "Architecture")
    page.wait_for_timeout(500)
    assert page.locator("img[src='x']").count() == 0
    assert page.locator(".nbinterp-explorer i", has_text="old").count() == 0  # class name markup not parsed
    assert browser_log.dialogs == []
    assert real_errors(browser_log.errors) == []
    assert np.all(canvas_pixels(page, canvas(page, "activation-grid")).shape[:2])
