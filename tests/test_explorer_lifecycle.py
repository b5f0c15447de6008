"""An Explorer's life: closing stops its worker, closes every widget and frees it;
a script that exits right after changing a control exits cleanly."""

import gc
import os
import subprocess
import sys
import textwrap
import threading
import weakref
from pathlib import Path

import ipywidgets as W
import pytest

import nbinterp

ROOT = Path(__file__).resolve().parents[1]

EXIT_SCRIPT = textwrap.dedent("""
    import os
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import nbinterp
    from nbinterp import demo
    digits = demo.load_digits()
    ex = nbinterp.Explorer(demo.load_model(), digits.images[:8])
    ex.tabs.selected_index = 3
    ex.method.value = "smoothgrad"
    ex.layer.value = "conv2"
""")


def worker_threads():
    return [t for t in threading.enumerate() if t.name == "nbinterp-updates"]


def test_exiting_right_after_a_change_always_exits_cleanly(tmp_path):
    script = tmp_path / "exit_now.py"
    script.write_text(EXIT_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    failures = []
    for _ in range(10):  # 20 runs, two at a time
        runs = [subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True) for _ in range(2)]
        for run in runs:
            _, err = run.communicate(timeout=300)
            if run.returncode != 0:
                failures.append((run.returncode, err[-600:]))
    assert failures == []


def test_a_closed_explorer_is_freed_with_its_widgets_and_worker(model, digits):
    before = set(W.Widget.widgets)
    ex = nbinterp.Explorer(model, digits.images[:6])
    ex.tabs.selected_index = 3  # the bar chart (bqplot) joins the tree
    ex.wait()
    assert len(W.Widget.widgets) > len(before) + 20
    ex.channel.value = 3  # close while something may be running
    ref, canvas = weakref.ref(ex), weakref.ref(ex.tabs_by_title["Activations"].grid)
    ex.close()
    assert not ex.scheduler.alive and worker_threads() == []
    del ex
    gc.collect()
    assert ref() is None, gc.get_referrers(ref())
    assert canvas() is None  # canvases (and their image bytes) go too
    assert set(W.Widget.widgets) == before


def test_close_twice_and_changes_after_close_are_harmless(model, digits):
    ex = nbinterp.Explorer(model, digits.images[:3])
    ex.close()
    ex.close()
    ex.wait()  # a closed Explorer has nothing left to wait for
    assert worker_threads() == []


def _rss_bytes():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc to read the resident set size")
def test_memory_returns_over_create_close_cycles(model, digits):
    def cycle():
        ex = nbinterp.Explorer(model, digits.images[:6])
        ex.layer.value = "conv2"
        ex.wait()
        ex.close()
        gc.collect()

    for _ in range(3):  # first cycles compile the shared functions and fill allocator pools
        cycle()
    start = _rss_bytes()
    for _ in range(20):
        cycle()
    grown = _rss_bytes() - start
    assert grown < 10 * 2**20, f"RSS grew by {grown / 2**20:.1f} MB over 20 cycles"
