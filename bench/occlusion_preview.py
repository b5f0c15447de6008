"""Cost of occlusion's progressive previews (the Explorer's partial maps).

Times ``attribute(method="occlusion")`` on the demo CNN with and without a
``preview=`` hook (interleaved, median of ``--repeats`` calls each) and prints
the ratio; the previews should cost a few percent of the call at most.

Usage::

    python bench/occlusion_preview.py [--repeats 7] [--batch-size 16]

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import statistics
import time

from nbinterp import demo
from nbinterp.attribution import attribute


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    model = demo.load_model()
    image = demo.load_digits("test").images[0]
    options = dict(method="occlusion", patch=4, stride=1, target=3, batch_size=args.batch_size)
    attribute(model, image, **options)  # tracing out of the way
    plain, previewed, previews = [], [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        attribute(model, image, **options)
        plain.append(time.perf_counter() - start)
        seen = []
        start = time.perf_counter()
        attribute(model, image, preview=seen.append, **options)
        previewed.append(time.perf_counter() - start)
        previews.append(len(seen))
    a, b = statistics.median(plain), statistics.median(previewed)
    print(f"occlusion, {previews[0]} previews: {a * 1e3:.1f} ms plain, {b * 1e3:.1f} ms with previews, "
          f"ratio {b / a:.3f}")


if __name__ == "__main__":
    main()
