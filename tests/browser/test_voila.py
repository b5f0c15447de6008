"""The tour as a Voila app (``scripts/demo.sh --voila``): it runs on load, then the
Explorer is driven by keyboard and mouse (Channel slider, a tile, every tab, a
class bar) with a clean console; in particular every extension loads (the Notebook 7
lab extension, which Voila's older JupyterLab core cannot host, is not loaded)."""

from __future__ import annotations

from explorer_helpers import drive_tour_explorer
from helpers import open_voila, real_errors


def test_tour_as_a_voila_app(voila_server, open_page, browser_log):
    page = open_page(voila_server)
    open_voila(page)
    # Voila shows outputs only: no code cells, no notebook chrome
    assert page.locator(".jp-InputArea-editor, .jp-CodeMirrorEditor").count() == 0
    drive_tour_explorer(page)

    assert real_errors(browser_log.errors, "voila") == [], browser_log.errors
    assert browser_log.dialogs == []
    failed = [m for m in browser_log.messages if "Failed to create module" in m]
    assert failed == [], failed
    # the page came from the server demo.sh started, on a copy of the notebooks
    assert "serving the tour as a Voila app" in voila_server.log_text()
