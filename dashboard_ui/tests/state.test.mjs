import assert from "node:assert/strict";
import { test } from "node:test";

import {
  applySnapshot,
  frameConcernsJob,
  initialState,
  mergeQueues,
  reduce,
  withConnection,
  withFilters,
} from "../state.js";

const T = "2026-11-01T12:00:00Z";

function deepFreeze(value) {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

function overview() {
  return {
    system: { version: "0.1.0", uptime_seconds: 5, started_at: T, database_status: "healthy", cache_status: "healthy", environment: "development" },
    jobs: { total: 10, pending: 2, processing: 1, completed_24h: 5, failed_24h: 1, deadletter: 1, avg_wait_time_ms: null, avg_processing_time_ms: null },
    queues: [
      { name: "emails", pending: 2, processing: 1, paused: false },
      { name: "billing", pending: 0, processing: 0, paused: true },
    ],
    workers: { total: 1, healthy: 1, unhealthy: 0 },
    recent_activity: { jobs_created_1h: 3, jobs_completed_1h: 2, jobs_failed_1h: 0 },
  };
}

const summary = (id, status, queue = "emails", extra = {}) => ({
  id,
  queue_name: queue,
  status,
  priority: 0,
  retry_count: 0,
  attempt: 0,
  max_retries: 3,
  job_type: "",
  last_error: null,
  created_at: T,
  scheduled_at: null,
  started_at: null,
  completed_at: null,
  ...extra,
});

/** A signed-in state after one snapshot, frozen so that any mutation by the reducer throws. */
function loaded(filters = {}, jobs = [summary("j-pending", "pending"), summary("j-busy", "processing")]) {
  return deepFreeze(
    applySnapshot(initialState(filters), {
      overview: overview(),
      queueConfigs: [
        { queue_name: "billing", max_retries: 3, default_timeout: 300, rate_limit: null, enabled: false },
        { queue_name: "emails", max_retries: 5, default_timeout: 60, rate_limit: null, enabled: true },
      ],
      queueStats: {
        emails: { queue_name: "emails", pending_jobs: 2, processing_jobs: 1, completed_jobs_24h: 5, failed_jobs_24h: 1, active_workers: 1, avg_processing_time_ms: 40.5, max_job_age_seconds: 12 },
      },
      jobs,
      jobsHasMore: true,
      workers: [{ id: "w1", queue_name: "emails", hostname: "box", status: "healthy", current_jobs: 1, max_concurrency: 5, last_heartbeat: T }],
      deadLetter: [summary("j-dead", "deadletter", "emails", { last_error: "boom" })],
      deadLetterHasMore: false,
    }),
  );
}

const queue = (state, name) => state.queues.find((q) => q.name === name);
const frame = (type, data) => ({ type, data: { timestamp: T, ...data } });

test("a snapshot merges queue configs, live counts and stats into sorted rows", () => {
  const state = loaded();
  assert.deepEqual(
    state.queues.map((q) => q.name),
    ["billing", "emails"],
  );
  assert.deepEqual(queue(state, "emails"), {
    name: "emails",
    pending: 2,
    processing: 1,
    completed_24h: 5,
    failed_24h: 1,
    active_workers: 1,
    avg_processing_time_ms: 40.5,
    max_job_age_seconds: 12,
    paused: false,
    max_retries: 5,
    default_timeout: 60,
  });
  assert.equal(queue(state, "billing").paused, true);
  assert.equal(queue(state, "billing").completed_24h, null); // no stats fetched: unknown, not zero
  assert.equal(state.jobsHasMore, true);
  assert.deepEqual(state.known, { "j-pending": "pending", "j-busy": "processing", "j-dead": "deadletter" });
});

test("a queue that only has jobs (no config row) still gets a row", () => {
  const rows = mergeQueues([], [{ name: "implicit", pending: 4, processing: 0, paused: false }], {});
  assert.equal(rows.length, 1);
  assert.equal(rows[0].pending, 4);
});

test("appending a page keeps the rows already shown and skips repeats", () => {
  const state = applySnapshot(loaded(), {
    jobs: [summary("j-busy", "processing"), summary("j-old", "completed")],
    jobsHasMore: false,
    appendJobs: true,
  });
  assert.deepEqual(
    state.jobs.map((j) => j.id),
    ["j-pending", "j-busy", "j-old"],
  );
  assert.equal(state.jobsHasMore, false);
});

test("a new job appears first and moves the counters", () => {
  const state = reduce(loaded(), frame("JobCreated", { job_id: "j-new", queue_name: "emails", priority: 7 }));
  assert.equal(state.jobs[0].id, "j-new");
  assert.equal(state.jobs[0].status, "pending");
  assert.equal(state.jobs[0].priority, 7);
  assert.equal(state.overview.jobs.total, 11);
  assert.equal(state.overview.jobs.pending, 3);
  assert.equal(state.overview.recent_activity.jobs_created_1h, 4);
  assert.equal(queue(state, "emails").pending, 3);
  assert.equal(state.lastEventAt, T);
});

test("the same JobCreated twice counts once", () => {
  const once = reduce(loaded(), frame("JobCreated", { job_id: "j-new", queue_name: "emails" }));
  const twice = reduce(deepFreeze(once), frame("JobCreated", { job_id: "j-new", queue_name: "emails" }));
  assert.equal(twice.jobs.filter((j) => j.id === "j-new").length, 1);
  assert.equal(twice.overview.jobs.total, 11);
  assert.equal(queue(twice, "emails").pending, 3);
});

test("a scheduled job is created scheduled, not pending", () => {
  const state = reduce(loaded(), frame("JobCreated", { job_id: "j-later", queue_name: "emails", status: "scheduled" }));
  assert.equal(state.jobs[0].status, "scheduled");
  assert.equal(state.overview.jobs.pending, 2);
});

test("new jobs outside the filters are counted but not listed", () => {
  const byStatus = reduce(loaded({ status: "completed" }), frame("JobCreated", { job_id: "j-new", queue_name: "emails" }));
  assert.equal(byStatus.jobs.some((j) => j.id === "j-new"), false);
  assert.equal(byStatus.overview.jobs.total, 11);
  const byQueue = reduce(loaded({ queue: "billing" }), frame("JobCreated", { job_id: "j-new", queue_name: "emails" }));
  assert.equal(byQueue.jobs.some((j) => j.id === "j-new"), false);
  const matching = reduce(loaded({ queue: "emails" }), frame("JobCreated", { job_id: "j-new", queue_name: "emails" }));
  assert.equal(matching.jobs[0].id, "j-new");
});

test("a claim moves a job from pending to processing", () => {
  const state = reduce(
    loaded(),
    frame("JobStatusChange", { job_id: "j-pending", queue_name: "emails", old_status: "pending", new_status: "processing" }),
  );
  assert.equal(state.jobs.find((j) => j.id === "j-pending").status, "processing");
  assert.equal(state.overview.jobs.pending, 1);
  assert.equal(state.overview.jobs.processing, 2);
  assert.equal(queue(state, "emails").pending, 1);
  assert.equal(queue(state, "emails").processing, 2);
});

test("a completion reported by two frames counts once, in either order", () => {
  const change = frame("JobStatusChange", { job_id: "j-busy", queue_name: "emails", old_status: "processing", new_status: "completed" });
  const completed = frame("JobCompleted", { job_id: "j-busy", queue_name: "emails", duration_ms: 1500 });
  for (const order of [[change, completed], [completed, change]]) {
    const state = order.reduce((s, f) => deepFreeze(reduce(s, f)), loaded());
    const job = state.jobs.find((j) => j.id === "j-busy");
    assert.equal(job.status, "completed");
    assert.equal(state.overview.jobs.processing, 0);
    assert.equal(state.overview.jobs.completed_24h, 6);
    assert.equal(state.overview.recent_activity.jobs_completed_1h, 3);
    assert.equal(queue(state, "emails").processing, 0);
    assert.equal(queue(state, "emails").completed_24h, 6);
  }
  const withDuration = reduce(loaded(), completed);
  assert.equal(withDuration.jobs.find((j) => j.id === "j-busy").duration_ms, 1500);
});

test("a transition the snapshot already shows moves nothing", () => {
  // The frame was sent before the snapshot was read but arrived after it.
  const state = reduce(
    loaded(),
    frame("JobStatusChange", { job_id: "j-busy", queue_name: "emails", old_status: "pending", new_status: "processing" }),
  );
  assert.equal(state.overview.jobs.pending, 2);
  assert.equal(state.overview.jobs.processing, 1);
});

test("a dead-lettered job joins the dead-letter list and the failure counts", () => {
  const state = reduce(
    loaded(),
    frame("JobFailed", { job_id: "j-busy", queue_name: "emails", error: "timeout", retry_count: 3, status: "deadletter" }),
  );
  assert.equal(state.deadLetter[0].id, "j-busy");
  assert.equal(state.deadLetter[0].last_error, "timeout");
  assert.equal(state.deadLetter[0].retry_count, 3);
  assert.equal(state.overview.jobs.deadletter, 2);
  assert.equal(state.overview.jobs.processing, 0);
  assert.equal(state.overview.jobs.failed_24h, 2);
  assert.equal(state.overview.recent_activity.jobs_failed_1h, 1);
  assert.equal(queue(state, "emails").failed_24h, 2);
  const again = reduce(
    deepFreeze(state),
    frame("JobStatusChange", { job_id: "j-busy", queue_name: "emails", old_status: "processing", new_status: "deadletter" }),
  );
  assert.equal(again.deadLetter.filter((j) => j.id === "j-busy").length, 1);
  assert.equal(again.overview.jobs.deadletter, 2);
  assert.equal(again.overview.jobs.failed_24h, 2);
});

test("a job never seen before that dead-letters gets a row from the frame", () => {
  const state = reduce(
    loaded(),
    frame("JobStatusChange", { job_id: "j-elsewhere", queue_name: "emails", old_status: "processing", new_status: "deadletter" }),
  );
  assert.equal(state.deadLetter[0].id, "j-elsewhere");
  assert.equal(state.deadLetter[0].queue_name, "emails");
  assert.equal(state.deadLetter[0].status, "deadletter");
});

test("a failed attempt with retries left annotates the job and moves nothing by itself", () => {
  const state = reduce(loaded(), frame("JobFailed", { job_id: "j-busy", queue_name: "emails", error: "flaky", retry_count: 1 }));
  const job = state.jobs.find((j) => j.id === "j-busy");
  assert.equal(job.status, "processing");
  assert.equal(job.last_error, "flaky");
  assert.equal(job.retry_count, 1);
  assert.equal(job.attempt, 1);
  assert.equal(state.overview.jobs.processing, 1);
  assert.equal(state.overview.jobs.failed_24h, 1);
});

test("retrying a dead letter takes it off the list and back to pending", () => {
  const state = reduce(
    loaded(),
    frame("JobStatusChange", { job_id: "j-dead", queue_name: "emails", old_status: "deadletter", new_status: "pending" }),
  );
  assert.deepEqual(state.deadLetter, []);
  assert.equal(state.overview.jobs.deadletter, 0);
  assert.equal(state.overview.jobs.pending, 3);
  assert.equal(queue(state, "emails").pending, 3);
});

test("a listed job that leaves the status filter leaves the list", () => {
  const state = reduce(
    loaded({ status: "pending" }, [summary("j-pending", "pending")]),
    frame("JobStatusChange", { job_id: "j-pending", queue_name: "emails", old_status: "pending", new_status: "processing" }),
  );
  assert.deepEqual(state.jobs, []);
});

test("counters never go below zero", () => {
  let state = loaded();
  for (const id of ["a", "b", "c", "d"]) {
    state = reduce(state, frame("JobStatusChange", { job_id: id, queue_name: "billing", old_status: "processing", new_status: "completed" }));
  }
  assert.equal(state.overview.jobs.processing, 0);
  assert.equal(queue(state, "billing").processing, 0);
});

test("a frame for a queue not seen yet adds its row", () => {
  const state = reduce(loaded(), frame("JobCreated", { job_id: "j-new", queue_name: "reports" }));
  assert.deepEqual(
    state.queues.map((q) => q.name),
    ["billing", "emails", "reports"],
  );
  assert.equal(queue(state, "reports").pending, 1);
});

test("queue stats frames set the live counts only", () => {
  const state = reduce(loaded(), frame("QueueStats", { queue_name: "emails", pending: 40, processing: 4, completed: 999, failed: 99 }));
  assert.equal(queue(state, "emails").pending, 40);
  assert.equal(queue(state, "emails").processing, 4);
  assert.equal(queue(state, "emails").completed_24h, 5);
});

test("workers come, beat and go, and the overview counts follow", () => {
  let state = reduce(loaded(), frame("WorkerRegistered", { worker_id: "w2", queue_name: "billing", hostname: "box2" }));
  assert.equal(state.workers[0].id, "w2");
  assert.equal(state.workers[0].status, "healthy");
  assert.deepEqual(state.overview.workers, { total: 2, healthy: 2, unhealthy: 0 });
  state = reduce(deepFreeze(state), frame("WorkerHeartbeat", { worker_id: "w2", status: "degraded", current_jobs: 3 }));
  const w2 = state.workers.find((w) => w.id === "w2");
  assert.equal(w2.status, "degraded");
  assert.equal(w2.current_jobs, 3);
  assert.equal(w2.hostname, "box2");
  assert.deepEqual(state.overview.workers, { total: 2, healthy: 1, unhealthy: 1 });
  state = reduce(deepFreeze(state), frame("WorkerDeregistered", { worker_id: "w1", queue_name: "emails" }));
  assert.equal(state.workers.find((w) => w.id === "w1").status, "offline");
  assert.deepEqual(state.overview.workers, { total: 1, healthy: 0, unhealthy: 1 });
});

test("a heartbeat without a status keeps the one known", () => {
  const state = reduce(loaded(), frame("WorkerHeartbeat", { worker_id: "w1" }));
  assert.equal(state.workers[0].status, "healthy");
  assert.equal(state.workers[0].last_heartbeat, T);
});

test("pings only mark the time; errors are shown; unknown frames change nothing", () => {
  const base = loaded();
  const pinged = reduce(base, frame("Ping", { timestamp: "2026-11-01T12:00:30Z" }));
  assert.equal(pinged.lastEventAt, "2026-11-01T12:00:30Z");
  assert.deepEqual({ ...pinged, lastEventAt: base.lastEventAt }, base);
  assert.equal(reduce(base, frame("Error", { message: "queue scope" })).lastError, "queue scope");
  assert.equal(reduce(base, { type: "SomethingNew", data: {} }), base);
  assert.equal(reduce(base, null), base);
});

test("frames before the first snapshot are kept without an overview", () => {
  const state = reduce(deepFreeze(initialState()), frame("JobCreated", { job_id: "j1", queue_name: "emails" }));
  assert.equal(state.overview, null);
  assert.equal(state.jobs[0].id, "j1");
  assert.equal(queue(state, "emails").pending, 1);
});

test("lists and memory stay bounded under a flood of frames", () => {
  let state = loaded();
  for (let i = 0; i < 2600; i += 1) {
    state = reduce(state, frame("JobCreated", { job_id: `job-${i}`, queue_name: "emails" }));
  }
  assert.equal(state.jobs.length, 500);
  assert.equal(state.jobs[0].id, "job-2599");
  assert.equal(Object.keys(state.known).length, 2000);
  assert.equal(state.known["job-2599"], "pending");
  assert.equal(state.overview.jobs.total, 2610);
});

test("filters are normalized and clear the rows fetched for the old ones", () => {
  const state = withFilters(loaded(), { status: "DEADLETTER", queue: "emails" });
  assert.deepEqual(state.filters, { status: "deadletter", queue: "emails" });
  assert.deepEqual(state.jobs, []);
  assert.equal(withConnection(state, "live").connection, "live");
  assert.equal(withConnection(state, state.connection), state);
});

test("the detail view reloads only for frames about its job", () => {
  assert.equal(frameConcernsJob(frame("JobCompleted", { job_id: "j1" }), "j1"), true);
  assert.equal(frameConcernsJob(frame("JobCompleted", { job_id: "j2" }), "j1"), false);
  assert.equal(frameConcernsJob(frame("Ping", {}), "j1"), false);
  assert.equal(frameConcernsJob(null, "j1"), false);
});
