"""The architecture table: every layer with its kind, output shape and parameter counts."""

from __future__ import annotations

import html


def _shape_text(shape):
    if not shape:
        return "?"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _int(n):
    return f"{n:,}"


class Summary:
    """Rows of ``LayerInfo`` plus totals. ``str()`` is a text table;
    ``_repr_html_`` renders it in a notebook (names are escaped: they are user data)."""

    def __init__(self, layers, model):
        self.layers = list(layers)
        self.model_name = model.name
        self.total_params = int(model.count_params())
        self.trainable_params = sum(
            info.trainable_params for info in self.layers if info.depth == 0
        )
        self.non_trainable_params = self.total_params - self.trainable_params

    @property
    def rows(self):
        """One tuple per layer: (name, kind, output shape text, params, trainable params)."""
        return [
            (info.name, info.kind, _shape_text(info.output_shape), info.params, info.trainable_params)
            for info in self.layers
        ]

    @property
    def text(self):
        header = ("Layer", "Kind", "Output shape", "Params", "Trainable")
        body = [
            ("  " * info.depth + info.name.rsplit("/", 1)[-1] + ("/" if info.is_group else ""),
             info.kind, _shape_text(info.output_shape), _int(info.params), _int(info.trainable_params))
            for info in self.layers
        ]
        widths = [max(len(str(r[i])) for r in [header] + body) for i in range(5)]

        def line(r):
            return "  ".join(
                str(v).ljust(w) if i < 3 else str(v).rjust(w) for i, (v, w) in enumerate(zip(r, widths))
            )

        rule = "-" * len(line(header))
        out = [f"Model: {self.model_name}", rule, line(header), rule]
        out += [line(r) for r in body]
        out += [
            rule,
            f"Total params: {_int(self.total_params)}",
            f"Trainable params: {_int(self.trainable_params)}",
            f"Non-trainable params: {_int(self.non_trainable_params)}",
        ]
        return "\n".join(out)

    @property
    def html(self):
        esc = html.escape
        rows = []
        for info in self.layers:
            indent = f"padding-left:{0.4 + 1.2 * info.depth:.1f}em"
            weight = "font-weight:600;" if info.is_group else ""
            rows.append(
                f'<tr data-layer="{esc(info.name, quote=True)}">'
                f'<td style="{indent};{weight}">{esc(info.name.rsplit("/", 1)[-1])}{"/" if info.is_group else ""}</td>'
                f"<td>{esc(info.kind)}</td><td>{esc(_shape_text(info.output_shape))}</td>"
                f'<td style="text-align:right">{_int(info.params)}</td>'
                f'<td style="text-align:right">{_int(info.trainable_params)}</td></tr>'
            )
        return (
            '<table class="nbinterp-summary" style="border-collapse:collapse;font-family:monospace">'
            f"<caption style='text-align:left'>Model: {esc(self.model_name)}</caption>"
            "<thead><tr><th style='text-align:left'>Layer</th><th style='text-align:left'>Kind</th>"
            "<th style='text-align:left'>Output shape</th><th>Params</th><th>Trainable</th></tr></thead>"
            "<tbody>" + "".join(rows) + "</tbody>"
            f"<tfoot><tr><td colspan='5'>Total params: {_int(self.total_params)} · "
            f"trainable: {_int(self.trainable_params)} · non-trainable: {_int(self.non_trainable_params)}"
            "</td></tr></tfoot></table>"
        )

    def __str__(self):
        return self.text

    def __repr__(self):
        return self.text

    def _repr_html_(self):
        return self.html
