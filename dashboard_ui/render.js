// State → DOM. Every value from the API is set as text (textContent, attributes through the DOM):
// job payloads, errors and names are user input and are never parsed as HTML.

import {
  formatAge,
  formatCount,
  formatDuration,
  formatJson,
  orDash,
  shortId,
  statusClass,
} from "./format.js";

const $ = (id) => document.getElementById(id);

/** An element with text and children; `on` maps event names to handlers. */
export function el(tag, { className, text, title, attrs, on } = {}, children = []) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (title) node.title = String(title);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
  for (const [event, handler] of Object.entries(on || {})) node.addEventListener(event, handler);
  for (const child of children) if (child) node.append(child);
  return node;
}

const cell = (text, options = {}) => el("td", { text, ...options });
const badge = (status) => el("span", { className: statusClass(status), text: orDash(status) });

function showIf(node, visible) {
  node.hidden = !visible;
}

function card(label, value, hint) {
  return el("div", { className: "card" }, [
    el("div", { className: "card-value", text: value }),
    el("div", { className: "card-label", text: label }),
    hint ? el("div", { className: "card-hint", text: hint }) : null,
  ]);
}

function renderOverview(overview) {
  const cards = $("overview-cards");
  if (!overview) {
    cards.replaceChildren(el("p", { className: "muted", text: "Loading…" }));
    $("system-line").textContent = "";
    return;
  }
  const { jobs = {}, workers = {}, recent_activity: hour = {}, system = {} } = overview;
  cards.replaceChildren(
    card("pending", formatCount(jobs.pending)),
    card("processing", formatCount(jobs.processing)),
    card("completed 24 h", formatCount(jobs.completed_24h), `${formatCount(hour.jobs_completed_1h)} in the last hour`),
    card("failed 24 h", formatCount(jobs.failed_24h), `${formatCount(hour.jobs_failed_1h)} in the last hour`),
    card("dead letters", formatCount(jobs.deadletter)),
    card("jobs", formatCount(jobs.total), `${formatCount(hour.jobs_created_1h)} created in the last hour`),
    card("workers", formatCount(workers.total), `${formatCount(workers.healthy)} healthy, ${formatCount(workers.unhealthy)} not`),
    card("avg wait", formatDuration(jobs.avg_wait_time_ms), `processing ${formatDuration(jobs.avg_processing_time_ms)}`),
  );
  $("system-line").textContent =
    `version ${orDash(system.version)} · ${orDash(system.environment)} · ` +
    `database ${orDash(system.database_status)} · up ${formatDuration((system.uptime_seconds ?? NaN) * 1000)}`;
}

function renderQueues(queues, actions) {
  $("queue-rows").replaceChildren(
    ...queues.map((q) =>
      el("tr", {}, [
        el("th", { text: q.name, attrs: { scope: "row" } }),
        cell(formatCount(q.pending)),
        cell(formatCount(q.processing)),
        cell(formatCount(q.completed_24h)),
        cell(formatCount(q.failed_24h)),
        cell(formatDuration(q.avg_processing_time_ms)),
        cell(q.max_job_age_seconds === null ? "—" : formatDuration(q.max_job_age_seconds * 1000)),
        cell(formatCount(q.active_workers)),
        el("td", {}, [el("span", { className: q.paused ? "status status-paused" : "status status-active", text: q.paused ? "paused" : "active" })]),
        el("td", {}, [
          el("button", {
            text: q.paused ? "Resume" : "Pause",
            attrs: { type: "button" },
            on: { click: () => (q.paused ? actions.resumeQueue(q.name) : actions.pauseQueue(q.name)) },
          }),
          el("button", {
            text: "Jobs",
            attrs: { type: "button" },
            on: { click: () => actions.filterQueue(q.name) },
          }),
        ]),
      ]),
    ),
  );
  showIf($("queues-empty"), queues.length === 0);
  $("queue-names").replaceChildren(...queues.map((q) => el("option", { attrs: { value: q.name } })));
}

function jobLink(id, actions) {
  return el("button", {
    className: "link mono",
    text: shortId(id),
    title: id,
    attrs: { type: "button" },
    on: { click: () => actions.openJob(id) },
  });
}

/** Retries used, out of the job's allowance when known. */
function attempts(job) {
  const used = job.retry_count ?? job.attempt;
  return job.max_retries === null || job.max_retries === undefined
    ? formatCount(used)
    : `${formatCount(used)} / ${formatCount(job.max_retries)}`;
}

function renderJobs(state, nowMs, actions) {
  $("job-rows").replaceChildren(
    ...state.jobs.map((job) =>
      el("tr", {}, [
        el("td", {}, [jobLink(job.id, actions)]),
        cell(job.queue_name),
        cell(orDash(job.job_type)),
        el("td", {}, [badge(job.status)]),
        cell(formatCount(job.priority)),
        cell(attempts(job)),
        cell(formatAge(job.created_at, nowMs), { title: job.created_at }),
        cell(orDash(job.last_error), { className: job.last_error ? "error-text" : "", title: job.last_error }),
      ]),
    ),
  );
  showIf($("jobs-empty"), state.jobs.length === 0);
  showIf($("jobs-more"), state.jobsHasMore);
}

function renderWorkers(workers, nowMs) {
  $("worker-rows").replaceChildren(
    ...workers.map((w) =>
      el("tr", {}, [
        cell(shortId(w.id), { className: "mono", title: w.id }),
        cell(orDash(w.queue_name)),
        cell(orDash(w.hostname)),
        el("td", {}, [badge(w.status)]),
        cell(w.max_concurrency ? `${formatCount(w.current_jobs)} / ${formatCount(w.max_concurrency)}` : formatCount(w.current_jobs)),
        cell(formatAge(w.last_heartbeat, nowMs), { title: w.last_heartbeat }),
      ]),
    ),
  );
  showIf($("workers-empty"), workers.length === 0);
}

function renderDeadLetter(state, nowMs, actions) {
  $("dlq-rows").replaceChildren(
    ...state.deadLetter.map((job) =>
      el("tr", {}, [
        el("td", {}, [jobLink(job.id, actions)]),
        cell(job.queue_name),
        cell(orDash(job.job_type)),
        cell(attempts(job)),
        cell(formatAge(job.created_at, nowMs), { title: job.created_at }),
        cell(orDash(job.last_error), { className: job.last_error ? "error-text" : "", title: job.last_error }),
        el("td", {}, [
          el("button", { text: "Retry", attrs: { type: "button" }, on: { click: () => actions.retryJob(job.id) } }),
        ]),
      ]),
    ),
  );
  showIf($("dlq-empty"), state.deadLetter.length === 0);
  showIf($("dlq-more"), state.deadLetterHasMore);
  const retryAll = $("dlq-retry-all");
  retryAll.textContent = state.filters.queue ? `Retry all in ${state.filters.queue}` : "Retry all";
  retryAll.disabled = state.deadLetter.length === 0;
}

const CONNECTION_TEXT = {
  offline: "offline",
  connecting: "connecting…",
  live: "live",
  polling: "polling every 5 s",
};

export function render(state, nowMs, actions) {
  const connection = $("connection");
  connection.textContent = CONNECTION_TEXT[state.connection] ?? state.connection;
  connection.className = `connection connection-${state.connection in CONNECTION_TEXT ? state.connection : "offline"}`;
  $("last-event").textContent = state.lastEventAt ? `last event ${formatAge(state.lastEventAt, nowMs)}` : "";
  const message = $("message");
  message.textContent = state.lastError ?? "";
  showIf(message, Boolean(state.lastError));
  renderOverview(state.overview);
  renderQueues(state.queues, actions);
  renderJobs(state, nowMs, actions);
  renderWorkers(state.workers, nowMs);
  renderDeadLetter(state, nowMs, actions);
}

export function renderSignedIn(signedIn, error) {
  showIf($("signin"), !signedIn);
  showIf($("board"), signedIn);
  showIf($("sign-out"), signedIn);
  showIf($("refresh"), signedIn);
  const signinError = $("signin-error");
  signinError.textContent = error ?? "";
  showIf(signinError, Boolean(error));
}

const DETAIL_FIELDS = [
  ["id", "Id"],
  ["queue_name", "Queue"],
  ["status", "Status"],
  ["priority", "Priority"],
  ["retry_count", "Retries used"],
  ["max_retries", "Max retries"],
  ["timeout_seconds", "Timeout (s)"],
  ["last_error", "Last error"],
  ["assigned_worker_id", "Worker"],
  ["lease_expires_at", "Lease expires"],
  ["idempotency_key", "Idempotency key"],
  ["parent_job_id", "Parent job"],
  ["created_at", "Created"],
  ["scheduled_at", "Scheduled"],
  ["started_at", "Started"],
  ["completed_at", "Completed"],
  ["expires_at", "Expires"],
];

function eventDetails(details) {
  // Every event carries the organization id (contract §3.14): the same on every row, so noise here.
  const { organization_id: _org, ...rest } = details && typeof details === "object" ? details : {};
  return Object.keys(rest).length ? JSON.stringify(rest) : "—";
}

export function renderDetail(detail, nowMs) {
  const { job, history } = detail;
  $("detail-title").textContent = `Job ${shortId(job.id)}`;
  $("detail-fields").replaceChildren(
    ...DETAIL_FIELDS.flatMap(([key, label]) => {
      const value = job[key];
      const text = key.endsWith("_at") && value ? `${value} (${formatAge(value, nowMs)})` : orDash(value);
      return [el("dt", { text: label }), key === "status" ? el("dd", {}, [badge(value)]) : el("dd", { text })];
    }),
    el("dt", { text: "Tags" }),
    el("dd", { text: job.tags === null || job.tags === undefined ? "—" : JSON.stringify(job.tags) }),
  );
  $("detail-payload").textContent = formatJson(job.payload);
  $("detail-result").textContent = formatJson(job.result);
  $("detail-history").replaceChildren(
    ...history.map((event) =>
      el("tr", {}, [
        cell(formatAge(event.created_at, nowMs), { title: event.created_at }),
        cell(event.event_type),
        cell(orDash(event.worker_id)),
        el("td", {}, [el("code", { text: eventDetails(event.details) })]),
      ]),
    ),
  );
  showIf($("detail-retry"), job.status === "failed" || job.status === "deadletter");
  showIf($("detail-cancel"), job.status === "pending" || job.status === "scheduled");
}
