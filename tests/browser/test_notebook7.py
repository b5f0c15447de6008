"""The tour in Jupyter Notebook 7: run all, then drive the Explorer by keyboard
and mouse (Channel slider, a tile, every tab, a class bar) with a clean console."""

from __future__ import annotations

import hashlib
from pathlib import Path

from explorer_helpers import drive_tour_explorer
from helpers import open_notebook7, real_errors, run_all

ROOT = Path(__file__).resolve().parents[2]
TOUR = "notebooks/00_tour.ipynb"


def test_tour_in_notebook7(notebook7_server, open_page, browser_log):
    checkout = hashlib.sha256((ROOT / TOUR).read_bytes()).hexdigest()
    page = open_page(notebook7_server)
    open_notebook7(page, TOUR)
    assert page.locator("#main-panel, .jp-NotebookPanel").count() > 0
    run_all(page)
    drive_tour_explorer(page)

    assert real_errors(browser_log.errors, "notebook7") == [], browser_log.errors
    assert browser_log.dialogs == []
    # the server works on a copy: the checkout's tour is untouched
    assert notebook7_server.root != ROOT
    assert hashlib.sha256((ROOT / TOUR).read_bytes()).hexdigest() == checkout
