"""The Saliency tab's Faithfulness panel in a real JupyterLab: the Deletion / insertion button
draws both bqplot curves, the Sanity check button draws its row of maps, with a clean console."""

from __future__ import annotations

import os

from explorer_helpers import canvas, click_tab, open_explorer, wait_drawn
from helpers import real_errors, screenshot_output

PANEL = ".nbinterp-explorer .nbinterp-faithfulness"


def test_faithfulness_buttons_draw_curves_and_the_sanity_row(page, browser_log, tmp_path):
    open_explorer(page, "notebooks/00_tour.ipynb")
    click_tab(page, "Saliency")
    wait_drawn(page, canvas(page, "saliency"))

    panel = page.locator(PANEL).first
    panel.wait_for(state="visible", timeout=60_000)
    panel.locator("button", has_text="Deletion / insertion").click()
    # two Lines marks (deletion, insertion), each a path through the curve's 33 points
    page.wait_for_function(
        """(sel) => {
            const paths = document.querySelectorAll(sel + ' .nbinterp-faithfulness-curves g.curve path.line');
            return paths.length >= 2 && Array.from(paths).every((p) => (p.getAttribute('d') || '').split('L').length >= 30);
        }""",
        arg=PANEL,
        timeout=120_000,
    )
    status = panel.locator(".nbinterp-faithfulness-status").first
    page.wait_for_function("(el) => el.textContent.includes('AUC')", arg=status.element_handle(), timeout=60_000)
    assert "⚠" not in status.text_content()
    assert "deletion" in panel.text_content() and "insertion" in panel.text_content()

    panel.locator("button", has_text="Sanity check").click()
    row = page.locator(f"{PANEL} .nbinterp-sanity canvas.nbinterp-canvas").first
    row.wait_for(state="visible", timeout=120_000)
    wait_drawn(page, row)
    page.wait_for_function("(el) => el.textContent.includes('sanity check')", arg=status.element_handle(),
                           timeout=60_000)
    assert "⚠" not in status.text_content()
    shot = os.environ.get("NBINTERP_FAITHFULNESS_SHOT")
    page.mouse.move(0, 0)
    screenshot_output(page, panel, shot or tmp_path / "faithfulness.png")

    assert real_errors(browser_log.errors) == []
    assert browser_log.dialogs == []
