"""End-to-end fixtures: a real JupyterLab server and headless Chromium.

Fixtures
--------
``jupyter_server`` (session)
    A JupyterLab started from this Python environment on a free loopback
    port, serving the repository root, with no token, no news/update
    notifications, no autosave (so notebooks in the tree stay unmodified) and
    ``window.jupyterapp`` exposed. Has ``.url``, ``.port``, ``.root``, ``.log``.
``browser`` (session)
    Playwright Chromium (the system ``/usr/bin/chromium``), headless.
``browser_log`` (function)
    ``.errors`` (console errors, with the source URL in brackets, and uncaught
    page errors), ``.dialogs`` (alert/confirm/prompt messages, which are
    dismissed), ``.http_errors`` (responses with status >= 400) and
    ``.messages`` (every console message).
``console_errors`` (function)
    Shortcut for ``browser_log.errors``.
``page`` (function)
    A fresh page in its own context whose ``base_url`` is the server, so
    ``page.goto("/lab/tree/notebooks/00_tour.ipynb")`` works. Use the helpers
    in ``tests/browser/helpers.py`` to open notebooks and run them.

Without Chromium or JupyterLab the tests skip, except under ``CI=true``
where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("NBINTERP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT = 120  # seconds

# User settings written into a private JupyterLab settings folder.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/extensionmanager-extension/plugin.jupyterlab-settings": {"enabled": False},
}


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing_tool(message: str):
    """Skip locally; fail under CI, where every test must run."""
    if _ci():
        pytest.fail(f"{message} (required under CI=true)", pytrace=False)
    pytest.skip(message)


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 2.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:  # loopback only
        return r.status, r.read()


@dataclass
class LabServer:
    url: str
    port: int
    root: Path
    log: Path
    process: subprocess.Popen = field(repr=False)

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _stop(proc: subprocess.Popen, url: str | None) -> None:
    if proc.poll() is None and url:
        # ask the server to shut its kernels down and exit
        try:
            req = urllib.request.Request(f"{url}/api/shutdown", method="POST", data=b"")
            urllib.request.urlopen(req, timeout=5).close()
            proc.wait(timeout=20)
        except Exception:
            pass
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)  # our own process group (start_new_session)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="session")
def jupyter_server(tmp_path_factory):
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        missing_tool("JupyterLab is not installed in this environment")

    home = tmp_path_factory.mktemp("jupyterlab")
    settings = home / "settings"
    for rel, values in LAB_SETTINGS.items():
        path = settings / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    for sub in ("workspaces", "runtime", "config"):
        (home / sub).mkdir()

    env = dict(os.environ)
    env.update(
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTER_CONFIG_DIR=str(home / "config"),
        TF_CPP_MIN_LOG_LEVEL=env.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        PYTHONUNBUFFERED="1",
    )
    # kernels started by the server should use this environment's Python
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = home / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        f"--ServerApp.root_dir={ROOT}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.extension_manager=readonly",
        # scratch notebooks live in a dot-folder under the root
        "--ContentsManager.allow_hidden=True",
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LabServer(url=url, port=port, root=ROOT, log=log, process=proc)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"JupyterLab exited with code {proc.returncode}:\n{server.log_tail()}"
                )
            try:
                status, _ = _get(f"{url}/api/status")
                if status == 200:
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"JupyterLab did not answer /api/status within {SERVER_START_TIMEOUT} s:\n"
                    f"{server.log_tail()}"
                )
            time.sleep(0.25)
        yield server
    finally:
        _stop(proc, url)


@pytest.fixture(scope="session")
def browser():
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing_tool(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_tool("the playwright Python package is not installed")

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class BrowserLog:
    errors: list = field(default_factory=list)
    dialogs: list = field(default_factory=list)
    messages: list = field(default_factory=list)
    http_errors: list = field(default_factory=list)


@pytest.fixture
def browser_log():
    return BrowserLog()


@pytest.fixture
def console_errors(browser_log):
    return browser_log.errors


@pytest.fixture
def page(browser, jupyter_server, browser_log):
    context = browser.new_context(
        base_url=jupyter_server.url,
        viewport={"width": 1280, "height": 1000},
        device_scale_factor=1,
    )
    context.set_default_timeout(60_000)
    pg = context.new_page()

    def on_console(msg):
        where = (msg.location or {}).get("url") or ""
        text = f"{msg.text} [{where}]" if where else msg.text
        browser_log.messages.append(f"[{msg.type}] {text}")
        if msg.type == "error":
            browser_log.errors.append(text)

    def on_response(response):
        if response.status >= 400:
            browser_log.http_errors.append(f"{response.status} {response.request.method} {response.url}")

    def on_dialog(dialog):
        browser_log.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    pg.on("console", on_console)
    pg.on("pageerror", lambda exc: browser_log.errors.append(f"uncaught: {exc}"))
    pg.on("dialog", on_dialog)
    pg.on("response", on_response)
    try:
        yield pg
    finally:
        # shut the kernels this page started, then drop the page
        try:
            pg.evaluate(
                """async () => {
                    const app = window.jupyterapp;
                    if (app) await app.serviceManager.sessions.shutdownAll();
                }"""
            )
        except Exception:
            pass
        context.close()


@pytest.fixture
def scratch_notebook(jupyter_server):
    """Write a notebook under the server root for one test; removed afterwards.

    Call it with a list of code-cell sources; returns the path relative to the
    server root (for ``open_notebook``)."""
    made = []
    folder = Path(tempfile.mkdtemp(prefix=".nbinterp-browser-", dir=jupyter_server.root))

    def make(sources, name="scratch.ipynb"):
        import nbformat
        from nbformat.v4 import new_code_cell, new_notebook

        nb = new_notebook(cells=[new_code_cell(s) for s in sources])
        nb.metadata["kernelspec"] = {
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
            "name": "python3",
        }
        path = folder / name
        nbformat.write(nb, path)
        made.append(path)
        return path.relative_to(jupyter_server.root).as_posix()

    try:
        yield make
    finally:
        shutil.rmtree(folder, ignore_errors=True)
