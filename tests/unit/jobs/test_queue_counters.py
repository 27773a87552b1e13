"""Folding stream records into per-queue count changes."""

from __future__ import annotations

from typing import Any

import pytest

from shared.jobs.queues.counters import deltas_from_records


def _image(status: str, queue: str = "q", org: str = "o", job: str = "j") -> dict[str, Any]:
    return {
        "pk": {"S": f"JOB#{org}#{job}"},
        "org_id": {"S": org},
        "queue_name": {"S": queue},
        "status": {"S": status},
    }


def _record(old: str | None, new: str | None, **kw: str) -> dict[str, Any]:
    change: dict[str, Any] = {}
    if old:
        change["OldImage"] = _image(old, **kw)
    if new:
        change["NewImage"] = _image(new, **kw)
    return {"dynamodb": change}


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ([_record(None, "pending")], {("o", "q"): {"pending": 1}}),
        ([_record("pending", "processing")], {("o", "q"): {"pending": -1, "processing": 1}}),
        ([_record("processing", "processing")], {}),  # a heartbeat changes no count
        (
            [_record(None, "pending"), _record("pending", "processing"), _record("processing", "completed")],
            {("o", "q"): {"completed": 1}},
        ),
        ([_record("deadletter", None)], {("o", "q"): {"deadletter": -1}}),  # purge
        (
            [_record(None, "pending", queue="a"), _record(None, "pending", queue="b")],
            {("o", "a"): {"pending": 1}, ("o", "b"): {"pending": 1}},
        ),
    ],
)
def test_deltas(records: list[dict[str, Any]], expected: dict[Any, Any]) -> None:
    assert deltas_from_records(records) == expected


def test_other_items_are_ignored() -> None:
    worker = {"dynamodb": {"NewImage": {"pk": {"S": "WORKER#w"}, "status": {"S": "healthy"}}}}
    assert deltas_from_records([worker]) == {}
