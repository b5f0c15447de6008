"""Explorer latency in a real browser: Channel slider key press -> canvas pixels changed.

Starts JupyterLab on a free loopback port and headless Chromium (/usr/bin/chromium),
opens a notebook with the Explorer on the demo model, then presses ArrowRight on the
Channel slider N times. Each press is timed inside the page, from the key event to
the first animation frame whose canvas pixels differ. Target: median <= 100 ms.
The same run also times a no-op reference (one animation frame) for context.

    python bench/explorer_browser.py [--presses N]
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from helpers import open_notebook, run_all, slider_handle, widget_by_label  # noqa: E402

NOTEBOOK = [
    "import os\nos.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'\nimport nbinterp\n"
    "model = nbinterp.demo.load_model(); digits = nbinterp.demo.load_digits()\n"
    "ex = nbinterp.Explorer(model, digits.images[:16], labels=digits.labels[:16], class_names=digits.class_names)\n"
    "ex.layer.value = 'conv3'\nex",
]

MEASURE = """async ([handleSelector, canvasSelector]) => {
    const canvas = document.querySelector(canvasSelector);
    const ctx = canvas.getContext('2d');
    const digest = () => {
        const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
        let h = 0;
        for (let i = 0; i < d.length; i += 4) h = (h * 31 + d[i] + 7 * d[i + 1] + 13 * d[i + 2]) | 0;
        return `${canvas.width}x${canvas.height}:${h}`;
    };
    const before = digest();
    const handle = document.querySelector(handleSelector);
    handle.focus();
    const t0 = performance.now();
    handle.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowRight', code: 'ArrowRight', keyCode: 39, which: 39, bubbles: true }));
    return await new Promise((resolve) => {
        const tick = () => {
            if (digest() !== before) resolve(performance.now() - t0);
            else if (performance.now() - t0 > 10000) resolve(-1);
            else requestAnimationFrame(tick);
        };
        requestAnimationFrame(tick);
    });
}"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presses", type=int, default=20)
    args = parser.parse_args()

    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook
    from playwright.sync_api import sync_playwright

    scratch = Path(tempfile.mkdtemp(prefix=".nbinterp-bench-", dir=ROOT))
    nb = new_notebook(cells=[new_code_cell(src) for src in NOTEBOOK])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, scratch / "bench.ipynb")
    port = free_port()
    settings = Path(tempfile.mkdtemp(prefix="nbinterp-lab-settings-"))
    overrides = settings / "overrides.json"
    overrides.write_text(json.dumps({"@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False}}))
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings), TF_CPP_MIN_LOG_LEVEL="2")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--IdentityProvider.token=", "--ServerApp.password=",
         f"--ServerApp.root_dir={ROOT}", "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
         "--ContentsManager.allow_hidden=True"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2).close()
                break
            except Exception:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                        args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                                              "--disable-background-networking", "--disable-component-update", "--disable-sync"])
            page = browser.new_context(base_url=url, viewport={"width": 1280, "height": 1000}).new_page()
            open_notebook(page, (scratch / "bench.ipynb").relative_to(ROOT).as_posix())
            run_all(page)
            page.wait_for_function(
                "() => { const s = document.querySelector('.nbinterp-status'); return s && s.textContent.includes('updated in'); }",
                timeout=120_000,
            )
            control = widget_by_label(page.locator(".nbinterp-explorer").first, "Channel")
            slider_handle(control).wait_for()
            handle_selector = ".nbinterp-explorer .noUi-handle"
            canvas_selector = ".nbinterp-activation-channel canvas.nbinterp-canvas"
            page.evaluate(MEASURE, [handle_selector, canvas_selector])  # warm-up press
            page.wait_for_timeout(300)
            times = []
            for _ in range(args.presses):
                elapsed = page.evaluate(MEASURE, [handle_selector, canvas_selector])
                if elapsed < 0:
                    raise SystemExit("canvas did not change within 10 s of a key press")
                times.append(elapsed)
                page.wait_for_timeout(150)
            frame = page.evaluate("() => new Promise((r) => { const t = performance.now(); requestAnimationFrame(() => r(performance.now() - t)); })")
            browser.close()
        median = statistics.median(times)
        print(f"Demo CNN, conv3 (32 channels): Channel key press -> canvas changed, {len(times)} presses")
        print(f"  median {median:.1f} ms, min {min(times):.1f} ms, max {max(times):.1f} ms (target <= 100 ms)")
        print(f"  one animation frame (reference): {frame:.1f} ms; median / target = {median / 100:.2f}")
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)
        except Exception:
            os.killpg(server.pid, signal.SIGKILL)
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(settings, ignore_errors=True)


if __name__ == "__main__":
    main()
