"""One description of a model's inputs and outputs, derived once per graph plan.

The Inspector, the attribution methods and the unit views all read shapes,
dtypes and kinds of inputs from here, so they agree on what a model takes.

Kinds of input, from the per-example shape and dtype:

* ``"image"``: float ``(H, W, C)``; ``"sequence"``: float ``(T, C)``;
  ``"vector"``: float ``(D,)``; ``"volume"``: float ``(D, H, W, C)``;
* ``"tokens"``: integer ``(T,)`` read by an Embedding layer. Gradients do
  not exist for integer ids, so attributions work in the Embedding's output
  space (:attr:`InputSpec.embedding`).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from ..errors import NotSupportedError
from .graph import shape_of_key, static_shape

_FLOAT_KINDS = {1: "vector", 2: "sequence", 3: "image", 4: "volume"}


@dataclass(frozen=True, eq=False)
class InputSpec:
    """One model input: its name, per-example shape, dtype, kind and graph key."""

    name: str
    shape: tuple
    dtype: np.dtype
    kind: str
    key: object
    embedding: object = None  # the Embedding step reading token ids, for "tokens"
    #: where the channels are: "channels_last", "channels_first", or "mixed" when the
    #: model's convolutions and poolings disagree
    data_format: str = "channels_last"

    @property
    def vocabulary(self) -> int | None:
        """The number of token ids the Embedding reading this input takes (token inputs)."""
        return int(self.embedding.op.input_dim) if self.embedding is not None else None

    @property
    def channel_axis(self) -> int:
        """The channel axis of a batch of this input (1 for channels_first, else -1)."""
        return 1 if self.data_format == "channels_first" else -1

    @property
    def spatial_shape(self) -> tuple:
        """The per-example shape without the channel axis."""
        if self.kind not in ("image", "sequence", "volume"):
            return self.shape
        return self.shape[1:] if self.data_format == "channels_first" else self.shape[:-1]

    @property
    def batch_shape(self) -> tuple:
        return (None,) + self.shape


@dataclass(frozen=True, eq=False)
class OutputSpec:
    """One model output: its name, static shape (batch axis included) and graph key."""

    name: str
    shape: tuple | None
    key: object


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """The inputs and outputs of one model, in the model's own order."""

    inputs: tuple
    outputs: tuple

    def single_input(self, what: str = "nbinterp") -> InputSpec:
        """The only input, or a NotSupportedError saying that ``what`` needs one."""
        if len(self.inputs) != 1:
            names = ", ".join(repr(i.name) for i in self.inputs)
            raise NotSupportedError(
                f"this model has {len(self.inputs)} inputs ({names}); {what} supports single-input models only"
            )
        return self.inputs[0]


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


def data_format_of(plan) -> str:
    """The data format the model's convolutions and poolings use (see InputSpec.data_format)."""
    formats = {
        getattr(step.op, "data_format", None)
        for step in plan.steps
        if not step.alias and isinstance(getattr(step.op, "data_format", None), str)
    }
    formats.discard(None)
    if len(formats) > 1:
        return "mixed"
    return formats.pop() if formats else "channels_last"


def _input_kind(shape, dtype):
    if dtype.kind in "iu":
        return "tokens" if len(shape) == 1 else "integer"
    if dtype.kind == "f":
        return _FLOAT_KINDS.get(len(shape), "array")
    return "other"


def _describe(plan) -> ModelSpec:
    inputs = []
    data_format = data_format_of(plan)
    for tensor, key in zip(plan.inputs, plan.input_keys):
        shape = static_shape(tensor)[1:]
        dtype = np.dtype(keras.backend.standardize_dtype(tensor.dtype))
        kind = _input_kind(shape, dtype)
        embedding = None
        if kind == "tokens":
            try:
                embedding = find_embedding(plan)
            except NotSupportedError:
                embedding = None
        history = getattr(tensor, "_keras_history", None)
        layer = getattr(history, "operation", None) if history is not None else None
        name = getattr(layer, "name", None) or getattr(tensor, "name", None) or f"input_{len(inputs)}"
        fmt = data_format if kind in ("image", "sequence", "volume") else "channels_last"
        inputs.append(InputSpec(str(name), shape, dtype, kind, key, embedding, fmt))
    outputs = []
    for i, key in enumerate(plan.output_keys):
        step = plan.producer(key)
        name = step.path if step is not None else f"output_{i}"
        outputs.append(OutputSpec(name, shape_of_key(plan, key), key))
    return ModelSpec(tuple(inputs), tuple(outputs))


def model_spec(plan) -> ModelSpec:
    """The (cached) ModelSpec of a graph plan."""
    spec = plan.__dict__.get("_spec")
    if spec is None:
        spec = plan.__dict__["_spec"] = _describe(plan)
    return spec
