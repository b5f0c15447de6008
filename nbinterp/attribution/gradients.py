"""Plain gradient methods: saliency, gradient x input, interior gradients."""

from __future__ import annotations

import numpy as np

from ..core.options import UnitIntervalListOption
from .base import Attribution, sum_rows


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

    def _explain(self, x, targets, options, run):
        return self.gradient_pass(x, targets, run, "magnitude")


class GradientXInput(Attribution):
    """Gradient x input.

    Shrikumar et al., "Not Just a Black Box: Learning Important Features
    Through Propagating Activation Differences", 2016.

    Map: ``sum_c x[h, w, c] * dS/dx[h, w, c]`` (signed); for token models
    ``sum_e e[t, e] * dS/de[t, e]`` over the embedding vector of each token.
    """

    name = "gradient_x_input"
    label = "Gradient × input"
    sign = "signed"

    def _explain(self, x, targets, options, run):
        return self.gradient_pass(x, targets, run, "sum", times_input=True)


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
    option_table = (
        UnitIntervalListOption("alpha", 0.5, "scale of the input",
                               "the input is scaled by this factor (or each of a list) before the gradient"),
    )

    def _explain(self, x, targets, options, run):
        alphas = options["alpha"]
        count = len(alphas)
        acc = np.zeros(self.info.space_shape(x.shape), np.float32)

        def perturb(z, image, copy, start):
            scale = alphas[copy].reshape((-1,) + (1,) * (z.ndim - 1))
            return (z * scale.astype(z.dtype)).astype(z.dtype)

        def accumulate(image, copy, grads):
            sum_rows(acc, image, grads)

        targets = self.perturbed_gradients(x, targets, run, count, perturb, accumulate)
        return self.reduce(acc / count, "magnitude"), targets
