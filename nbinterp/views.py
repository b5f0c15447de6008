"""What each Explorer view shows, computed from the backend and rendered to uint8.

Each function takes an Inspector plus the current selection and returns
``Picture`` objects (image + hover regions + caption). The widgets only copy
these onto canvases, so tests can compare a view with a fresh computation
without a browser.
"""

from __future__ import annotations

import dataclasses
import html
from dataclasses import dataclass, field

import keras
import numpy as np

from . import render
from .render import legend as legends
from .render.filters import DIVERGING_CMAP, kernel_bank
from .render.legend import Legend
from .errors import NoKernelError, NotSupportedError, check_index

READOUT_MAX_VALUES = 2**18  # values sent for a per-pixel hover readout of one picture
TILE_TARGET_PX = 48  # activation tiles are enlarged (nearest) to at least this size
PAGE_SIZE = 64  # channels per activation-grid page
CELL_PX = 24  # size of one kernel weight in the enlarged kernel view


@dataclass
class Picture:
    """A rendered view: ``image`` with hover ``regions``, its caption, the region to
    outline, the :class:`~nbinterp.render.legend.Legend` its colours follow (None
    for pictures that are not colour-mapped values, such as input images), and
    ``readout``: the values under the picture for a per-pixel hover readout, as
    ``{"x", "y", "w", "h", "values", "name"}`` patches (``values`` a 2-D array
    stretched over that rectangle of image pixels; 3-D with ``"parts"`` naming
    the values of each cell, e.g. the R, G, B weights of a colour kernel)."""

    image: np.ndarray  # uint8 (H, W) or (H, W, 3)
    regions: list = field(default_factory=list)
    label: str = ""
    highlight: object = None
    legend: Legend | None = None
    readout: list = field(default_factory=list)

    @property
    def nbytes(self):
        return self.image.nbytes + sum(np.asarray(p["values"]).nbytes for p in self.readout)


def patch(box, values, name="", parts=None):
    """One readout patch: ``values`` (2-D, or 3-D with ``parts`` naming its last
    axis) over the image rectangle ``box = (x, y, w, h)``."""
    x, y, w, h = (int(v) for v in box)
    values = np.asarray(values, np.float32)
    if values.ndim == 1:
        values = values[None, :]
    out = {"x": x, "y": y, "w": w, "h": h, "values": values, "name": name}
    if parts:
        out["parts"] = list(parts)
    return out


def whole(image, values, name="", parts=None):
    """A readout patch covering the whole picture ``image``."""
    return patch((0, 0, image.shape[1], image.shape[0]), values, name, parts)


RGB = ("R", "G", "B")


def _layer_types(*names):
    return tuple(t for t in (getattr(keras.layers, n, None) for n in names) if t is not None)


_SEPARABLE = _layer_types("SeparableConv1D", "SeparableConv2D")
_TRANSPOSED = _layer_types("Conv1DTranspose", "Conv2DTranspose")
_CONVOLUTIONS = _layer_types("Conv1D", "Conv2D", "DepthwiseConv1D", "DepthwiseConv2D") + _SEPARABLE + _TRANSPOSED


def _conv_layer(op):
    """Convolutions with 1-D or 2-D kernel responses (every kind: plain, depthwise,
    separable, transposed)."""
    return isinstance(op, _CONVOLUTIONS) and len(getattr(op, "kernel_size", ())) in (1, 2)


def kernel_layer(ins, layer):
    """(path, caption prefix) of the layer whose kernels the Filters and Kernel response
    views draw for ``layer``: the layer itself, or for a nested block (a Sequential or
    model inside the model) its first layer with weights."""
    from .core.graph import Group

    entry = ins.plan.resolve(layer)
    if not isinstance(entry, Group):
        return entry.path, ""
    stack = list(reversed(entry.members))
    while stack:
        member = stack.pop()
        if isinstance(member, Group):
            stack.extend(reversed(member.members))
        elif ins.layer(member.path).has_kernel:
            return member.path, f"block {entry.path}, its first layer with weights {member.path.rsplit('/', 1)[-1]}: "
    raise NoKernelError(f"{entry.path} is a nested block without a layer that has weights, so it has no kernels "
                        "to show; pick a Conv or Dense layer (its layers are listed under it)")


def has_kernel_response(ins, layer):
    """Whether ``layer`` (or a nested block's first layer with weights) is a convolution
    whose kernels have responses to show."""
    try:
        path, _ = kernel_layer(ins, layer)
    except NoKernelError:
        return False
    return _conv_layer(getattr(ins.plan.resolve(path), "op", None))


def conv_kernel(ins, layer):
    """The kernel of a convolution in (taps..., input channels, output channels) layout:
    a transposed convolution's kernel with its last two axes swapped, a separable
    convolution's effective kernel (each input channel's depthwise filters weighted by
    the pointwise weights); depthwise kernels keep (taps..., input channels, multiplier)."""
    op = ins.plan.resolve(layer).op
    weights = ins.kernels(layer)
    if isinstance(op, _TRANSPOSED):
        return np.swapaxes(weights, -1, -2)
    if isinstance(op, _SEPARABLE):
        pointwise = ins.pointwise_kernels(layer)  # (in * multiplier, out)
        n_in, mult = weights.shape[-2], weights.shape[-1]
        return np.einsum("...cm,cmo->...co", weights, pointwise.reshape(n_in, mult, -1)).astype(np.float32)
    return weights


def _enlarge(tile, target=TILE_TARGET_PX):
    size = max(tile.shape[0], tile.shape[1])
    return render.upscale_nearest(tile, max(1, -(-target // max(size, 1))))


def channel_count(ins, layer):
    """Channels the Channel control ranges over for ``layer`` (kernels for conv layers,
    else the last output axis), or 0 when the layer has none."""
    info = ins.layer(layer)
    shape = info.output_shape
    if len(shape) >= 2 and shape[-1] is not None:
        return int(shape[-1])
    return 0


def input_channel_count(ins, layer):
    """Input channels of a kernel layer, or of a nested block's first one (for the
    per-input-channel controls), else 0."""
    try:
        path, _ = kernel_layer(ins, layer)
    except NoKernelError:
        return 0
    if not ins.layer(path).has_kernel:
        return 0
    shape = ins.kernel_shape(path)
    if len(shape) < 3:
        return 0
    return int(shape[-1] if isinstance(ins.plan.resolve(path).op, _TRANSPOSED) else shape[-2])


def _first_source(ins, layer):
    """``(is a first layer, graph key it reads)``: whether ``layer`` reads a model input
    (maybe rescaled), and the key where the walk back stopped."""
    entry = ins.plan.resolve(layer)
    key = entry.in_keys[0] if entry.in_keys else None
    step = ins.plan.producer(key) if key is not None else None
    while step is not None and type(step.op).__name__ in ("Rescaling", "Normalization", "InputLayer"):
        key = step.in_keys[0]
        step = ins.plan.producer(key)
    return step is None, key


def is_first_conv_on_image(ins, layer):
    """True when ``layer`` is a conv layer whose input is the model's (maybe rescaled) image."""
    return _first_source(ins, layer)[0]


def raw_input_of(ins, layer, example):
    """The raw array of the model input that a first layer reads, from one example
    (the example itself for a single-input model; its entry for that input otherwise)."""
    if len(ins.spec.inputs) == 1:
        return example
    _, key = _first_source(ins, layer)
    keys = list(ins.plan.input_keys)
    index = keys.index(key) if key in keys else 0
    return example[ins.spec.inputs[index].name] if isinstance(example, dict) else example[index]


# --------------------------------------------------------------------- filters
def _filter_tiles(ins, layer, input_channel):
    """(how to draw, weights, describe(k) -> (slice, text)) for a conv layer's kernels;
    ``how`` are the ``mode`` and ``input_channel`` of :func:`render.kernel_tiles`."""
    weights = conv_kernel(ins, layer)
    op = ins.plan.resolve(layer).op
    if isinstance(op, keras.layers.DepthwiseConv2D):
        mult = weights.shape[-1]

        def describe(k):
            c, m = divmod(k, mult)
            return weights[:, :, c, m], f"depthwise kernel {k} (input channel {c}, multiplier {m})"

        return {"mode": "depthwise"}, weights, describe
    if weights.ndim == 4:
        rgb = weights.shape[2] == 3 and is_first_conv_on_image(ins, layer)
        ic = 0 if rgb else check_index(input_channel, weights.shape[2], "input channel")

        def describe(k):
            if rgb:
                return weights[:, :, :, k], f"kernel {k} (R, G, B weights per cell)"
            return weights[:, :, ic, k], f"kernel {k}, input channel {ic}"

        return {"mode": "rgb" if rgb else "channel", "input_channel": ic}, weights, describe
    if weights.ndim == 3:  # Conv1D: (k, in, out)

        def describe(k):
            return weights[:, :, k].T, f"kernel {k} (rows: input channels, columns: taps)"

        return {}, weights, describe
    raise NotSupportedError(f"cannot draw kernels of shape {weights.shape}")


def _kernel_path(ins, layer):
    """(path, caption prefix) for the filters of ``layer``, refusing layers without weights."""
    path, prefix = kernel_layer(ins, layer)
    info = ins.layer(path)
    if not info.has_kernel:
        raise NoKernelError(f"{info.name} ({info.kind}) has no weights to show as filters; "
                            "pick a Conv or Dense layer")
    return path, prefix


def _separable_grid(ins, layer, prefix):
    """A separable convolution's depthwise filters, one tile per (input channel, multiplier)."""
    depthwise = ins.kernels(layer)
    grid = kernel_bank(depthwise, mode="depthwise")
    mult = depthwise.shape[-1]
    regions = [
        {"id": f"depthwise {i}", "x": x, "y": y, "w": w, "h": h,
         "title": f"depthwise filter of input channel {i // mult}" + (f", multiplier {i % mult}" if mult > 1 else "")}
        for i, (x, y, w, h) in enumerate(grid.boxes)
    ]
    n_out = ins.pointwise_kernels(layer).shape[-1]
    readout = [patch(box, depthwise[:, :, i // mult, i % mult], f"depthwise filter {i}") for i, box in enumerate(grid.boxes)]
    return Picture(grid.image, regions,
                   f"{prefix}{ins.layer(layer).name}: the depthwise filter of each of its {depthwise.shape[-2]} input "
                   f"channels; the pointwise weights mix them into {n_out} outputs (the Channel control)",
                   legend=_weight_legend(grid.scale), readout=readout)


def _separable_selected(ins, layer, kernel, prefix):
    """Output ``kernel`` of a separable convolution: each input channel's depthwise filter
    times its pointwise weight for that output (the layer's effective kernel)."""
    effective = conv_kernel(ins, layer)  # (kh, kw, in, out)
    k = check_index(kernel, effective.shape[-1], "output channel")
    slices = effective[..., k]
    grid = kernel_bank(slices[..., None], mode="depthwise")
    pointwise = ins.pointwise_kernels(layer)
    mult = ins.kernels(layer).shape[-1]
    regions = [
        {"id": None, "x": x, "y": y, "w": w, "h": h,
         "title": f"input channel {c}: depthwise filter × pointwise weight "
                  + ", ".join(f"{pointwise[c * mult + m, k]:+.4f}" for m in range(mult))}
        for c, (x, y, w, h) in enumerate(grid.boxes)
    ]
    readout = [patch(box, slices[:, :, c], f"input channel {c}") for c, box in enumerate(grid.boxes)]
    return Picture(grid.image, regions,
                   f"{prefix}output channel {k}: each input channel's depthwise filter times its pointwise weight "
                   "(red +, blue −); hover a tile for the weight",
                   legend=_weight_legend(grid.scale), readout=readout)


def filters_grid(ins, layer, input_channel=0):
    """All kernels of ``layer`` as tiles, one hover/click region per kernel (id = index);
    a nested block shows its first layer with weights."""
    layer, prefix = _kernel_path(ins, layer)
    info = ins.layer(layer)
    if len(ins.kernel_shape(layer)) == 2:
        picture = _dense_filters_view(ins, layer, ins.kernels(layer), 0, input_channel)["grid"]
        picture.label = prefix + picture.label
        return picture
    if isinstance(ins.plan.resolve(layer).op, _SEPARABLE):
        return _separable_grid(ins, layer, prefix)
    how, weights, describe = _filter_tiles(ins, layer, input_channel)
    grid = kernel_bank(weights, **how)
    regions = [
        {"id": i, "x": x, "y": y, "w": w, "h": h, "title": f"kernel {i}"}
        for i, (x, y, w, h) in enumerate(grid.boxes)
    ]
    readout = grid.readout()  # the weights of every tile (R, G, B per cell on colour tiles)
    lo, hi = float(np.min(weights)), float(np.max(weights))
    return Picture(grid.image, regions,
                   f"{prefix}{info.name}: {grid.total} kernels of {tuple(weights.shape[:-1])}, "
                   f"weights {lo:+.3f} … {hi:+.3f}; click one",
                   legend=_weight_legend(grid.scale, grid.mode), readout=readout)


def _weight_legend(scale, mode=""):
    """The legend of kernel tiles drawn at ``±scale`` (grey per colour channel for RGB tiles)."""
    if mode == "rgb":
        return Legend("weight", -scale, scale, "gray", True, "per colour channel R, G, B; mid-grey = 0")
    return Legend("weight", -scale, scale, DIVERGING_CMAP, True, "white = 0")


def filter_selected(ins, layer, kernel=0, input_channel=0):
    """The selected kernel enlarged, each weight hoverable (for a separable convolution:
    the selected output's depthwise filters times their pointwise weights)."""
    layer, prefix = _kernel_path(ins, layer)
    if len(ins.kernel_shape(layer)) == 2:
        picture = _dense_filters_view(ins, layer, ins.kernels(layer), kernel, input_channel)["selected"]
        picture.label = prefix + picture.label
        return picture
    if isinstance(ins.plan.resolve(layer).op, _SEPARABLE):
        return _separable_selected(ins, layer, kernel, prefix)
    how, weights, describe = _filter_tiles(ins, layer, input_channel)
    tiles = render.kernel_tiles(weights, **how)
    k = check_index(kernel, tiles.shape[0], "kernel")
    values, what = describe(k)
    image = render.upscale_nearest(tiles[k], CELL_PX)
    rgb = how.get("mode") == "rgb"
    readout = [whole(image, values, f"kernel {k}", RGB if rgb else None)] if np.ndim(values) == (3 if rgb else 2) else []
    scale = render.filters.symmetric_scale(weights)
    return Picture(image, render.kernel_cells(values, CELL_PX), f"{prefix}{what}; hover a cell for its weight",
                   legend=_weight_legend(scale, how.get("mode", "")), readout=readout)


def _dense_filters_view(ins, layer, weights, unit, input_channel):
    """Dense weights: each unit's incoming weights reshaped to the flattened input
    image/feature map when that shape is known, otherwise the whole matrix."""
    n_in, n_out = weights.shape
    k = check_index(unit, n_out, "unit")
    entry = ins.plan.resolve(layer)
    source = ins.plan.producer(entry.in_keys[0])
    shape = None
    if source is not None and type(source.op).__name__ == "Flatten" and source.node is not None:
        in_shape = tuple(source.node.input_tensors[0].shape[1:])
        if None not in in_shape and int(np.prod(in_shape)) == n_in and len(in_shape) in (2, 3):
            shape = in_shape
    if shape is not None:
        maps = weights.T.reshape((n_out,) + shape)
        if len(shape) == 3:
            ic = check_index(input_channel, shape[2], "input channel")
            maps = maps[..., ic]
        shown = maps[: min(n_out, PAGE_SIZE * 4)]
        grid_legend = legends.choose(shown, "weight", signed=True, note="white = 0")
        grid = render.mosaic(np.stack([_enlarge(t, 24) for t in grid_legend.colorize(shown)]), pad=2)
        regions = [
            {"id": i, "x": x, "y": y, "w": w, "h": h, "title": f"unit {i}"}
            for i, (x, y, w, h) in enumerate(grid.boxes)
        ]
        readout = [patch(box, shown[i], f"unit {i}") for i, box in enumerate(grid.boxes)]
        big_legend = legends.choose(maps[k], "weight", signed=True, note="white = 0")
        big = _enlarge(big_legend.colorize(maps[k]), 224)
        return {
            "grid": Picture(grid.image, regions, f"{ins.layer(layer).name}: incoming weights of each unit as a {shape[:2]} image", k,
                            legend=grid_legend, readout=readout),
            "selected": Picture(big, [], f"unit {k}: weights from each input position (red +, blue −)",
                                legend=big_legend, readout=[whole(big, maps[k], f"unit {k}")]),
        }
    bound = float(np.max(np.abs(weights))) or 1.0
    shrunk, (fy, fx) = _block_mean(weights.T, MATRIX_MAX_PX)  # rows: units, columns: inputs
    sy = max(1, min(24, 256 // shrunk.shape[0]))  # rows (units) at least a few pixels tall
    sx = max(1, min(8, MATRIX_MAX_PX // shrunk.shape[1]))
    colours = render.colorize(shrunk, "RdBu_r", vmax=bound, symmetric=True)
    image = np.repeat(np.repeat(colours, sy, axis=0), sx, axis=1)
    rows = [
        {"id": i, "x": 0, "y": i * sy, "w": image.shape[1], "h": sy, "title": f"unit {i}"}
        for i in range(n_out)
    ] if fy == 1 else []
    averaged = f" (blocks of {fy}×{fx} averaged)" if fy * fx > 1 else ""
    legend = Legend("weight", -bound, bound, DIVERGING_CMAP, True, "white = 0")
    square = _vector_square(weights[:, k], bound)
    side = int(np.ceil(np.sqrt(n_in)))
    wrapped = np.full(-(-n_in // side) * side, np.nan, np.float32)
    wrapped[:n_in] = weights[:, k]
    return {
        "grid": Picture(image, rows, f"{ins.layer(layer).name}: weight matrix, rows = {n_out} units, "
                                     f"columns = {n_in} inputs{averaged}", k,
                        legend=legend, readout=[whole(image, shrunk)]),
        "selected": Picture(square, [], f"unit {k}: its {n_in} incoming weights, row by row (red +, blue −)",
                            legend=legend, readout=[whole(square, wrapped.reshape(-1, side), f"unit {k}")]),
    }


MATRIX_MAX_PX = 512  # weight matrices larger than this are block-averaged for display


def _block_mean(field, limit):
    """Average ``field`` (2-D) over blocks so neither side exceeds ``limit``; returns the factors too."""
    fy, fx = (max(1, -(-n // limit)) for n in field.shape)
    if fy == fx == 1:
        return field, (1, 1)
    h, w = -(-field.shape[0] // fy) * fy, -(-field.shape[1] // fx) * fx
    padded = np.zeros((h, w), np.float32)
    padded[: field.shape[0], : field.shape[1]] = field
    counts = np.zeros((h, w), np.float32)
    counts[: field.shape[0], : field.shape[1]] = 1
    sums = padded.reshape(h // fy, fy, w // fx, fx).sum(axis=(1, 3))
    n = counts.reshape(h // fy, fy, w // fx, fx).sum(axis=(1, 3))
    return sums / np.maximum(n, 1), (fy, fx)


def _vector_square(vector, bound):
    """A 1-D vector wrapped row by row into a near-square picture (padding left white)."""
    n = vector.shape[0]
    side = int(np.ceil(np.sqrt(n)))
    rows = -(-n // side)
    colours = render.colorize(vector, "RdBu_r", vmax=bound, symmetric=True)
    square = np.full((rows * side, 3), 255, np.uint8)
    square[:n] = colours
    return _enlarge(square.reshape(rows, side, 3), 224) if side <= 224 else square.reshape(rows, side, 3)


# ------------------------------------------------------------- kernel response
def kernel_response_view(ins, layer, kernel, image, input_channel=None, shown_channel=None):
    """image | kernel | the image convolved with that kernel (pre-activation).

    ``input_channel=None`` convolves every input channel (plus the bias, the
    layer's own pre-activation); ``input_channel=c`` shows channel ``c``'s
    contribution alone. ``shown_channel`` picks which input channel and kernel
    slice are drawn beside a full response (default: ``input_channel`` or 0);
    a first layer on an RGB image shows the image and the colour kernel."""
    layer, prefix = kernel_layer(ins, layer)
    info = ins.layer(layer)
    op = ins.plan.resolve(layer).op
    if not _conv_layer(op):
        raise NotSupportedError(f"kernel responses are for convolution layers; {info.name} is {info.kind}")
    response = ins.kernel_response(layer, kernel, image, input_channel=input_channel)
    weights = conv_kernel(ins, layer)
    first = is_first_conv_on_image(ins, layer)
    response_legend = legends.choose(response, "response before activation", signed=True, note="white = 0")
    if response.ndim == 1:  # Conv1D: draw signals as strips
        layer_in = ins.layer_input(layer, image)[0]
        in_legend = legends.choose(layer_in, f"input to {info.name}")
        kern_values = weights[:, :, kernel].T
        kern_legend = legends.choose(kern_values, "weight", signed=True, note="white = 0")
        left = _enlarge(in_legend.colorize(layer_in.T), 96)
        kern = _enlarge(kern_legend.colorize(kern_values), 96)
        right = render.upscale_nearest(response_legend.colorize(response[None, :]), 8)
        return {
            "input": Picture(left, [], f"input to {info.name} (rows: channels)", legend=in_legend,
                             readout=[whole(left, layer_in.T)]),
            "kernel": Picture(kern, [], f"kernel {kernel}", legend=kern_legend, readout=[whole(kern, kern_values)]),
            "response": Picture(right, [], f"response: min {response.min():+.3f}, max {response.max():+.3f}",
                                legend=response_legend, readout=[whole(right, response)]),
        }
    c = input_channel if input_channel is not None else (shown_channel or 0)
    whole_image = first and input_channel is None and (weights.shape[2] in (1, 3) or shown_channel is None)
    in_legend, in_values, in_parts = None, None, None
    if whole_image:
        left = render.display_image(raw_input_of(ins, layer, image))
        left_label = "image"
        layer_in = ins.layer_input(layer, image)[0]  # what the layer receives, per pixel
        if layer_in.shape[-1] == 3:
            in_values, in_parts = layer_in, RGB
        elif layer_in.shape[-1] == 1:
            in_values = layer_in[..., 0]
    else:
        in_values = ins.layer_input(layer, image)[0][..., c]
        in_legend = legends.choose(in_values, f"input channel {c} of {info.name}")
        if not in_legend.signed:
            in_legend = dataclasses.replace(in_legend, cmap="gray")
        left = in_legend.colorize(in_values)
        left_label = f"input channel {c} of {info.name}"
    if isinstance(op, keras.layers.DepthwiseConv2D):
        c, m = divmod(int(kernel), weights.shape[-1])
        kern_values = weights[:, :, c, m]
    elif weights.shape[2] == 3 and whole_image:
        kern_values = None
        kern_readout = weights[:, :, :, kernel]  # R, G, B weights per cell
        kern_tile = render.kernel_tiles(weights, mode="rgb")[kernel]
        kern_legend = _weight_legend(render.filters.symmetric_scale(weights), "rgb")
    else:
        kern_values = weights[:, :, c, kernel]
    if kern_values is not None:
        kern_legend = legends.choose(kern_values, "weight", signed=True, note="white = 0")
        kern_tile = kern_legend.colorize(kern_values)
    right = response_legend.colorize(response)
    what = "contribution of input channel %d" % input_channel if input_channel is not None else "response + bias"
    size = max(left.shape[0], 224)  # all three panels drawn at the same size
    left, kern_tile, right = _enlarge(left, size), _enlarge(kern_tile, size), _enlarge(right, size)
    return {
        "input": Picture(left, [], prefix + left_label, legend=in_legend,
                         readout=[whole(left, in_values, f"input to {info.name}", in_parts)]
                         if in_values is not None else []),
        "kernel": Picture(kern_tile, [], f"kernel {kernel}", legend=kern_legend,
                          readout=[whole(kern_tile, kern_values)] if kern_values is not None
                          else [whole(kern_tile, kern_readout, f"kernel {kernel}", RGB)]),
        "response": Picture(
            right, [],
            f"{what} (before activation): min {response.min():+.3f}, max {response.max():+.3f}; red +, blue −",
            legend=response_legend, readout=[whole(right, response)],
        ),
    }


# ------------------------------------------------------------ activation grid
UNITS_PER_ROW = 64  # 1-D outputs (Dense units) are drawn as a grid this wide
GRID_TILE_MAX_PX = 64  # tiles of larger maps are shrunk in the grid (the enlarged view keeps full size)


def activation_pages(ins, layer):
    n = channel_count(ins, layer)
    info = ins.layer(layer)
    return max(1, -(-n // PAGE_SIZE)) if len(info.output_shape) >= 4 else 1


def activation_grid(ins, layer, image, shared_scale=True, page=0):
    """Every channel of ``layer`` for ``image`` as one picture with a hover/click region
    per channel (id = channel index). Layers with more than PAGE_SIZE channels are
    shown one page at a time; 2-D (sequence) outputs show channels as rows and
    1-D outputs one cell per unit."""
    info = ins.layer(layer)
    acts = ins.activations(layer, image)[0]
    if acts.ndim == 0:
        raise NotSupportedError(f"{info.name} outputs a scalar")
    if acts.ndim == 1:  # Dense-like: one value per unit, laid out in rows of UNITS_PER_ROW
        n = acts.shape[0]
        cols = min(n, UNITS_PER_ROW)
        rows = -(-n // cols)
        cell = max(4, min(24, 768 // cols))
        values = np.full(rows * cols, np.nan, np.float32)
        values[:n] = acts
        legend = legends.choose(acts, "activation")
        colours = legend.colorize(values)
        colours[n:] = 255
        picture = render.upscale_nearest(colours.reshape(rows, cols, 3), cell)
        regions = [
            {"id": i, "x": (i % cols) * cell, "y": (i // cols) * cell, "w": cell, "h": cell, "title": f"unit {i}: {acts[i]:+.4f}"}
            for i in range(n)
        ] if n <= 4096 else []
        return Picture(picture, regions, f"{info.name}: {n} units (min {acts.min():+.3f}, max {acts.max():+.3f}); click a unit",
                       legend=legend, readout=[whole(picture, values.reshape(rows, cols))])
    if acts.ndim == 2:  # sequence (T, C): rows are channels
        T, n = acts.shape
        sy = max(2, min(16, 512 // max(n, 1)))
        sx = max(1, min(16, 640 // max(T, 1)))
        legend = legends.choose(acts, "activation")
        heat = legend.colorize(acts.T)
        big = np.repeat(np.repeat(heat, sy, axis=0), sx, axis=1)
        regions = [
            {"id": i, "x": 0, "y": i * sy, "w": T * sx, "h": sy,
             "title": f"channel {i}: min {acts[:, i].min():+.3f}, max {acts[:, i].max():+.3f}"}
            for i in range(n)
        ]
        return Picture(big, regions, f"{info.name}: {n} channels × {T} steps (rows are channels); click a row",
                       legend=legend, readout=[whole(big, acts.T)])
    maps = acts.reshape(acts.shape[:2] + (-1,)) if acts.ndim > 3 else acts
    n = maps.shape[-1]
    pages = -(-n // PAGE_SIZE)
    page = check_index(page, pages, "page")
    first, last = page * PAGE_SIZE, min(n, (page + 1) * PAGE_SIZE)
    lows, highs = maps.min(axis=(0, 1)), maps.max(axis=(0, 1))
    chunk = maps[..., first:last]
    full = np.moveaxis(chunk, -1, 0)
    factor = -(-max(chunk.shape[:2]) // GRID_TILE_MAX_PX)
    if factor > 1:  # shrink big maps by block averages before colouring (the enlarged view keeps full size)
        h, w = (chunk.shape[0] // factor) * factor, (chunk.shape[1] // factor) * factor
        chunk = chunk[:h, :w].reshape(h // factor, factor, w // factor, factor, -1).mean(axis=(1, 3))
    chunk = np.moveaxis(chunk, -1, 0)  # (n_page, h, w)
    signed = bool(lows.min() < 0)  # one palette for the whole layer
    if shared_scale:
        legend = legends.choose(maps, "activation", signed=signed, bounds=(lows.min(), highs.max()), note="shared scale")
        tiles = legend.colorize(chunk)
    else:
        tiles = np.stack([legends.choose(t, "activation", signed=signed, bounds=(lows[first + i], highs[first + i]))
                          .colorize(t) for i, t in enumerate(chunk)])
        legend = legends.choose(maps, "activation", signed=signed, note="per-tile scale: each tile spans its own range")
        legend = dataclasses.replace(legend, relative=True)
    if factor == 1:
        tiles = np.stack([_enlarge(t) for t in tiles])
    grid = render.mosaic(tiles, pad=2)
    # the readout shows the layer's own values (shrunk tiles only when the page is large)
    values = full if full.size <= READOUT_MAX_VALUES else chunk
    readout = [patch(box, values[i], f"channel {first + i}") for i, box in enumerate(grid.boxes)]
    regions = [
        {"id": first + i, "x": x, "y": y, "w": w, "h": h,
         "title": f"channel {first + i}: min {lows[first + i]:+.3f}, max {highs[first + i]:+.3f}"}
        for i, (x, y, w, h) in enumerate(grid.boxes)
    ]
    scale_text = "shared colour scale" if shared_scale else "per-tile colour scale"
    page_text = f", page {page + 1}/{pages} (channels {first}–{last - 1})" if pages > 1 else ""
    return Picture(grid.image, regions,
                   f"{info.name}: {n} channel{'s' if n != 1 else ''} of {maps.shape[0]}×{maps.shape[1]}, "
                   f"{scale_text}{page_text}; click a tile",
                   legend=legend, readout=readout)


def activation_channel(ins, layer, image, channel, shared_scale=False):
    """The selected channel of ``layer`` for ``image``, enlarged; coloured over its own
    range, or over the whole layer's with ``shared_scale`` (as the grid is)."""
    acts = ins.activations(layer, image)[0]
    signed = bool(np.min(acts) < 0)
    bounds = (float(np.min(acts)), float(np.max(acts))) if shared_scale else None
    note = "shared scale" if shared_scale else ""
    if acts.ndim == 1:
        c = check_index(channel, acts.shape[0], "unit")
        legend = legends.choose(acts, "activation", signed=signed)
        cell = render.upscale_nearest(legend.colorize(np.array([[acts[c]]])), 48)
        return Picture(cell, [], f"unit {c}: {acts[c]:+.4f}", legend=legend, readout=[whole(cell, [[acts[c]]], f"unit {c}")])
    if acts.ndim == 2:
        c = check_index(channel, acts.shape[1], "channel")
        legend = legends.choose(acts[:, c], "activation", signed=signed, bounds=bounds, note=note)
        line = render.upscale_nearest(legend.colorize(acts[:, c][None, :]), 8)
        return Picture(line, [], f"channel {c} along the sequence: min {acts[:, c].min():+.3f}, max {acts[:, c].max():+.3f}",
                       legend=legend, readout=[whole(line, acts[:, c], f"channel {c}")])
    maps = acts.reshape(acts.shape[:2] + (-1,)) if acts.ndim > 3 else acts
    c = check_index(channel, maps.shape[-1], "channel")
    legend = legends.choose(maps[..., c], "activation", signed=signed, bounds=bounds, note=note)
    big = _enlarge(legend.colorize(maps[..., c]), 224)
    return Picture(big, [], f"channel {c}: min {maps[..., c].min():+.3f}, max {maps[..., c].max():+.3f}",
                   legend=legend, readout=[whole(big, maps[..., c], f"channel {c}")])


# ------------------------------------------------------------------- saliency
def output_shape(ins, output=0):
    """The shape of output number ``output`` per example, e.g. ``(10,)`` or ``(None, None, 5)``."""
    outputs = ins.model.outputs
    return tuple(outputs[output].shape[1:]) if outputs else ()


def is_spatial_output(ins, output=0):
    """Whether output ``output`` holds a map of positions (segmentation, detection heads,
    fully convolutional classifiers) rather than one score per class."""
    return len(output_shape(ins, output)) >= 2


def class_count(ins, output=0):
    """Classes the Target control lists for output ``output``: its last axis (the class
    channels of a spatial output), 0 when unknown."""
    shape = output_shape(ins, output)
    if not shape or shape[-1] is None:
        return 0
    if len(shape) == 1 or is_spatial_output(ins, output):
        return int(shape[-1])
    return 0


def top_classes(ins, image, k=5, class_names=None, output=0):
    """(indices, scores, names, is_probability) of the k best classes (or units) of output
    ``output`` for one image; a spatial output scores each class channel by its mean over
    the output positions."""
    out = np.asarray(ins.predict(image, output)[0], dtype=np.float64)
    if out.ndim >= 2:
        out = out.reshape(-1, out.shape[-1]).mean(axis=0)
    out = out.reshape(-1)
    k = min(k, out.shape[0])
    order = np.argsort(-out)[:k]
    probabilities = bool(np.all(out >= 0) and abs(out.sum() - 1.0) < 1e-3)
    names = [str(class_names[i]) if class_names is not None and i < len(class_names) else str(i) for i in order]
    return order.tolist(), out[order].tolist(), names, probabilities


def attribution_legend(heat, target=None, signed=None, magnitude=True):
    """The legend of an attribution map: "attribution to class 3", and whether it
    shows a sign (diverging, white = 0) or not (sequential): a magnitude, or with
    ``magnitude=False`` a quantity that is non-negative by construction."""
    what = "attribution" + (f" to class {target}" if target is not None else "")
    legend = legends.choose(heat, what, signed=signed)
    if legend.signed:
        note = "signed: red for, blue against; white = 0"
    else:
        note = "magnitude |·|, no sign" if magnitude else "non-negative"
    return dataclasses.replace(legend, note=note)


def saliency_view(heat, image, opacity=0.5, is_sequence=False, tokens=None, legend=None):
    """The attribution map over the image (or, for sequences, a strip plus highlighted
    tokens as HTML), coloured through ``legend`` (default: :func:`attribution_legend`)."""
    heat = np.asarray(heat, np.float32)
    legend = legend or attribution_legend(heat)
    if is_sequence:
        strip = render.upscale_nearest(legend.colorize(heat[None, :]), 12)
        html_text = token_html(heat, tokens)
        return {"overlay": Picture(strip, [], "attribution per token", legend=legend, readout=[whole(strip, heat)]),
                "html": html_text}
    picture = render.overlay(image, heat, alpha=opacity, legend=legend)
    size = max(picture.shape[:2])
    picture = _enlarge(picture, min(max(size, 224), 448))
    return {"overlay": Picture(picture, [], "", legend=legend, readout=[whole(picture, heat)]), "heat": heat}


def token_html(scores, tokens=None):
    """Tokens as text with a background whose strength follows their score (escaped: tokens are user data)."""
    scores = np.asarray(scores, np.float32)
    peak = float(np.max(np.abs(scores))) or 1.0
    if tokens is None:
        tokens = [str(i) for i in range(len(scores))]
    spans = []
    for token, score in zip(tokens, scores):
        a = min(1.0, abs(float(score)) / peak)
        colour = f"rgba(220,40,40,{a:.2f})" if score >= 0 else f"rgba(40,80,220,{a:.2f})"
        spans.append(f'<span title="{float(score):+.4f}" style="background:{colour};padding:1px 2px;margin:1px">{html.escape(str(token))}</span>')
    return '<div class="nbinterp-tokens" style="line-height:1.9">' + " ".join(spans) + "</div>"



# ----------------------------------------------------------------- unit views
def _pad_to(tiles, fill=255):
    """Pad uint8 tiles of different sizes to the largest (top-left aligned)."""
    height = max(t.shape[0] for t in tiles)
    width = max(t.shape[1] for t in tiles)
    channels = tiles[0].shape[2:] if tiles[0].ndim == 3 else ()
    out = np.full((len(tiles), height, width) + channels, fill, np.uint8)
    for i, t in enumerate(tiles):
        out[i, : t.shape[0], : t.shape[1]] = t
    return out


def _as_rgb(tile):
    return np.repeat(tile[..., None], 3, axis=-1) if tile.ndim == 2 else tile[..., :3]


def _tile_regions(boxes, titles):
    return [{"id": i, "x": x, "y": y, "w": w, "h": h, "title": t} for i, ((x, y, w, h), t) in enumerate(zip(boxes, titles))]


PATCH_GROUND = 96  # the grey around receptive-field patches


def _input_values(array):
    """(values, parts, cmap, (lo, hi)) of one raw example as :func:`display_image_tile`
    draws it: the values under its pixels for the readout (``parts`` "R", "G", "B"
    for a colour image), and for a single-channel picture the palette and the
    values drawn at its two ends (``cmap`` None for a colour image)."""
    array = np.asarray(array)
    if array.ndim == 1 or (array.ndim == 2 and array.shape[-1] > 4 and array.dtype.kind in "iu"):
        flat = array.reshape(1, -1).astype(np.float32)
        return flat, None, "viridis", (float(np.nanmin(flat)), float(np.nanmax(flat)))
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        return array.astype(np.float32), RGB + ("A",) * (array.shape[-1] == 4), None, None
    if array.ndim == 3:  # one channel, or the first of several (as drawn)
        array = array[..., 0]
    return array.astype(np.float32), None, "gray", render.images.display_range(array)


def _tile_legend(what, scales, note=""):
    """One legend for tiles drawn at ``scales`` = [(cmap, (lo, hi))]: their common
    range, or a per-tile ("relative") legend when the ranges differ; None for colour pictures."""
    if not scales or any(cmap is None for cmap, _ in scales):
        return None
    cmap, (lo, hi) = scales[0]
    if all(scale == scales[0] for scale in scales):
        return Legend(what, lo, hi, cmap, False, note)
    lows, highs = [r[0] for _, r in scales], [r[1] for _, r in scales]
    extra = "per-tile scale: each tile spans its own range"
    return Legend(what, min(lows), max(highs), cmap, False, f"{note}; {extra}" if note else extra, relative=True)


def _input_readout(tiles, boxes, examples, names):
    """Readout patches of input tiles (each tile drawn top-left in its box), if they fit the budget."""
    patches = []
    for tile, (x, y, _, _), values, name in zip(tiles, boxes, examples, names):
        values, parts = _input_values(values)[:2]
        patches.append(patch((x, y, tile.shape[1], tile.shape[0]), values, name, parts))
    return patches if sum(p["values"].size for p in patches) <= READOUT_MAX_VALUES else []


def top_images_view(result, reconstructions, method="deconvnet"):
    """Pictures for a TopActivations result: the images (receptive field outlined in
    the patches), their receptive-field patches, and the reconstructions
    (projections of the unit back to pixels by ``method``; signed, so drawn on the
    diverging palette at each tile's own ``±max|r|``, white = 0, or for colour
    inputs as a colour per channel, mid-grey = 0). Each picture has a per-pixel
    readout of its values (the raw input, the reconstruction)."""
    if len(result) == 0:
        raise NotSupportedError("no examples to rank")
    titles = [f"example {int(i)}: score {float(s):+.3f}" for i, s in zip(result.indices, result.scores)]
    names = [f"example {int(i)}" for i in result.indices]
    images = np.stack([_as_rgb(display_image_tile(im)) for im in result.images])
    images = np.stack([_enlarge(t, 56) for t in images])
    grid = render.mosaic(images, cols=3, pad=2)
    # patches are often all stroke or all background: on a grey ground, so white ones still show
    patch_list = [_enlarge(_as_rgb(display_image_tile(p)), 56) for p in result.patches]
    patches = render.mosaic(_pad_to(patch_list, fill=PATCH_GROUND), cols=3, pad=2, pad_value=PATCH_GROUND)
    patch_boxes = [(x, y, t.shape[1], t.shape[0]) for (x, y, _, _), t in zip(patches.boxes, patch_list)]
    input_legend = _tile_legend("input value", [_input_values(im)[2:] for im in result.images])
    patch_legend = _tile_legend("input value", [_input_values(p)[2:] for p in result.patches])
    recon_tiles, recon_values, bounds, colour = [], [], [], False
    for r, box in zip(reconstructions, result.boxes):
        r = np.asarray(r, np.float32)
        if r.ndim >= 2 and len(box) == 4:  # the same crop as the patch: the unit's receptive field
            top, left, bottom, right = (int(v) for v in box)
            r = r[top:bottom, left:right]
        elif len(box) == 2:
            r = r[int(box[0]):int(box[1])]
        if r.ndim == 1:
            r = r[None, :]
        elif r.ndim == 3 and r.shape[-1] != 3:  # one channel, or several summed
            r = r.sum(axis=-1)
        colour = r.ndim == 3
        bound = render.filters.symmetric_scale(r)  # each tile at its own ±max|r|
        bounds.append(bound)
        if colour:
            tile = np.round(render.to_unit(np.nan_to_num(r), vmax=bound, symmetric=True) * 255).astype(np.uint8)
        else:
            tile = Legend("", -bound, bound, DIVERGING_CMAP, True).colorize(r)
        recon_tiles.append(_enlarge(_as_rgb(tile), 56))
        recon_values.append(r)
    recons = render.mosaic(_pad_to(recon_tiles), cols=3, pad=2)
    recon_readout = [patch((x, y, t.shape[1], t.shape[0]), v, name, RGB if colour else None)
                     for t, (x, y, _, _), v, name in zip(recon_tiles, recons.boxes, recon_values, names)]
    note = "per colour channel R, G, B; per-tile scale; mid-grey = 0" if colour else "per-tile scale; white = 0"
    recon_legend = Legend(f"reconstruction ({method})", -max(bounds), max(bounds), "gray" if colour else DIVERGING_CMAP,
                          True, note, relative=True)
    what = f"{result.layer}, channel {result.channel}: top {len(result)} of {result.seen} examples"
    zero = "mid-grey = 0" if colour else "white = 0"
    return {
        "images": Picture(grid.image, _tile_regions(grid.boxes, titles), what, legend=input_legend,
                          readout=_input_readout(images, grid.boxes, result.images, names)),
        "patches": Picture(patches.image, _tile_regions(patch_boxes, titles),
                           "receptive-field patches of the strongest position (on grey)",
                           legend=patch_legend, readout=_input_readout(patch_list, patch_boxes, result.patches, names)),
        "reconstructions": Picture(recons.image, _tile_regions(recons.boxes, titles),
                                   f"{method} reconstructions of the same patches ({zero})",
                                   legend=recon_legend, readout=recon_readout),
    }


def display_image_tile(image):
    """A raw example (image or 1-D signal) as a uint8 picture."""
    array = np.asarray(image)
    if array.ndim == 1 or (array.ndim == 2 and array.shape[-1] > 4 and array.dtype.kind in "iu"):
        return render.colorize(array.reshape(1, -1).astype(np.float32), "viridis")
    return render.display_image(array)


FRAME_GREY = 128  # the frame around a maximised image, so a pale or uniform result still shows


def maximize_view(result, label):
    """The image a unit 'wants' (from nbinterp.maximize), framed, contrast-stretched over
    its own pixel range, with that range and the objective curve in the caption."""
    raw = np.asarray(result.image, np.float32)
    lo, hi = float(np.min(raw)), float(np.max(raw))
    if hi > lo:
        tile = np.round((raw - lo) / (hi - lo) * 255).astype(np.uint8)
        shown = f"pixels {lo:.3g} … {hi:.3g} stretched to black … white"
    else:
        tile = render.display_image(raw)
        shown = f"every pixel ended at {lo:.3g} (a uniform image: the unit wants brightness, not a pattern)"
    picture = _enlarge(_as_rgb(render.display_image(tile)), 224)
    framed = np.full((picture.shape[0] + 4, picture.shape[1] + 4, 3), FRAME_GREY, np.uint8)
    framed[2:-2, 2:-2] = picture
    curve = result.objective
    text = f"{label}: objective {float(curve[0]):+.3f} → {float(curve[-1]):+.3f} in {result.steps_done} steps" if len(curve) else label
    colour = raw.ndim == 3 and raw.shape[-1] in (3, 4)
    legend = Legend("input pixel", lo, hi if hi > lo else lo + 1.0, "gray", False,
                    "each colour channel stretched alike" if colour else "stretched over its own range")
    readout = [] if colour else [patch((2, 2, picture.shape[1], picture.shape[0]), raw.reshape(raw.shape[:2]), "pixel")]
    return Picture(framed, [], f"{text}; {shown}", legend=legend, readout=readout)
