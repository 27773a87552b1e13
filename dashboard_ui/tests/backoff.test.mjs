import assert from "node:assert/strict";
import { test } from "node:test";

import { MAX_DELAY_MS, reconnectDelayMs } from "../backoff.js";

test("delays double from one second and stop at thirty", () => {
  const low = () => 0;
  const high = () => 0.999999;
  const cases = [
    [0, 500, 1000],
    [1, 1000, 2000],
    [2, 2000, 4000],
    [4, 8000, 16000],
    [5, 15000, 30000],
    [6, 15000, 30000],
    [1000, 15000, 30000],
  ];
  for (const [attempt, min, max] of cases) {
    assert.equal(reconnectDelayMs(attempt, low), min, `attempt ${attempt} low`);
    assert.equal(reconnectDelayMs(attempt, high), max, `attempt ${attempt} high`);
  }
});

test("jitter stays within bounds and nonsense attempts count as the first", () => {
  for (let i = 0; i < 200; i += 1) {
    const delay = reconnectDelayMs(i % 12);
    assert.ok(delay >= 500 && delay <= MAX_DELAY_MS, String(delay));
  }
  assert.equal(reconnectDelayMs(-3, () => 0), 500);
  assert.equal(reconnectDelayMs("x", () => 0), 500);
});
