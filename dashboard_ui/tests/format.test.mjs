import assert from "node:assert/strict";
import { test } from "node:test";

import { formatAge, formatCount, formatDuration, formatJson, MAX_JSON_CHARS, shortId, statusClass } from "../format.js";

test("counts", () => {
  assert.equal(formatCount(1234567, "en-US"), "1,234,567");
  assert.equal(formatCount(0, "en-US"), "0");
  assert.equal(formatCount(null), "—");
  assert.equal(formatCount(undefined), "—");
  assert.equal(formatCount(Number.NaN), "—");
});

test("durations", () => {
  const cases = [
    [0, "0 ms"],
    [999.4, "999 ms"],
    [1500, "1.5 s"],
    [61_000, "1 min 1 s"],
    [3_600_000 + 120_000, "1 h 2 min"],
    [null, "—"],
    [-5, "—"],
  ];
  for (const [ms, text] of cases) assert.equal(formatDuration(ms), text, String(ms));
});

test("ages relative to the clock passed in", () => {
  const now = Date.parse("2026-11-01T12:00:00Z");
  const cases = [
    ["2026-11-01T12:00:00Z", "just now"],
    ["2026-11-01T11:59:30Z", "30 s ago"],
    ["2026-11-01T11:57:00Z", "3 min ago"],
    ["2026-11-01T09:00:00Z", "3 h ago"],
    ["2026-10-30T12:00:00Z", "2 d ago"],
    ["2026-11-01T12:05:00Z", "in 5 min"],
    [null, "—"],
    ["yesterday", "—"],
  ];
  for (const [iso, text] of cases) assert.equal(formatAge(iso, now), text, String(iso));
});

test("ids and statuses", () => {
  assert.equal(shortId("0f8fad5b-d9cb-469f-a165-70867728950e"), "0f8fad5b");
  assert.equal(shortId("w1"), "w1");
  assert.equal(statusClass("deadletter"), "status status-deadletter");
  assert.equal(statusClass("healthy"), "status status-healthy");
  // A status is server data: it never becomes an arbitrary class name.
  assert.equal(statusClass('x" onclick="y'), "status status-unknown");
});

test("JSON is pretty-printed and cut when huge", () => {
  assert.equal(formatJson({ a: [1] }), '{\n  "a": [\n    1\n  ]\n}');
  assert.equal(formatJson(undefined), "null");
  const big = formatJson("x".repeat(MAX_JSON_CHARS * 2));
  assert.ok(big.length < MAX_JSON_CHARS + 100);
  assert.match(big, /more characters\)$/);
});
