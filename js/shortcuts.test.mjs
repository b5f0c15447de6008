// keepShortcutsOut (canvas.js): an element that gets focus inside an nbinterp
// widget is marked so lumino (JupyterLab / Notebook 7) leaves its keys alone. Run with `node --test js/`.
import { test } from "node:test";
import assert from "node:assert/strict";

import { SHORTCUT_SCOPES, keepShortcutsOut } from "./canvas.js";

function fakeElement(scope = null) {
  const attributes = new Map();
  return {
    attributes,
    hasAttribute: (name) => attributes.has(name),
    setAttribute: (name, value) => attributes.set(name, String(value)),
    closest: (selector) => {
      assert.equal(selector, SHORTCUT_SCOPES);
      return scope;
    },
  };
}

function fakeDocument() {
  const listeners = [];
  return {
    listeners,
    addEventListener: (type, listener, capture) => listeners.push({ type, listener, capture }),
  };
}

test("installs one capturing focusin listener per document", () => {
  const doc = fakeDocument();
  assert.equal(keepShortcutsOut(doc), true);
  assert.equal(keepShortcutsOut(doc), false);
  assert.equal(doc.listeners.length, 1);
  assert.equal(doc.listeners[0].type, "focusin");
  assert.equal(doc.listeners[0].capture, true);
  assert.equal(keepShortcutsOut(null), false);
});

test("focus inside a widget marks the focused element, focus elsewhere marks nothing", () => {
  const doc = fakeDocument();
  keepShortcutsOut(doc);
  const listener = doc.listeners[0].listener;

  // lumino matches `... :focus` selectors on the target itself, so the mark
  // must sit on the focused element, not on the widget around it
  const explorer = fakeElement();
  const handle = fakeElement(explorer);
  listener({ target: handle });
  assert.equal(handle.attributes.get("data-lm-suppress-shortcuts"), "true");
  assert.equal(explorer.attributes.size, 0);

  const cellEditor = fakeElement(null);
  listener({ target: cellEditor });
  assert.equal(cellEditor.attributes.size, 0);
  listener({ target: null });
  listener({ target: {} }); // a text node or window: no closest()
});

test("the scopes are the Explorer and the canvas widget", () => {
  assert.match(SHORTCUT_SCOPES, /\.nbinterp-explorer/);
  assert.match(SHORTCUT_SCOPES, /\.nbinterp-canvas-root/);
});
