"""``scripts/demo.sh`` opens the tour itself (not the Launcher) at the URL it prints,
works on a copy of the notebooks, and stops cleanly."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from conftest import ROOT, _free_port, demo_command, demo_env, require_module, start_server, stop_server

TOUR = "notebooks/00_tour.ipynb"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_demo_opens_the_tour_directly(tmp_path, open_page, browser_log):
    require_module("jupyterlab", "JupyterLab")
    checkout = _digest(ROOT / TOUR)
    port = _free_port()
    server = start_server(
        "demo.sh",
        demo_command(f"--port={port}"),
        port=port,
        root=tmp_path,
        log=tmp_path / "demo.log",
        env=demo_env(tmp_path),
        any_status=True,  # the demo server wants its token
    )
    try:
        log = server.log_text()
        assert "installing" not in log  # NBINTERP_SKIP_INSTALL=1: no pip
        urls = re.findall(rf"http://127\.0\.0\.1:{port}/\S+", log)
        direct = [u for u in urls if "/lab/tree/" in u]
        assert direct, f"demo.sh printed no direct URL to the tour:\n{log}"
        url = direct[0]
        assert url.startswith(f"http://127.0.0.1:{port}/lab/tree/{TOUR}?token="), url
        copies = list(tmp_path.glob("nbinterp-demo.*"))
        assert len(copies) == 1 and (copies[0] / TOUR).is_file(), copies

        page = open_page(server)
        page.goto(url)
        panel = page.locator(".jp-NotebookPanel:visible").first
        panel.wait_for(timeout=120_000)
        current = page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel")
        page.wait_for_function(
            "(el) => el && el.textContent.trim() === '00_tour.ipynb'",
            arg=current.first.element_handle(),
            timeout=60_000,
        )
        panel.locator("h1", has_text="A tour of nbinterp").first.wait_for(timeout=60_000)
        assert page.locator(".jp-Launcher:visible").count() == 0
        labels = [t.strip() for t in page.locator("#jp-main-dock-panel .lm-TabBar-tabLabel").all_text_contents()]
        assert "Launcher" not in labels, labels
        assert browser_log.dialogs == []
    finally:
        stop_server(server, ask=False)  # SIGTERM, as Ctrl+C or a service manager would
    assert server.process.returncode is not None
    assert "Shutting down" in server.log_text()
    assert list(tmp_path.glob("nbinterp-demo.*")) == [], "demo.sh left its copy behind"
    assert _digest(ROOT / TOUR) == checkout
