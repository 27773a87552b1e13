"""Timer messages as data: delays, grouping, encoding, and which stream changes arm a timer (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.jobs.timers import changed_timer, queues_to_pump, timers_to_arm
from shared.plumbing import dynamo_codec
from shared.plumbing.table_keys import timer_sk
from shared.plumbing.timer_queue import FarTimer, LeaseCheck, Wake, decode, delay_seconds, wakes

NOW = 1_767_225_600_000


@pytest.mark.parametrize(
    ("due_in_ms", "expected"),
    [
        (-5_000, 0),  # overdue: at once
        (0, 0),
        (749, 0),  # delivered at most 0.25 s late, at most 0.75 s early (then held until due)
        (750, 1),
        (1_749, 1),
        (2_500, 2),
        (2_800, 3),
        (899_400, 899),
        (900_000, 900),
        (901_000, 900),  # SQS's limit: a far timer's first hop
        (21 * 86_400_000, 900),
    ],
)
def test_delay_seconds(due_in_ms: int, expected: int) -> None:
    assert delay_seconds(NOW + due_in_ms, NOW) == expected


def test_wakes_are_one_per_window_due_at_the_latest() -> None:
    sks = [timer_sk(NOW + offset, f"j{offset}") for offset in (30_000, 30_004, 30_999, 31_000, 45_500)]
    assert wakes("o", "q", sks, 1_000, named=False) == [
        Wake("o", "q", NOW + 30_999),
        Wake("o", "q", NOW + 31_000),
        Wake("o", "q", NOW + 45_500),
    ]
    assert wakes("o", "q", sks, 100, named=True) == [
        Wake("o", "q", NOW + 30_004, (sks[0], sks[1])),
        Wake("o", "q", NOW + 30_999, (sks[2],)),
        Wake("o", "q", NOW + 31_000, (sks[3],)),
        Wake("o", "q", NOW + 45_500, (sks[4],)),
    ]


def test_a_crowded_window_is_split_into_wakes_of_at_most_100_names() -> None:
    sks = [timer_sk(NOW, f"job-{n:03d}") for n in range(250)]
    split = wakes("o", "q", sks, 100, named=True)
    assert [len(wake.timers) for wake in split] == [100, 100, 50]
    assert sorted(sk for wake in split for sk in wake.timers) == sorted(sks)


@pytest.mark.parametrize(
    "message",
    [
        Wake("org", "queue.name-1", NOW),
        Wake("org", "q", NOW, (timer_sk(NOW, "a"), timer_sk(NOW, "b"))),
        FarTimer("org", "q", "job", timer_sk(NOW + 10**9, "job"), 7),
    ],
)
def test_messages_round_trip(message: Wake | FarTimer) -> None:
    assert decode(message.to_json()) == message


@pytest.mark.parametrize("body", ["", "[]", '{"kind": "invoke"}', '{"kind": "wake"}', "not json"])
def test_other_bodies_are_refused(body: str) -> None:
    with pytest.raises((ValueError, KeyError)):
        decode(body)


def _job(status: str, timer: int | None, lease: str | None = None, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"pk": "JOB#o#j", "id": "j", "org_id": "o", "queue_name": "q", "status": status}
    if timer is not None:
        item["timer_sk"] = timer_sk(timer, "j")
    if lease:
        item["lease_id"] = lease
    return {**item, **extra}


T1, T2 = NOW + 30_000, NOW + 60_000


@pytest.mark.parametrize(
    ("old", "new", "armed"),
    [
        (None, _job("pending", None), None),  # a plain new job: no timer
        (None, _job("scheduled", T1), T1),  # created with a delay
        (_job("pending", None), _job("processing", T1, "L1"), T1),  # claimed
        (_job("processing", T1, "L1"), _job("processing", T2, "L1"), T2),  # heartbeat: lease moved
        (_job("processing", T1, "L1"), _job("processing", T1, "L1", priority=3), None),  # nothing moved
        (_job("processing", T1, "L1"), _job("pending", T2), T2),  # failed into backoff
        (_job("processing", T1, "L1"), _job("pending", T1), T1),  # backoff ending at the lease's ms
        (_job("processing", T1, "L1"), _job("processing", T1, "L2"), T1),  # re-claimed, same ms
        (_job("pending", T1), _job("completed", None), None),
        (_job("scheduled", T1), None, None),  # deleted
    ],
)
def test_which_changes_arm_a_timer(old: Any, new: Any, armed: int | None) -> None:
    expected = timer_sk(armed, "j") if armed is not None else None
    assert changed_timer(old, new) == expected


def _record(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    change: dict[str, Any] = {}
    if old is not None:
        change["OldImage"] = dynamo_codec.encode_item(old)
    if new is not None:
        change["NewImage"] = dynamo_codec.encode_item(new)
    return {"eventSource": "aws:dynamodb", "dynamodb": change}


def test_a_stream_batch_arms_wakes_per_queue_and_window_and_far_timers_per_job() -> None:
    far = NOW + 3 * 86_400_000
    other = {"id": "k", "pk": "JOB#o#k"}
    records = [
        _record(None, _job("scheduled", T1)),
        _record(None, {**_job("scheduled", T1 + 150), **other, "timer_sk": timer_sk(T1 + 150, "k")}),
        # A claim batch: leases ending within the same second share one lease check (a running job
        # has no timers-index entry: the check names each job with its lease).
        _record(_job("pending", None), _job("processing", None, "L", lease_expires_at=T2 + 5)),
        _record(_job("pending", None), {**_job("processing", None, "M", lease_expires_at=T2 + 700), **other}),
        _record(None, {**_job("scheduled", far), **other, "timer_sk": timer_sk(far, "k")}),
        _record(None, {"pk": "WORKER#w", "timer_pk": "LIVE_WORKERS", "timer_sk": "w"}),  # not a job
    ]
    assert timers_to_arm(records, NOW) == [
        Wake("o", "q", T1, (timer_sk(T1, "j"),)),  # delays name their jobs
        Wake("o", "q", T1 + 150, (timer_sk(T1 + 150, "k"),)),
        LeaseCheck("o", "q", T2 + 700, (("j", "L", T2 + 5), ("k", "M", T2 + 700))),
        FarTimer("o", "q", "k", timer_sk(far, "k")),
    ]


def test_queues_to_pump_are_those_with_new_ready_jobs_or_freed_slots() -> None:
    ready = {**_job("pending", None), "ready_pk": "o#q#0"}
    records = [
        _record(None, ready),  # a new claimable job
        _record(_job("processing", T1, "L"), _job("completed", None)),  # a slot freed
        _record(ready, {**ready, "priority": 5}),  # still ready: nothing new
        _record(None, {**_job("scheduled", T1), "queue_name": "later"}),  # not claimable yet
    ]
    assert queues_to_pump(records) == [("o", "q")]
