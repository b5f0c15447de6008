// Tests of the per-pixel hover readout in canvas.js: run with `node --test js/`.
import { test } from "node:test";
import assert from "node:assert/strict";

import { decodeFloat16, formatValue, readoutAt, readoutText } from "./canvas.js";

/** Little-endian bytes of half-precision bit patterns. */
function halfBytes(patterns) {
  const bytes = new Uint8Array(patterns.length * 2);
  patterns.forEach((bits, i) => {
    bytes[2 * i] = bits & 0xff;
    bytes[2 * i + 1] = bits >> 8;
  });
  return bytes;
}

test("decodeFloat16 reads normal, subnormal and special values", () => {
  assert.equal(decodeFloat16(0x0000), 0);
  assert.equal(decodeFloat16(0x3c00), 1);
  assert.equal(decodeFloat16(0xc000), -2);
  assert.equal(decodeFloat16(0x3800), 0.5);
  assert.equal(decodeFloat16(0x7bff), 65504); // the largest half
  assert.equal(decodeFloat16(0x0001), 2 ** -24); // the smallest subnormal
  assert.equal(decodeFloat16(0x0400), 2 ** -14); // the smallest normal
  assert.equal(decodeFloat16(0x7c00), Infinity);
  assert.equal(decodeFloat16(0xfc00), -Infinity);
  assert.ok(Number.isNaN(decodeFloat16(0x7e00)));
  // 1/3 rounds to 0x3555 = 1 + 341/1024 times 2^-2
  assert.equal(decodeFloat16(0x3555), (1 + 341 / 1024) / 4);
});

test("readoutAt maps enlarged pixels back to array cells and applies the scale", () => {
  // a 2 x 3 array [[1, -2, 0.5], [0, NaN, 1]] drawn 4x enlarged at (10, 20), scale 8
  const values = halfBytes([0x3c00, 0xc000, 0x3800, 0x0000, 0x7e00, 0x3c00]);
  const readout = {
    what: "activation",
    patches: [{ x: 10, y: 20, w: 12, h: 8, rows: 2, cols: 3, offset: 0, scale: 8, name: "channel 2" }],
  };
  assert.deepEqual(readoutAt(readout, values, 10, 20), { name: "channel 2", col: 0, row: 0, value: 8 });
  assert.deepEqual(readoutAt(readout, values, 13, 23), { name: "channel 2", col: 0, row: 0, value: 8 });
  assert.deepEqual(readoutAt(readout, values, 14, 20), { name: "channel 2", col: 1, row: 0, value: -16 });
  assert.deepEqual(readoutAt(readout, values, 21, 27), { name: "channel 2", col: 2, row: 1, value: 8 });
  assert.equal(readoutAt(readout, values, 15, 24).value, null); // NaN: no value
  assert.equal(readoutAt(readout, values, 9, 20), null); // left of the patch
  assert.equal(readoutAt(readout, values, 22, 20), null); // right edge is exclusive
  assert.equal(readoutAt(readout, values, 10, 28), null);
});

test("readoutAt finds the right patch of a mosaic and reads from its offset", () => {
  // two 1 x 2 tiles side by side, 5 pixels apart; the second stored after the first
  const values = halfBytes([0x3c00, 0x4000, 0x4200, 0x4400]); // 1, 2, 3, 4
  const readout = {
    what: "weight",
    patches: [
      { x: 0, y: 0, w: 4, h: 2, rows: 1, cols: 2, offset: 0, scale: 1, name: "kernel 0" },
      { x: 5, y: 0, w: 4, h: 2, rows: 1, cols: 2, offset: 2, scale: 1, name: "kernel 1" },
    ],
  };
  assert.equal(readoutAt(readout, values, 3, 1).value, 2);
  assert.equal(readoutAt(readout, values, 4, 1), null); // the gap between tiles
  assert.deepEqual(readoutAt(readout, values, 5, 0), { name: "kernel 1", col: 0, row: 0, value: 3 });
  assert.deepEqual(readoutAt(readout, values, 8, 1), { name: "kernel 1", col: 1, row: 0, value: 4 });
  // a shrunk tile (more cells than pixels) still lands on the proportional cell
  const shrunk = { patches: [{ x: 0, y: 0, w: 1, h: 1, rows: 1, cols: 4, offset: 0, scale: 1 }] };
  assert.equal(readoutAt(shrunk, values, 0, 0).value, 1);
  assert.equal(readoutAt({}, values, 0, 0), null);
  assert.equal(readoutAt(null, values, 0, 0), null);
});

test("readoutText and formatValue spell the value with its place", () => {
  assert.equal(formatValue(0.123456), "+0.1235");
  assert.equal(formatValue(-2), "\u22122");
  assert.equal(formatValue(0), "0");
  assert.equal(formatValue(null), "no value");
  assert.equal(
    readoutText({ name: "channel 2", col: 1, row: 0, value: -16 }, "activation"),
    "channel 2 · activation at (1, 0): \u221216",
  );
  assert.equal(readoutText({ name: "", col: 0, row: 3, value: 0.5 }, ""), "value at (0, 3): +0.5");
  assert.equal(readoutText(null, "activation"), "");
});

test("a patch with parts reads every value of a cell (the R, G, B weights of a colour kernel)", () => {
  // a 1 x 2 patch of 3 parts: cell 0 = (1, -2, 0.5), cell 1 = (NaN, 0, 2), scale 4
  const values = halfBytes([0x3c00, 0xc000, 0x3800, 0x7e00, 0x0000, 0x4000]);
  const readout = {
    what: "weight",
    patches: [{ x: 0, y: 0, w: 4, h: 2, rows: 1, cols: 2, offset: 0, scale: 4, name: "kernel 1", parts: ["R", "G", "B"] }],
  };
  const first = readoutAt(readout, values, 1, 1);
  assert.deepEqual(first, { name: "kernel 1", col: 0, row: 0, value: [4, -8, 2], parts: ["R", "G", "B"] });
  assert.deepEqual(readoutAt(readout, values, 2, 0).value, [null, 0, 8]);
  assert.equal(readoutText(first, "weight"), "kernel 1 · weight at (0, 0): R +4, G \u22128, B +2");
  // the stored array too short for all parts of the cell: no hit
  assert.equal(readoutAt(readout, values.slice(0, 10), 2, 0), null);
});
