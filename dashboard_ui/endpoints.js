// Every REST call the dashboard makes, in one table. Each entry names its method and its full
// path literally: tests/functional/test_dashboard_ui.py reads this file and resolves every path
// against the API's router, so the UI and the API cannot drift apart unnoticed.

const seg = (value) => encodeURIComponent(String(value));

export const PAGE_SIZE = 50;
// The API caps list pages at 100 rows (contract §1.5).
export const MAX_PAGE = 100;

export const endpoints = {
  dashboard: () => ({ method: "GET", path: "/api/v1/dashboard" }),
  // Per-minute flows and queue depth over the last hour, for the charts (charts.js).
  activity: (queue) => ({ method: "GET", path: "/api/v1/dashboard/activity", query: { queue_name: queue } }),
  queues: () => ({ method: "GET", path: "/api/v1/queues" }),
  queueStats: (name) => ({ method: "GET", path: `/api/v1/queues/${seg(name)}/stats` }),
  pauseQueue: (name) => ({ method: "POST", path: `/api/v1/queues/${seg(name)}/pause`, body: {} }),
  resumeQueue: (name) => ({ method: "POST", path: `/api/v1/queues/${seg(name)}/resume` }),
  jobs: (filters, offset = 0, limit = PAGE_SIZE) => ({
    method: "GET",
    path: "/api/v1/jobs",
    query: { status: filters.status, queue_name: filters.queue, limit, offset },
  }),
  job: (id) => ({ method: "GET", path: `/api/v1/jobs/${seg(id)}` }),
  jobHistory: (id) => ({
    method: "GET",
    path: `/api/v1/jobs/${seg(id)}/history`,
    query: { order_dir: "asc", limit: 500 },
  }),
  retryJob: (id) => ({ method: "POST", path: `/api/v1/jobs/${seg(id)}/retry` }),
  cancelJob: (id) => ({ method: "DELETE", path: `/api/v1/jobs/${seg(id)}` }),
  workers: () => ({ method: "GET", path: "/api/v1/workers" }),
  deadLetter: (queue, offset = 0, limit = PAGE_SIZE) => ({
    method: "GET",
    path: "/api/v1/jobs/dlq",
    query: { queue_name: queue, limit, offset },
  }),
  // Without a queue this retries the whole organization's dead letters (oldest first, 100 per
  // call); a key limited to some queues must name one (contract §2.4), so the UI always does
  // when a queue filter is set.
  retryDeadLetter: (queue) => ({
    method: "POST",
    path: "/api/v1/jobs/dlq/retry",
    body: queue ? { queue_name: queue } : {},
  }),
};
