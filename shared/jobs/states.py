"""The job state machine (contract §3.1): statuses and the allowed transitions, in one table.

Every transition is a conditional write that asserts its from-state (shared/jobs/expressions/
builds the condition from this table), so two racing callers can never both move a job.
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"  # in the enum and accepted by retry; no REST path writes it (contract §3.1)
    DEADLETTER = "deadletter"
    CANCELLED = "cancelled"


S = JobStatus

# transition name -> (statuses it may start from, status it ends in)
TRANSITIONS: dict[str, tuple[frozenset[JobStatus], JobStatus]] = {
    # a delayed job, or a job waiting out its retry backoff, becomes claimable
    "promote": (frozenset({S.SCHEDULED, S.PENDING}), S.PENDING),
    "claim": (frozenset({S.PENDING}), S.PROCESSING),
    "complete": (frozenset({S.PROCESSING}), S.COMPLETED),
    "fail_retry": (frozenset({S.PROCESSING}), S.PENDING),
    "fail_deadletter": (frozenset({S.PROCESSING}), S.DEADLETTER),
    "heartbeat": (frozenset({S.PROCESSING}), S.PROCESSING),
    "cancel": (frozenset({S.PENDING, S.SCHEDULED}), S.CANCELLED),
    "expire": (frozenset({S.PENDING, S.SCHEDULED}), S.CANCELLED),
    "set_priority": (frozenset({S.PENDING, S.SCHEDULED}), S.PENDING),  # status unchanged in fact
    "retry": (frozenset({S.FAILED, S.DEADLETTER}), S.PENDING),
    "dlq_retry": (frozenset({S.DEADLETTER}), S.PENDING),
    "purge": (frozenset({S.DEADLETTER}), S.DEADLETTER),  # the item is deleted
    # dependencies (docs/workflows.md): a waiting job gains parents and leaves the ready index; a
    # gated job's delay ends (it stays out of the ready index until released); a failed workflow's
    # jobs start over
    "gate": (frozenset({S.PENDING, S.SCHEDULED}), S.PENDING),  # status unchanged in fact
    "promote_gated": (frozenset({S.SCHEDULED, S.PENDING}), S.PENDING),
    "workflow_retry": (frozenset({S.FAILED, S.DEADLETTER, S.CANCELLED}), S.PENDING),
}

TERMINAL = frozenset({S.COMPLETED, S.FAILED, S.DEADLETTER, S.CANCELLED})
ALL_STATUSES = tuple(JobStatus)


def from_states(transition: str) -> frozenset[JobStatus]:
    return TRANSITIONS[transition][0]


def can(transition: str, status: str) -> bool:
    return status in TRANSITIONS[transition][0]
