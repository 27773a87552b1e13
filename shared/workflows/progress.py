"""A workflow's status and progress from its jobs' statuses (contract §3.8): pure, shared by create,
the service and the sweep.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.jobs.states import JobStatus

S = JobStatus


STATUSES = ("pending", "running", "completed", "failed", "cancelled")


FINISHED = frozenset({"completed", "failed", "cancelled"})


# The sweep looks at an open workflow this long after its last look: the safety net for a
# release that a failed stream batch never made.
CHECK_EVERY_MS = 5 * 60 * 1000


def workflow_status(statuses: Sequence[str | None], current: str) -> str:
    """Contract §3.8 over the jobs' statuses. A missing job (purged from the DLQ) counts as failed.
    Cancelled stays cancelled; pending until the first job starts."""
    if current == "cancelled":
        return "cancelled"
    seen = [status or S.DEADLETTER for status in statuses]
    if any(status in (S.PENDING, S.SCHEDULED, S.PROCESSING) for status in seen):
        started = any(status not in (S.PENDING, S.SCHEDULED) for status in seen)
        return "running" if started or current != "pending" else "pending"
    if any(status in (S.FAILED, S.DEADLETTER) for status in seen):
        return "failed"
    if any(status == S.CANCELLED for status in seen):
        return "cancelled"
    return "completed"


def progress_counts(statuses: Sequence[str | None]) -> dict[str, int]:
    seen = [status or S.DEADLETTER for status in statuses]
    return {
        "total": len(seen),
        "completed": sum(status == S.COMPLETED for status in seen),
        "failed": sum(status in (S.FAILED, S.DEADLETTER) for status in seen),
        "pending": sum(status in (S.PENDING, S.SCHEDULED) for status in seen),
        "processing": sum(status == S.PROCESSING for status in seen),
        "cancelled": sum(status == S.CANCELLED for status in seen),
    }
