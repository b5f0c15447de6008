// Tests of the pure helpers in canvas.js: run with `node --test js/`.
import { test } from "node:test";
import assert from "node:assert/strict";

import widget, {
  asBytes,
  chooseZoom,
  coalesce,
  displaySize,
  findRegion,
  hitTest,
  parseShape,
  toImageCoords,
  toRGBA,
} from "./canvas.js";

test("default export is an anywidget module with render()", () => {
  assert.equal(typeof widget.render, "function");
});

test("asBytes views a DataView without copying", () => {
  const buffer = new ArrayBuffer(8);
  new Uint8Array(buffer).set([0, 1, 2, 3, 4, 5, 6, 7]);
  const view = new DataView(buffer, 2, 4);
  const bytes = asBytes(view);
  assert.deepEqual(Array.from(bytes), [2, 3, 4, 5]);
  assert.equal(bytes.buffer, buffer);
  assert.deepEqual(Array.from(asBytes(buffer)), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(asBytes(null).length, 0);
  assert.throws(() => asBytes("abc"), TypeError);
});

test("parseShape accepts 2-D and 3-D shapes with 1, 3 or 4 channels", () => {
  assert.deepEqual(parseShape([2, 3]), { height: 2, width: 3, channels: 1 });
  assert.deepEqual(parseShape([2, 3, 3]), { height: 2, width: 3, channels: 3 });
  assert.deepEqual(parseShape([2, 3, 4]), { height: 2, width: 3, channels: 4 });
  assert.equal(parseShape([]), null);
  assert.equal(parseShape(null), null);
  assert.throws(() => parseShape([2, 3, 2]), RangeError);
  assert.throws(() => parseShape([2]), RangeError);
  assert.throws(() => parseShape([2, 3, 3, 1]), RangeError);
  assert.throws(() => parseShape([2.5, 3]), RangeError);
  assert.throws(() => parseShape([-1, 3]), RangeError);
});

test("toRGBA expands grayscale to opaque gray", () => {
  const rgba = toRGBA(new DataView(new Uint8Array([0, 128, 255, 7]).buffer), [2, 2, 1]);
  assert.ok(rgba instanceof Uint8ClampedArray);
  assert.deepEqual(
    Array.from(rgba),
    [0, 0, 0, 255, 128, 128, 128, 255, 255, 255, 255, 255, 7, 7, 7, 255],
  );
  // [H, W] means one channel too
  assert.deepEqual(Array.from(toRGBA(new Uint8Array([9]), [1, 1])), [9, 9, 9, 255]);
});

test("toRGBA keeps RGB order row-major and adds alpha", () => {
  // 1 row, 2 columns: red then blue
  const rgb = new Uint8Array([255, 0, 0, 0, 0, 255]);
  assert.deepEqual(Array.from(toRGBA(rgb, [1, 2, 3])), [255, 0, 0, 255, 0, 0, 255, 255]);
  // 2 rows, 1 column: green above white
  const col = new Uint8Array([0, 255, 0, 255, 255, 255]);
  assert.deepEqual(Array.from(toRGBA(col, [2, 1, 3])), [0, 255, 0, 255, 255, 255, 255, 255]);
});

test("toRGBA copies RGBA as is, including alpha", () => {
  const rgba = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  const out = toRGBA(rgba, [1, 2, 4]);
  assert.deepEqual(Array.from(out), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.notEqual(out.buffer, rgba.buffer);
});

test("toRGBA rejects a byte count that does not match the shape", () => {
  assert.throws(() => toRGBA(new Uint8Array(5), [2, 2, 1]), /expected 4 bytes/);
  assert.throws(() => toRGBA(new Uint8Array(12), [2, 2, 4]), /expected 16 bytes/);
  assert.throws(() => toRGBA(new Uint8Array(3), []), RangeError);
  assert.equal(toRGBA(new Uint8Array(0), []).length, 0);
});

test("chooseZoom: auto picks the largest integer zoom that fits", () => {
  assert.equal(chooseZoom(28, 448), 16);
  assert.equal(chooseZoom(28, 447), 15);
  assert.equal(chooseZoom(224, 448), 2);
  assert.equal(chooseZoom(448, 448), 1);
  assert.equal(chooseZoom(30, 100, 0), 3);
  assert.equal(chooseZoom(30, 100, -2), 3);
});

test("chooseZoom: wider than max_width shrinks to fit; explicit scale wins", () => {
  assert.equal(chooseZoom(896, 448), 0.5);
  assert.equal(chooseZoom(28, 448, 2.5), 2.5);
  assert.equal(chooseZoom(28, 448, 40), 40);
  assert.equal(chooseZoom(0, 448), 1);
  assert.equal(chooseZoom(10, 0), 1);
});

test("displaySize rounds and never returns zero", () => {
  assert.deepEqual(displaySize(2, 3, 8), { width: 16, height: 24 });
  assert.deepEqual(displaySize(3, 1, 0.1), { width: 1, height: 1 });
});

test("toImageCoords maps client points to pixels and rejects outside points", () => {
  const rect = { left: 100, top: 50, width: 160, height: 80 };
  // image 20 x 10, zoom 8
  assert.deepEqual(toImageCoords(100, 50, rect, 20, 10), { x: 0, y: 0 });
  assert.deepEqual(toImageCoords(107.9, 57.9, rect, 20, 10), { x: 0, y: 0 });
  assert.deepEqual(toImageCoords(108, 58, rect, 20, 10), { x: 1, y: 1 });
  assert.deepEqual(toImageCoords(259.9, 129.9, rect, 20, 10), { x: 19, y: 9 });
  assert.equal(toImageCoords(260, 60, rect, 20, 10), null);
  assert.equal(toImageCoords(99, 60, rect, 20, 10), null);
  assert.equal(toImageCoords(120, 60, { left: 0, top: 0, width: 0, height: 0 }, 20, 10), null);
});

test("hitTest finds the region under a point; the last listed wins", () => {
  const regions = [
    { id: "a", x: 0, y: 0, w: 10, h: 10, title: "A" },
    { id: "b", x: 5, y: 5, w: 10, h: 10, title: "B" },
    { id: { unit: 3 }, x: 20, y: 0, w: 2, h: 2, title: "C" },
  ];
  assert.equal(hitTest(regions, 1, 1).id, "a");
  assert.equal(hitTest(regions, 6, 6).id, "b");
  assert.equal(hitTest(regions, 14.5, 14.5).id, "b");
  assert.equal(hitTest(regions, 15, 15), null); // right/bottom edges are exclusive
  assert.deepEqual(hitTest(regions, 21, 1).id, { unit: 3 });
  assert.equal(hitTest(regions, 30, 30), null);
  assert.equal(hitTest([], 1, 1), null);
  assert.equal(hitTest(undefined, 1, 1), null);
  assert.equal(hitTest([{ id: 1, x: 0, y: 0, w: 0, h: 5 }], 0, 0), null);
});

test("findRegion matches ids by JSON value", () => {
  const regions = [
    { id: [1, 2], x: 0, y: 0, w: 1, h: 1 },
    { id: 7, x: 1, y: 0, w: 1, h: 1 },
  ];
  assert.equal(findRegion(regions, [1, 2]), regions[0]);
  assert.equal(findRegion(regions, 7), regions[1]);
  assert.equal(findRegion(regions, "7"), null);
  assert.equal(findRegion(regions, null), null);
});

test("coalesce runs a burst of calls once, after the burst", async () => {
  let runs = 0;
  const draw = coalesce(() => {
    runs += 1;
  });
  draw(); // change:data
  draw(); // change:shape of the same message
  assert.equal(runs, 0);
  await Promise.resolve();
  assert.equal(runs, 1);
  draw(); // a later message draws again
  await Promise.resolve();
  assert.equal(runs, 2);
});
