"""Integrated Gradients."""

from __future__ import annotations

import numpy as np

from ..core.options import ArrayOption, IntOption
from ..errors import InvalidInputError
from .base import Attribution, sum_rows

#: most integration steps per image (beyond this the sum no longer changes visibly)
MAX_STEPS = 10_000


class IntegratedGradients(Attribution):
    """Integrated Gradients.

    Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks",
    ICML 2017.

    ``IG_i(x) = (x_i - b_i) * integral_0^1 dS/dx_i(b + a (x - b)) da`` with
    ``S`` the target logit. The integral is a midpoint Riemann sum over
    ``steps`` points ``a = (k + 1/2) / steps``. On smooth models its error
    shrinks like 1/steps^2; on ReLU and max-pooling networks the path
    gradient is piecewise constant and the error shrinks irregularly (on the
    demo CNN the completeness error was 0.74 %, 1.37 %, 0.50 %, 0.15 % and
    0.16 % at 10, 20, 50, 100 and 200 steps), so check completeness - the
    map sums to ``S(x) - S(b)`` - when it matters.

    Options: ``baseline`` (0.0: a scalar or an array broadcastable to the
    batch, in the model's input space, i.e. after ``preprocess``), ``steps``
    (50). For token models the path runs in embedding space from the zero
    embedding (or ``baseline``, broadcast to ``(N, T, embedding_dim)``).

    Map: ``sum_c (x - b) * mean_k grad_k`` over channels (signed).
    """

    name = "integrated_gradients"
    label = "Integrated gradients"
    sign = "signed"
    option_table = (
        ArrayOption("baseline", 0.0, "baseline", "the input the path starts from (model input space)"),
        IntOption("steps", 50, "integration steps", "points of the Riemann sum along the path",
                  low=1, high=MAX_STEPS),
    )

    def _check(self, options, x):
        full = self.info.space_shape(x.shape)
        try:
            baseline = np.broadcast_to(options["baseline"], full)
        except ValueError:
            raise InvalidInputError(
                f"baseline of shape {options['baseline'].shape} does not broadcast to the inputs' shape {full}"
            ) from None
        dtype = np.float32 if self.info.kind == "tokens" else np.dtype(self.info.input_dtype)
        return dict(options, baseline=baseline.astype(dtype))

    def _explain(self, x, targets, options, run):
        baseline, steps = options["baseline"], options["steps"]
        acc = np.zeros(self.info.space_shape(x.shape), np.float32)

        def perturb(z, image, copy, start):
            b = baseline[image].astype(z.dtype)
            alpha = ((copy.astype(np.float32) + 0.5) / np.float32(steps)).astype(z.dtype)
            return b + alpha.reshape((-1,) + (1,) * (z.ndim - 1)) * (z - b)

        def accumulate(image, copy, grads):
            sum_rows(acc, image, grads)

        targets = self.perturbed_gradients(x, targets, run, steps, perturb, accumulate)
        delta = np.asarray(self.embed(np.arange(len(x))), np.float32) - baseline.astype(np.float32)
        return self.reduce(delta * acc / np.float32(steps), "sum"), targets
