"""Part 7: end-to-end latency of cron fires, live updates and outgoing webhooks in `make dev`.

One `python -m local_stack` child process, driven by the official SDK, a WebSocket client
(`websockets`, subscribed as the SDK's realtime client subscribes) and a webhook receiver thread in
this process:

1. cron: a `* * * * * *` schedule runs for N seconds; each job's created_at minus the fire instant
   in its idempotency key `schedule:{id}:{fire_ms}` (both stamped by the stack), and every fire
   accounted for: missed and duplicate fires must be 0 and are reported, not asserted.
2. live: from the SDK's response to POST /jobs to the JobCreated frame, and from the response to
   complete to the JobCompleted frame, one job at a time (no queueing behind other jobs).
3. webhook: from the same complete response to the receiver getting the job.completed POST, whose
   signature is checked as docs/webhooks.md tells a customer to.

Baseline: the round trip of GET /api/v1/jobs/{id} through the same SDK client against the same
stack, sampled between the jobs so that it sees the same load. moto serializes every AWS call and
the stack polls the stream every 0.2 s: these are regression figures for our pipeline, not AWS's.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.event_stats import cron_fires, fire_ms_of, last_due_fire_ms, summary_ms, times_baseline
from bench.lifecycle import BenchError
from bench.throughput import API_KEY, REQUEST_TIMEOUT_SECONDS, RunningStack, local_stack

STREAM_POLL_SECONDS = 0.2  # local_stack/runtime.py: what bounds live and webhook latency locally
EVENT_TIMEOUT_SECONDS = 15.0  # a frame or request not seen by then is counted missing
SETTLE_MS = 2000  # a fire due this close to the pause may have been dropped as stale
BASELINE_GETS_PER_JOB = 3
WARMUP_JOBS = 2  # the stack's first fan-outs and deliveries pay lazy imports and clients
SECRET = "whsec_bench_0123456789abcdef"


class Arrivals:
    """When each (kind, job id) was first seen in this process, for threads to wait on."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], float] = {}
        self._changed = threading.Condition()

    def record(self, kind: str, job_id: str) -> None:
        at = time.perf_counter()
        with self._changed:
            self._seen.setdefault((kind, job_id), at)
            self._changed.notify_all()

    def wait(self, kind: str, job_id: str, timeout: float = EVENT_TIMEOUT_SECONDS) -> float | None:
        with self._changed:
            self._changed.wait_for(lambda: (kind, job_id) in self._seen, timeout)
            return self._seen.get((kind, job_id))


@dataclass
class Receiver:
    url: str
    arrivals: Arrivals
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def signed_by(secret: str, body: bytes, timestamp: str, signature: str) -> bool:
    """docs/webhooks.md's check, written independently of the service's own signing code."""
    expected = (
        "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    )
    return hmac.compare_digest(expected, signature)


@contextlib.contextmanager
def webhook_receiver(arrivals: Arrivals) -> Iterator[Receiver]:
    receiver: Receiver | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            assert receiver is not None
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            good = signed_by(
                SECRET,
                body,
                self.headers.get("X-Spooled-Timestamp", ""),
                self.headers.get("X-Spooled-Signature", ""),
            )
            envelope = json.loads(body)
            if not good:
                with receiver.lock:
                    receiver.bad_signatures += 1
            elif envelope.get("event") == "job.completed":
                receiver.arrivals.record("webhook", envelope["data"]["job_id"])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks/bench", arrivals)
    thread = threading.Thread(target=server.serve_forever, name="bench-webhook-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def live_socket(stack: RunningStack, queue: str, arrivals: Arrivals) -> Iterator[None]:
    """A WebSocket subscribed to `queue`; returns once a Ping answered after the subscribe proves the
    subscription is in place (the server handles one connection's commands in order)."""
    from websockets.sync.client import connect

    url = stack.base_url.replace("http://", "ws://") + f"/api/v1/ws?token={API_KEY}"
    kinds = {"JobCreated": "created", "JobCompleted": "completed", "Ping": "ping"}
    with connect(url, open_timeout=30) as ws:

        def listen() -> None:
            with contextlib.suppress(Exception):  # the socket closing ends the loop
                for message in ws:
                    frame = json.loads(message)
                    kind = kinds.get(frame.get("type", ""))
                    if kind:
                        arrivals.record(kind, (frame.get("data") or {}).get("job_id") or "-")

        listener = threading.Thread(target=listen, name="bench-websocket", daemon=True)
        listener.start()
        ws.send(json.dumps({"cmd": "subscribe", "queue": queue}))
        ws.send(json.dumps({"cmd": "ping"}))
        if arrivals.wait("ping", "-") is None:
            raise BenchError("the WebSocket never answered a ping")
        yield
    listener.join(timeout=5)


@contextlib.contextmanager
def sse_stream(stack: RunningStack, queue: str, arrivals: Arrivals) -> Iterator[None]:
    """The official SDK's SSE client on `/events?queue=` (buffered windows it reconnects to, docs/sse.md);
    returns once its first window has ended, so the stream has a position before the first job."""
    from spooled.realtime.sse import SSEClient

    sse = SSEClient(stack.base_url, API_KEY, queue=queue)
    kinds = {"job.created": "sse_created", "job.completed": "sse_completed", "system.health": "sse_health"}

    def listen() -> None:
        with contextlib.suppress(Exception):  # close() ends the loop
            for event in sse.events():
                kind = kinds.get(event.type)
                if kind:
                    arrivals.record(kind, (event.data or {}).get("job_id") or "-")

    listener = threading.Thread(target=listen, name="bench-sse", daemon=True)
    listener.start()
    try:
        if arrivals.wait("sse_health", "-") is None:
            raise BenchError("the SSE stream never ended a first window")
        yield
    finally:
        sse.close()
        listener.join(timeout=5)


def _client(stack: RunningStack) -> Any:
    from spooled import CircuitBreakerConfig, RetryConfig, SpooledClient

    return SpooledClient(
        api_key=API_KEY,
        base_url=stack.base_url,
        timeout=REQUEST_TIMEOUT_SECONDS,
        retry=RetryConfig(max_retries=0),  # a retried request would hide in the figures
        circuit_breaker=CircuitBreakerConfig(enabled=False),
    )


def _ms(moment: Any) -> int:
    return round(moment.timestamp() * 1000)


def measure_cron(client: Any, seconds: int) -> dict[str, Any]:
    queue = f"bench-cron-{uuid.uuid4().hex[:8]}"
    created = client.schedules.create(
        {
            "name": "bench every second",
            "cron_expression": "* * * * * *",
            "queue_name": queue,
            "payload_template": {},
        }
    )
    first_fire_ms = _ms(created.next_run_at)
    time.sleep(max(0.0, first_fire_ms / 1000 - time.time()) + seconds)
    stopped_ms = time.time_ns() // 1_000_000
    client.schedules.pause(created.id)
    time.sleep(SETTLE_MS / 1000)  # a fire in flight at the pause lands or is dropped by now
    ids: list[str] = []
    while True:
        page = client.jobs.list({"queue_name": queue, "limit": 100, "offset": len(ids)})
        ids += [job.id for job in page]
        if not page.has_more:
            break
    jobs = [client.jobs.get(job_id) for job_id in ids]
    runs = client.schedules.get_history(created.id, limit=500)
    client.schedules.delete(created.id)
    fires = cron_fires(
        [(fire_ms_of(job.idempotency_key, created.id), _ms(job.created_at)) for job in jobs],
        first_fire_ms,
        last_due_fire_ms(first_fire_ms, stopped_ms, SETTLE_MS),
    )
    return {
        "seconds": seconds,
        **fires,
        "runs_recorded": sum(1 for run in runs if run.status == "completed"),
        "failed_runs": sum(1 for run in runs if run.status == "failed"),
    }


def measure_events(client: Any, stack: RunningStack, receiver: Receiver, jobs: int) -> dict[str, Any]:
    queue = f"bench-live-{uuid.uuid4().hex[:8]}"
    arrivals = receiver.arrivals
    latencies: dict[str, list[float]] = {
        "created": [],
        "completed": [],
        "sse_created": [],
        "sse_completed": [],
        "webhook": [],
    }
    missing = dict.fromkeys(latencies, 0)
    baseline: list[float] = []
    with live_socket(stack, queue, arrivals), sse_stream(stack, queue, arrivals):
        for index in range(WARMUP_JOBS + jobs):
            job_id = client.jobs.create({"queue_name": queue, "payload": {"n": index}}).id
            created_at = time.perf_counter()
            seen = {"created": arrivals.wait("created", job_id)}
            seen["sse_created"] = arrivals.wait("sse_created", job_id)
            [leased] = client.jobs.claim({"queue_name": queue, "worker_id": "bench", "limit": 1}).jobs
            done = {"worker_id": "bench", "lease_id": leased.lease_id, "result": {"ok": True}}
            client.jobs.complete(leased.id, done)
            completed_at = time.perf_counter()
            seen["completed"] = arrivals.wait("completed", job_id)
            seen["sse_completed"] = arrivals.wait("sse_completed", job_id)
            seen["webhook"] = arrivals.wait("webhook", job_id)
            for _ in range(BASELINE_GETS_PER_JOB):
                began = time.perf_counter()
                client.jobs.get(job_id)
                baseline.append((time.perf_counter() - began) * 1000)
            if index < WARMUP_JOBS:
                continue
            for kind, at in seen.items():
                if at is None:
                    missing[kind] += 1
                else:
                    since = created_at if kind.endswith("created") else completed_at
                    latencies[kind].append((at - since) * 1000)
    return {
        "baseline": summary_ms(baseline[WARMUP_JOBS * BASELINE_GETS_PER_JOB :]),
        "latencies": {
            kind: {**summary_ms(values), "missing": missing[kind]} for kind, values in latencies.items()
        },
    }


WHAT = {
    "cron": "cron job created_at minus its fire second",
    "created": "POST /jobs response → JobCreated frame",
    "completed": "complete response → JobCompleted frame",
    "sse_created": "POST /jobs response → job.created on the SDK's SSE client (windows, docs/sse.md)",
    "sse_completed": "complete response → job.completed on the SDK's SSE client",
    "webhook": "complete response → signed job.completed POST received",
}


def measure(log_path: Path, shards: int, cron_seconds: int, jobs: int) -> dict[str, Any]:
    with local_stack(log_path, shards) as stack, webhook_receiver(Arrivals()) as receiver:
        client = _client(stack)
        try:
            # Registered first: the fan-out caches an organization's webhooks for up to 5 s, and the
            # cron part gives that cache time to see this one before any job completes.
            hook = client.webhooks.create(
                {"name": "bench", "url": receiver.url, "events": ["job.completed"], "secret": SECRET}
            )
            cron = measure_cron(client, cron_seconds)
            events = measure_events(client, stack, receiver, jobs)
            client.webhooks.delete(hook.id)
        finally:
            client.close()
    base = events["baseline"]["median_ms"]
    rows = {"cron": {**cron.pop("lateness"), "missing": cron["missed"]}, **events["latencies"]}
    for kind, row in rows.items():
        row["what"] = WHAT[kind]
        row["median_x_baseline"] = times_baseline(row["median_ms"], base)
    return {
        "baseline": {
            "what": "GET /api/v1/jobs/{id} round trip, same SDK client and stack",
            **events["baseline"],
        },
        "latencies": rows,
        "cron": cron,
        "jobs": jobs,
        "bad_signatures": receiver.bad_signatures,
        "stream_poll_seconds": STREAM_POLL_SECONDS,
        "note": (
            "One `python -m local_stack` child process; its embedded moto serializes every AWS call and its "
            "stream is polled every 0.2 s, which bounds the live and webhook figures: regression figures for "
            "our own pipeline on this machine, not predictions for AWS."
        ),
    }
