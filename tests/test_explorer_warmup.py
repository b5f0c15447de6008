"""Idle-time warm-up: it fills caches for likely next selections, yields at once to a
control change, stops on close, and never changes what a view shows."""

import threading
import time

import numpy as np
import pytest

import nbinterp
from nbinterp.widgets.updates import Work


def shown(ex):
    """Everything the Explorer's canvases show: bytes, shape, caption, regions."""
    return {(tab.title, i): (c.data, tuple(c.shape), c.label, repr(c.regions), c.highlight)
            for tab in ex.tab_objects for i, c in enumerate(tab.canvases)}


def test_results_are_byte_identical_with_and_without_warm_up(model, digits):
    warm = nbinterp.Explorer(model, digits.images[:6], warm_up=True)
    cold = nbinterp.Explorer(model, digits.images[:6], warm_up=False)
    steps = [
        {},
        {"layer": "conv2", "channel": 3},
        {"image": 1},
        {"tab": "Saliency", "method": "smoothgrad"},
        {"method": "gradcam"},
        {"method": "integrated_gradients", "image": 2},
        {"tab": "Kernel response", "channel": 4},
    ]
    try:
        for step in steps:
            for ex in (warm, cold):
                for name, value in step.items():
                    if name == "tab":
                        ex.tabs.selected_index = [t.title for t in ex.tab_objects].index(value)
                    else:
                        getattr(ex, name).value = value
                ex.wait()
            assert warm.selection == cold.selection
            seen_warm, seen_cold = shown(warm), shown(cold)
            differ = [key for key in seen_cold if seen_warm.get(key) != seen_cold[key]]
            notes = {key[0]: (warm.tabs_by_title[key[0]].note.value, cold.tabs_by_title[key[0]].note.value)
                     for key in differ}
            assert not differ, (step, notes, {key: (seen_warm[key][1:], seen_cold[key][1:]) for key in differ})
            warm.warm(block=True)  # the next step is served from what warm-up computed
        assert warm.scheduler.warm_items_done > 0 and cold.scheduler.warm_items_done == 0
    finally:
        warm.close()
        cold.close()


@pytest.mark.parametrize("method, ahead", [("integrated_gradients", True), ("rise", False)])
def test_warm_up_fills_the_attribution_cache_with_the_maps_that_cost_a_few_passes(model, digits, method, ahead):
    """Gradient-family maps are computed ahead; methods that evaluate the model hundreds of
    times per map (``prefetch = False``) are computed when chosen."""
    ex = nbinterp.Explorer(model, digits.images[:4])
    ex.tabs.selected_index = 3  # Saliency
    ex.wait()
    ex.warm(block=True)
    before = ex.cache_stats()["attributions"]
    ex.method.value = method
    ex.wait()
    after = ex.cache_stats()["attributions"]
    if ahead:
        assert after["hits"] > before["hits"] and after["misses"] == before["misses"]
    else:
        assert after["misses"] == before["misses"] + 1
    assert "⚠" not in ex.status.value
    ex.close()


def _workers():
    return {t for t in threading.enumerate() if t.name == "nbinterp-updates"}


def test_a_control_change_pre_empts_warm_up(model, digits):
    workers = _workers()  # of other tests' Explorers that are still open
    ex = nbinterp.Explorer(model, digits.images[:4])
    ex.wait()
    ex.warm(block=True)
    starts, released = [], threading.Event()

    def slow(job):  # a warm-up item that runs until its job is cancelled
        starts.append(job)
        job.cancel.wait(60)
        released.set()

    def started(count):
        deadline = time.monotonic() + 30
        while len(starts) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return len(starts) >= count

    activations = ex.tabs_by_title["Activations"]
    activations.needs = lambda selection: [Work("a slow item", slow), Work("never reached", slow)]
    ex.image.value = 1
    ex.wait()
    assert started(1)
    assert "warming up: a slow item" in ex.status.value
    preemptions = ex.scheduler.preemptions
    ex.channel.value = 5  # a change while the warm-up item runs
    assert released.wait(10)  # the running item was cancelled
    ex.wait()
    assert ex.scheduler.preemptions == preemptions + 1
    assert activations.enlarged.label.startswith("channel 5")
    assert started(2)  # warm-up is planned again for the new selection
    assert starts[0].cancelled() and not starts[1].cancelled()
    t0 = time.perf_counter()
    ex.close()  # close cancels the running item and joins the worker
    assert time.perf_counter() - t0 < 10
    assert not ex.scheduler.alive
    assert _workers() - workers == set()


def test_status_line_hints_at_warm_up_while_it_runs(model, digits):
    lines = []
    ex = nbinterp.Explorer(model, digits.images[:6])
    ex.status.observe(lambda change: lines.append(change["new"]), names="value")
    ex.layer.value = "conv3"
    ex.wait()
    ex.warm(block=True)
    assert any("warming up: " in line for line in lines)
    assert "warming up" not in ex.status.value and "updated in" in ex.status.value
    ex.close()


def test_warm_up_stays_within_the_cache_budget(model, digits):
    roomy = nbinterp.Explorer(model, digits.images[:6])
    roomy.wait()
    roomy.warm(block=True)
    tight = nbinterp.Explorer(model, digits.images[:6], cache_bytes=60_000)
    tight.wait()
    tight.warm(block=True)
    stats = tight.cache_stats()["inspector"]
    assert stats["bytes"] <= stats["budget"]
    assert tight.scheduler.warm_items_done < roomy.scheduler.warm_items_done  # it stopped when the cache filled
    assert np.array_equal(tight.tabs_by_title["Activations"].grid.image, roomy.tabs_by_title["Activations"].grid.image)
    roomy.close()
    tight.close()


def test_the_methods_left_out_of_warm_up_are_the_perturbation_family():
    from nbinterp.attribution import METHODS

    assert {name for name, cls in METHODS.items() if not cls.prefetch} == {"occlusion", "kernel_shap", "lime", "rise"}
