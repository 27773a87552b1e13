// How numbers, times, ids and statuses are shown. Pure: the clock is passed in.

import { JOB_STATUSES } from "./urls.js";

const WORKER_STATUSES = ["healthy", "degraded", "offline", "draining"];
const DASH = "—";
// A payload is user input of up to 1 MiB: show the beginning, not a frozen tab.
export const MAX_JSON_CHARS = 100_000;

export function formatCount(value, locale = undefined) {
  return typeof value === "number" && Number.isFinite(value) ? value.toLocaleString(locale) : DASH;
}

export function formatDuration(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) return DASH;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const whole = Math.floor(seconds);
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${whole % 60} s`;
  return `${Math.floor(whole / 3600)} h ${Math.floor((whole % 3600) / 60)} min`;
}

/** "12 s ago", "in 3 min"; a dash for a missing or unreadable time. */
export function formatAge(iso, nowMs) {
  const at = typeof iso === "string" ? Date.parse(iso) : NaN;
  if (Number.isNaN(at)) return DASH;
  const diff = Math.round((nowMs - at) / 1000);
  const size = Math.abs(diff);
  if (size < 5) return "just now";
  let text;
  if (size < 60) text = `${size} s`;
  else if (size < 3600) text = `${Math.floor(size / 60)} min`;
  else if (size < 86400) text = `${Math.floor(size / 3600)} h`;
  else text = `${Math.floor(size / 86400)} d`;
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

export function shortId(id) {
  return typeof id === "string" && id.length > 8 ? id.slice(0, 8) : String(id ?? DASH);
}

/** A CSS class for a status badge; statuses come from the server, so only known ones are used. */
export function statusClass(status) {
  return JOB_STATUSES.includes(status) || WORKER_STATUSES.includes(status)
    ? `status status-${status}`
    : "status status-unknown";
}

export function formatJson(value) {
  const text = value === undefined ? "null" : JSON.stringify(value, null, 2);
  if (text.length <= MAX_JSON_CHARS) return text;
  return `${text.slice(0, MAX_JSON_CHARS)}\n… (${(text.length - MAX_JSON_CHARS).toLocaleString()} more characters)`;
}

export function orDash(value) {
  return value === undefined || value === null || value === "" ? DASH : String(value);
}
