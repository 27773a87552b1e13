"""A workflow's status and counts from its jobs' statuses (contract §3.8; shared/workflows/service.py)."""

from __future__ import annotations

import pytest

from shared.workflows.progress import progress_counts, workflow_status


@pytest.mark.parametrize(
    ("statuses", "current", "expected"),
    [
        (["pending", "pending"], "pending", "pending"),
        (["scheduled", "pending"], "pending", "pending"),
        (["processing", "pending"], "pending", "running"),
        (["completed", "pending"], "pending", "running"),
        (["pending", "pending"], "running", "running"),  # just retried: it is running again
        (["completed", "completed"], "running", "completed"),
        (["completed", "deadletter"], "running", "failed"),
        (["failed", "cancelled"], "running", "failed"),
        (["completed", "cancelled"], "running", "cancelled"),
        (["deadletter", "processing"], "running", "running"),  # something can still run
        (["completed", None], "running", "failed"),  # a job purged from the DLQ counts as failed
        (["completed", "pending"], "cancelled", "cancelled"),  # cancel is final
        (["completed"], "cancelled", "cancelled"),
        (["pending"], "failed", "running"),  # a job retried from the DLQ reopens a failed workflow
    ],
)
def test_workflow_status(statuses: list[str | None], current: str, expected: str) -> None:
    assert workflow_status(statuses, current) == expected


def test_progress_counts_every_status_once() -> None:
    counts = progress_counts(
        [
            "pending",
            "scheduled",
            "processing",
            "completed",
            "completed",
            "failed",
            "deadletter",
            "cancelled",
            None,
        ]
    )
    assert counts == {"total": 9, "completed": 2, "failed": 3, "pending": 2, "processing": 1, "cancelled": 1}
