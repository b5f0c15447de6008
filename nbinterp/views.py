"""What each Explorer view shows, computed from the backend and rendered to uint8.

Each function takes an Inspector plus the current selection and returns
``Picture`` objects (image + hover regions + caption). The widgets only copy
these onto canvases, so tests can compare a view with a fresh computation
without a browser.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import keras
import numpy as np

from . import render
from .render.filters import kernel_bank
from .errors import NoKernelError, NotSupportedError, check_index

TILE_TARGET_PX = 48  # activation tiles are enlarged (nearest) to at least this size
PAGE_SIZE = 64  # channels per activation-grid page
CELL_PX = 24  # size of one kernel weight in the enlarged kernel view


@dataclass
class Picture:
    image: np.ndarray  # uint8 (H, W) or (H, W, 3)
    regions: list = field(default_factory=list)
    label: str = ""
    highlight: object = None

    @property
    def nbytes(self):
        return self.image.nbytes


def _conv_layer(op):
    return isinstance(op, (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.DepthwiseConv2D))


def has_kernel_response(ins, layer):
    """Whether ``layer`` is a convolution whose kernels have responses to show."""
    return _conv_layer(getattr(ins.plan.resolve(layer), "op", None))


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
    """Input channels of a kernel layer (for the per-input-channel controls), else 0."""
    info = ins.layer(layer)
    if not info.has_kernel:
        return 0
    shape = ins.kernel_shape(layer)
    return int(shape[-2]) if len(shape) >= 3 else 0


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
    weights = ins.kernels(layer)
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


def filters_grid(ins, layer, input_channel=0):
    """All kernels of ``layer`` as tiles, one hover/click region per kernel (id = index)."""
    info = ins.layer(layer)
    if not info.has_kernel:
        raise NoKernelError(f"{info.name} ({info.kind}) has no weights to show as filters")
    if len(ins.kernel_shape(layer)) == 2:
        return _dense_filters_view(ins, layer, ins.kernels(layer), 0, input_channel)["grid"]
    how, weights, _ = _filter_tiles(ins, layer, input_channel)
    grid = kernel_bank(weights, **how)
    regions = [
        {"id": i, "x": x, "y": y, "w": w, "h": h, "title": f"kernel {i}"}
        for i, (x, y, w, h) in enumerate(grid.boxes)
    ]
    lo, hi = float(np.min(weights)), float(np.max(weights))
    return Picture(grid.image, regions,
                   f"{info.name}: {grid.total} kernels of {tuple(weights.shape[:-1])}, weights {lo:+.3f} … {hi:+.3f}; click one")


def filter_selected(ins, layer, kernel=0, input_channel=0):
    """The selected kernel enlarged, each weight hoverable."""
    info = ins.layer(layer)
    if not info.has_kernel:
        raise NoKernelError(f"{info.name} ({info.kind}) has no weights to show as filters")
    if len(ins.kernel_shape(layer)) == 2:
        return _dense_filters_view(ins, layer, ins.kernels(layer), kernel, input_channel)["selected"]
    how, weights, describe = _filter_tiles(ins, layer, input_channel)
    tiles = render.kernel_tiles(weights, **how)
    k = check_index(kernel, tiles.shape[0], "kernel")
    values, what = describe(k)
    return Picture(render.upscale_nearest(tiles[k], CELL_PX), render.kernel_cells(values, CELL_PX),
                   f"{what}; hover a cell for its weight")


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
        tiles = render.colorize(maps[: min(n_out, PAGE_SIZE * 4)], "RdBu_r", symmetric=True)
        grid = render.mosaic(np.stack([_enlarge(t, 24) for t in tiles]), pad=2)
        regions = [
            {"id": i, "x": x, "y": y, "w": w, "h": h, "title": f"unit {i}"}
            for i, (x, y, w, h) in enumerate(grid.boxes)
        ]
        big = _enlarge(render.colorize(maps[k], "RdBu_r", symmetric=True), 224)
        return {
            "grid": Picture(grid.image, regions, f"{ins.layer(layer).name}: incoming weights of each unit as a {shape[:2]} image", k),
            "selected": Picture(big, [], f"unit {k}: weights from each input position (red +, blue −)"),
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
    return {
        "grid": Picture(image, rows, f"{ins.layer(layer).name}: weight matrix, rows = {n_out} units, "
                                     f"columns = {n_in} inputs{averaged}", k),
        "selected": Picture(_vector_square(weights[:, k], bound), [],
                            f"unit {k}: its {n_in} incoming weights, row by row (red +, blue −)"),
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
    info = ins.layer(layer)
    op = ins.plan.resolve(layer).op
    if not _conv_layer(op):
        raise NotSupportedError(f"kernel responses are for convolution layers; {info.name} is {info.kind}")
    response = ins.kernel_response(layer, kernel, image, input_channel=input_channel)
    weights = ins.kernels(layer)
    first = is_first_conv_on_image(ins, layer)
    if response.ndim == 1:  # Conv1D: draw signals as strips
        layer_in = ins.layer_input(layer, image)[0]
        left = render.colorize(layer_in.T, "viridis")
        kern = render.colorize(weights[:, :, kernel].T, "RdBu_r", symmetric=True)
        right = render.colorize(response[None, :], "RdBu_r", symmetric=True)
        return {
            "input": Picture(_enlarge(left, 96), [], f"input to {info.name} (rows: channels)"),
            "kernel": Picture(_enlarge(kern, 96), [], f"kernel {kernel}"),
            "response": Picture(render.upscale_nearest(right, 8), [], f"response: min {response.min():+.3f}, max {response.max():+.3f}"),
        }
    c = input_channel if input_channel is not None else (shown_channel or 0)
    whole_image = first and input_channel is None and (weights.shape[2] in (1, 3) or shown_channel is None)
    if whole_image:
        left = render.display_image(raw_input_of(ins, layer, image))
        left_label = "image"
    else:
        layer_in = ins.layer_input(layer, image)[0]
        left = render.colorize(layer_in[..., c], "gray")
        left_label = f"input channel {c} of {info.name}"
    if isinstance(op, keras.layers.DepthwiseConv2D):
        c, m = divmod(int(kernel), weights.shape[-1])
        kern_tile = render.colorize(weights[:, :, c, m], "RdBu_r", symmetric=True)
    elif weights.shape[2] == 3 and whole_image:
        kern_tile = render.kernel_tiles(weights, mode="rgb")[kernel]
    else:
        kern_tile = render.colorize(weights[:, :, c, kernel], "RdBu_r", symmetric=True)
    right = render.colorize(response, "RdBu_r", symmetric=True)
    what = "contribution of input channel %d" % input_channel if input_channel is not None else "response + bias"
    size = max(left.shape[0], 224)  # all three panels drawn at the same size
    return {
        "input": Picture(_enlarge(left, size), [], left_label),
        "kernel": Picture(_enlarge(kern_tile, size), [], f"kernel {kernel}"),
        "response": Picture(
            _enlarge(right, size), [],
            f"{what} (before activation): min {response.min():+.3f}, max {response.max():+.3f}; red +, blue −",
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
        colours = render.colorize(values, "viridis", vmin=float(acts.min()), vmax=float(acts.max()))
        colours[n:] = 255
        picture = render.upscale_nearest(colours.reshape(rows, cols, 3), cell)
        regions = [
            {"id": i, "x": (i % cols) * cell, "y": (i // cols) * cell, "w": cell, "h": cell, "title": f"unit {i}: {acts[i]:+.4f}"}
            for i in range(n)
        ] if n <= 4096 else []
        return Picture(picture, regions, f"{info.name}: {n} units (min {acts.min():+.3f}, max {acts.max():+.3f}); click a unit")
    if acts.ndim == 2:  # sequence (T, C): rows are channels
        T, n = acts.shape
        sy = max(2, min(16, 512 // max(n, 1)))
        sx = max(1, min(16, 640 // max(T, 1)))
        heat = render.colorize(acts.T, "viridis")
        big = np.repeat(np.repeat(heat, sy, axis=0), sx, axis=1)
        regions = [
            {"id": i, "x": 0, "y": i * sy, "w": T * sx, "h": sy,
             "title": f"channel {i}: min {acts[:, i].min():+.3f}, max {acts[:, i].max():+.3f}"}
            for i in range(n)
        ]
        return Picture(big, regions, f"{info.name}: {n} channels × {T} steps (rows are channels); click a row")
    maps = acts.reshape(acts.shape[:2] + (-1,)) if acts.ndim > 3 else acts
    n = maps.shape[-1]
    pages = -(-n // PAGE_SIZE)
    page = check_index(page, pages, "page")
    first, last = page * PAGE_SIZE, min(n, (page + 1) * PAGE_SIZE)
    lows, highs = maps.min(axis=(0, 1)), maps.max(axis=(0, 1))
    chunk = maps[..., first:last]
    factor = -(-max(chunk.shape[:2]) // GRID_TILE_MAX_PX)
    if factor > 1:  # shrink big maps by block averages before colouring (the enlarged view keeps full size)
        h, w = (chunk.shape[0] // factor) * factor, (chunk.shape[1] // factor) * factor
        chunk = chunk[:h, :w].reshape(h // factor, factor, w // factor, factor, -1).mean(axis=(1, 3))
    chunk = np.moveaxis(chunk, -1, 0)  # (n_page, h, w)
    if shared_scale:
        tiles = render.colorize(chunk, "viridis", vmin=float(lows.min()), vmax=float(highs.max()))
    else:
        tiles = np.stack([render.colorize(t, "viridis", vmin=lows[first + i], vmax=highs[first + i])
                          for i, t in enumerate(chunk)])
    if factor == 1:
        tiles = np.stack([_enlarge(t) for t in tiles])
    grid = render.mosaic(tiles, pad=2)
    regions = [
        {"id": first + i, "x": x, "y": y, "w": w, "h": h,
         "title": f"channel {first + i}: min {lows[first + i]:+.3f}, max {highs[first + i]:+.3f}"}
        for i, (x, y, w, h) in enumerate(grid.boxes)
    ]
    scale_text = "shared colour scale" if shared_scale else "per-tile colour scale"
    page_text = f", page {page + 1}/{pages} (channels {first}–{last - 1})" if pages > 1 else ""
    return Picture(grid.image, regions,
                   f"{info.name}: {n} channels of {maps.shape[0]}×{maps.shape[1]}, {scale_text}{page_text}; click a tile")


def activation_channel(ins, layer, image, channel):
    """The selected channel of ``layer`` for ``image``, enlarged."""
    acts = ins.activations(layer, image)[0]
    if acts.ndim == 1:
        c = check_index(channel, acts.shape[0], "unit")
        cell = render.colorize(np.array([[acts[c]]]), "viridis", vmin=acts.min(), vmax=acts.max())
        return Picture(render.upscale_nearest(cell, 48), [], f"unit {c}: {acts[c]:+.4f}")
    if acts.ndim == 2:
        c = check_index(channel, acts.shape[1], "channel")
        line = render.colorize(acts[:, c][None, :], "viridis")
        return Picture(render.upscale_nearest(line, 8), [], f"channel {c} along the sequence: min {acts[:, c].min():+.3f}, max {acts[:, c].max():+.3f}")
    maps = acts.reshape(acts.shape[:2] + (-1,)) if acts.ndim > 3 else acts
    c = check_index(channel, maps.shape[-1], "channel")
    big = render.colorize(maps[..., c], "viridis")
    return Picture(_enlarge(big, 224), [], f"channel {c}: min {maps[..., c].min():+.3f}, max {maps[..., c].max():+.3f}")


# ------------------------------------------------------------------- saliency
def top_classes(ins, image, k=5, class_names=None, output=0):
    """(indices, scores, names, is_probability) of the k best classes (or units) of output
    ``output`` for one image."""
    out = np.asarray(ins.predict(image, output)[0], dtype=np.float64).reshape(-1)
    k = min(k, out.shape[0])
    order = np.argsort(-out)[:k]
    probabilities = bool(np.all(out >= 0) and abs(out.sum() - 1.0) < 1e-3)
    names = [str(class_names[i]) if class_names is not None and i < len(class_names) else str(i) for i in order]
    return order.tolist(), out[order].tolist(), names, probabilities


def saliency_view(heat, image, opacity=0.5, is_sequence=False, tokens=None):
    """The attribution map over the image (or, for sequences, a strip plus highlighted tokens as HTML)."""
    heat = np.asarray(heat, np.float32)
    if is_sequence:
        strip = render.colorize(heat[None, :], "magma")
        html_text = token_html(heat, tokens)
        return {"overlay": Picture(render.upscale_nearest(strip, 12), [], "attribution per token"), "html": html_text}
    picture = render.overlay(image, heat, alpha=opacity, cmap="jet")
    size = max(picture.shape[:2])
    return {"overlay": Picture(_enlarge(picture, min(max(size, 224), 448)), [], ""), "heat": heat}


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


def top_images_view(result, reconstructions):
    """Pictures for a TopActivations result: the images (receptive field outlined in
    the patches), their receptive-field patches, and the reconstructions
    (projections of the unit back to pixels, grey = 0)."""
    if len(result) == 0:
        raise NotSupportedError("no examples to rank")
    titles = [f"example {int(i)}: score {float(s):+.3f}" for i, s in zip(result.indices, result.scores)]
    images = np.stack([_as_rgb(display_image_tile(im)) for im in result.images])
    images = np.stack([_enlarge(t, 56) for t in images])
    grid = render.mosaic(images, cols=3, pad=2)
    patch_tiles = _pad_to([_enlarge(_as_rgb(display_image_tile(p)), 56) for p in result.patches])
    patches = render.mosaic(patch_tiles, cols=3, pad=2)
    recon_tiles = []
    for r, box in zip(reconstructions, result.boxes):
        r = np.asarray(r, np.float32)
        if r.ndim >= 2 and len(box) == 4:  # the same crop as the patch: the unit's receptive field
            top, left, bottom, right = (int(v) for v in box)
            r = r[top:bottom, left:right]
        elif len(box) == 2:
            r = r[int(box[0]):int(box[1])]
        field = r if r.ndim == 2 else (r[..., 0] if r.shape[-1] == 1 else r)
        unit = render.to_unit(field, symmetric=True)
        tile = np.round(unit * 255).astype(np.uint8)
        recon_tiles.append(_enlarge(_as_rgb(tile), 56))
    recons = render.mosaic(_pad_to(recon_tiles), cols=3, pad=2)
    what = f"{result.layer}, channel {result.channel}: top {len(result)} of {result.seen} examples"
    return {
        "images": Picture(grid.image, _tile_regions(grid.boxes, titles), what),
        "patches": Picture(patches.image, _tile_regions(patches.boxes, titles), "receptive-field patches of the strongest position"),
        "reconstructions": Picture(recons.image, _tile_regions(recons.boxes, titles),
                                   "deconvnet reconstructions of the same patches (grey = 0)"),
    }


def display_image_tile(image):
    """A raw example (image or 1-D signal) as a uint8 picture."""
    array = np.asarray(image)
    if array.ndim == 1 or (array.ndim == 2 and array.shape[-1] > 4 and array.dtype.kind in "iu"):
        return render.colorize(array.reshape(1, -1).astype(np.float32), "viridis")
    return render.display_image(array)


def maximize_view(result, label):
    """The image a unit 'wants' (from nbinterp.maximize) with its objective curve in the caption."""
    picture = _enlarge(_as_rgb(render.display_image(result.image)), 224)
    curve = result.objective
    text = f"{label}: objective {float(curve[0]):+.3f} → {float(curve[-1]):+.3f} in {result.steps_done} steps" if len(curve) else label
    return Picture(picture, [], text)
