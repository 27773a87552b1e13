// Realtime frames (contract §2.11): `{"type": "<Variant>", "data": {...}}`. Anything else, and
// variants the dashboard does not know, is dropped, as the SDK does.

export const FRAME_TYPES = new Set([
  "JobCreated",
  "JobStatusChange",
  "JobCompleted",
  "JobFailed",
  "WorkerHeartbeat",
  "WorkerRegistered",
  "WorkerDeregistered",
  "QueueStats",
  "Ping",
  "Error",
]);

// The frames that are about one job or one worker are useless without its id.
const REQUIRED = {
  JobCreated: ["job_id"],
  JobStatusChange: ["job_id", "new_status"],
  JobCompleted: ["job_id"],
  JobFailed: ["job_id"],
  WorkerHeartbeat: ["worker_id"],
  WorkerRegistered: ["worker_id"],
  WorkerDeregistered: ["worker_id"],
  QueueStats: ["queue_name"],
};

const isObject = (value) => typeof value === "object" && value !== null && !Array.isArray(value);

/** A frame from the socket's text, or null when it is not one the dashboard can apply. */
export function parseFrame(text) {
  if (typeof text !== "string") return null;
  let message;
  try {
    message = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObject(message) || !FRAME_TYPES.has(message.type)) return null;
  const data = message.data === undefined || message.data === null ? {} : message.data;
  if (!isObject(data)) return null;
  for (const field of REQUIRED[message.type] || []) {
    if (typeof data[field] !== "string" || data[field] === "") return null;
  }
  return { type: message.type, data };
}
