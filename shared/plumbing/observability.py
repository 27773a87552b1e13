"""Logs and business metrics of every function: Powertools Logger (JSON lines) and Metrics (CloudWatch
embedded metric format, printed to stdout: no API call, no extra permission).

Every module keeps logging through `logging.getLogger("spooled.<part>")`; the first `begin()` (each
handler calls it when an invocation starts) hangs the Powertools JSON handler on the "spooled"
logger, so all of them write JSON with the keys bound here (correlation_id, org_id, queue, job_id,
worker_id).
The level comes from POWERTOOLS_LOG_LEVEL (or LOG_LEVEL), which the stack sets from its `log_level`
context; Lambda's own log-level control (AWS_LAMBDA_LOG_LEVEL) wins when it is set.

Nothing here logs a request body, a payload or a header: callers pass ids, never secrets.

Powertools is imported on the first invocation, not when a handler module is imported: it costs
~60-150 ms on its own (~20-30 ms once boto3 is loaded, as it is by then), which would count against
the handlers' import time (`make bench`, part 4).
The metric names and dimensions are a contract with stacks/monitoring.py (alarms) and
docs/operations.md (cost).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from typing import Any

LOGGER_NAME = "spooled"
NAMESPACE_ENV = "POWERTOOLS_METRICS_NAMESPACE"
DEFAULT_NAMESPACE = "Spooled"
# The one dimension of every metric: which deployment emitted it (the stack's name on AWS).
DEPLOYMENT_ENV = "SPOOLED_DEPLOYMENT"
DEPLOYMENT_DIMENSION = "deployment"
DEFAULT_DEPLOYMENT = "local"
# "true": the job metrics are also emitted with a `queue` dimension ("org_id/queue"), which costs
# one custom metric per queue and metric (docs/operations.md).
PER_QUEUE_ENV = "SPOOLED_METRICS_PER_QUEUE"
QUEUE_DIMENSION = "queue"

# --- metric names (docs/operations.md lists them) ---
JOBS_CREATED = "JobsCreated"
JOBS_CLAIMED = "JobsClaimed"
JOBS_COMPLETED = "JobsCompleted"
JOBS_FAILED = "JobsFailed"  # a worker reported failure (retry scheduled or dead-lettered)
JOBS_RETRIED = "JobsRetried"  # back to pending after a failure or an expired lease
JOBS_DEAD_LETTERED = "JobsDeadLettered"
JOBS_EXPIRED = "JobsExpired"
LEASES_EXPIRED = "LeasesExpired"
CLAIM_RACES_LOST = "ClaimRacesLost"
WEBHOOK_DELIVERED = "WebhookDeliveriesSucceeded"
WEBHOOK_RETRYING = "WebhookDeliveriesFailedRetrying"
WEBHOOK_GAVE_UP = "WebhookDeliveriesFailedFinal"
SCHEDULE_FIRES_ON_TIME = "ScheduleFiresOnTime"
SCHEDULE_FIRES_LATE = "ScheduleFiresLate"
SCHEDULE_FIRES_MISSED = "ScheduleFiresMissed"
PENDING_JOBS = "PendingJobs"
OLDEST_PENDING_AGE = "OldestPendingJobAgeSeconds"

JOB_METRICS = (
    JOBS_CREATED,
    JOBS_CLAIMED,
    JOBS_COMPLETED,
    JOBS_FAILED,
    JOBS_RETRIED,
    JOBS_DEAD_LETTERED,
    JOBS_EXPIRED,
    LEASES_EXPIRED,
)

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:=-]{1,128}")
_lock = threading.RLock()
_logger: Any = None


# --- logs ----------------------------------------------------------------------------------------


def logger() -> Any:
    """The Powertools Logger of this process (created on first use)."""
    global _logger
    if _logger is None:
        with _lock:
            if _logger is None:
                _logger = _make_logger()
    return _logger


def _make_logger() -> Any:
    from aws_lambda_powertools import Logger

    service = os.environ.get("POWERTOOLS_SERVICE_NAME") or LOGGER_NAME
    level = os.environ.get("POWERTOOLS_LOG_LEVEL") or os.environ.get("LOG_LEVEL") or "INFO"
    made = Logger(service=service, level=level)
    # Our modules log through "spooled.*": the same JSON handler (and appended keys) for them.
    spooled = logging.getLogger(LOGGER_NAME)
    if made.registered_handler not in spooled.handlers:
        spooled.handlers = [made.registered_handler]
    spooled.setLevel(made.log_level)
    spooled.propagate = False
    return made


def configure_logging() -> None:
    logger()


def correlation_id(caller_value: str | None, fallback: str | None) -> str:
    """The caller's X-Request-Id when it is a plausible id, else API Gateway's request id."""
    if caller_value and _REQUEST_ID.fullmatch(caller_value):
        return caller_value
    if fallback:
        return fallback
    import uuid

    return str(uuid.uuid4())


def begin(context: Any = None, correlation: str | None = None, **keys: Any) -> None:
    """Start an invocation's (or a record's) log context: drops the previous one's keys.

    The keys are the calling thread's own (Powertools' thread-safe keys): `make dev` runs requests
    and loops side by side in one process, and a key of one must not end up on another's lines.
    """
    log = logger()
    log.thread_safe_clear_keys()
    bind(
        function_request_id=getattr(context, "aws_request_id", None),
        correlation_id=correlation,
        **keys,
    )


def bind(**keys: Any) -> None:
    """Add org_id / queue / job_id / worker_id (those known) to every following line."""
    known = {k: v for k, v in keys.items() if v not in (None, "")}
    if known:
        logger().thread_safe_append_keys(**known)


# --- metrics -------------------------------------------------------------------------------------
# Counters are summed and gauges kept here until flush(), which builds one EMF document per
# dimension set with Powertools' (isolated) EphemeralMetrics and writes each as one line under the
# log handler's lock: `make dev` runs handlers side by side, and a document must never share a line
# with a log record (Powertools' own print() writes the text and the newline separately).

_counts: dict[tuple[str, ...], float] = {}  # (queue or "", name, unit) → value
_gauges: dict[tuple[str, str], list[float]] = {}  # (name, unit) → values


def namespace() -> str:
    return os.environ.get(NAMESPACE_ENV) or DEFAULT_NAMESPACE


def deployment() -> str:
    return os.environ.get(DEPLOYMENT_ENV) or DEFAULT_DEPLOYMENT


def per_queue() -> bool:
    return (os.environ.get(PER_QUEUE_ENV) or "").strip().lower() == "true"


def count(name: str, value: float = 1, *, org_id: str | None = None, queue: str | None = None) -> None:
    """Add `value` to a counter (unit Count). Emitted at the next flush()."""
    if not value:
        return
    with _lock:
        _counts[("", name, "Count")] = _counts.get(("", name, "Count"), 0) + value
        if queue and org_id and per_queue():
            key = (f"{org_id}/{queue}", name, "Count")
            _counts[key] = _counts.get(key, 0) + value


def gauge(name: str, value: float, unit: str = "Count") -> None:
    with _lock:
        _gauges.setdefault((name, unit), []).append(value)


def _documents() -> list[dict[str, Any]]:
    from aws_lambda_powertools.metrics import EphemeralMetrics

    by_queue: dict[str, Any] = {}

    def document_for(queue: str) -> Any:
        if queue not in by_queue:
            made = EphemeralMetrics(namespace=namespace(), service=None)
            # Powertools adds a "service" dimension when POWERTOOLS_SERVICE_NAME is set; the alarms
            # read one deployment-wide series per metric.
            made.service = None
            dimensions = {DEPLOYMENT_DIMENSION: deployment()}
            if queue:
                dimensions[QUEUE_DIMENSION] = queue
            made.set_default_dimensions(**dimensions)
            by_queue[queue] = made
        return by_queue[queue]

    for (queue, name, unit), value in _counts.items():
        document_for(queue).add_metric(name=name, unit=unit, value=value)
    for (name, unit), values in _gauges.items():
        for value in values:
            document_for("").add_metric(name=name, unit=unit, value=value)
    return [made.serialize_metric_set() for made in by_queue.values()]


def flush() -> None:
    """Write the pending metrics as EMF documents (stdout → CloudWatch Logs → metrics)."""
    with _lock:
        if not _counts and not _gauges:
            return
        documents = _documents()
        _counts.clear()
        _gauges.clear()
    handler = _logger.registered_handler if _logger is not None else None
    if handler is not None:
        handler.acquire()
    try:
        for document in documents:
            sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
        sys.stdout.flush()
    finally:
        if handler is not None:
            handler.release()
