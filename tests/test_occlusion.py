"""Occlusion against a naive loop.
"""


import numpy as np

from nbinterp.attribution import (
    attribute,
)
from attribution_models import (
    logits_of,
    images,
)


def test_occlusion_equals_naive_loop(net):
    model, logit_model = net
    x = images(2, seed=4)
    patch, stride, fill, target = 4, 3, 0.5, 3
    base = logits_of(logit_model, x)[:, target]
    total = np.zeros(x.shape[:3])
    count = np.zeros(x.shape[1:3])
    starts = [0, 3, 6, 8]  # 0, 3, 6 and the last one moved to touch the edge (12 - 4)
    for r in starts:
        for c in starts:
            occluded = x.copy()
            occluded[:, r : r + patch, c : c + patch, :] = fill
            drop = base - logits_of(logit_model, occluded)[:, target]
            total[:, r : r + patch, c : c + patch] += drop[:, None, None]
            count[r : r + patch, c : c + patch] += 1
    expected = total / count
    got = attribute(model, x, target=target, method="occlusion", patch=patch, stride=stride, fill=fill)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
