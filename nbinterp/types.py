"""Names for the kinds of values nbinterp's public functions take (for type hints only).

* :data:`ModelLike`: a built Keras model, the path of a ``.keras`` / legacy
  ``.h5`` file, or an :class:`~nbinterp.Inspector` (see
  :func:`nbinterp.core.models.resolve_model`).
* :data:`Images`: one example or a batch, as anything numpy reads; for a model
  with several inputs, a list/tuple in the model's input order or a dict by
  input name (see :func:`nbinterp.core.inputs.as_inputs`).
* :data:`LayerRef`: a layer's path (``"block/conv"``) or, when unique, its bare name.
* :data:`Target`: a class index, one per example, or None for each example's top class.
* :data:`Progress` / :data:`Cancel`: the hooks of long computations: ``progress(fraction)``
  with fractions in order up to 1.0; ``cancel()`` returning True stops within one chunk.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ForwardRef, Union

import keras
import numpy.typing as npt

# the Inspector's module imports this one: name it by reference, resolved from its module
_Inspector = ForwardRef("Inspector", module="nbinterp.core.inspector")

ModelLike = Union[keras.Model, str, os.PathLike, _Inspector]
Images = Union[npt.ArrayLike, Sequence[Any], Mapping[str, Any]]
LayerRef = str
Target = Union[int, Sequence[int], npt.ArrayLike, None]
Progress = Callable[[float], Any]
Cancel = Callable[[], bool]
Preprocess = Callable[[Any], Any]

__all__ = ["ModelLike", "Images", "LayerRef", "Target", "Progress", "Cancel", "Preprocess"]
