"""Helpers for driving JupyterLab 4 notebooks from Playwright (sync API).

All functions take a Playwright ``Page`` whose context was opened with
``base_url`` pointing at the test JupyterLab server (the ``page`` fixture in
``tests/browser/conftest.py`` does this).
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import numpy as np

DEFAULT_TIMEOUT_MS = 120_000

# Console errors that say nothing about the widgets under test, by name, with
# why each one is benign. Keep these lists short: anything not listed fails.
#
# In every front end:
BENIGN_CONSOLE_ERRORS = {
    # the tab icon: the test server has no favicon for some routes
    "favicon": re.compile(r"Failed to load resource: .*favicon", re.I),
    # JupyterLab probes optional server endpoints (language servers,
    # translations, saved workspaces) that this offline server does not have
    "optional-lab-endpoints": re.compile(
        r"Failed to load resource: .*/api/(lsp|translations|workspaces)", re.I
    ),
}

# Only in Jupyter Notebook 7:
BENIGN_NOTEBOOK7_ERRORS = {
    # An upstream race in Notebook 7.6 (jupyter/notebook#7862): the shortcuts
    # extension's pluginChanged handler reads the shortcuts plugin's settings
    # before they are loaded when the document manager reloads its own
    # settings first. It is thrown from Notebook's own bundle (notebook_core)
    # on every page, /tree included, in a fresh environment with only
    # `notebook` installed and no extensions; Notebook 7.5 does not have it.
    # The handler only refreshes shortcut defaults, which load right after.
    "notebook-7.6-shortcuts-race": re.compile(
        r"^uncaught: .*Cannot read properties of undefined \(reading 'schema'\)"
        r".*/static/notebook/notebook_core\.",
        re.S,
    ),
}

# Only in Voila:
BENIGN_VOILA_ERRORS = {
    # Voila's lab template links Font Awesome from a CDN
    # (cdn.jsdelivr.net/npm/@fortawesome/...), which an offline machine cannot
    # reach; icons are all it provides (the widgets' own icons come with them)
    "voila-font-awesome-cdn": re.compile(
        r"Failed to load resource: net::ERR_\w+ .*cdn\.jsdelivr\.net/npm/@fortawesome/", re.I
    ),
}

BENIGN_BY_FRONT_END = {
    "lab": {},
    "notebook7": BENIGN_NOTEBOOK7_ERRORS,
    "voila": BENIGN_VOILA_ERRORS,
}


def benign_patterns(front_end: str = "lab") -> dict:
    return {**BENIGN_CONSOLE_ERRORS, **BENIGN_BY_FRONT_END[front_end]}


def is_benign(message: str, front_end: str = "lab") -> bool:
    return any(p.search(message) for p in benign_patterns(front_end).values())


def real_errors(messages, front_end: str = "lab") -> list[str]:
    """The console errors in ``messages`` that are not known, named noise of
    ``front_end`` ("lab", "notebook7" or "voila")."""
    return [m for m in messages if not is_benign(m, front_end)]


def open_notebook(page, relpath: str, timeout: float = DEFAULT_TIMEOUT_MS):
    """Open ``relpath`` (relative to the server root, e.g.
    ``"notebooks/00_tour.ipynb"``) in JupyterLab and wait until its kernel is
    connected and idle. Returns the notebook panel locator.

    Each call uses a new, empty JupyterLab workspace, so nothing another test
    left open (possibly a deleted scratch notebook) is restored."""
    workspace = f"t{uuid.uuid4().hex[:12]}"
    page.goto(f"/lab/workspaces/{workspace}/tree/{quote(relpath)}")
    wait_kernel_idle(page, relpath.rsplit("/", 1)[-1], timeout)
    panel = page.locator(".jp-NotebookPanel:visible").first
    panel.locator(".jp-Cell").first.wait_for(timeout=timeout)
    return panel


def wait_kernel_idle(page, name: str, timeout: float = DEFAULT_TIMEOUT_MS):
    """Wait until the app's current widget is the notebook ``name`` with a
    connected, idle kernel (JupyterLab and Notebook 7: ``window.jupyterapp``)."""
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell", timeout=timeout)
    page.wait_for_function(
        """(name) => {
            const w = window.jupyterapp.shell.currentWidget;
            if (!w || !w.content || !w.sessionContext || !w.context) return false;
            if (!w.context.path.endsWith(name)) return false;
            const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
            return !!kernel && kernel.connectionStatus === 'connected'
                && kernel.status === 'idle';
        }""",
        arg=name,
        timeout=timeout,
    )


def open_notebook7(page, relpath: str, timeout: float = DEFAULT_TIMEOUT_MS):
    """Open ``relpath`` in Jupyter Notebook 7 (``/notebooks/...``) and wait for
    its kernel; ``run_all`` then works as in JupyterLab. Returns the panel."""
    page.goto(f"/notebooks/{quote(relpath)}")
    wait_kernel_idle(page, relpath.rsplit("/", 1)[-1], timeout)
    panel = page.locator(".jp-NotebookPanel:visible").first
    panel.locator(".jp-Cell").first.wait_for(timeout=timeout)
    return panel


def open_voila(page, path: str = "/", timeout: float = DEFAULT_TIMEOUT_MS * 2):
    """Load a Voila app (which runs the notebook on load) and wait until the
    kernel has run every cell: Voila drops its loading spinner and shows the
    outputs. Returns the page body locator."""
    page.goto(path, timeout=timeout)
    page.wait_for_function(
        """() => !document.querySelector('#loading, .voila-spinner, .voila-loading')
            && document.querySelector('.jp-OutputArea-output')""",
        timeout=timeout,
    )
    return page.locator("body")


def run_all(page, timeout: float = DEFAULT_TIMEOUT_MS * 2, allow_errors: bool = False) -> dict:
    """Run every cell of the current notebook and wait until all have finished.

    Raises AssertionError listing the errors if a cell raised (unless
    ``allow_errors``). Returns ``{"ok", "executed", "code_cells", "errors"}``.
    """
    page.evaluate(
        """() => {
            window.__nbinterpRun = { done: false };
            window.jupyterapp.commands.execute('notebook:run-all-cells').then(
                (ok) => { window.__nbinterpRun = { done: true, ok: ok !== false }; },
                (err) => { window.__nbinterpRun = { done: true, ok: false, failure: String(err) }; },
            );
        }"""
    )
    page.wait_for_function("() => window.__nbinterpRun && window.__nbinterpRun.done", timeout=timeout)
    # the execute replies are in; wait for the kernel to settle and prompts to update
    page.wait_for_function(
        """() => {
            const w = window.jupyterapp.shell.currentWidget;
            const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
            if (!kernel || kernel.status !== 'idle') return false;
            const prompts = Array.from(w.content.node.querySelectorAll('.jp-InputPrompt'));
            return !prompts.some((p) => p.textContent.includes('*'));
        }""",
        timeout=timeout,
    )
    result = page.evaluate(
        """() => {
            const w = window.jupyterapp.shell.currentWidget;
            const code = w.content.widgets.filter((c) => c.model.type === 'code');
            const errors = [];
            for (const cell of code) {
                for (const out of cell.model.outputs.toJSON()) {
                    if (out.output_type === 'error') errors.push(`${out.ename}: ${out.evalue}`);
                }
            }
            return {
                ok: window.__nbinterpRun.ok,
                failure: window.__nbinterpRun.failure || null,
                executed: code.filter((c) => c.model.executionCount !== null).length,
                code_cells: code.length,
                errors,
            };
        }"""
    )
    if not allow_errors:
        assert not result["errors"], f"notebook cells raised: {result['errors']}"
        assert result["ok"] and result["executed"] == result["code_cells"], result
    return result


def widget_by_label(page, label: str):
    """The ipywidgets control whose description label reads exactly ``label``
    (e.g. the ``IntSlider(description="Channel")`` container)."""
    if '"' in label:
        raise ValueError("labels containing double quotes are not supported")
    xpath = (
        "//div[contains(concat(' ', normalize-space(@class), ' '), ' widget-inline-hbox ')]"
        f'[./label[normalize-space(.)="{label}"]]'
    )
    return page.locator(f"xpath={xpath}")


def slider_handle(control):
    """The keyboard-focusable handle of an ipywidgets slider control."""
    return control.locator(".noUi-handle").first


def canvas_by_label(page, text):
    """The ``.nbinterp-canvas-root`` whose caption matches ``text`` (str or regex)."""
    roots = page.locator(".nbinterp-canvas-root")
    return roots.filter(has=page.locator(".nbinterp-canvas-label", has_text=text))


def _canvas_element(locator):
    return locator.evaluate(
        """(el) => {
            const c = el.tagName === 'CANVAS' ? el : el.querySelector('canvas.nbinterp-canvas');
            if (!c) throw new Error('no canvas.nbinterp-canvas under this element');
            return true;
        }"""
    )


def canvas_pixels(page, locator) -> np.ndarray:
    """RGBA pixels of a canvas as a uint8 array of shape (height, width, 4).

    ``locator`` (a Locator or ElementHandle) is the ``<canvas>`` itself or
    any element containing a ``canvas.nbinterp-canvas`` (e.g. the widget
    root)."""
    from PIL import Image

    _canvas_element(locator)
    url = locator.evaluate(
        """(el) => {
            const c = el.tagName === 'CANVAS' ? el : el.querySelector('canvas.nbinterp-canvas');
            if (c.width === 0 || c.height === 0) return '';
            return c.toDataURL('image/png');
        }"""
    )
    if not url:
        return np.zeros((0, 0, 4), dtype=np.uint8)
    raw = base64.b64decode(url.split(",", 1)[1])
    with Image.open(io.BytesIO(raw)) as im:
        return np.asarray(im.convert("RGBA"), dtype=np.uint8).copy()


def pixels_digest(pixels: np.ndarray) -> str:
    """A short hash of a pixel array (shape included)."""
    h = hashlib.sha256(repr(pixels.shape).encode())
    h.update(np.ascontiguousarray(pixels).tobytes())
    return h.hexdigest()[:16]


def wait_for_pixels_change(page, locator, before: np.ndarray, timeout: float = 30.0) -> np.ndarray:
    """Poll the canvas until its pixels differ from ``before``; return the new ones."""
    deadline = time.monotonic() + timeout
    while True:
        now = canvas_pixels(page, locator)
        if now.shape != before.shape or not np.array_equal(now, before):
            return now
        if time.monotonic() > deadline:
            raise AssertionError(f"canvas pixels did not change within {timeout} s")
        page.wait_for_timeout(100)


def cell(page, cell_index: int):
    """Locator of the notebook cell at ``cell_index`` (counting all cells, from 0)."""
    return page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell").nth(cell_index)


def output_area(page, cell_index: int):
    """Locator of the output area of the cell at ``cell_index``."""
    return cell(page, cell_index).locator(".jp-OutputArea").first


def output_area_of(page, locator):
    """The innermost notebook output area that contains ``locator``."""
    return page.locator(".jp-OutputArea-output").filter(has=locator).last


def screenshot_output(page, cell_index, path) -> Path:
    """Screenshot just one output area into ``path`` (PNG).

    ``cell_index`` is the index of the cell (all cells, from 0) or a locator
    of an element inside the output to capture."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(cell_index, int):
        area = output_area(page, cell_index)
    else:
        area = output_area_of(page, cell_index)
    area.scroll_into_view_if_needed()
    area.screenshot(path=str(path), animations="disabled")
    return path
