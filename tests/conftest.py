"""Shared pytest configuration.

Under ``CI=true`` a skipped test counts as a failure: CI must run the whole
suite, so a missing tool (Chromium, Jupyter, node, ...) has to break the build
instead of passing silently. Expected failures (xfail) are left alone.

Tests marked ``slow`` (the whole keras.applications matrix) are deselected, not
skipped, unless ``--run-slow`` is given, ``NBINTERP_RUN_SLOW=1`` is set or the
``-m`` expression names them; the default run samples them (see test_zoo.py).
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run the tests marked slow (every keras.applications architecture)")


def _run_slow(config) -> bool:
    if config.getoption("--run-slow") or os.environ.get("NBINTERP_RUN_SLOW", "").strip() in ("1", "true", "yes"):
        return True
    return "slow" in (config.getoption("-m") or "")


def pytest_collection_modifyitems(config, items):
    if _run_slow(config):
        return
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not running_in_ci() or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report)
    report.outcome = "failed"
    report.longrepr = f"skipped under CI=true, which does not allow skips: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    # a whole module skipped at import (pytest.importorskip, allow_module_level)
    outcome = yield
    report = outcome.get_result()
    if running_in_ci() and report.skipped:
        reason = _skip_reason(report)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which does not allow skips: {reason}"


@pytest.fixture(scope="module")
def net():
    """The small conv net of the attribution tests and its linear-head copy (same weights)."""
    from attribution_models import conv_net, linear_copy

    model = conv_net()
    return model, linear_copy(model, conv_net)


@pytest.fixture(scope="module")
def x5():
    """Five random 12x12x3 images for the attribution tests."""
    from attribution_models import images

    return images(5)


@pytest.fixture(scope="module")
def digits():
    """The demo digits (the bundled held-out split); files that need other data define their own."""
    from nbinterp import demo

    return demo.load_digits()


@pytest.fixture(scope="module")
def model():
    """The trained demo digits CNN; files that test other models define their own ``model``."""
    from nbinterp import demo

    return demo.load_model()


@pytest.fixture(scope="module")
def explorer(digits):
    """An Explorer on the demo CNN and 12 digits with labels and class names, first view drawn."""
    import nbinterp
    from nbinterp import demo

    ex = nbinterp.Explorer(demo.load_model(), digits.images[:12], labels=digits.labels[:12],
                           class_names=digits.class_names)
    ex.wait()
    yield ex
    ex.close()
