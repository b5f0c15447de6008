"""Occlusion sensitivity."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ..errors import InvalidInputError
from .base import Attribution, perturbation_loop, real_number, sum_rows, whole_number


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


def _pair(value, name, dims):
    if value is None:
        return None
    values = [whole_number(v) for v in np.atleast_1d(np.asarray(value, dtype=object)).tolist()]
    if len(values) == 1:
        values = values * dims
    if len(values) != dims or any(v is None or v < 1 for v in values):
        raise InvalidInputError(f"{name} must be a positive integer or {dims} of them, got {value!r}")
    return tuple(values)


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
        ]

    def _option_values(self, x, options):
        sizes = x.shape[1:3] if self.info.kind == "image" else x.shape[1:2]
        patch, starts = patch_grid(sizes, options["patch"], options["stride"])
        if len(starts) == 1:  # sequences: a single "column" of width 1
            starts.append(np.zeros(1, np.int32))
            patch = patch + (1,)
        return [starts[0], starts[1], np.asarray(patch, np.int32), np.float32(options["fill"])]

    def _build(self):
        info = self.info
        image = info.kind == "image"
        channels = info.has_channels

        def run(x, targets, batch_size, rows, cols, patch, fill):
            height = tf.shape(x)[1]
            width = tf.shape(x)[2] if image else 1
            n_cols = tf.shape(cols)[0]
            per_image = tf.shape(rows)[0] * n_cols

            def covers(starts, size, length):
                # (P, length): whether each patch position covers each pixel
                axis = tf.range(length)
                return (axis[None, :] >= starts[:, None]) & (axis[None, :] < starts[:, None] + size)

            row_cover, col_cover = covers(rows, patch[0], height), covers(cols, patch[1], width)
            coverage = tf.cast(
                tf.reduce_sum(tf.cast(row_cover, tf.int32), 0)[:, None]
                * tf.reduce_sum(tf.cast(col_cover, tf.int32), 0)[None, :],
                tf.float32,
            )

            def perturb(z, image_index, k, start):
                mask = tf.logical_and(
                    tf.gather(row_cover, k // n_cols)[:, :, None], tf.gather(col_cover, k % n_cols)[:, None, :]
                )  # (B, H, W)
                if not image:
                    mask = mask[:, :, 0]
                zmask = mask[..., None] if channels else mask
                return tf.where(zmask, tf.cast(fill, z.dtype), z), mask

            def accumulate(acc, image_index, k, drop, mask):
                contribution = tf.cast(mask, tf.float32) * tf.reshape(drop, [-1, 1, 1] if image else [-1, 1])
                return sum_rows(acc, image_index, contribution)

            acc, targets = perturbation_loop(
                info, x, targets, batch_size, per_image, perturb, accumulate,
                tf.zeros(info.map_shape_tensor(x), tf.float32), gradients=False, clean=tf.constant(True),
            )
            if not image:
                coverage = coverage[:, 0]
            return acc / tf.maximum(coverage, 1.0), targets

        return run
