"""An example Lambda worker: a function a Spooled queue pushes its jobs to.

Deploy it as any Python Lambda function (handler "handler.handler"), then name it in the queue's
config (see README.md next to this file). Each invocation receives one job:

    {"id": "...", "queue_name": "...", "payload": {...}, "retry_count": 0, "max_retries": 3,
     "timeout_seconds": 300, "lease_id": "...", "lease_expires_at": "...", "organization_id": "..."}

Whatever it returns becomes the job's result; an exception fails the job, which is retried after a
backoff and dead-lettered once max_retries is spent. `make dev` runs these same functions
in-process under the names spooled-example-worker and spooled-example-failing-worker.
"""

from __future__ import annotations

from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    payload = event.get("payload") or {}
    words = str(payload.get("text", "")).split()
    return {
        "job_id": event["id"],
        "words": len(words),
        "longest": max(words, key=len) if words else None,
        "attempt": event["retry_count"] + 1,
    }


def failing_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fails every time: its jobs use up their retries and land in the dead-letter queue."""
    raise RuntimeError(f"cannot process job {event['id']} (attempt {event['retry_count'] + 1})")
