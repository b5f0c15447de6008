"""End-to-end fixtures: real Jupyter front ends (JupyterLab, Notebook 7, Voila)
and headless Chromium.

Fixtures
--------
``jupyter_server`` (session)
    A JupyterLab started from this Python environment on a free loopback
    port, serving the repository root, with no token, no news/update
    notifications, no autosave (so notebooks in the tree stay unmodified) and
    ``window.jupyterapp`` exposed. Has ``.url``, ``.port``, ``.root``, ``.log``.
``notebook7_server`` (session)
    Jupyter Notebook 7, configured like the JupyterLab one, serving a copy of
    ``notebooks/`` in a temporary folder (``.root``), so running and saving
    there never touches the working tree.
``voila_server`` (session)
    The tour served as a Voila app by ``scripts/demo.sh --voila`` (with
    ``NBINTERP_SKIP_INSTALL=1``: this environment, no pip), which itself runs
    on a temporary copy of ``notebooks/``. ``.url`` opens the tour.
``open_page`` (function)
    ``open_page(server)``: a fresh page like ``page`` for any of the servers.
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

All servers are started and stopped by the same code (``start_server`` /
``stop_server``), each with private Jupyter config, data, runtime and
settings folders (``jupyter_home``). Without Chromium, JupyterLab, Notebook 7
or Voila the tests that need them skip, except under ``CI=true`` where they
fail.
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
class Server:
    """A Jupyter front-end server started by ``start_server``."""

    name: str
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

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


LabServer = Server  # the name the JupyterLab fixture's object had first


def jupyter_home(folder: Path) -> dict:
    """Private Jupyter folders under ``folder`` (settings with LAB_SETTINGS,
    workspaces, runtime, config, data-less) and the environment that points
    a server at them, so no test reads or writes the user's own."""
    settings = folder / "settings"
    for rel, values in LAB_SETTINGS.items():
        path = settings / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    for sub in ("workspaces", "runtime", "config"):
        (folder / sub).mkdir(exist_ok=True)
    env = dict(os.environ)
    env.update(
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(folder / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(folder / "runtime"),
        JUPYTER_CONFIG_DIR=str(folder / "config"),
        TF_CPP_MIN_LOG_LEVEL=env.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        PYTHONUNBUFFERED="1",
    )
    # kernels started by the server should use this environment's Python
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _answers(url: str, any_status: bool) -> bool:
    try:
        status, _ = _get(url)
        return status == 200 or any_status
    except urllib.error.HTTPError:
        return any_status  # it answered: up, but wants a token or redirects
    except (urllib.error.URLError, ConnectionError, OSError):
        return False


def start_server(
    name: str,
    cmd: list,
    *,
    port: int,
    root: Path,
    log: Path,
    env: dict,
    cwd: Path = ROOT,
    ready_path: str = "/api/status",
    any_status: bool = False,
    timeout: float = SERVER_START_TIMEOUT,
) -> Server:
    """Start ``cmd`` in its own process group, its output in ``log``, and wait
    until ``http://127.0.0.1:{port}{ready_path}`` answers (200, or any HTTP
    answer when ``any_status``). Stops it again and raises if it exits or does
    not answer within ``timeout`` seconds."""
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(name=name, url=url, port=port, root=root, log=log, process=proc)
    deadline = time.monotonic() + timeout
    try:
        while not _answers(url + ready_path, any_status):
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with code {proc.returncode}:\n{server.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{name} did not answer {ready_path} within {timeout} s:\n{server.log_tail()}"
                )
            time.sleep(0.25)
    except BaseException:
        stop_server(server, ask=False)
        raise
    return server


def stop_server(server: Server, ask: bool = True) -> None:
    """Stop a server and everything it started (kernels included): first by
    asking it (``POST /api/shutdown``, when ``ask``), then SIGTERM and SIGKILL
    to its process group."""
    _stop(server.process, server.url if ask else None)


def _stop(proc: subprocess.Popen, url: str | None) -> None:
    if proc.poll() is None and url:
        # ask the server to shut its kernels down and exit
        try:
            req = urllib.request.Request(f"{url}/api/shutdown", method="POST", data=b"")
            urllib.request.urlopen(req, timeout=5).close()
            proc.wait(timeout=20)
        except Exception:
            pass
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
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


def require_module(module: str, what: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        missing_tool(f"{what} is not installed in this environment (pip install -e '.[test]')")


@pytest.fixture(scope="session")
def tour_copy(tmp_path_factory) -> Path:
    """A temporary folder holding a copy of ``notebooks/`` (as ``notebooks/``)."""
    folder = tmp_path_factory.mktemp("tree")
    shutil.copytree(ROOT / "notebooks", folder / "notebooks")
    return folder


def serve_jupyter(tmp_path_factory, what: str, module: str, root: Path, *options: str):
    """Start ``python -m MODULE`` (a Jupyter server app) on a free port with no token,
    serving ``root``; yield its :class:`Server`, then stop it."""
    home = tmp_path_factory.mktemp(module)
    env = jupyter_home(home)
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        module,
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        f"--ServerApp.root_dir={root}",
        *options,
    ]
    server = start_server(what, cmd, port=port, root=root, log=home / "server.log", env=env)
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="session")
def jupyter_server(tmp_path_factory):
    require_module("jupyterlab", "JupyterLab")
    yield from serve_jupyter(
        tmp_path_factory, "JupyterLab", "jupyterlab", ROOT,
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.extension_manager=readonly",
        # scratch notebooks live in a dot-folder under the root
        "--ContentsManager.allow_hidden=True",
    )


@pytest.fixture(scope="session")
def notebook7_server(tmp_path_factory, tour_copy):
    require_module("notebook", "Jupyter Notebook 7")
    yield from serve_jupyter(tmp_path_factory, "Jupyter Notebook 7", "notebook", tour_copy,
                             "--JupyterNotebookApp.expose_app_in_browser=True")


def demo_command(*args: str) -> list:
    """``bash scripts/demo.sh ARGS`` (started with ``demo_env``)."""
    return ["bash", str(ROOT / "scripts" / "demo.sh"), *args]


def demo_env(home: Path) -> dict:
    """Environment for ``scripts/demo.sh`` in a test: this Python environment,
    nothing installed, private Jupyter folders, no display."""
    env = jupyter_home(home)
    env.update(NBINTERP_SKIP_INSTALL="1", NBINTERP_VENV=sys.prefix, TMPDIR=str(home))
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER"):
        env.pop(var, None)
    return env


@pytest.fixture(scope="session")
def voila_server(tmp_path_factory):
    require_module("voila", "Voila")
    home = tmp_path_factory.mktemp("voila")
    port = _free_port()
    server = start_server(
        "Voila",
        demo_command("--voila", f"--port={port}"),
        port=port,
        root=home,
        log=home / "server.log",
        env=demo_env(home),
        # "/" would execute the tour; any answer from another path means it is up
        ready_path="/api/status",
        any_status=True,
    )
    try:
        yield server
    finally:
        stop_server(server, ask=False)  # Voila has no token-free shutdown API


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


def _new_page(browser, server, browser_log):
    """A page in its own context whose ``base_url`` is ``server``; every console
    message, page error, dialog and HTTP error goes into ``browser_log``.
    Returns ``(context, page)``."""
    context = browser.new_context(
        base_url=server.url,
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

    def on_page_error(exc):
        # the first frame of the stack says which bundle threw
        frames = [line.strip() for line in (getattr(exc, "stack", "") or "").splitlines()[1:]]
        where = f" [{frames[0]}]" if frames else ""
        browser_log.errors.append(f"uncaught: {exc}{where}")

    def on_response(response):
        if response.status >= 400:
            browser_log.http_errors.append(f"{response.status} {response.request.method} {response.url}")

    def on_dialog(dialog):
        browser_log.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    pg.on("console", on_console)
    pg.on("pageerror", on_page_error)
    pg.on("dialog", on_dialog)
    pg.on("response", on_response)
    return context, pg


def _close_page(context, pg):
    # shut the kernels this page started (Lab / Notebook 7), then drop the page
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
def open_page(browser, browser_log):
    """``open_page(server)`` -> a fresh page on ``server``, closed after the test."""
    opened = []

    def open_(server):
        context, pg = _new_page(browser, server, browser_log)
        opened.append((context, pg))
        return pg

    try:
        yield open_
    finally:
        for context, pg in reversed(opened):
            _close_page(context, pg)


@pytest.fixture
def page(open_page, jupyter_server):
    return open_page(jupyter_server)


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
