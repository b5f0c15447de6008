"""Models that read integer token ids (Embedding -> Conv1D -> ... text models).

Gradients with respect to integer ids do not exist, so for these models every
method works in *embedding space*: the output of the model's Embedding layer
is computed once, perturbed or watched there, and fed back into the graph
with ``GraphPlan.run(..., feeds={embedding_key: tensor})``. The per-token map
is then a reduction over the embedding axis.
"""

from __future__ import annotations

import keras

from ..errors import NotSupportedError


def find_embedding(plan):
    """The Embedding step that reads the model input, or raise NotSupportedError."""
    for step in plan.steps:
        if step.alias or not isinstance(step.op, keras.layers.Embedding) or not step.in_keys:
            continue
        # no producer, aliases of nested models followed: it reads the model input
        if plan.producer(step.in_keys[0]) is None:
            return step
    raise NotSupportedError(
        "this model takes integer inputs but has no Embedding layer reading them; "
        "attributions need a float input or an Embedding to differentiate through"
    )


def attach_mask(step, tokens, embedded):
    """Give a fed embedding tensor the padding mask its Embedding layer would have set.

    Keras carries masks on the tensors themselves; a tensor we compute
    (noisy, interpolated, occluded embeddings) has none, so downstream
    mask-aware layers (pooling, RNNs) would otherwise ignore padding.
    """
    if not getattr(step.op, "mask_zero", False):
        return embedded
    mask = step.op.compute_mask(tokens)
    try:
        embedded._keras_mask = mask
    except AttributeError:  # pragma: no cover - tensor types that refuse attributes
        pass
    return embedded
