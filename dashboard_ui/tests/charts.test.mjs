import assert from "node:assert/strict";
import { test } from "node:test";

import { chartData, DEPTH_SERIES, drawCharts, FLOW_SERIES, hourTotals } from "../charts.js";

const doc = {
  interval_seconds: 60,
  points: [
    { t: 120, created: 1, completed: 0, failed: 0, deadlettered: 0, pending: 1, processing: 0 },
    { t: 60, created: 3, completed: 1, failed: 2, deadlettered: 1, pending: 2, processing: 1 },
  ],
};

test("chartData sorts the minutes and makes uPlot columns per chart", () => {
  const { flows, depth } = chartData(doc);
  assert.deepEqual(flows, [[60, 120], [3, 1], [1, 0], [2, 0], [1, 0]]);
  assert.deepEqual(depth, [[60, 120], [2, 1], [1, 0]]);
  assert.equal(flows.length, FLOW_SERIES.length + 1);
  assert.equal(depth.length, DEPTH_SERIES.length + 1);
});

test("chartData tolerates a missing or malformed document", () => {
  assert.deepEqual(chartData(null), { flows: [[], [], [], [], []], depth: [[], [], []] });
  const odd = chartData({ points: [{ t: 60, created: "x" }, { created: 5 }, null] });
  assert.deepEqual(odd.flows, [[60], [0], [0], [0], [0]]);
});

test("hourTotals sums the flows and takes depth from the latest minute", () => {
  assert.deepEqual(hourTotals(doc), {
    created: 4,
    completed: 1,
    failed: 2,
    deadlettered: 1,
    pending: 1,
    processing: 0,
  });
  assert.deepEqual(hourTotals({ points: [] }).pending, 0);
});

test("drawCharts draws each chart once, then only updates its data", () => {
  const made = [];
  class FakePlot {
    constructor(opts, data, element) {
      this.opts = opts;
      this.data = data;
      this.width = opts.width;
      this.root = { isConnected: true };
      made.push(this);
      element.children = [this];
    }
    setData(data) {
      this.data = data;
    }
    setSize({ width }) {
      this.width = width;
    }
  }
  const elements = {
    "chart-flows": { clientWidth: 500, replaceChildren() {} },
    "chart-depth": { clientWidth: 500, replaceChildren() {} },
  };
  const documentRef = { getElementById: (id) => elements[id] };
  assert.equal(drawCharts(doc, documentRef, undefined), false); // no uPlot: nothing drawn
  assert.equal(drawCharts(doc, documentRef, FakePlot), true);
  assert.equal(made.length, 2);
  assert.deepEqual(
    made.map((p) => p.opts.title),
    ["Jobs per minute", "Queue depth"],
  );
  drawCharts({ points: [{ t: 180, created: 9, pending: 4 }] }, documentRef, FakePlot);
  assert.equal(made.length, 2);
  assert.deepEqual(made[0].data[1], [9]);
  assert.deepEqual(made[1].data[1], [4]);
});
