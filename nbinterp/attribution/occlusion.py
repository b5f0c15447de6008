"""Occlusion sensitivity."""

from __future__ import annotations

import numpy as np

from ..core.options import FloatOption, SizeOption
from ..errors import InvalidInputError
from .base import Attribution, sum_rows
from .perturbation import masked_passes


def default_patch(size):
    """Default patch side for an axis of ``size`` pixels/tokens: 16, smaller for small inputs."""
    return max(1, min(16, size // 4))


def positions(size, patch, stride):
    """Start offsets of a patch sliding over ``size`` with ``stride``; the last one touches the edge."""
    patch = min(patch, size)
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return np.asarray(starts, np.int32)


def patch_grid(sizes, patch=None, stride=None):
    """``(patch, starts)`` for inputs of ``sizes`` (one per axis): the patch clamped to the input
    (default :func:`default_patch`) and each axis' start offsets (default stride ``max(1, patch // 2)``)."""
    patch = tuple(min(p, s) for p, s in zip(patch or tuple(default_patch(s) for s in sizes), sizes))
    stride = stride or tuple(max(1, p // 2) for p in patch)
    return patch, [positions(s, p, st) for s, p, st in zip(sizes, patch, stride)]


class Occlusion(Attribution):
    """Occlusion sensitivity.

    Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks",
    ECCV 2014.

    A ``patch`` (square, side ``patch`` pixels; a window of ``patch`` tokens
    or steps for sequence models) set to ``fill`` slides over the input with
    ``stride``; the last patch of each row and column is moved to touch the
    far edge so every pixel is covered. Each pixel's value is the mean, over
    the patches that cover it, of the drop of the target logit
    ``S(x) - S(x occluded)``. Positive: hiding the region lowers the score.

    Options: ``patch`` (None = ``max(1, min(16, size // 4))`` per axis; an
    int or a (height, width) pair), ``stride`` (None = ``max(1, patch // 2)``),
    ``fill`` (0.0, in the model's input space; for token models the occluded
    tokens' embedding vectors are set to ``fill``). Forward passes only, run
    in batches of ``batch_size`` occluded copies.
    """

    name = "occlusion"
    prefetch = False
    label = "Occlusion"
    sign = "signed"
    channel_reduction = False
    engines = ("forward",)
    option_table = (
        SizeOption("patch", None, "patch size", "side of the occluding square (None: a quarter of the input, at most 16)"),
        SizeOption("stride", None, "stride", "how far the patch moves between positions (None: half the patch)"),
        FloatOption("fill", 0.0, "fill value", "what the occluded pixels are set to (model input space)"),
    )

    def _check(self, options, x):
        dims = self.info.spatial_rank
        out = dict(options)
        for name in ("patch", "stride"):
            value = options[name]
            if value is not None:
                if len(value) == 1:
                    value = value * dims
                if len(value) != dims:
                    raise InvalidInputError(
                        f"{name} must be a positive integer or {dims} of them, got {value!r}"
                    )
            out[name] = value
        return out

    def _explain(self, x, targets, options, run):
        info = self.info
        image = info.kind == "image"
        first = info.channels_first
        sizes = (x.shape[2:4] if first else x.shape[1:3]) if image else (x.shape[2:3] if first else x.shape[1:2])
        patch, starts = patch_grid(sizes, options["patch"], options["stride"])
        if not image:  # sequences: a single "column" of width 1
            starts.append(np.zeros(1, np.int32))
            patch = patch + (1,)
        rows, cols = starts
        height, width = sizes[0], (sizes[1] if image else 1)

        def covers(offsets, size, length):
            axis = np.arange(length)
            return (axis[None, :] >= offsets[:, None]) & (axis[None, :] < offsets[:, None] + size)

        row_cover, col_cover = covers(rows, patch[0], height), covers(cols, patch[1], width)
        coverage = row_cover.sum(0)[:, None] * col_cover.sum(0)[None, :]
        per_image = len(rows) * len(cols)

        targets, base = self.top_targets(x, targets, run, share=(0.0, 0.02))
        z = self.embed(np.arange(len(x)))
        fill = np.full((len(x),) + (1,) * (z.ndim - 1), options["fill"], z.dtype)
        items = np.arange(len(x) * per_image)
        images = items // per_image

        order = coarse_first(len(rows), len(cols))  # patch numbers, a coarse cover of the input first
        n_coarse = coarse_count(len(rows), len(cols))

        def occluded(start, end):
            k = order[items[start:end] % per_image]
            return row_cover[k // len(cols)][:, :, None] & col_cover[k % len(cols)][:, None, :]  # (B, H, W)

        def keep(start, end):
            masks = occluded(start, end)
            return ~(masks if image else masks[:, :, 0])

        acc = np.zeros((len(x), height, width), np.float32)
        done = np.zeros((len(x), height, width), np.float32)  # patches so far over each pixel (previews)

        def partial():
            maps = acc / np.maximum(done, 1)
            return maps if image else maps[:, :, 0]

        for start, end, _, scores in masked_passes(self, z, fill, images, keep, targets, run):
            index = images[start:end]
            drops = base[index] - scores
            masks = occluded(start, end)
            sum_rows(acc, index, masks * drops[:, None, None].astype(np.float32))
            if run.wants_preview:
                sum_rows(done, index, masks.astype(np.float32))
                coarse_done = bool(np.any(items[start:end] % per_image == n_coarse - 1))
                run.preview(partial, force=coarse_done)
        maps = acc / np.maximum(coverage, 1)
        return (maps if image else maps[:, :, 0]), targets


def _coarse(n):
    keep = np.zeros(n, bool)
    keep[::2] = True
    keep[-1] = True
    return keep


def coarse_count(n_rows, n_cols):
    """How many patches :func:`coarse_first` puts in its first, coarse part."""
    return int(_coarse(n_rows).sum() * _coarse(n_cols).sum())


def coarse_first(n_rows, n_cols):
    """Patch numbers (``row * n_cols + col``) in coarse-to-fine order: every other patch
    position along each axis (and the last), which with the default stride of half a
    patch covers the whole input, then the others. The sum over patches does not depend
    on the order; a preview after the first part is a complete, coarser map."""
    first = _coarse(n_rows)[:, None] & _coarse(n_cols)[None, :]
    numbers = np.arange(n_rows * n_cols).reshape(n_rows, n_cols)
    return np.concatenate([numbers[first], numbers[~first]]).astype(np.int64)
