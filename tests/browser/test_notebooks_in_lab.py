"""Every bundled notebook opens and runs in JupyterLab with its widgets rendered and a clean console."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import open_notebook, real_errors, run_all

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def widget_view_outputs(page):
    """How many outputs of the open notebook are widget views (from the notebook model)."""
    return page.evaluate(
        """(mime) => {
            const w = window.jupyterapp.shell.currentWidget;
            let n = 0;
            for (const cell of w.content.widgets) {
                if (cell.model.type !== 'code') continue;
                for (const out of cell.model.outputs.toJSON()) {
                    if (out.data && out.data[mime]) n += 1;
                }
            }
            return n;
        }""",
        WIDGET_MIME,
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_jupyterlab(page, browser_log, path):
    open_notebook(page, path.relative_to(ROOT).as_posix())
    result = run_all(page, timeout=300_000)
    assert result["executed"] == result["code_cells"]
    panel = page.locator(".jp-NotebookPanel:visible").first
    expected = widget_view_outputs(page)
    if path.stem in ("00_tour", "04_activations", "05_saliency_and_attribution", "07_training"):
        assert expected > 0, "this notebook is meant to show widgets"
    if expected:
        views = panel.locator(".jp-OutputArea-output > .jupyter-widgets, .jp-OutputArea-output > .widget-box, "
                              ".jp-OutputArea-output .lm-Widget.jupyter-widgets")
        views.first.wait_for(state="visible", timeout=60_000)
        assert views.count() >= 1
    # a widget view that failed shows one of these texts instead of the view
    page.wait_for_function(
        "(node) => !node.textContent.includes('Loading widget...')", arg=panel.element_handle(), timeout=60_000
    )
    assert panel.get_by_text("Error displaying widget").count() == 0
    assert real_errors(browser_log.errors) == [], browser_log.errors
    assert browser_log.dialogs == []
