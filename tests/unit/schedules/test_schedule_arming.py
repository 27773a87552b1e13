"""Which stream records arm a schedule, and how each fire is delivered (pure decisions)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.plumbing import dynamo_codec
from shared.schedules.arming import (
    Disarm,
    FireMessage,
    ScheduleTimer,
    SendDelayed,
    WakeAt,
    delivery,
    schedules_to_arm,
)

NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z
ORG = "0a0a0a0a-0000-4000-8000-000000000001"


@pytest.mark.parametrize(
    ("fire_ms", "expected"),
    [
        (None, Disarm()),
        (NOW - 5_000, SendDelayed(0)),  # overdue (stream lag): at once
        (NOW, SendDelayed(0)),
        # SQS delays are whole seconds: within [-0.75 s, +0.25 s] of the fire (early ones are held).
        (NOW + 1, SendDelayed(0)),
        (NOW + 749, SendDelayed(0)),
        (NOW + 750, SendDelayed(1)),
        (NOW + 1_749, SendDelayed(1)),
        (NOW + 1_750, SendDelayed(2)),
        (NOW + 60_000, SendDelayed(60)),
        (NOW + 899_999, SendDelayed(900)),
        (NOW + 900_000, SendDelayed(900)),  # the last that fits SQS
        (NOW + 900_001, WakeAt("at(2026-01-01T00:05:00)")),  # ten minutes early, whole seconds
        (NOW + 3_600_000 + 7_500, WakeAt("at(2026-01-01T00:50:07)")),
        (NOW + 86_400_000, WakeAt("at(2026-01-01T23:50:00)")),
    ],
)
def test_delivery(fire_ms: int | None, expected: object) -> None:
    assert delivery(ScheduleTimer(ORG, "s1", fire_ms), NOW) == expected


def _image(
    schedule_id: str = "s1", *, active: bool = True, next_run_ms: int | None = NOW + 10_000, **extra: Any
) -> dict[str, Any]:
    item = {
        "pk": f"SCHEDULE#{ORG}#{schedule_id}",
        "sk": "SCHEDULE",
        "id": schedule_id,
        "org_id": ORG,
        "name": "n",
        "is_active": active,
        "next_run_ms": next_run_ms,
        **extra,
    }
    return dynamo_codec.encode_item(item)


def _record(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    change: dict[str, Any] = {}
    if old is not None:
        change["OldImage"] = old
    if new is not None:
        change["NewImage"] = new
    return {"eventSource": "aws:dynamodb", "dynamodb": change}


def _run_image() -> dict[str, Any]:
    return dynamo_codec.encode_item(
        {"pk": f"SCHEDULE#{ORG}#s1", "sk": "RUN#000001767225600000#r1", "id": "r1", "org_id": ORG}
    )


def _job_image() -> dict[str, Any]:
    return dynamo_codec.encode_item({"pk": f"JOB#{ORG}#3", "sk": "j1", "id": "j1", "org_id": ORG})


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ([_record(None, _image())], [ScheduleTimer(ORG, "s1", NOW + 10_000)]),  # created
        (  # fired: next run moved on
            [_record(_image(), _image(next_run_ms=NOW + 20_000))],
            [ScheduleTimer(ORG, "s1", NOW + 20_000)],
        ),
        ([_record(_image(), _image(name="renamed"))], []),  # an edit that keeps the fire
        ([_record(_image(), _image(run_count=4))], []),  # a manual trigger
        ([_record(_image(), _image(active=False, next_run_ms=None))], [ScheduleTimer(ORG, "s1", None)]),
        (  # resumed
            [_record(_image(active=False, next_run_ms=None), _image(next_run_ms=NOW + 5_000))],
            [ScheduleTimer(ORG, "s1", NOW + 5_000)],
        ),
        ([_record(_image(), None)], [ScheduleTimer(ORG, "s1", None)]),  # deleted
        ([_record(_image(active=False, next_run_ms=None), None)], [ScheduleTimer(ORG, "s1", None)]),
        ([_record(None, _run_image())], []),  # a run row is no schedule
        ([_record(None, _job_image()), _record(_job_image(), None)], []),
        (  # several changes of one schedule in a batch: the last one counts
            [
                _record(None, _image()),
                _record(_image(), _image(next_run_ms=NOW + 20_000)),
                _record(_image(next_run_ms=NOW + 20_000), _image(next_run_ms=NOW + 30_000)),
            ],
            [ScheduleTimer(ORG, "s1", NOW + 30_000)],
        ),
        (  # two schedules
            [_record(None, _image("a")), _record(_image("b"), None)],
            [ScheduleTimer(ORG, "a", NOW + 10_000), ScheduleTimer(ORG, "b", None)],
        ),
    ],
)
def test_schedules_to_arm(records: list[dict[str, Any]], expected: list[ScheduleTimer]) -> None:
    assert schedules_to_arm(records) == expected


def test_fire_message_round_trips_and_rejects_other_documents() -> None:
    message = FireMessage(ORG, "s1", NOW)
    assert FireMessage.from_json(message.to_json()) == message
    for text in ("[]", '{"org_id": "x"}', "not json"):
        with pytest.raises((ValueError, KeyError)):
            FireMessage.from_json(text)
