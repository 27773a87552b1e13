// The dashboard page: sign-in, REST snapshots, the live socket with its polling fallback, and the
// user's actions. What the state is and how frames change it lives in state.js; how it looks, in
// render.js; every REST path, in endpoints.js.

import { reconnectDelayMs } from "./backoff.js";
import { drawCharts, hourTotals } from "./charts.js";
import { endpoints, MAX_PAGE, PAGE_SIZE } from "./endpoints.js";
import { parseFrame } from "./frames.js";
import { render, renderDetail, renderSignedIn } from "./render.js";
import {
  applySnapshot,
  frameConcernsJob,
  initialState,
  reduce,
  withConnection,
  withError,
  withFilters,
} from "./state.js";
import {
  apiBase,
  fragmentWithoutKey,
  keyFromFragment,
  keyToUse,
  requestUrl,
  webSocketUrl,
} from "./urls.js";

const KEY_STORAGE = "spooled.dashboard.apiKey";
const POLL_MS = 5000; // without the socket
const RECONCILE_MS = 30000; // with it: snapshots correct what frames cannot say (24 h figures, drift)
const MAX_QUEUE_STATS = 25; // per-queue stats calls per refresh
const CONNECT_TIMEOUT_MS = 10000; // a handshake nobody answers must not hold off the polling
const ACTIVITY_MS = 20000; // the charts move by the minute: no need to reload them every 5 s
const BASE = apiBase(window.location.pathname);
const $ = (id) => document.getElementById(id);

let state = initialState();
let apiKey = null;
let socket = null;
let socketFailures = 0;
let reconnectTimer = null;
let refreshTimer = null;
let refreshing = null;
let refreshAgain = false;
let generation = 0; // bumped on sign-out and filter changes: late answers for old views are dropped
let detail = null; // {job, history} of the job shown in the dialog
let detailReload = null;
let renderQueued = false;
let activityLoadedAt = 0;
let activityQueue = null;

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// --- state and rendering -----------------------------------------------------------------

function setState(next) {
  state = next;
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render(state, Date.now(), actions);
  });
}

function report(error) {
  if (error instanceof ApiError && error.status === 401) return; // signOut has said it
  setState(withError(state, error instanceof Error ? error.message : String(error)));
}

// --- REST --------------------------------------------------------------------------------

async function call(endpoint) {
  const key = apiKey;
  const headers = { Authorization: `Bearer ${key}`, Accept: "application/json" };
  const init = { method: endpoint.method, headers, cache: "no-store", credentials: "omit" };
  if (endpoint.body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(endpoint.body);
  }
  const response = await fetch(requestUrl(BASE, endpoint), init);
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (response.status === 401 && key === apiKey) {
    signOut("The API key was not accepted (revoked, expired or mistyped).");
  }
  if (!response.ok) {
    throw new ApiError(response.status, body?.code, body?.message || `HTTP ${response.status}`);
  }
  return { body, hasMore: response.headers.get("X-Has-More") === "true" };
}

function showActivity(doc) {
  const t = hourTotals(doc);
  $("activity-summary").textContent =
    `${t.created} created, ${t.completed} completed, ${t.failed} failed, ${t.deadlettered} dead-lettered ` +
    `in the last hour; ${t.pending} pending and ${t.processing} processing now` +
    (doc.queue_name ? ` (queue ${doc.queue_name})` : "");
  drawCharts(doc, document, window.uPlot);
}

// The charts follow the queue filter; a failure here leaves the rest of the board alone.
async function loadActivity(mine, queue) {
  if (queue === activityQueue && Date.now() - activityLoadedAt < ACTIVITY_MS) return;
  try {
    const { body } = await call(endpoints.activity(queue));
    if (mine !== generation || !body) return;
    activityLoadedAt = Date.now();
    activityQueue = queue;
    showActivity(body);
  } catch (error) {
    report(error);
  }
}

async function loadSnapshot() {
  const mine = generation;
  const filters = state.filters;
  const jobLimit = Math.min(MAX_PAGE, Math.max(PAGE_SIZE, state.jobs.length));
  const dlqLimit = Math.min(MAX_PAGE, Math.max(PAGE_SIZE, state.deadLetter.length));
  const [overview, queues, jobs, workers, deadLetter] = await Promise.all([
    call(endpoints.dashboard()),
    call(endpoints.queues()),
    call(endpoints.jobs(filters, 0, jobLimit)),
    call(endpoints.workers()),
    call(endpoints.deadLetter(filters.queue, 0, dlqLimit)),
  ]);
  const names = (queues.body || []).map((q) => q.queue_name).slice(0, MAX_QUEUE_STATS);
  const stats = await Promise.all(
    names.map((name) =>
      call(endpoints.queueStats(name))
        .then((r) => r.body)
        .catch(() => null),
    ),
  );
  if (mine !== generation) return; // signed out or filters changed meanwhile
  loadActivity(mine, filters.queue || null);
  setState(
    applySnapshot(withError(state, null), {
      overview: overview.body,
      queueConfigs: queues.body || [],
      queueStats: Object.fromEntries(names.map((name, i) => [name, stats[i]])),
      jobs: jobs.body || [],
      jobsHasMore: jobs.hasMore,
      workers: workers.body || [],
      deadLetter: deadLetter.body || [],
      deadLetterHasMore: deadLetter.hasMore,
    }),
  );
}

/**
 * One snapshot at a time. A request while one runs asks for one more after it (that one may
 * have been read before the change the caller just made) and resolves when that is applied.
 */
function refresh() {
  if (!apiKey) return Promise.resolve();
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  refreshing = (async () => {
    do {
      refreshAgain = false;
      await loadSnapshot().catch(report);
    } while (refreshAgain && apiKey);
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

function scheduleRefresh(intervalMs) {
  clearInterval(refreshTimer);
  refreshTimer = setInterval(() => {
    // A hidden tab costs the API nothing; it refreshes when it is shown again.
    if (!document.hidden) refresh();
  }, intervalMs);
}

// --- the live socket ---------------------------------------------------------------------

function connect() {
  clearTimeout(reconnectTimer);
  if (!apiKey) return;
  if (typeof WebSocket === "undefined") {
    startPolling();
    return;
  }
  if (state.connection === "offline") setState(withConnection(state, "connecting"));
  let ws;
  try {
    ws = new WebSocket(webSocketUrl(window.location, BASE, apiKey));
  } catch {
    socketLost(null);
    return;
  }
  socket = ws;
  const handshake = setTimeout(() => {
    if (socket === ws && ws.readyState === WebSocket.CONNECTING) ws.close();
  }, CONNECT_TIMEOUT_MS);
  ws.addEventListener("open", () => {
    clearTimeout(handshake);
    if (socket !== ws) return;
    socketFailures = 0;
    setState(withConnection(state, "live"));
    scheduleRefresh(RECONCILE_MS);
    refresh(); // frames sent before the socket opened are in the snapshot
  });
  ws.addEventListener("message", (event) => {
    if (socket !== ws) return;
    const frame = parseFrame(event.data);
    if (!frame) return;
    setState(reduce(state, frame));
    if (detail && frameConcernsJob(frame, detail.job.id)) reloadDetailSoon();
  });
  ws.addEventListener("close", () => {
    clearTimeout(handshake);
    socketLost(ws);
  });
}

function socketLost(ws) {
  if (ws !== null && socket !== ws) return; // an old socket, or one closed on purpose
  socket = null;
  if (!apiKey) return;
  startPolling();
  reconnectTimer = setTimeout(connect, reconnectDelayMs(socketFailures));
  socketFailures += 1;
}

function startPolling() {
  if (state.connection !== "polling") {
    setState(withConnection(state, "polling"));
    scheduleRefresh(POLL_MS);
  }
}

function disconnect() {
  const ws = socket;
  socket = null;
  if (ws) ws.close(1000, "signed out");
  clearTimeout(reconnectTimer);
  clearInterval(refreshTimer);
  socketFailures = 0;
}

// --- sign-in -----------------------------------------------------------------------------

async function signIn(key) {
  apiKey = key;
  generation += 1;
  try {
    await call(endpoints.dashboard()); // proves the key before the board opens
  } catch (error) {
    if (apiKey !== key) return; // rejected: signOut has run
    apiKey = null;
    renderSignedIn(false, error.message);
    return;
  }
  sessionStorage.setItem(KEY_STORAGE, key);
  renderSignedIn(true, null);
  setState(initialState(state.filters));
  await refresh();
  connect();
}

function signOut(reason = null) {
  apiKey = null;
  generation += 1;
  activityLoadedAt = 0;
  sessionStorage.removeItem(KEY_STORAGE);
  disconnect();
  closeDetail();
  setState(initialState(state.filters));
  renderSignedIn(false, reason);
  $("api-key").value = "";
}

// --- job detail --------------------------------------------------------------------------

async function openJob(id) {
  try {
    const [job, history] = await Promise.all([call(endpoints.job(id)), call(endpoints.jobHistory(id))]);
    detail = { job: job.body, history: history.body || [] };
    renderDetail(detail, Date.now());
    const dialog = $("job-detail");
    if (!dialog.open) dialog.showModal();
  } catch (error) {
    report(error);
  }
}

function reloadDetailSoon() {
  // Several frames arrive per transition: reload once after they settle.
  clearTimeout(detailReload);
  detailReload = setTimeout(() => {
    if (detail) openJob(detail.job.id);
  }, 300);
}

function closeDetail() {
  detail = null;
  clearTimeout(detailReload);
  const dialog = $("job-detail");
  if (dialog.open) dialog.close();
}

// --- actions -----------------------------------------------------------------------------

async function act(endpoint) {
  try {
    await call(endpoint);
  } catch (error) {
    report(error);
  }
  await refresh();
}

function applyFilters(filters) {
  generation += 1;
  setState(withFilters(state, filters));
  $("filter-status").value = state.filters.status;
  $("filter-queue").value = state.filters.queue;
  refresh();
}

async function loadMore(kind) {
  const mine = generation;
  try {
    if (kind === "jobs") {
      const page = await call(endpoints.jobs(state.filters, state.jobs.length));
      if (mine === generation) {
        setState(applySnapshot(state, { jobs: page.body || [], jobsHasMore: page.hasMore, appendJobs: true }));
      }
    } else {
      const page = await call(endpoints.deadLetter(state.filters.queue, state.deadLetter.length));
      if (mine === generation) {
        setState(
          applySnapshot(state, {
            deadLetter: page.body || [],
            deadLetterHasMore: page.hasMore,
            appendDeadLetter: true,
          }),
        );
      }
    }
  } catch (error) {
    report(error);
  }
}

const actions = {
  openJob,
  pauseQueue: (name) => act(endpoints.pauseQueue(name)),
  resumeQueue: (name) => act(endpoints.resumeQueue(name)),
  retryJob: (id) => act(endpoints.retryJob(id)),
  filterQueue: (name) => applyFilters({ ...state.filters, queue: name }),
};

function wire() {
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (key) signIn(key);
  });
  $("sign-out").addEventListener("click", () => signOut());
  $("refresh").addEventListener("click", () => {
    activityLoadedAt = 0; // a refresh asked for by hand reloads the charts too
    refresh();
  });
  $("job-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    applyFilters({ status: $("filter-status").value, queue: $("filter-queue").value });
  });
  $("filter-status").addEventListener("change", () =>
    applyFilters({ status: $("filter-status").value, queue: $("filter-queue").value }),
  );
  $("filter-clear").addEventListener("click", () => applyFilters({}));
  $("jobs-more").addEventListener("click", () => loadMore("jobs"));
  $("dlq-more").addEventListener("click", () => loadMore("deadLetter"));
  $("dlq-retry-all").addEventListener("click", () => {
    const queue = state.filters.queue;
    const what = queue ? `every dead-lettered job of ${queue}` : "the dead-lettered jobs (up to 100, oldest first)";
    if (window.confirm(`Retry ${what}?`)) act(endpoints.retryDeadLetter(queue));
  });
  $("detail-close").addEventListener("click", closeDetail);
  $("job-detail").addEventListener("close", () => {
    detail = null;
  });
  $("detail-retry").addEventListener("click", async () => {
    if (detail) await act(endpoints.retryJob(detail.job.id));
    if (detail) openJob(detail.job.id);
  });
  $("detail-cancel").addEventListener("click", async () => {
    if (detail && window.confirm("Cancel this job?")) await act(endpoints.cancelJob(detail.job.id));
    if (detail) openJob(detail.job.id);
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && apiKey) refresh();
  });
  // Relative times ("12 s ago") age even when nothing happens.
  setInterval(() => {
    if (apiKey && !document.hidden) setState(state);
  }, 10000);
}

function start() {
  wire();
  const fromFragment = keyFromFragment(window.location.hash);
  if (fromFragment) {
    // The key leaves the address bar (and the history) as soon as it is read.
    const url = window.location.pathname + window.location.search + fragmentWithoutKey(window.location.hash);
    window.history.replaceState(null, "", url);
  }
  // A link's key is used only after the visitor agrees (issue 12, finding 8).
  const key = keyToUse(fromFragment, sessionStorage.getItem(KEY_STORAGE), (question) =>
    window.confirm(question),
  );
  if (key) {
    renderSignedIn(false, null);
    signIn(key);
  } else {
    renderSignedIn(false, null);
  }
  render(state, Date.now(), actions);
}

start();
