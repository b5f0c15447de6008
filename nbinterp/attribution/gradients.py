"""Plain gradient methods: saliency, gradient x input, interior gradients."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ..errors import InvalidInputError
from .base import (
    Attribution,
    per_example,
    perturbation_loop,
    score_gradients,
    single_pass_loop,
    sum_rows,
)


def _single_pass(info, reduce_how, activation_override=None, times_input=False):
    """One forward+backward per image: the gradient of the target logit, reduced per pixel."""

    def explain(xc, tc):
        zc = info.embed(xc)
        grads, _, tc = score_gradients(info, xc, zc, tc, activation_override)
        values = tf.cast(zc, tf.float32) * tf.cast(grads, tf.float32) if times_input else grads
        return info.reduce(values, reduce_how), tc

    def run(x, targets, batch_size):
        return single_pass_loop(info, x, targets, batch_size, explain)

    return run


class Gradient(Attribution):
    """Vanilla gradient (saliency map).

    Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks:
    Visualising Image Classification Models and Saliency Maps", ICLR workshop
    2014.

    Map: ``max_c |dS/dx[h, w, c]|`` where ``S`` is the logit of the target
    class. For token models the gradient is taken with respect to the
    embedding output and reduced by its L2 norm over the embedding axis.
    """

    name = "gradient"
    label = "Gradient (saliency)"
    options = {}

    def _build(self):
        return _single_pass(self.info, "magnitude")


class GradientXInput(Attribution):
    """Gradient x input.

    Shrikumar et al., "Not Just a Black Box: Learning Important Features
    Through Propagating Activation Differences", 2016.

    Map: ``sum_c x[h, w, c] * dS/dx[h, w, c]`` (signed); for token models
    ``sum_e e[t, e] * dS/de[t, e]`` over the embedding vector of each token.
    """

    name = "gradient_x_input"
    label = "Gradient × input"
    options = {}

    def _build(self):
        return _single_pass(self.info, "sum", times_input=True)


class InteriorGradients(Attribution):
    """Interior gradients: the gradient at a scaled-down copy of the input.

    Sundararajan, Taly & Yan, "Gradients of Counterfactuals", 2016 (the
    interior gradients behind Integrated Gradients).

    Options: ``alpha`` (default 0.5), one scale in ``[0, 1]`` or a list of
    them. Map: the gradient of the target logit at ``alpha * x``, averaged
    over the alphas, then ``max_c |.|`` over channels as for ``gradient``
    (L2 norm over the embedding for token models, scaling the embedding).
    The target is the class predicted for the unscaled input.
    """

    name = "interior_gradients"
    label = "Interior gradients"
    options = {"alpha": 0.5}

    def _check_options(self, options):
        alpha = options["alpha"]
        values = np.atleast_1d(np.asarray(alpha, dtype=object))
        if values.ndim != 1 or len(values) == 0:
            raise InvalidInputError(f"alpha must be a number or a non-empty list of numbers, got {alpha!r}")
        out = []
        for value in values.tolist():
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise InvalidInputError(f"alpha values must be numbers in [0, 1], got {value!r}")
            if not 0.0 <= float(value) <= 1.0:
                raise InvalidInputError(f"alpha values must be in [0, 1], got {value!r}")
            out.append(float(value))
        return {"alpha": np.asarray(out, np.float32)}

    def _option_specs(self):
        return [tf.TensorSpec([None], tf.float32, name="alpha")]

    def _option_values(self, x, options):
        return [options["alpha"]]

    def _build(self):
        info = self.info

        def run(x, targets, batch_size, alphas):
            count = tf.shape(alphas)[0]

            def perturb(z, image, copy, start):
                return z * tf.cast(per_example(tf.gather(alphas, copy), len(z.shape)), z.dtype), None

            def accumulate(acc, image, copy, grads, aux):
                return sum_rows(acc, image, grads)

            acc = tf.zeros(info.space_shape_tensor(x), tf.float32)
            acc, targets = perturbation_loop(info, x, targets, batch_size, count, perturb, accumulate, acc)
            return info.reduce(acc / tf.cast(count, tf.float32), "magnitude"), targets

        return run
