"""Occlusion draws progressively: a complete coarse map first, refined as patches
complete; a newer selection stops it within one chunk."""

import threading

import numpy as np
import pytest

import nbinterp
from nbinterp.attribution import attribute, base
from nbinterp.attribution.occlusion import coarse_first
from nbinterp.widgets.explorer import TAB_TITLES


def logits(model, x):
    pre = nbinterp.Inspector(model).logits(x)
    return np.asarray(pre, np.float64)


def test_the_coarse_patches_cover_the_input_before_the_others():
    order = coarse_first(5, 4)
    assert sorted(order) == list(range(20))
    coarse = {(k // 4, k % 4) for k in order[:9]}
    assert coarse == {(r, c) for r in (0, 2, 4) for c in (0, 2, 3)}


def test_previews_are_a_coarse_map_then_the_result(model, digits):
    x = digits.images[3]
    patch, stride, target = 8, 4, 3
    previews = []
    got = attribute(model, x, target=target, method="occlusion", patch=patch, stride=stride, batch_size=1,
                    preview=lambda maps: previews.append(np.array(maps)))
    starts = [0, 4, 8, 12, 16, 20]  # the last one touches the edge (28 - 8)
    coarse = [0, 8, 16, 20]  # every other start, and the last
    # the first patch, then at most one per 5 % of the work, and the end of the coarse cover
    assert 3 <= len(previews) <= 2 + 20 and previews[0].shape == (1, 28, 28)
    assert np.count_nonzero(previews[0]) < np.count_nonzero(got)  # partial: one patch so far
    # after the coarse patches, an independent occlusion with those patches alone
    base_logit = logits(model, x[None])[0, target]
    total, count = np.zeros((28, 28)), np.zeros((28, 28))
    for r in coarse:
        for c in coarse:
            occluded = np.array(x, np.float32)[None].copy()
            occluded[:, r:r + patch, c:c + patch] = 0.0
            total[r:r + patch, c:c + patch] += base_logit - logits(model, occluded)[0, target]
            count[r:r + patch, c:c + patch] += 1
    assert count.min() >= 1  # the coarse patches cover every pixel
    assert len(starts) ** 2 > len(coarse) ** 2
    matching = [p for p in previews if np.allclose(p[0], total / count, rtol=1e-4, atol=1e-5)]
    assert len(matching) == 1  # the coarse map, delivered once its patches are done


def test_a_preview_must_be_callable(model, digits):
    with pytest.raises(nbinterp.errors.InvalidInputError, match="preview"):
        attribute(model, digits.images[0], method="occlusion", preview=3)


def test_the_explorer_draws_partial_maps_and_a_newer_selection_stops_them(model, digits, monkeypatch):
    ex = nbinterp.Explorer(model, digits.images[:3], warm_up=False)
    try:
        ex.tabs.selected_index = TAB_TITLES.index("Saliency")
        ex.wait()
        threads = threading.active_count()
        # small chunks (4 occluded copies each): the 64 patches of a digit take 16 of them
        import nbinterp.attribution as attribution

        monkeypatch.setattr(attribution, "attribute",
                            lambda *args, **kwargs: attribute(*args, **dict(kwargs, batch_size=4)))
        reports, cancels = [], []
        original = base.Run.report

        def report(run, fraction):
            reports.append((fraction, run.cancelled()))
            original(run, fraction)

        monkeypatch.setattr(base.Run, "report", report)
        overlay = ex.tabs_by_title["Saliency"].overlay
        partial = []

        def on_label(change):
            if "computing" in change["new"]:
                partial.append(change["new"])
                if len(partial) == 2 and not cancels:  # a newer selection while occlusion runs
                    cancels.append(len(reports))
                    ex.method.value = "gradient"

        overlay.observe(on_label, names="label")
        ex.method.value = "occlusion"
        ex.wait()
        overlay.unobserve(on_label, names="label")
        assert len(partial) >= 2 and "% done" in partial[0]
        assert cancels, "the occlusion finished before it could be superseded"
        # after the cancel, at most the chunk in flight reported: the loop stopped at the next one
        occlusion_reports = reports[cancels[0]:]
        after_cancel = [f for f, cancelled in occlusion_reports if cancelled and f < 1.0]
        assert len(after_cancel) <= 1
        assert ex.method.value == "gradient" and "Gradient" in overlay.label
        fractions = [f for f, _ in reports[:cancels[0]]]
        assert fractions == sorted(fractions)
        tab = ex.tabs_by_title["Saliency"]
        assert not any(key[1] == "occlusion" for key in tab.heat_cache.keys())  # nothing half-done kept
        assert threading.active_count() == threads  # no thread left working
    finally:
        ex.close()
