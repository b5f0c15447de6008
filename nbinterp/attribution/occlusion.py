"""Occlusion sensitivity."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ..errors import InvalidInputError
from .base import Attribution, chunked, class_scores, real_number, sum_rows


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


def _pair(value, name, dims):
    if value is None:
        return None
    values = np.atleast_1d(np.asarray(value, dtype=object)).tolist()
    if len(values) == 1:
        values = values * dims
    if len(values) != dims or any(
        isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in values
    ):
        raise InvalidInputError(f"{name} must be a positive integer or {dims} of them, got {value!r}")
    return tuple(int(v) for v in values)


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
    label = "Occlusion"
    options = {"patch": None, "stride": None, "fill": 0.0}
    clean_logits = "always"

    def _check_options(self, options):
        dims = self.info.spatial_rank
        return {
            "patch": _pair(options["patch"], "patch", dims),
            "stride": _pair(options["stride"], "stride", dims),
            "fill": real_number(options, "fill"),
        }

    def _option_specs(self):
        return [
            tf.TensorSpec([None], tf.int32, name="rows"),
            tf.TensorSpec([None], tf.int32, name="cols"),
            tf.TensorSpec([2], tf.int32, name="patch"),
            tf.TensorSpec([], tf.float32, name="fill"),
            tf.TensorSpec([None], tf.float32, name="base_scores"),
        ]

    def _option_values(self, x, options, targets, logits):
        sizes = x.shape[1:3] if self.info.kind == "image" else x.shape[1:2]
        patch = options["patch"] or tuple(default_patch(s) for s in sizes)
        patch = tuple(min(p, s) for p, s in zip(patch, sizes))
        stride = options["stride"] or tuple(max(1, p // 2) for p in patch)
        starts = [positions(s, p, st) for s, p, st in zip(sizes, patch, stride)]
        if len(starts) == 1:  # sequences: a single "column" of width 1
            starts.append(np.zeros(1, np.int32))
            patch = patch + (1,)
        base = logits[np.arange(len(x)), targets].astype(np.float32)
        return [starts[0], starts[1], np.asarray(patch, np.int32), np.float32(options["fill"]), base]

    def _build(self):
        info = self.info
        image = info.kind == "image"
        channels = info.has_channels

        def run(x, targets, batch_size, rows, cols, patch, fill, base):
            n = tf.shape(x)[0]
            height = tf.shape(x)[1]
            width = tf.shape(x)[2] if image else 1
            n_rows, n_cols = tf.shape(rows)[0], tf.shape(cols)[0]
            per_image = n_rows * n_cols
            h_range, w_range = tf.range(height), tf.range(width)

            def covers(starts, size, axis_range):
                # (P, size): whether each patch covers each position
                return (axis_range[None, :] >= starts[:, None]) & (axis_range[None, :] < starts[:, None] + size)

            row_cover, col_cover = covers(rows, patch[0], h_range), covers(cols, patch[1], w_range)
            coverage = tf.cast(
                tf.reduce_sum(tf.cast(row_cover, tf.int32), 0)[:, None]
                * tf.reduce_sum(tf.cast(col_cover, tf.int32), 0)[None, :],
                tf.float32,
            )

            def body(indices, acc):
                image_index = indices // per_image
                k = indices % per_image
                mask = tf.logical_and(
                    tf.gather(row_cover, k // n_cols)[:, :, None], tf.gather(col_cover, k % n_cols)[:, None, :]
                )  # (B, H, W)
                if not image:
                    mask = mask[:, :, 0]
                xc = tf.gather(x, image_index)
                zc = info.embed(xc)
                zmask = mask[..., None] if channels else mask
                occluded = tf.where(zmask, tf.cast(fill, zc.dtype), zc)
                scores = class_scores(info.logits(xc, occluded), tf.gather(targets, image_index))
                drop = tf.gather(base, image_index) - scores
                contribution = tf.cast(mask, tf.float32) * tf.reshape(drop, [-1, 1, 1] if image else [-1, 1])
                return sum_rows(acc, image_index, contribution)

            acc = chunked(n * per_image, batch_size, body, tf.zeros(info.map_shape_tensor(x), tf.float32))
            if not image:
                coverage = coverage[:, 0]
            return acc / tf.maximum(coverage, 1.0), targets

        return run
