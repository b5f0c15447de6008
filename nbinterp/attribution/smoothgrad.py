"""SmoothGrad and its variants: gradients averaged over noisy copies of the input."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ..core.options import FloatOption, IntOption, SeedOption
from .base import Attribution, sum_rows

#: most noisy samples per image: beyond this a map no longer changes visibly, and a
#: mistyped value (10**7) would run for hours
MAX_SAMPLES = 10_000


class _NoisyGradients(Attribution):
    """Shared body: gradients at ``x + N(0, sigma^2)``, summed (and squared) per image.

    ``sigma = noise * (max(x) - min(x))`` per image (over all its pixels and
    channels; over the embedding values of the sequence for token models).
    Noise is drawn from ``seed`` with TensorFlow's stateless generator, keyed
    by the seed and the first work item of each chunk; the same seed,
    samples and ``batch_size`` give the same map. The target is the class
    predicted for the noise-free input.
    """

    option_table = (
        IntOption("samples", 50, "noisy samples", "gradients are averaged over this many noisy copies",
                  low=1, high=MAX_SAMPLES),
        FloatOption("noise", 0.2, "noise level", "noise standard deviation, as a fraction of the image's range",
                    low=0.0, step=0.05),
        SeedOption("seed", 0, "random seed", "the same seed gives the same noise"),
    )
    _squares = False

    @staticmethod
    def _combine(reducer, mean, mean_square):
        raise NotImplementedError

    def _explain(self, x, targets, options, run):
        samples, noise, seed = options["samples"], options["noise"], options["seed"]
        shape = self.info.space_shape(x.shape)
        total = np.zeros(shape, np.float32)
        total_sq = np.zeros(shape, np.float32) if self._squares else None

        def perturb(z, image, copy, start):
            axes = tuple(range(1, z.ndim))
            spread = z.max(axis=axes) - z.min(axis=axes)
            sigma = (np.float32(noise) * spread).astype(z.dtype).reshape((-1,) + (1,) * (z.ndim - 1))
            eps = tf.random.stateless_normal(z.shape, seed=[seed, start], dtype=tf.as_dtype(z.dtype)).numpy()
            return z + sigma * eps

        def accumulate(image, copy, grads):
            sum_rows(total, image, grads)
            if total_sq is not None:
                sum_rows(total_sq, image, np.square(grads))

        targets = self.perturbed_gradients(x, targets, run, samples, perturb, accumulate)
        mean_sq = total_sq / samples if total_sq is not None else None
        return self._combine(self, total / samples, mean_sq), targets


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
    def _combine(reducer, mean, mean_square):
        return reducer.reduce(mean, "magnitude")


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
    sign = None  # a variance
    _squares = True

    @staticmethod
    def _combine(reducer, mean, mean_square):
        return reducer.reduce(np.maximum(mean_square - np.square(mean), 0.0), "positive")


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
    sign = None  # a mean square
    _squares = True

    @staticmethod
    def _combine(reducer, mean, mean_square):
        return reducer.reduce(mean_square, "positive")
