"""SmoothGrad and its variants: gradients averaged over noisy copies of the input."""

from __future__ import annotations

import tensorflow as tf

from ..errors import InvalidInputError
from .base import Attribution, per_example, perturbation_loop, positive_int, real_number, sum_rows, whole_number


class _NoisyGradients(Attribution):
    """Shared body: gradients at ``x + N(0, sigma^2)``, summed (and squared) per image.

    ``sigma = noise * (max(x) - min(x))`` per image (over all its pixels and
    channels; over the embedding values of the sequence for token models).
    Noise is drawn on the device from ``seed``; the same seed, samples and
    ``batch_size`` give the same map. The target is the class predicted for
    the noise-free input.
    """

    options = {"samples": 50, "noise": 0.2, "seed": 0}
    _squares = False

    def _check_options(self, options):
        seed = whole_number(options["seed"])
        if seed is None:
            raise InvalidInputError(f"seed must be an integer, got {options['seed']!r}")
        return {
            "samples": positive_int(options, "samples"),
            "noise": real_number(options, "noise", low=0.0),
            "seed": seed % (2**31 - 1),
        }

    def _option_specs(self):
        return [
            tf.TensorSpec([], tf.int32, name="samples"),
            tf.TensorSpec([], tf.float32, name="noise"),
            tf.TensorSpec([], tf.int32, name="seed"),
        ]

    def _option_values(self, x, options):
        return [options["samples"], options["noise"], options["seed"]]

    @staticmethod
    def _combine(info, mean, mean_square):
        raise NotImplementedError

    def _build(self):
        info = self.info
        squares = self._squares
        combine = self._combine

        def run(x, targets, batch_size, samples, noise, seed):
            shape = info.space_shape_tensor(x)

            def perturb(z, image, copy, start):
                rank = len(z.shape)
                axes = list(range(1, rank))
                spread = tf.reduce_max(z, axis=axes) - tf.reduce_min(z, axis=axes)
                sigma = per_example(tf.cast(noise, z.dtype) * spread, rank)
                eps = tf.random.stateless_normal(tf.shape(z), seed=tf.stack([seed, start]), dtype=z.dtype)
                return z + sigma * eps, None

            def accumulate(state, image, copy, grads, aux):
                total, total_sq = state
                total = sum_rows(total, image, grads)
                if squares:
                    total_sq = sum_rows(total_sq, image, tf.square(tf.cast(grads, tf.float32)))
                return total, total_sq

            initial = (tf.zeros(shape, tf.float32), tf.zeros(shape if squares else [0], tf.float32))
            (total, total_sq), targets = perturbation_loop(
                info, x, targets, batch_size, samples, perturb, accumulate, initial
            )
            count = tf.cast(samples, tf.float32)
            return combine(info, total / count, total_sq / count if squares else None), targets

        return run


class SmoothGrad(_NoisyGradients):
    """SmoothGrad.

    Smilkov, Thorat, Kim, Viegas & Wattenberg, "SmoothGrad: removing noise by
    adding noise", 2017.

    Options: ``samples`` (50), ``noise`` (0.2: the noise standard deviation
    as a fraction of each image's value range max - min), ``seed`` (0).
    Map: the raw gradients of the target logit are averaged over the noisy
    samples first, then reduced like ``gradient``: ``max_c |mean grad|``
    (L2 norm over the embedding for token models). With ``noise=0`` this is
    exactly the ``gradient`` map.
    """

    name = "smoothgrad"
    label = "SmoothGrad"

    @staticmethod
    def _combine(info, mean, mean_square):
        return info.reduce(mean, "magnitude")


class VarGrad(_NoisyGradients):
    """VarGrad: the variance of the gradient over noisy samples.

    Adebayo et al., "Local Explanation Methods for Deep Neural Networks Lack
    Sensitivity to Parameter Values", 2018, on the SmoothGrad sampling of
    Smilkov et al. 2017. Options as for ``smoothgrad``.

    Map: ``max_c Var[grad]`` over channels (the sum over the embedding axis
    for token models).
    """

    name = "vargrad"
    label = "VarGrad"
    _squares = True

    @staticmethod
    def _combine(info, mean, mean_square):
        return info.reduce(tf.maximum(mean_square - tf.square(mean), 0.0), "positive")


class SquareGrad(_NoisyGradients):
    """SquareGrad: the mean squared gradient over noisy samples.

    Hooker, Erhan, Kindermans & Kim, "A Benchmark for Interpretability
    Methods in Deep Neural Networks", 2019, on the SmoothGrad sampling of
    Smilkov et al. 2017. Options as for ``smoothgrad``.

    Map: ``max_c E[grad^2]`` over channels (the sum over the embedding axis
    for token models).
    """

    name = "squaregrad"
    label = "SquareGrad"
    _squares = True

    @staticmethod
    def _combine(info, mean, mean_square):
        return info.reduce(mean_square, "positive")
