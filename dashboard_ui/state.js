// The dashboard's state and the pure functions that change it. Nothing here touches the DOM, the
// network or the clock: every function takes a state and returns a new one (inputs are never
// mutated), so the tests can feed it snapshots and frames and look at what comes out.
//
// Two sources feed the state: snapshots (what the REST API answered, authoritative) and realtime
// frames (contract §2.11), which move the counters between snapshots. Frames can repeat or
// overlap (a completion arrives as JobStatusChange and as JobCompleted), so counters move only
// when a job's known status actually changes; the next snapshot corrects whatever drifted.

import { normalizeFilters } from "./urls.js";

// Jobs whose last status the reducer remembers, to apply each transition once.
const KNOWN_JOBS_CAP = 2000;
// Rows kept in the recent-jobs and dead-letter lists however many frames arrive.
const LIST_CAP = 500;
// GET /workers returns at most 100 rows: below that the list is complete and can be counted.
const WORKER_PAGE = 100;

export function initialState(filters = {}) {
  return {
    overview: null,
    queues: [],
    jobs: [],
    jobsHasMore: false,
    filters: normalizeFilters(filters),
    workers: [],
    deadLetter: [],
    deadLetterHasMore: false,
    known: {},
    connection: "offline",
    lastEventAt: null,
    lastError: null,
  };
}

export function withConnection(state, connection) {
  return state.connection === connection ? state : { ...state, connection };
}

export function withFilters(state, filters) {
  // The rows on screen were fetched for the old filters: drop them until the new page arrives.
  return { ...state, filters: normalizeFilters(filters), jobs: [], jobsHasMore: false };
}

export function withError(state, message) {
  return { ...state, lastError: message || null };
}

/** One row per queue: its configuration, the overview's live counts and its stats, merged. */
export function mergeQueues(configs = [], overviewQueues = [], statsByName = {}) {
  const rows = new Map();
  const row = (name) => {
    if (!rows.has(name)) {
      rows.set(name, {
        name,
        pending: 0,
        processing: 0,
        completed_24h: null,
        failed_24h: null,
        active_workers: null,
        avg_processing_time_ms: null,
        max_job_age_seconds: null,
        paused: false,
        max_retries: null,
        default_timeout: null,
      });
    }
    return rows.get(name);
  };
  for (const config of configs || []) {
    if (!config || typeof config.queue_name !== "string") continue;
    Object.assign(row(config.queue_name), {
      paused: config.enabled === false,
      max_retries: config.max_retries ?? null,
      default_timeout: config.default_timeout ?? null,
    });
  }
  for (const queue of overviewQueues || []) {
    if (!queue || typeof queue.name !== "string") continue;
    Object.assign(row(queue.name), {
      pending: queue.pending ?? 0,
      processing: queue.processing ?? 0,
      paused: Boolean(queue.paused),
    });
  }
  for (const [name, stats] of Object.entries(statsByName || {})) {
    if (!stats) continue;
    Object.assign(row(name), {
      pending: stats.pending_jobs ?? row(name).pending,
      processing: stats.processing_jobs ?? row(name).processing,
      completed_24h: stats.completed_jobs_24h ?? null,
      failed_24h: stats.failed_jobs_24h ?? null,
      active_workers: stats.active_workers ?? null,
      avg_processing_time_ms: stats.avg_processing_time_ms ?? null,
      max_job_age_seconds: stats.max_job_age_seconds ?? null,
    });
  }
  return [...rows.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Apply what the REST API answered. Every key is optional: a snapshot replaces only the parts it
 * carries. `queueConfigs`, `overview` and `queueStats` together rebuild the queue rows.
 */
export function applySnapshot(state, snapshot) {
  const next = { ...state };
  if (snapshot.overview !== undefined) next.overview = snapshot.overview;
  if (snapshot.queueConfigs !== undefined || snapshot.overview !== undefined) {
    next.queues = mergeQueues(
      snapshot.queueConfigs ?? configsOf(state.queues),
      (snapshot.overview ?? state.overview)?.queues ?? [],
      snapshot.queueStats ?? {},
    );
  }
  let known = state.known;
  const remember = (rows) => {
    for (const job of rows) {
      if (job && typeof job.id === "string" && known[job.id] !== job.status) {
        if (known === state.known) known = { ...known };
        delete known[job.id]; // re-inserted last: the newest survive the cap
        known[job.id] = job.status;
      }
    }
  };
  if (snapshot.jobs !== undefined) {
    next.jobs = snapshot.appendJobs ? appendUnique(state.jobs, snapshot.jobs) : [...snapshot.jobs];
    next.jobsHasMore = Boolean(snapshot.jobsHasMore);
    remember(snapshot.jobs);
  }
  if (snapshot.deadLetter !== undefined) {
    next.deadLetter = snapshot.appendDeadLetter
      ? appendUnique(state.deadLetter, snapshot.deadLetter)
      : [...snapshot.deadLetter];
    next.deadLetterHasMore = Boolean(snapshot.deadLetterHasMore);
    remember(snapshot.deadLetter);
  }
  if (snapshot.workers !== undefined) next.workers = [...snapshot.workers];
  next.known = capKnown(known);
  return next;
}

function configsOf(queues) {
  // Rows rebuilt without a fresh queue list keep what the last one said about each queue.
  return queues.map((q) => ({
    queue_name: q.name,
    enabled: !q.paused,
    max_retries: q.max_retries,
    default_timeout: q.default_timeout,
  }));
}

function appendUnique(rows, more) {
  const seen = new Set(rows.map((r) => r.id));
  return [...rows, ...more.filter((r) => r && !seen.has(r.id))];
}

function capKnown(known) {
  const ids = Object.keys(known);
  if (ids.length <= KNOWN_JOBS_CAP) return known;
  const kept = {};
  for (const id of ids.slice(ids.length - KNOWN_JOBS_CAP)) kept[id] = known[id];
  return kept;
}

/** Apply one realtime frame (as parseFrame returns it). Unknown frames leave the state as is. */
export function reduce(state, frame) {
  if (!frame || typeof frame.type !== "string") return state;
  const data = frame.data || {};
  const stamped = { ...state, lastEventAt: data.timestamp ?? state.lastEventAt };
  switch (frame.type) {
    case "JobCreated":
      return jobCreated(stamped, data);
    case "JobStatusChange":
      return jobTransition(stamped, data, data.new_status, data.old_status, {});
    case "JobCompleted":
      return jobTransition(stamped, data, "completed", "processing", {
        completed_at: data.timestamp ?? null,
        duration_ms: data.duration_ms ?? null,
      });
    case "JobFailed": {
      const patch = { last_error: data.error ?? null };
      if (Number.isInteger(data.retry_count)) Object.assign(patch, { retry_count: data.retry_count, attempt: data.retry_count });
      // Servers that say where the job went (failed or deadletter) move it; others only annotate it,
      // and the JobStatusChange that accompanies the failure moves it.
      return jobTransition(stamped, data, typeof data.status === "string" ? data.status : null, "processing", patch);
    }
    case "WorkerRegistered":
      return workerChanged(stamped, data, {
        status: "healthy",
        queue_name: data.queue_name,
        hostname: data.hostname,
        last_heartbeat: data.timestamp,
      });
    case "WorkerHeartbeat":
      return workerChanged(stamped, data, {
        status: data.status,
        current_jobs: data.current_jobs,
        last_heartbeat: data.timestamp,
      });
    case "WorkerDeregistered":
      return workerChanged(stamped, data, { status: "offline", current_jobs: 0 });
    case "QueueStats":
      // Only the live counts: the frame's completed/failed are not the 24-hour figures the
      // panel shows, which come with the next snapshot.
      return {
        ...stamped,
        queues: upsertQueue(stamped.queues, data.queue_name, (row) => ({
          ...row,
          pending: data.pending ?? row.pending,
          processing: data.processing ?? row.processing,
        })),
      };
    case "Ping":
      return stamped;
    case "Error":
      return { ...stamped, lastError: data.message || "The live connection reported an error" };
    default:
      return state;
  }
}

function matchesFilters(filters, job) {
  return (!filters.status || filters.status === job.status) && (!filters.queue || filters.queue === job.queue_name);
}

function jobCreated(state, data) {
  if (state.known[data.job_id] !== undefined) return state; // a repeated frame
  const status = typeof data.status === "string" ? data.status : "pending";
  const row = {
    id: data.job_id,
    queue_name: data.queue_name ?? "",
    status,
    priority: data.priority ?? 0,
    retry_count: 0,
    attempt: 0,
    max_retries: null,
    job_type: "",
    last_error: null,
    created_at: data.timestamp ?? null,
    scheduled_at: null,
    started_at: null,
    completed_at: null,
  };
  let next = { ...state, known: capKnown({ ...state.known, [data.job_id]: status }) };
  next = moveCounters(next, row.queue_name, null, status, true);
  if (matchesFilters(state.filters, row)) next.jobs = [row, ...state.jobs].slice(0, LIST_CAP);
  return next;
}

function jobTransition(state, data, to, fromHint, patch) {
  const id = data.job_id;
  const known = state.known[id];
  const listed = state.jobs.find((j) => j.id === id) || state.deadLetter.find((j) => j.id === id);
  const queue = data.queue_name ?? listed?.queue_name ?? "";
  const from = known ?? listed?.status ?? (typeof fromHint === "string" ? fromHint : null);
  const changes = Boolean(to) && to !== known;
  const update = (row) => ({ ...row, ...patch, ...(to ? { status: to } : {}) });

  let next = { ...state };
  if (changes) {
    next.known = capKnown({ ...state.known, [id]: to });
    next = moveCounters(next, queue, from, to);
  }
  next.jobs = state.jobs
    .map((row) => (row.id === id ? update(row) : row))
    .filter((row) => row.id !== id || matchesFilters(state.filters, row));

  if (to && to !== "deadletter") {
    next.deadLetter = state.deadLetter.filter((row) => row.id !== id);
  } else if (to === "deadletter" && !state.deadLetter.some((row) => row.id === id)) {
    const base = listed ?? { id, queue_name: queue, priority: 0, retry_count: 0, attempt: 0, created_at: null };
    next.deadLetter = [update(base), ...state.deadLetter].slice(0, LIST_CAP);
  } else {
    next.deadLetter = state.deadLetter.map((row) => (row.id === id ? update(row) : row));
  }
  return next;
}

const COUNTED = ["pending", "processing", "deadletter"];
const FAILED = new Set(["failed", "deadletter"]);

// `from` is null when the job's previous status is unknown: nothing is taken away then.
function moveCounters(state, queueName, from, to, created = false) {
  const next = { ...state };
  if (state.overview) {
    const jobs = { ...state.overview.jobs };
    const activity = { ...state.overview.recent_activity };
    const add = (key, n) => {
      if (typeof jobs[key] === "number") jobs[key] = Math.max(0, jobs[key] + n);
    };
    if (COUNTED.includes(from)) add(from, -1);
    if (COUNTED.includes(to)) add(to, 1);
    if (created) {
      add("total", 1);
      activity.jobs_created_1h = (activity.jobs_created_1h ?? 0) + 1;
    }
    if (to === "completed") {
      add("completed_24h", 1);
      activity.jobs_completed_1h = (activity.jobs_completed_1h ?? 0) + 1;
    }
    if (FAILED.has(to) && !FAILED.has(from)) {
      add("failed_24h", 1);
      activity.jobs_failed_1h = (activity.jobs_failed_1h ?? 0) + 1;
    }
    next.overview = { ...state.overview, jobs, recent_activity: activity };
  }
  if (queueName) {
    next.queues = upsertQueue(state.queues, queueName, (row) => {
      const moved = { ...row };
      for (const key of ["pending", "processing"]) {
        if (from === key) moved[key] = Math.max(0, moved[key] - 1);
        if (to === key) moved[key] += 1;
      }
      if (to === "completed" && moved.completed_24h !== null) moved.completed_24h += 1;
      if (FAILED.has(to) && !FAILED.has(from) && moved.failed_24h !== null) moved.failed_24h += 1;
      return moved;
    });
  }
  return next;
}

function upsertQueue(queues, name, change) {
  if (typeof name !== "string" || name === "") return queues;
  if (queues.some((q) => q.name === name)) return queues.map((q) => (q.name === name ? change(q) : q));
  const [fresh] = mergeQueues([], [{ name, pending: 0, processing: 0, paused: false }]);
  return [...queues, change(fresh)].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function workerChanged(state, data, fields) {
  const patch = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined && v !== null));
  const index = state.workers.findIndex((w) => w.id === data.worker_id);
  let workers;
  if (index >= 0) {
    workers = state.workers.map((w, i) => (i === index ? { ...w, ...patch } : w));
  } else {
    const fresh = {
      id: data.worker_id,
      queue_name: "",
      hostname: "",
      status: "healthy",
      current_jobs: 0,
      max_concurrency: null,
      last_heartbeat: null,
      ...patch,
    };
    workers = [fresh, ...state.workers];
  }
  const next = { ...state, workers };
  if (state.overview && workers.length < WORKER_PAGE) {
    // As the server counts them (shared/operations/dashboard.py): every worker not offline is live.
    const live = workers.filter((w) => w.status !== "offline").length;
    const healthy = workers.filter((w) => w.status === "healthy").length;
    next.overview = { ...state.overview, workers: { total: live, healthy, unhealthy: live - healthy } };
  }
  return next;
}

/** Whether a frame concerns the job shown in the detail view (which then reloads). */
export function frameConcernsJob(frame, jobId) {
  return Boolean(frame && jobId && frame.data && frame.data.job_id === jobId);
}
