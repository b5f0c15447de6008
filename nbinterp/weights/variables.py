"""Which weight variables a model has, and where they live.

A model's weights are listed layer by layer, in the order of ``model.layers``,
descending into nested models (a ``keras.applications`` network used as a
layer) so that every variable gets a *layer path*: top-level layers keep their
name, layers of a nested model are ``"outer/inner"``. Only floating-point
variables count as weights; integer state such as a Dropout layer's random
seed is skipped.

Two models have the same architecture when their lists have the same length
and, position by position, the same shapes. Layer names are deliberately not
compared: building the same architecture twice in one session gives
``dense`` and ``dense_1``, and both still describe the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from ..errors import ArchitectureMismatchError, NotSupportedError

__all__ = [
    "WeightVariable",
    "list_weight_variables",
    "weight_variables_of",
    "check_same_architecture",
    "indices_by_layer",
    "pooled_indices",
]


@dataclass(frozen=True)
class WeightVariable:
    """Description of one weight variable (its values live in snapshots)."""

    layer_path: str  # "conv1", or "mobilenet/conv1" inside a nested model
    name: str  # "kernel", "bias", "gamma", ... unique within the layer
    shape: tuple
    dtype: str
    trainable: bool
    layer_class: str  # "Conv2D", "Dense", ...

    @property
    def key(self) -> str:
        """``"layer_path/name"``, unique within a model."""
        return f"{self.layer_path}/{self.name}"

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize


def _is_float(variable) -> bool:
    try:
        return np.dtype(keras.backend.standardize_dtype(variable.dtype)).kind == "f"
    except TypeError:  # bfloat16 and other dtypes numpy does not name
        return "float" in str(variable.dtype)


def _relative_names(layer, variables):
    """Names of ``variables`` inside ``layer``: ``kernel``, or ``dense/kernel``
    for a custom layer that owns sub-layers, made unique if needed."""
    names = []
    plain = [v.name for v in variables]
    clash = len(set(plain)) != len(plain)
    for variable in variables:
        name = variable.name
        if clash:
            parts = str(getattr(variable, "path", name)).split("/")
            if layer.name in parts:
                parts = parts[len(parts) - 1 - parts[::-1].index(layer.name) + 1 :]
            name = "/".join(parts) or variable.name
        names.append(name)
    seen = {}
    unique = []
    for name in names:
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 0
        unique.append(name)
    return unique


def list_weight_variables(model) -> list[tuple[WeightVariable, object]]:
    """``[(WeightVariable, keras variable), ...]`` for every float weight of ``model``.

    Each variable appears once even if its layer is shared; the order is
    stable for a given architecture.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"expected a keras.Model, got {type(model).__name__}")
    if not model.built:
        raise NotSupportedError(
            f"model {model.name!r} is not built, so it has no weights yet: call "
            "model.build(input_shape) or create it with a keras.Input"
        )
    found: list[tuple[WeightVariable, object]] = []
    seen: set[int] = set()

    def add(layer, path, variables):
        variables = [v for v in variables if id(v) not in seen and _is_float(v)]
        for variable, name in zip(variables, _relative_names(layer, variables)):
            seen.add(id(variable))
            found.append(
                (
                    WeightVariable(
                        layer_path=path,
                        name=name,
                        shape=tuple(int(d) for d in variable.shape),
                        dtype=str(keras.backend.standardize_dtype(variable.dtype)),
                        trainable=bool(variable.trainable),
                        layer_class=type(layer).__name__,
                    ),
                    variable,
                )
            )

    def walk(container, prefix):
        used_paths: set[str] = set()
        for layer in container.layers:
            path = prefix + layer.name
            k = 1
            while path in used_paths:  # two layers with one name (rare, but legal in subclasses)
                path = f"{prefix}{layer.name}@{k}"
                k += 1
            used_paths.add(path)
            if isinstance(layer, keras.Model):
                walk(layer, path + "/")
                # variables a nested model created itself, outside its layers
                add(layer, path, layer.weights)
            else:
                add(layer, path, layer.weights)

    walk(model, "")
    add(model, model.name, model.weights)  # a subclassed model's own add_weight()s
    return found


def weight_variables_of(model) -> tuple[WeightVariable, ...]:
    """Just the descriptions from :func:`list_weight_variables`."""
    return tuple(spec for spec, _ in list_weight_variables(model))


def indices_by_layer(variables) -> dict[str, list[int]]:
    """Positions in ``variables`` grouped by layer path, layers in model order."""
    groups: dict[str, list[int]] = {}
    for i, v in enumerate(variables):
        groups.setdefault(v.layer_path, []).append(i)
    return groups


def pooled_indices(variables, indices) -> list[int]:
    """What a layer's values pool when no variable is named: the trainable
    ones among ``indices`` (positions in ``variables``), or all of them for a
    frozen layer, which has none."""
    return [i for i in indices if variables[i].trainable] or list(indices)


def check_same_architecture(reference, other, what_reference="the first model", what_other="the second model"):
    """Raise :class:`ArchitectureMismatchError` unless two variable lists line up.

    ``reference`` and ``other`` are sequences of :class:`WeightVariable`. The
    message names the first layer and shape that differ.
    """
    for index, (a, b) in enumerate(zip(reference, other)):
        if tuple(a.shape) != tuple(b.shape):
            raise ArchitectureMismatchError(
                f"architectures differ at weight #{index}: {what_reference} has layer "
                f"{a.layer_path!r} ({a.layer_class}) {a.name} of shape {tuple(a.shape)}, "
                f"{what_other} has layer {b.layer_path!r} ({b.layer_class}) {b.name} "
                f"of shape {tuple(b.shape)}"
            )
    if len(reference) != len(other):
        shorter, longer = (what_reference, what_other) if len(reference) < len(other) else (what_other, what_reference)
        extra = (other if len(other) > len(reference) else reference)[min(len(reference), len(other))]
        raise ArchitectureMismatchError(
            f"architectures differ: {what_reference} has {len(reference)} weight variables, "
            f"{what_other} has {len(other)}; {longer} has extra layer {extra.layer_path!r} "
            f"({extra.layer_class}) {extra.name} of shape {tuple(extra.shape)} that {shorter} lacks"
        )
