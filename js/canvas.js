// nbinterp image canvas: draws a uint8 image sent from Python as raw bytes.
//
// Loaded by anywidget (ES module, no build step). The Python side is
// nbinterp/widgets/canvas.py (ImageCanvas). The pure helpers are exported so
// they can be tested with `node --test` without a browser.

const ALLOWED_CHANNELS = new Set([1, 3, 4]);

/** View any binary payload (DataView, typed array, ArrayBuffer) as bytes. */
export function asBytes(data) {
  if (data == null) return new Uint8Array(0);
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) {
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw new TypeError(`image data must be binary, got ${typeof data}`);
}

/**
 * Validate an image shape [H, W] or [H, W, C].
 * Returns {height, width, channels}, or null for an empty shape (no image).
 */
export function parseShape(shape) {
  if (shape == null || shape.length === 0) return null;
  if (!Array.isArray(shape) || shape.length < 2 || shape.length > 3) {
    throw new RangeError(`shape must be [H, W] or [H, W, C], got ${JSON.stringify(shape)}`);
  }
  const [height, width] = shape;
  const channels = shape.length === 3 ? shape[2] : 1;
  for (const v of [height, width]) {
    if (!Number.isInteger(v) || v < 0) {
      throw new RangeError(`shape entries must be non-negative integers, got ${JSON.stringify(shape)}`);
    }
  }
  if (!ALLOWED_CHANNELS.has(channels)) {
    throw new RangeError(`channels must be 1, 3 or 4, got ${JSON.stringify(channels)}`);
  }
  return { height, width, channels };
}

/**
 * Convert row-major uint8 bytes of the given shape to RGBA pixels
 * (a Uint8ClampedArray of length H * W * 4, ready for ImageData).
 * Grayscale repeats the value in R, G and B; RGB gets alpha 255.
 */
export function toRGBA(data, shape) {
  const bytes = asBytes(data);
  const parsed = parseShape(shape);
  if (parsed === null) {
    if (bytes.length !== 0) throw new RangeError(`got ${bytes.length} bytes but no shape`);
    return new Uint8ClampedArray(0);
  }
  const { height, width, channels } = parsed;
  const n = height * width;
  if (bytes.length !== n * channels) {
    throw new RangeError(
      `expected ${n * channels} bytes for shape ${JSON.stringify(shape)}, got ${bytes.length}`,
    );
  }
  const out = new Uint8ClampedArray(n * 4);
  if (channels === 4) {
    out.set(bytes);
  } else if (channels === 3) {
    for (let i = 0, j = 0; i < n; i++, j += 3) {
      const k = i * 4;
      out[k] = bytes[j];
      out[k + 1] = bytes[j + 1];
      out[k + 2] = bytes[j + 2];
      out[k + 3] = 255;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const k = i * 4;
      const v = bytes[i];
      out[k] = v;
      out[k + 1] = v;
      out[k + 2] = v;
      out[k + 3] = 255;
    }
  }
  return out;
}

/**
 * Zoom factor for an image `width` pixels wide.
 * scale > 0 is used as given. scale <= 0 (auto) picks the largest integer
 * zoom whose result fits in maxWidth; an image wider than maxWidth is shrunk
 * to fit exactly (a zoom below 1).
 */
export function chooseZoom(width, maxWidth, scale = 0) {
  if (Number.isFinite(scale) && scale > 0) return scale;
  if (!(width > 0) || !(maxWidth > 0)) return 1;
  const fit = maxWidth / width;
  return fit >= 1 ? Math.floor(fit) : fit;
}

/** Canvas size in CSS pixels for an image of width x height at `zoom`. */
export function displaySize(width, height, zoom) {
  return {
    width: Math.max(1, Math.round(width * zoom)),
    height: Math.max(1, Math.round(height * zoom)),
  };
}

/**
 * Map a pointer position to integer image pixel coordinates.
 * `rect` is the canvas bounding rectangle {left, top, width, height}.
 * Returns null when the point lies outside the image.
 */
export function toImageCoords(clientX, clientY, rect, width, height) {
  if (!(rect.width > 0) || !(rect.height > 0)) return null;
  const fx = ((clientX - rect.left) / rect.width) * width;
  const fy = ((clientY - rect.top) / rect.height) * height;
  if (fx < 0 || fy < 0 || fx >= width || fy >= height) return null;
  return { x: Math.floor(fx), y: Math.floor(fy) };
}

/**
 * The region containing image point (x, y), or null.
 * Regions are {id, x, y, w, h, title} in image pixels; a region covers
 * [x, x + w) by [y, y + h). When several overlap, the last one listed
 * (drawn on top) wins.
 */
export function hitTest(regions, x, y) {
  if (!Array.isArray(regions)) return null;
  for (let i = regions.length - 1; i >= 0; i--) {
    const r = regions[i];
    if (r == null) continue;
    const rx = Number(r.x);
    const ry = Number(r.y);
    const rw = Number(r.w);
    const rh = Number(r.h);
    if (!(rw > 0) || !(rh > 0)) continue;
    if (x >= rx && x < rx + rw && y >= ry && y < ry + rh) return r;
  }
  return null;
}

/** The region whose id equals `id` (JSON equality), or null. */
export function findRegion(regions, id) {
  if (id == null || !Array.isArray(regions)) return null;
  const key = JSON.stringify(id);
  for (const r of regions) {
    if (r != null && JSON.stringify(r.id) === key) return r;
  }
  return null;
}

/**
 * Wrap `fn` so that any number of calls in one synchronous burst run it once,
 * at the end of the burst. A message from Python that changes `data` and
 * `shape` together fires both change events back to back; the image is
 * redrawn once for it, with both new values.
 */
export function coalesce(fn, schedule = queueMicrotask) {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    schedule(() => {
      pending = false;
      fn();
    });
  };
}

/** The number a little-endian IEEE 754 half-precision bit pattern stands for. */
export function decodeFloat16(bits) {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/**
 * The readout value at image pixel (x, y), or null where no patch covers it.
 * `readout` is {what, patches: [{x, y, w, h, rows, cols, offset, scale, name}]}:
 * each patch stretches a rows x cols array (row-major float16, from `offset`
 * in `values`, each value times `scale`) over a w x h rectangle of image pixels.
 * Returns {name, col, row, value} with value null for a stored NaN (no value).
 * A patch with `parts` (names of the values of one cell, e.g. ["R", "G", "B"])
 * stores rows x cols x parts.length values; its hit also has `parts`, and
 * `value` is then an array with one entry (or null) per part.
 * When patches overlap, the last one listed wins (as for regions).
 */
export function readoutAt(readout, values, x, y) {
  const patches = readout && Array.isArray(readout.patches) ? readout.patches : [];
  const bytes = asBytes(values);
  for (let i = patches.length - 1; i >= 0; i--) {
    const p = patches[i];
    if (!(p.w > 0) || !(p.h > 0) || x < p.x || y < p.y || x >= p.x + p.w || y >= p.y + p.h) continue;
    const col = Math.min(p.cols - 1, Math.floor(((x - p.x) * p.cols) / p.w));
    const row = Math.min(p.rows - 1, Math.floor(((y - p.y) * p.rows) / p.h));
    const parts = Array.isArray(p.parts) && p.parts.length ? p.parts.map(String) : null;
    const n = parts ? parts.length : 1;
    const start = 2 * (p.offset + (row * p.cols + col) * n);
    if (start + 2 * n - 1 >= bytes.length) return null;
    const cell = [];
    for (let k = 0; k < n; k++) {
      const at = start + 2 * k;
      const raw = decodeFloat16(bytes[at] | (bytes[at + 1] << 8));
      cell.push(Number.isNaN(raw) ? null : raw * (Number(p.scale) || 1));
    }
    if (parts) return { name: p.name || "", col, row, value: cell, parts };
    return { name: p.name || "", col, row, value: cell[0] };
  }
  return null;
}

/** A readout value as text: 4 significant digits, a true minus sign. */
export function formatValue(value) {
  if (value === null || value === undefined) return "no value";
  if (value === 0) return "0";
  if (!Number.isFinite(value)) return String(value);
  const text = Number(value.toPrecision(4)).toString();
  return value > 0 ? `+${text}` : text.replace("-", "\u2212");
}

/**
 * The hover line for a readout hit: "channel 3 · activation at (x, y): +0.1234",
 * or with parts "kernel 0 · weight at (1, 2): R +0.1, G −0.2, B +0.3".
 */
export function readoutText(hit, what) {
  if (!hit) return "";
  const prefix = hit.name ? `${hit.name} · ` : "";
  const value = Array.isArray(hit.value)
    ? hit.value.map((v, k) => `${(hit.parts && hit.parts[k]) || k} ${formatValue(v)}`).join(", ")
    : formatValue(hit.value);
  return `${prefix}${what || "value"} at (${hit.col}, ${hit.row}): ${value}`;
}

function el(tag, className) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  return node;
}

function strokeRegion(ctx, region, zoom, colour, width) {
  // a coloured line with a thin dark edge on both sides, drawn entirely
  // inside the region's pixels
  const outer = width + 2;
  const inset = outer / 2;
  const x = Number(region.x) * zoom + inset;
  const y = Number(region.y) * zoom + inset;
  const w = Number(region.w) * zoom - outer;
  const h = Number(region.h) * zoom - outer;
  if (!(w > 0) || !(h > 0)) {
    // too small on screen for an outline: tint the region instead
    ctx.fillStyle = colour;
    ctx.fillRect(Number(region.x) * zoom, Number(region.y) * zoom, Number(region.w) * zoom, Number(region.h) * zoom);
    return;
  }
  ctx.lineWidth = outer;
  ctx.strokeStyle = "rgba(0, 0, 0, 0.7)";
  ctx.strokeRect(x, y, w, h);
  ctx.lineWidth = width;
  ctx.strokeStyle = colour;
  ctx.strokeRect(x, y, w, h);
}

/**
 * Keep the notebook's keyboard shortcuts away from keys pressed inside an
 * nbinterp widget.
 *
 * Jupyter Notebook 7, unlike JupyterLab, matches its shortcuts while a keydown
 * is still travelling down to the focused element (lumino's capture phase), so
 * command-mode bindings such as ArrowRight ("move to the next heading", whose
 * selector ends in `:focus`) take the key from a focused slider handle,
 * dropdown or tab before that control sees it. Lumino skips any target that
 * carries `data-lm-suppress-shortcuts`: give it to each element that gets focus
 * inside an nbinterp widget. Installed once per document.
 */
export const SHORTCUT_SCOPES = ".nbinterp-explorer, .nbinterp-canvas-root";
export function keepShortcutsOut(doc) {
  if (!doc || typeof doc.addEventListener !== "function" || doc.__nbinterpShortcutsOut) return false;
  doc.__nbinterpShortcutsOut = true;
  doc.addEventListener(
    "focusin",
    (event) => {
      const target = event.target;
      if (!target || typeof target.closest !== "function" || !target.closest(SHORTCUT_SCOPES)) return;
      if (!target.hasAttribute("data-lm-suppress-shortcuts")) {
        target.setAttribute("data-lm-suppress-shortcuts", "true");
      }
    },
    true,
  );
  return true;
}

function render({ model, el: host }) {
  keepShortcutsOut(host.ownerDocument);
  const root = el("div", "nbinterp-canvas-root");
  root.style.display = "inline-flex";
  root.style.flexDirection = "column";
  root.style.alignItems = "flex-start";
  root.style.gap = "4px";

  const stage = el("div", "nbinterp-canvas-stage");
  stage.style.position = "relative";
  stage.style.display = "inline-block";
  stage.style.lineHeight = "0";

  const canvas = el("canvas", "nbinterp-canvas");
  canvas.style.imageRendering = "pixelated";
  canvas.style.display = "block";
  canvas.style.cursor = "crosshair";

  const overlay = el("canvas", "nbinterp-canvas-overlay");
  overlay.style.position = "absolute";
  overlay.style.left = "0";
  overlay.style.top = "0";
  overlay.style.pointerEvents = "none";

  const tooltip = el("div", "nbinterp-canvas-tooltip");
  Object.assign(tooltip.style, {
    position: "absolute",
    display: "none",
    pointerEvents: "none",
    whiteSpace: "pre",
    lineHeight: "1.3",
    font: "12px sans-serif",
    padding: "2px 5px",
    borderRadius: "3px",
    background: "rgba(20, 20, 20, 0.85)",
    color: "#fff",
    zIndex: "10",
  });

  const label = el("div", "nbinterp-canvas-label");
  label.style.font = "13px sans-serif";

  // the colour legend under the image: a picture drawn by Python at 1:1
  const legend = el("canvas", "nbinterp-canvas-legend");
  legend.style.display = "none";
  legend.style.imageRendering = "pixelated";
  legend.style.marginRight = "4px"; // tick labels of neighbouring legends stay apart

  stage.append(canvas, overlay, tooltip);
  root.append(stage, legend, label);
  host.append(root);

  const offscreen = document.createElement("canvas");
  const state = { width: 0, height: 0, zoom: 1, hover: null };

  function drawOverlay() {
    overlay.width = canvas.width;
    overlay.height = canvas.height;
    overlay.style.width = canvas.style.width;
    overlay.style.height = canvas.style.height;
    const ctx = overlay.getContext("2d");
    ctx.clearRect(0, 0, overlay.width, overlay.height);
    if (state.width === 0) return;
    const regions = model.get("regions") || [];
    const highlighted = findRegion(regions, model.get("highlight"));
    if (state.hover && state.hover !== highlighted) {
      strokeRegion(ctx, state.hover, state.zoom, "rgba(255, 255, 255, 0.9)", 1);
    }
    if (highlighted) strokeRegion(ctx, highlighted, state.zoom, "#ffcc00", 2);
  }

  function drawImage() {
    let rgba;
    let parsed;
    try {
      parsed = parseShape(model.get("shape"));
      rgba = toRGBA(model.get("data"), model.get("shape"));
      delete root.dataset.error;
    } catch (err) {
      root.dataset.error = String(err.message || err);
      console.warn("nbinterp canvas:", err);
      parsed = null;
    }
    if (parsed === null || parsed.width === 0 || parsed.height === 0) {
      state.width = 0;
      state.height = 0;
      canvas.width = 0;
      canvas.height = 0;
      canvas.style.width = "0px";
      canvas.style.height = "0px";
      drawOverlay();
      return;
    }
    const { width, height } = parsed;
    const zoom = chooseZoom(width, model.get("max_width"), model.get("scale"));
    const size = displaySize(width, height, zoom);
    Object.assign(state, { width, height, zoom: size.width / width });

    offscreen.width = width;
    offscreen.height = height;
    offscreen.getContext("2d").putImageData(new ImageData(rgba, width, height), 0, 0);

    canvas.width = size.width;
    canvas.height = size.height;
    canvas.style.width = `${size.width}px`;
    canvas.style.height = `${size.height}px`;
    canvas.dataset.imageWidth = String(width);
    canvas.dataset.imageHeight = String(height);
    canvas.dataset.zoom = String(state.zoom);
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.clearRect(0, 0, size.width, size.height);
    ctx.drawImage(offscreen, 0, 0, size.width, size.height);
    drawOverlay();
  }

  function drawLegend() {
    let rgba = null;
    let parsed = null;
    try {
      parsed = parseShape(model.get("legend_shape"));
      if (parsed) rgba = toRGBA(model.get("legend_data"), model.get("legend_shape"));
    } catch (err) {
      console.warn("nbinterp canvas legend:", err);
      parsed = null;
    }
    const text = model.get("legend_text") || "";
    if (!parsed || parsed.width === 0 || parsed.height === 0) {
      legend.style.display = "none";
      legend.width = 0;
      legend.height = 0;
      delete legend.dataset.text;
      legend.removeAttribute("aria-label");
      return;
    }
    legend.width = parsed.width;
    legend.height = parsed.height;
    legend.style.width = `${parsed.width}px`;
    legend.style.height = `${parsed.height}px`;
    legend.getContext("2d").putImageData(new ImageData(rgba, parsed.width, parsed.height), 0, 0);
    legend.dataset.text = text;
    legend.setAttribute("role", "img");
    legend.setAttribute("aria-label", text);
    legend.title = text;
    legend.style.display = "block";
  }

  function drawLabel() {
    const text = model.get("label") || "";
    label.textContent = text; // captions are user data: text only
    label.style.display = text ? "" : "none";
  }

  function pointAt(event) {
    if (state.width === 0) return null;
    return toImageCoords(
      event.clientX,
      event.clientY,
      canvas.getBoundingClientRect(),
      state.width,
      state.height,
    );
  }

  function hideTooltip() {
    tooltip.style.display = "none";
    tooltip.textContent = "";
  }

  function onMove(event) {
    const p = pointAt(event);
    const region = p ? hitTest(model.get("regions"), p.x + 0.5, p.y + 0.5) : null;
    if (region !== state.hover) {
      state.hover = region;
      drawOverlay();
    }
    const hit = p ? readoutAt(model.get("readout"), model.get("readout_values"), p.x, p.y) : null;
    const readout = readoutText(hit, (model.get("readout") || {}).what);
    const parts = [region && region.title != null ? String(region.title) : "", readout];
    const title = parts.filter(Boolean).join("\n");
    if (hit && Array.isArray(hit.value)) tooltip.dataset.value = hit.value.map((v) => (v === null ? "" : String(v))).join(",");
    else if (hit) tooltip.dataset.value = hit.value === null ? "" : String(hit.value);
    else delete tooltip.dataset.value;
    if (!title) {
      hideTooltip();
      return;
    }
    tooltip.textContent = title; // titles are user data: text only
    tooltip.style.display = "block";
    const rect = stage.getBoundingClientRect();
    tooltip.style.left = `${event.clientX - rect.left + 12}px`;
    tooltip.style.top = `${event.clientY - rect.top + 12}px`;
  }

  function onLeave() {
    hideTooltip();
    if (state.hover) {
      state.hover = null;
      drawOverlay();
    }
  }

  function onClick(event) {
    const p = pointAt(event);
    if (!p) return;
    const region = hitTest(model.get("regions"), p.x + 0.5, p.y + 0.5);
    const previous = model.get("clicked") || {};
    const n = (Number.isInteger(previous.n) ? previous.n : 0) + 1;
    const id = region && region.id !== undefined ? region.id : null;
    model.set("clicked", { x: p.x, y: p.y, id, n });
    model.save_changes();
  }

  const onImage = coalesce(drawImage);
  const onOverlay = () => {
    if (state.hover && !(model.get("regions") || []).includes(state.hover)) state.hover = null;
    drawOverlay();
  };
  const onLabel = () => drawLabel();

  model.on("change:data", onImage);
  model.on("change:shape", onImage);
  model.on("change:scale", onImage);
  model.on("change:max_width", onImage);
  model.on("change:regions", onOverlay);
  model.on("change:highlight", onOverlay);
  model.on("change:label", onLabel);
  const onLegend = coalesce(drawLegend);
  for (const name of ["legend_data", "legend_shape", "legend_text"]) model.on(`change:${name}`, onLegend);
  canvas.addEventListener("mousemove", onMove);
  canvas.addEventListener("mouseleave", onLeave);
  canvas.addEventListener("click", onClick);

  drawImage();
  drawLegend();
  drawLabel();

  return () => {
    model.off("change:data", onImage);
    model.off("change:shape", onImage);
    model.off("change:scale", onImage);
    model.off("change:max_width", onImage);
    model.off("change:regions", onOverlay);
    model.off("change:highlight", onOverlay);
    model.off("change:label", onLabel);
    for (const name of ["legend_data", "legend_shape", "legend_text"]) model.off(`change:${name}`, onLegend);
    canvas.removeEventListener("mousemove", onMove);
    canvas.removeEventListener("mouseleave", onLeave);
    canvas.removeEventListener("click", onClick);
    root.remove();
  };
}

export default { render };
