"""The non-image inputs of one example (tabular features, token ids, signals) as a small
read-only HTML table, for models with several inputs. Names and values are escaped:
both come from the person's data."""

from __future__ import annotations

import html

import numpy as np

MAX_VALUES = 16  # values of a non-tabular input shown before an ellipsis


def feature_names(spec_input, names=None) -> list[str]:
    """The names of the features of a tabular (vector) input: ``names`` when they fit, else
    ``feature 0``, ``feature 1``, ..."""
    size = int(spec_input.shape[0]) if spec_input.shape and spec_input.shape[0] is not None else 0
    if names is not None and len(names) == size:
        return [str(n) for n in names]
    return [f"feature {d}" for d in range(size)]


def names_for(all_names, spec, index) -> list[str]:
    """Feature names of input ``index`` from what the person passed: a dict ``{input name:
    names}``, or a list when the model has one tabular input."""
    one = spec.inputs[index]
    if isinstance(all_names, dict):
        return feature_names(one, all_names.get(one.name))
    tabular = [i for i, s in enumerate(spec.inputs) if s.kind == "vector"]
    return feature_names(one, all_names if tabular == [index] else None)


def _value_text(value) -> str:
    value = np.asarray(value)
    if value.dtype.kind == "f":
        return f"{float(value):.4g}"
    return str(value.item())


def inputs_table_html(spec, example, all_names=None) -> str:
    """An HTML table of the inputs of ``example`` (one array per model input, model order)
    that are not images: one row per feature of a tabular input, one row per other input."""
    rows = []
    for index, (one, value) in enumerate(zip(spec.inputs, example)):
        if one.kind == "image":
            continue
        value = np.asarray(value)
        if one.kind == "vector" and value.ndim == 1:
            for name, v in zip(names_for(all_names, spec, index), value):
                rows.append((f"{one.name}: {name}", _value_text(v)))
            continue
        flat = value.reshape(-1)
        text = ", ".join(_value_text(v) for v in flat[:MAX_VALUES]) + (", …" if flat.size > MAX_VALUES else "")
        rows.append((f"{one.name} {tuple(value.shape)}", text))
    if not rows:
        return ""
    cells = "".join(
        f"<tr><td style='padding:0 8px 0 0'>{html.escape(name)}</td>"
        f"<td style='text-align:right;font-family:monospace'>{html.escape(text)}</td></tr>"
        for name, text in rows
    )
    return ("<div class='nbinterp-inputs-table' style='max-height:220px;overflow-y:auto;font-size:12px'>"
            f"<table><tr><th style='text-align:left'>input</th><th>value</th></tr>{cells}</table></div>")


__all__ = ["feature_names", "inputs_table_html", "names_for"]
