"""RISE: saliency as the class probability averaged over random masks."""

from __future__ import annotations

import math

import numpy as np

from ..core.options import FloatOption, IntOption, SeedOption, resolve
from .base import Attribution, sum_rows
from .perturbation import masked_passes

#: most masks: far beyond what a map needs, and a mistyped value would run for hours
MAX_MASKS = 50_000


def _linear_resize(cells, size):
    """Matrix ``(size, cells)`` of linear interpolation from ``cells`` values to ``size`` samples
    (half-pixel centres, edges clamped: what image resizing with bilinear filtering does)."""
    position = (np.arange(size) + 0.5) * cells / size - 0.5
    position = np.clip(position, 0.0, cells - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, cells - 1)
    frac = position - low
    matrix = np.zeros((size, cells))
    matrix[np.arange(size), low] += 1.0 - frac
    matrix[np.arange(size), high] += frac
    return matrix


class RiseMasks:
    """The random masks of RISE for maps of ``shape`` ((H, W) or (T,)): ``masks[a:b]`` gives
    masks ``a .. b - 1`` as float32 ``(b - a, *shape)`` in ``[0, 1]``.

    Petsiuk, Das & Saenko 2018: a ``cells`` x ``cells`` grid (``cells`` cells
    for sequences) of independent on/off values, on with probability ``p``,
    is upsampled bilinearly to ``(cells + 1) * ceil(size / cells)`` per axis
    and cropped to the map at a random shift of less than one cell. Grids
    and shifts are drawn once from ``seed``; masks are built on demand, so
    thousands of them never sit in memory at once.
    """

    def __init__(self, shape, count, cells=7, p=0.5, seed=0):
        self.shape = tuple(int(s) for s in shape)
        self.count, self.cells, self.p = int(count), int(cells), float(p)
        rng = np.random.default_rng(seed)
        dims = len(self.shape)
        self.grids = rng.random((self.count,) + (self.cells,) * dims) < self.p
        cell = [math.ceil(s / self.cells) for s in self.shape]
        self.shifts = np.stack([rng.integers(0, c, self.count) for c in cell], axis=1)
        self._resize = [_linear_resize(self.cells, (self.cells + 1) * c) for c in cell]

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        picked = np.arange(self.count)[index]
        scalar = np.ndim(picked) == 0
        picked = np.atleast_1d(picked)
        grids = self.grids[picked].astype(np.float64)
        shifts = self.shifts[picked]
        rows = self._resize[0][shifts[:, :1] + np.arange(self.shape[0])]  # (B, H, cells)
        if len(self.shape) == 1:
            out = np.matmul(rows, grids[:, :, None])[:, :, 0]
        else:
            cols = self._resize[1][shifts[:, 1:2] + np.arange(self.shape[1])]  # (B, W, cells)
            out = np.matmul(np.matmul(rows, grids), np.swapaxes(cols, 1, 2))
        out = out.astype(np.float32)
        return out[0] if scalar else out


def rise_masks(shape, masks=2000, cells=7, p=0.5, seed=0) -> RiseMasks:
    """The masks :class:`RISE` uses for maps of ``shape`` with these options (see :class:`RiseMasks`)."""
    return RiseMasks(shape, masks, cells, p, seed)


class RISE(Attribution):
    """RISE: randomized input sampling for explanation.

    Petsiuk, Das & Saenko, "RISE: Randomized Input Sampling for Explanation
    of Black-box Models", BMVC 2018.

    Each image is multiplied by ``masks`` random smooth masks (default 2000;
    see :func:`rise_masks`: a ``cells`` x ``cells`` grid, default 7, of cells
    on with probability ``p``, default 0.5, upsampled and shifted; seeded by
    ``seed``). The map is the sum of the masks weighted by the *probability*
    of the target class for each masked image, divided by ``masks * p``: the
    expected class probability given that a pixel is visible. Unlike the
    gradient methods, which explain the logit, RISE reads probabilities, as
    in the paper: the softmax of the logits (the sigmoid for a single
    output), so softmax and linear heads give the same maps. Masked pixels
    become 0, as in ``image * mask`` of the paper. Sequence models get 1-D
    masks of ``cells`` cells along the sequence.
    """

    name = "rise"
    prefetch = False
    label = "RISE"
    engines = ("forward",)
    option_table = (
        IntOption("masks", 2000, "random masks", "random masks per image", low=1, high=MAX_MASKS),
        IntOption("cells", 7, "grid cells", "cells per side of the random grid before upsampling", low=1, high=64),
        FloatOption("p", 0.5, "keep probability", "probability that a grid cell is visible", low=0.01, high=1.0,
                    step=0.05),
        SeedOption("seed", 0, "random seed", "the same seed gives the same masks"),
    )

    def masks_for(self, x_shape, options=None) -> RiseMasks:
        """The masks a call with ``options`` (a dict; defaults otherwise) uses on a batch of shape ``x_shape``."""
        opts = resolve(self.option_table, dict(options or {}), self.name)
        shape = self.info.map_shape(tuple(x_shape))[1:]
        return rise_masks(shape, opts["masks"], opts["cells"], opts["p"], opts["seed"])

    def _explain(self, x, targets, options, run):
        if (targets < 0).any():
            targets, _ = self.top_targets(x, targets, run, share=(0.0, 0.02))
        masks = self.masks_for(x.shape, options)
        count = len(masks)
        z = self.embed(np.arange(len(x)))
        fill = np.zeros((len(x),) + (1,) * (z.ndim - 1), z.dtype)
        items = np.arange(len(x) * count)
        images = items // count

        def keep(start, end):
            return masks[items[start:end] % count]

        acc = np.zeros((len(x),) + masks.shape, np.float64)
        for start, end, chunk, scores in masked_passes(self, z, fill, images, keep, targets, run,
                                                       probabilities=True):
            sum_rows(acc, images[start:end], chunk * scores.reshape((-1,) + (1,) * len(masks.shape)))
        return (acc / (count * options["p"])).astype(np.float32), targets
