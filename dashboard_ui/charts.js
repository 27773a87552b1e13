// The two charts of the "Last hour" panel, drawn with uPlot (vendored from npm, loaded by
// index.html as dashboard/vendor/uplot.js, a global). The data comes from
// GET /api/v1/dashboard/activity: one point per minute. Shaping it is pure (tested by node);
// drawing needs a browser.

export const FLOW_SERIES = [
  { key: "created", label: "created", stroke: "#2563eb" },
  { key: "completed", label: "completed", stroke: "#16a34a" },
  { key: "failed", label: "failed", stroke: "#dc2626" },
  { key: "deadlettered", label: "dead-lettered", stroke: "#7c3aed" },
];
export const DEPTH_SERIES = [
  { key: "pending", label: "pending", stroke: "#d97706" },
  { key: "processing", label: "processing", stroke: "#0891b2" },
];

function columns(points, series) {
  return [points.map((p) => p.t), ...series.map((s) => points.map((p) => Number(p[s.key]) || 0))];
}

/** The activity document → uPlot's column arrays: [times, series…] for each chart. */
export function chartData(doc) {
  const points = Array.isArray(doc?.points) ? doc.points.filter((p) => Number.isFinite(p?.t)) : [];
  points.sort((a, b) => a.t - b.t);
  return { flows: columns(points, FLOW_SERIES), depth: columns(points, DEPTH_SERIES) };
}

/** Totals over the hour, for the text beside the charts (and for screen readers). */
export function hourTotals(doc) {
  const [times, ...flows] = chartData(doc).flows;
  const totals = Object.fromEntries(FLOW_SERIES.map((s, i) => [s.key, flows[i].reduce((a, b) => a + b, 0)]));
  const [, pending, processing] = chartData(doc).depth;
  const last = times.length - 1;
  return { ...totals, pending: last >= 0 ? pending[last] : 0, processing: last >= 0 ? processing[last] : 0 };
}

function options(title, series, width) {
  return {
    title,
    width,
    height: 200,
    // Whole numbers only: these are counts of jobs.
    scales: { y: { range: (u, min, max) => [0, Math.max(4, Math.ceil(max * 1.1))] } },
    axes: [{}, { size: 48, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000] }],
    series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, points: { show: false } }))],
  };
}

const drawn = new Map(); // element id → uPlot instance

/**
 * Draw (or update) both charts into the elements with ids `chart-flows` and `chart-depth`.
 * `UPlot` is the uPlot constructor (window.uPlot); without it the charts are skipped.
 */
export function drawCharts(doc, documentRef, UPlot) {
  if (typeof UPlot !== "function") return false;
  const data = chartData(doc);
  const charts = [
    ["chart-flows", "Jobs per minute", FLOW_SERIES, data.flows],
    ["chart-depth", "Queue depth", DEPTH_SERIES, data.depth],
  ];
  for (const [id, title, series, columns] of charts) {
    const element = documentRef.getElementById(id);
    if (!element) continue;
    const width = Math.max(280, element.clientWidth || 600);
    const existing = drawn.get(id);
    if (existing && existing.root.isConnected) {
      if (existing.width !== width) existing.setSize({ width, height: 200 });
      existing.setData(columns);
    } else {
      element.replaceChildren();
      drawn.set(id, new UPlot(options(title, series, width), columns, element));
    }
  }
  return true;
}
