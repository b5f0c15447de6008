"""Integrated Gradients."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ..errors import InvalidInputError
from .base import Attribution, per_example, perturbation_loop, positive_int, sum_rows


class IntegratedGradients(Attribution):
    """Integrated Gradients.

    Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks",
    ICML 2017.

    ``IG_i(x) = (x_i - b_i) * integral_0^1 dS/dx_i(b + a (x - b)) da`` with
    ``S`` the target logit. The integral is a midpoint Riemann sum over
    ``steps`` points ``a = (k + 1/2) / steps``, which is second-order
    accurate (the error shrinks like 1/steps^2 on smooth models), so
    completeness - the map sums to ``S(x) - S(b)`` - holds closely.

    Options: ``baseline`` (0.0: a scalar or an array broadcastable to the
    batch, in the model's input space, i.e. after ``preprocess``), ``steps``
    (50). For token models the path runs in embedding space from the zero
    embedding (or ``baseline``, broadcast to ``(N, T, embedding_dim)``).

    Map: ``sum_c (x - b) * mean_k grad_k`` over channels (signed).
    """

    name = "integrated_gradients"
    label = "Integrated gradients"
    options = {"baseline": 0.0, "steps": 50}

    def _check_options(self, options):
        baseline = np.asarray(options["baseline"])
        if baseline.dtype == object or baseline.dtype.kind not in "biuf":
            raise InvalidInputError(f"baseline must be a number or a numeric array, got {options['baseline']!r}")
        if not np.isfinite(baseline).all():
            raise InvalidInputError("baseline contains NaN or infinite values")
        return {"baseline": baseline.astype(np.float32), "steps": positive_int(options, "steps")}

    def _option_specs(self):
        shape = self.info.space_shape((None,) + self.info.input_shape)
        dtype = tf.float32 if self.info.kind == "tokens" else tf.as_dtype(self.info.input_dtype)
        return [tf.TensorSpec(shape, dtype, name="baseline"), tf.TensorSpec([], tf.int32, name="steps")]

    def _option_values(self, x, options):
        full = self.info.space_shape(x.shape)
        baseline = options["baseline"]
        try:
            baseline = np.broadcast_to(baseline, full)
        except ValueError:
            raise InvalidInputError(
                f"baseline of shape {baseline.shape} does not broadcast to the inputs' shape {full}"
            ) from None
        dtype = np.float32 if self.info.kind == "tokens" else np.dtype(self.info.input_dtype)
        return [np.ascontiguousarray(baseline, dtype=dtype), options["steps"]]

    def _build(self):
        info = self.info

        def run(x, targets, batch_size, baseline, steps):
            count = tf.cast(steps, tf.float32)

            def perturb(z, image, copy, start):
                b = tf.cast(tf.gather(baseline, image), z.dtype)
                alpha = tf.cast(per_example((tf.cast(copy, tf.float32) + 0.5) / count, len(z.shape)), z.dtype)
                return b + alpha * (z - b), None

            def accumulate(acc, image, copy, grads, aux):
                return sum_rows(acc, image, grads)

            acc = tf.zeros(info.space_shape_tensor(x), tf.float32)
            acc, targets = perturbation_loop(info, x, targets, batch_size, steps, perturb, accumulate, acc)
            delta = tf.cast(info.embed(x), tf.float32) - tf.cast(baseline, tf.float32)
            return info.reduce(delta * acc / count, "sum"), targets

        return run
