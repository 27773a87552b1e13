"""The job metrics (created, claimed, completed, failed, retried, dead-lettered, expired, leases
expired), read from the table's stream rather than counted on each write path.

Every transition of a job appends a history event in the same conditional write, and the stream
carries the job's old and new image: the event(s) the new image added name what happened, whoever
wrote it (the API, the sweep, a timer message, the Lambda-worker invoker). The store stays free of
metric calls, and a transition added later is counted once its event kind is listed here.
Like the queue counters, the counts are at-least-once: a retried stream batch counts again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from shared.jobs.expressions.keys import is_job_image
from shared.plumbing import observability as obs

# history event kind → metric; a failure event carries the worker id ("w") when a worker reported
# it, and none when the sweep or a timer found the lease expired.
_BY_EVENT = {
    "processing": obs.JOBS_CLAIMED,
    "completed": obs.JOBS_COMPLETED,
    "deadlettered": obs.JOBS_DEAD_LETTERED,
    "retry_scheduled": obs.JOBS_RETRIED,
    "expired": obs.JOBS_EXPIRED,
}


def _events(image: dict[str, Any] | None) -> list[dict[str, Any]]:
    return list((image or {}).get("events", {}).get("L", []))


def counts_from_records(records: Iterable[dict[str, Any]]) -> Counter[tuple[str, str, str]]:
    """(metric, org_id, queue) → count for a batch of stream records."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for record in records:
        change = record.get("dynamodb", {})
        new = change.get("NewImage")
        if not new or not is_job_image(new):
            continue
        org_id = new.get("org_id", {}).get("S", "")
        queue = new.get("queue_name", {}).get("S", "")
        old = change.get("OldImage")
        if old is None and record.get("eventName") == "INSERT":
            counts[(obs.JOBS_CREATED, org_id, queue)] += 1
        # Claims and completions append no history entry (shared/jobs/model.history_events): they
        # are status changes. The "processing" entry a failure writes down is not a claim.
        before = (old or {}).get("status", {}).get("S")
        after = new.get("status", {}).get("S")
        if after != before and after in ("processing", "completed"):
            counts[(_BY_EVENT[after], org_id, queue)] += 1
        added = _events(new)[len(_events(old)) :]
        for event in added:
            fields = event.get("M", {})
            kind = fields.get("e", {}).get("S", "")
            metric = None if kind in ("processing", "completed") else _BY_EVENT.get(kind)
            if metric is None:
                continue
            counts[(metric, org_id, queue)] += 1
            if kind in ("retry_scheduled", "deadlettered"):
                by_worker = "w" in fields
                counts[(obs.JOBS_FAILED if by_worker else obs.LEASES_EXPIRED, org_id, queue)] += 1
    return counts


def record_batch(records: Iterable[dict[str, Any]]) -> None:
    for (metric, org_id, queue), n in counts_from_records(records).items():
        obs.count(metric, n, org_id=org_id, queue=queue)
