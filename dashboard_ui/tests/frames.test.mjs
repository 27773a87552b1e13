import assert from "node:assert/strict";
import { test } from "node:test";

import { FRAME_TYPES, parseFrame } from "../frames.js";

const frame = (type, data) => JSON.stringify({ type, data });

test("every frame type of contract §2.11 that the dashboard applies is parsed", () => {
  const samples = {
    JobCreated: { job_id: "j1", queue_name: "emails", priority: 0, timestamp: "2026-01-01T00:00:00Z" },
    JobStatusChange: { job_id: "j1", queue_name: "q", old_status: "pending", new_status: "processing" },
    JobCompleted: { job_id: "j1", queue_name: "q", duration_ms: 12 },
    JobFailed: { job_id: "j1", queue_name: "q", error: "boom", retry_count: 1 },
    WorkerHeartbeat: { worker_id: "w1", status: "healthy" },
    WorkerRegistered: { worker_id: "w1", queue_name: "q" },
    WorkerDeregistered: { worker_id: "w1" },
    QueueStats: { queue_name: "q", pending: 1, processing: 2, completed: 3, failed: 4 },
    Ping: { timestamp: "2026-01-01T00:00:00Z" },
    Error: { message: "nope" },
  };
  assert.deepEqual(new Set(Object.keys(samples)), FRAME_TYPES);
  for (const [type, data] of Object.entries(samples)) {
    assert.deepEqual(parseFrame(frame(type, data)), { type, data }, type);
  }
});

test("a Ping without data is still a Ping", () => {
  assert.deepEqual(parseFrame('{"type":"Ping"}'), { type: "Ping", data: {} });
  assert.deepEqual(parseFrame('{"type":"Ping","data":null}'), { type: "Ping", data: {} });
});

const rejected = [
  ["not JSON", "{nope"],
  ["a JSON array", "[1, 2]"],
  ["a JSON string", '"JobCreated"'],
  ["no type", '{"data": {"job_id": "j1"}}'],
  ["an unknown type", frame("SystemHealth", { database: "ok" })],
  ["a dot name instead of the variant", frame("job.created", { job_id: "j1" })],
  ["data that is a list", '{"type": "JobCreated", "data": ["j1"]}'],
  ["a job frame without job_id", frame("JobCompleted", { queue_name: "q" })],
  ["a job id that is not a string", frame("JobCreated", { job_id: 7 })],
  ["a status change without the new status", frame("JobStatusChange", { job_id: "j1" })],
  ["a worker frame without worker_id", frame("WorkerHeartbeat", { status: "healthy" })],
  ["queue stats without a queue", frame("QueueStats", { pending: 1 })],
  ["a binary message", new ArrayBuffer(4)],
];

for (const [what, input] of rejected) {
  test(`drops ${what}`, () => {
    assert.equal(parseFrame(input), null);
  });
}
