"""How much each layer's weights changed between two points in training.

``compare_weights(before, after)`` accepts two Keras models of one
architecture, or two :class:`WeightSnapshot` objects from a history. The
result lists, per weight variable and per layer (pooling the layer's
trainable variables as :meth:`WeightHistory.values` does):

* mean and standard deviation before and after,
* mean absolute change ``mean(|after - before|)``,
* relative change ``||after - before|| / ||before||`` (Euclidean norms over
  all the values; ``inf`` when ``before`` is all zeros and something changed,
  as for a zero-initialised bias after the first step, and 0 when nothing did),
* overlaid histograms of before and after on shared bins.

It renders as an HTML table in a notebook, and ``.show()`` returns an
interactive view.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from .. import display
from ..errors import InvalidInputError, UnknownLayerError
from .histograms import Histogram, histogram
from .snapshots import WeightSnapshot, snapshot_of
from .variables import WeightVariable, check_same_architecture, indices_by_layer, pooled_indices

__all__ = ["WeightChange", "WeightComparison", "compare_weights"]


@dataclass(frozen=True)
class WeightChange:
    """Statistics of one variable (or one layer's pooled variables) before and after."""

    layer_path: str
    variable: str | None  # None: the layer's pooled trainable variables
    size: int
    mean_before: float
    mean_after: float
    std_before: float
    std_after: float
    mean_abs_change: float
    max_abs_change: float
    relative_change: float
    histogram: Histogram  # counts[0] before, counts[1] after

    @property
    def name(self) -> str:
        return self.layer_path if self.variable is None else f"{self.layer_path}/{self.variable}"

    @property
    def unchanged(self) -> bool:
        return self.max_abs_change == 0


def _float_flat(values):
    array = np.asarray(values).reshape(-1)
    return array if array.dtype.kind == "f" else array.astype(np.float64)


def _norm(x) -> float:
    return float(np.sqrt(np.sum(np.square(x), dtype=np.float64)))


def _change(layer_path, variable, before, after, bins) -> WeightChange:
    b = _float_flat(before)
    a = _float_flat(after)
    delta = np.abs(a - b)  # |after - before|, in the weights' own precision
    norm_before = _norm(b)
    norm_delta = _norm(delta)
    if norm_before > 0:
        relative = norm_delta / norm_before
    else:
        relative = 0.0 if norm_delta == 0 else float("inf")
    empty = b.size == 0
    nan = float("nan")
    return WeightChange(
        layer_path=layer_path,
        variable=variable,
        size=int(b.size),
        mean_before=nan if empty else float(b.mean(dtype=np.float64)),
        mean_after=nan if empty else float(a.mean(dtype=np.float64)),
        std_before=nan if empty else float(b.std(dtype=np.float64)),
        std_after=nan if empty else float(a.std(dtype=np.float64)),
        mean_abs_change=0.0 if empty else float(delta.mean(dtype=np.float64)),
        max_abs_change=0.0 if empty else float(delta.max()),
        relative_change=relative,
        histogram=histogram([b, a], bins=bins),
    )


class WeightComparison:
    """Per-variable and per-layer changes between two sets of weights."""

    def __init__(self, variables, before_arrays, after_arrays, before_label="before", after_label="after", bins="auto"):
        self.variables: tuple[WeightVariable, ...] = tuple(variables)
        self.before_label = str(before_label)
        self.after_label = str(after_label)
        self.bins = bins
        self.by_variable: tuple[WeightChange, ...] = tuple(
            _change(v.layer_path, v.name, b, a, bins) for v, b, a in zip(self.variables, before_arrays, after_arrays)
        )
        by_layer = []
        for path, indices in indices_by_layer(self.variables).items():
            pooled = pooled_indices(self.variables, indices)
            b = np.concatenate([np.asarray(before_arrays[i]).reshape(-1) for i in pooled])
            a = np.concatenate([np.asarray(after_arrays[i]).reshape(-1) for i in pooled])
            by_layer.append(_change(path, None, b, a, bins))
        self.by_layer: tuple[WeightChange, ...] = tuple(by_layer)

    @property
    def layer_paths(self) -> list[str]:
        return [c.layer_path for c in self.by_layer]

    @property
    def identical(self) -> bool:
        """True when not a single weight differs."""
        return all(c.unchanged for c in self.by_variable)

    def layer(self, layer_path: str) -> WeightChange:
        """The pooled change of one layer."""
        for c in self.by_layer:
            if c.layer_path == layer_path:
                return c
        raise UnknownLayerError(layer_path, self.layer_paths)

    def most_changed(self, by: str = "relative_change") -> WeightChange:
        """The layer whose weights moved most, by ``relative_change`` or ``mean_abs_change``."""
        if by not in ("relative_change", "mean_abs_change", "max_abs_change"):
            raise InvalidInputError(f"by must be 'relative_change', 'mean_abs_change' or 'max_abs_change', got {by!r}")
        if not self.by_layer:
            raise InvalidInputError("the model has no weights to compare")
        return max(self.by_layer, key=lambda c: getattr(c, by))

    def to_records(self, level: str = "variable") -> list[dict]:
        """Plain dicts (e.g. for ``pandas.DataFrame``), per ``"variable"`` or per ``"layer"``."""
        if level not in ("variable", "layer"):
            raise InvalidInputError(f"level must be 'variable' or 'layer', got {level!r}")
        rows = self.by_variable if level == "variable" else self.by_layer
        keys = ("layer_path", "variable", "size", "mean_before", "mean_after", "std_before", "std_after",
                "mean_abs_change", "max_abs_change", "relative_change")
        return [{k: getattr(c, k) for k in keys} for c in rows]

    def show(self):
        """An interactive view: change per layer, and before/after histograms
        (a :class:`~nbinterp.widgets.weights_view.WeightComparisonView`)."""
        return display.show(self)

    def __repr__(self):
        if self.identical:
            state = "identical"
        else:
            top = self.most_changed()
            state = f"most changed: {top.layer_path!r} (relative change {top.relative_change:.3g})"
        return f"WeightComparison({self.before_label!r} -> {self.after_label!r}, {len(self.by_layer)} layers, {state})"

    def _repr_html_(self):
        e = html.escape
        head = (
            f"<p><b>Weight change</b> from <i>{e(self.before_label)}</i> to <i>{e(self.after_label)}</i>: "
            + ("the weights are identical." if self.identical else f"{sum(not c.unchanged for c in self.by_variable)} of {len(self.by_variable)} variables changed.")
            + " Relative change is ||&Delta;|| / ||before||.</p>"
        )
        cols = ["layer", "weights", "shape", "mean before", "mean after", "std before", "std after",
                "mean |&Delta;|", "||&Delta;|| / ||before||"]
        out = [head, "<table><thead><tr>" + "".join(f"<th>{c}</th>" for c in cols) + "</tr></thead><tbody>"]
        for v, c in zip(self.variables, self.by_variable):
            cells = [
                e(v.layer_path), e(v.name), e("×".join(str(d) for d in v.shape) or "scalar"),
                _fmt(c.mean_before), _fmt(c.mean_after), _fmt(c.std_before), _fmt(c.std_after),
                _fmt(c.mean_abs_change), _fmt(c.relative_change),
            ]
            out.append("<tr>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
        out.append("</tbody></table>")
        return "".join(out)


def _fmt(x: float) -> str:
    if x == float("inf"):
        return "&infin;"
    if x == 0:
        return "0"
    return f"{x:.4g}"


def _weights_of(thing, role):
    if hasattr(thing, "layers") and hasattr(thing, "weights"):
        thing = snapshot_of(thing, getattr(thing, "name", role))
    if isinstance(thing, WeightSnapshot):
        return thing.variables, thing.arrays, thing.label
    raise InvalidInputError(f"{role} must be a keras.Model or a WeightSnapshot, got {type(thing).__name__}")


def compare_weights(before, after, bins="auto", labels=None) -> WeightComparison:
    """Compare the weights of two models (or snapshots) of one architecture.

    ``labels`` names the two sides in tables and legends (default: the
    models' names or the snapshots' labels). Raises
    :class:`~nbinterp.errors.ArchitectureMismatchError` naming the first
    layer and shape that differ. Layer paths are taken from ``before``.
    """
    variables, before_arrays, before_label = _weights_of(before, "before")
    other, after_arrays, after_label = _weights_of(after, "after")
    check_same_architecture(variables, other, f"before ({before_label!r})", f"after ({after_label!r})")
    if labels is not None:
        labels = [str(label) for label in labels]
        if len(labels) != 2:
            raise InvalidInputError(f"labels must be two names (before, after), got {len(labels)}")
        before_label, after_label = labels
    elif before_label == after_label:
        before_label, after_label = f"{before_label} (before)", f"{after_label} (after)"
    return WeightComparison(variables, before_arrays, after_arrays, before_label, after_label, bins=bins)
