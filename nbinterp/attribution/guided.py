"""Guided backpropagation and deconvnet: gradients with a modified ReLU backward pass.

Both methods run the model unchanged in the forward direction and change
only how the gradient flows back through each ReLU-family activation, with
the rules of :mod:`nbinterp.core.backward` (which also lists the covered
activations). Each method has one compiled engine per model, shared with
nothing else because its backward pass differs.
"""

from __future__ import annotations

from .base import Attribution


class GuidedBackprop(Attribution):
    """Guided backpropagation.

    Springenberg, Dosovitskiy, Brox & Riedmiller, "Striving for Simplicity:
    The All Convolutional Net", ICLR workshop 2015.

    The gradient of the target logit where every ReLU-family activation
    passes back only positive gradients, times its local derivative
    (``max(g, 0) * [x > 0]`` for a plain ReLU). Map: ``max_c |.|`` over
    channels (L2 norm over the embedding for token models), as for
    ``gradient``.
    """

    name = "guided_backprop"
    label = "Guided backprop"

    def _explain(self, x, targets, options, run):
        return self.gradient_pass(x, targets, run, "magnitude", rule="guided")


class Deconvnet(Attribution):
    """Deconvnet.

    Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks",
    ECCV 2014.

    The backward pass in which each ReLU-family activation passes back the
    positive part of the upstream gradient, regardless of its forward input.
    Map: ``max_c |.|`` over channels (L2 norm over the embedding for token
    models).
    """

    name = "deconvnet"
    label = "Deconvnet"

    def _explain(self, x, targets, options, run):
        return self.gradient_pass(x, targets, run, "magnitude", rule="deconvnet")
