"""A worker's status as shown: stale heartbeats read as offline (shared/jobs/workers/directory.py)."""

from __future__ import annotations

import pytest

from shared.jobs.workers.directory import STALE_AFTER_MS, effective_status

NOW = 1_800_000_000_000


@pytest.mark.parametrize(
    ("stored", "heartbeat_age_ms", "shown"),
    [
        ("healthy", 0, "healthy"),
        ("healthy", STALE_AFTER_MS - 1, "healthy"),
        ("healthy", STALE_AFTER_MS, "offline"),
        ("degraded", 10_000, "degraded"),
        ("degraded", STALE_AFTER_MS + 1, "offline"),
        ("draining", STALE_AFTER_MS * 5, "offline"),
        ("offline", 0, "offline"),  # a deregistered worker stays offline even right after
    ],
)
def test_effective_status(stored: str, heartbeat_age_ms: int, shown: str) -> None:
    assert effective_status({"status": stored, "last_heartbeat": NOW - heartbeat_age_ms}, NOW) == shown
