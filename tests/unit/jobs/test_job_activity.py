"""Folding stream records into activity buckets, totals and worker counts (shared/jobs/queues/activity.py)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.jobs.queues.activity import HOURLY, MINUTE, fold
from shared.plumbing import dynamo_codec

T0 = 1_800_000_000_000  # 2027-01-15T08:00:00Z: on an hour boundary
HOUR_START = T0 // 1000 // 3600 * 3600


def _job(status: str, *, at: int = T0, worker: str | None = None, **fields: Any) -> dict[str, Any]:
    # As the store writes them: a claim and a completion append no history entry (their worker is
    # assigned_worker_id); other transitions name theirs in the entry they append.
    happy_path = status in ("processing", "completed")
    events = [] if happy_path else [{"t": at, "e": status, **({"w": worker} if worker else {})}]
    item = {
        "pk": "JOB#o#3",
        "sk": "j",
        "org_id": "o",
        "queue_name": "q",
        "status": status,
        "created_at": T0 - 60_000,
        "updated_at": at,
        "events": events or None,
        "assigned_worker_id": worker,
        **fields,
    }
    return dynamo_codec.encode_item(item)


def _record(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    change: dict[str, Any] = {}
    if old is not None:
        change["OldImage"] = old
    if new is not None:
        change["NewImage"] = new
    return {"dynamodb": change}


def _hour(activity: Any) -> dict[str, int]:
    return dict(activity.buckets.get(("o", "q", HOURLY, HOUR_START), {}))


CLAIMED = _job("processing", worker="w1", started_at=T0)
CASES = [
    ("created", [_record(None, _job("pending", created_at=T0))], {"created": 1}, {"created_total": 1}, {}),
    (
        "claimed after waiting 60 s",
        [_record(_job("pending"), CLAIMED)],
        {"claimed": 1, "wait_ms": 60_000, "wait_n": 1},
        {"claims_total": 1},
        {},
    ),
    (
        "completed by its worker after 2.5 s",
        [_record(CLAIMED, _job("completed", worker="w1", started_at=T0 - 2_500, completed_at=T0))],
        {"completed": 1, "proc_ms": 2_500, "proc_n": 1},
        {"completed_total": 1},
        {("o", "w1"): {"jobs_processed": 1}},
    ),
    (
        "failed by its worker, retried",
        [_record(CLAIMED, _job("pending", worker="w1"))],
        {"failed": 1},
        {"failures_total": 1},
        {("o", "w1"): {"jobs_failed": 1}},
    ),
    (
        "lease expired: a failure no worker reported",
        [_record(CLAIMED, _job("pending"))],
        {"failed": 1},
        {"failures_total": 1},
        {},
    ),
    (
        "failed for the last time: dead-lettered",
        [_record(CLAIMED, _job("deadletter", worker="w1"))],
        {"failed": 1, "deadlettered": 1},
        {"failures_total": 1, "deadlettered_total": 1},
        {("o", "w1"): {"jobs_failed": 1}},
    ),
    ("heartbeat: no status change", [_record(CLAIMED, CLAIMED)], {}, {}, {}),
    ("purged: a delete is no activity", [_record(_job("deadletter"), None)], {}, {}, {}),
    ("cancelled", [_record(_job("pending"), _job("cancelled"))], {}, {}, {}),
    (
        "not a job",
        [_record(None, dynamo_codec.encode_item({"pk": "ORG#o", "sk": "ORG", "status": "x"}))],
        {},
        {},
        {},
    ),
]


@pytest.mark.parametrize(("name", "records", "bucket", "totals", "workers"), CASES, ids=[c[0] for c in CASES])
def test_fold(
    name: str,
    records: list[dict[str, Any]],
    bucket: dict[str, int],
    totals: dict[str, int],
    workers: dict[tuple[str, str], dict[str, int]],
) -> None:
    activity = fold(records)
    assert _hour(activity) == bucket
    assert {k: dict(v) for k, v in activity.totals.items()} == ({("o", "q"): totals} if totals else {})
    assert {k: dict(v) for k, v in activity.workers.items()} == workers


@pytest.mark.parametrize(
    ("offset_ms", "hour_start", "minute_start"),
    [
        (0, HOUR_START, HOUR_START),
        (59_999, HOUR_START, HOUR_START),
        (60_000, HOUR_START, HOUR_START + 60),
        (3_599_999, HOUR_START, HOUR_START + 3540),
        (3_600_000, HOUR_START + 3600, HOUR_START + 3600),
    ],
)
def test_an_event_lands_in_the_buckets_of_its_own_time(
    offset_ms: int, hour_start: int, minute_start: int
) -> None:
    activity = fold(
        [_record(_job("pending"), _job("processing", at=T0 + offset_ms, started_at=T0 + offset_ms))]
    )
    # Two sizes only: the last hour is summed from the minutes (no 5-minute bucket to write).
    assert set(activity.buckets) == {("o", "q", HOURLY, hour_start), ("o", "q", MINUTE, minute_start)}


def _minute(activity: Any, at_ms: int = T0) -> dict[str, int]:
    return dict(activity.buckets.get(("o", "q", MINUTE, at_ms // 1000 // 60 * 60), {}))


@pytest.mark.parametrize(
    ("records", "depth"),
    [
        ([_record(None, _job("pending", created_at=T0))], {"d_pending": 1}),
        ([_record(None, _job("scheduled", created_at=T0))], {}),
        ([_record(_job("scheduled"), _job("pending"))], {"d_pending": 1}),
        ([_record(_job("pending"), CLAIMED)], {"d_pending": -1, "d_processing": 1}),
        ([_record(CLAIMED, _job("pending", worker="w1"))], {"d_pending": 1, "d_processing": -1}),
        ([_record(CLAIMED, _job("completed", worker="w1"))], {"d_processing": -1}),
        ([_record(_job("pending"), _job("cancelled"))], {"d_pending": -1}),
        ([_record(_job("pending", priority=1), _job("pending", priority=5))], {}),
    ],
)
def test_the_minute_bucket_carries_the_change_of_queue_depth(
    records: list[dict[str, Any]], depth: dict[str, int]
) -> None:
    bucket = _minute(fold(records))
    assert {k: v for k, v in bucket.items() if k.startswith("d_") and v} == depth
    # Depth changes stay out of the hourly buckets, which other readers sum.
    assert not any(k.startswith("d_") for k in _hour(fold(records)))


def test_a_deleted_waiting_job_shortens_its_queue_at_the_time_of_the_delete() -> None:
    record = {"dynamodb": {"OldImage": _job("pending"), "ApproximateCreationDateTime": T0 / 1000 + 120}}
    activity = fold([record])
    assert _minute(activity, T0 + 120_000) == {"d_pending": -1}
    assert _hour(activity) == {}


def test_a_batch_sums_per_queue_and_bucket() -> None:
    records = [_record(None, _job("pending")) for _ in range(3)]
    other = dynamo_codec.encode_item({**dynamo_codec.decode_item(_job("pending")), "queue_name": "r"})
    records.append(_record(None, other))
    activity = fold(records)
    assert activity.totals[("o", "q")]["created_total"] == 3
    assert activity.totals[("o", "r")]["created_total"] == 1


# --- the newest buckets on the counter item (plan_buckets) ------------------------------------

Q = ("org", "q")
M0, M1, M2 = 1_800_000_000, 1_800_000_060, 1_800_000_120  # three minutes of one hour
H0 = M0 // 3600 * 3600


def _activity(*minutes: int) -> Any:
    from shared.jobs.queues.activity import Activity

    activity = Activity()
    for minute in minutes:
        activity.count(*Q, minute * 1000, "created")
    return activity


def _held(minute: int | None, created: int = 5) -> dict[str, tuple[int, dict[str, int]]]:
    held = {HOURLY: (H0, {"created": 50})}
    if minute is not None:
        held[MINUTE] = (minute, {"created": created})
    return held


@pytest.mark.parametrize(
    ("batch", "held", "counter", "items"),
    [
        # The counter holds this minute: the batch adds to it, no bucket item is written.
        ((M1, M1), _held(M1), {MINUTE: (M1, 2, False, M1), HOURLY: (H0, 2, False, H0)}, {}),
        # A newer minute: the counter takes it, and the minute it held moves to its own item.
        ((M2,), _held(M1), {MINUTE: (M2, 1, True, M1), HOURLY: (H0, 1, False, H0)}, {(MINUTE, M1): 5}),
        # Records of the held minute and a newer one: both go to the moved minute's item.
        ((M1, M2, M2), _held(M1), {MINUTE: (M2, 2, True, M1), HOURLY: (H0, 3, False, H0)}, {(MINUTE, M1): 6}),
        # A lagging shard's records, older than the held minute: to their own bucket item.
        ((M0,), _held(M1), {HOURLY: (H0, 1, False, H0)}, {(MINUTE, M0): 1}),
        # Nothing held yet (a new queue, or a counter item from before): the counter takes it.
        ((M0,), {}, {MINUTE: (M0, 1, True, None), HOURLY: (H0, 1, True, None)}, {}),
        # A held bucket with no counts left (all moved earlier): nothing to move.
        ((M2,), _held(M1, created=0), {MINUTE: (M2, 1, True, M1), HOURLY: (H0, 1, False, H0)}, {}),
    ],
)
def test_plan_buckets(
    batch: tuple[int, ...],
    held: dict[str, tuple[int, dict[str, int]]],
    counter: dict[str, tuple[int, int, bool, int | None]],
    items: dict[tuple[str, int], int],
) -> None:
    from shared.jobs.queues.activity import plan_buckets

    on_counter, to_items = plan_buckets(_activity(*batch), Q, held)
    planned = {b.granularity: (b.start, b.counts["created"], b.moves, b.held_start) for b in on_counter}
    assert planned == counter
    assert {key: counts["created"] for key, counts in to_items.items()} == items


def test_held_buckets_reads_the_counter_items_attributes() -> None:
    from shared.jobs.queues.activity import held_buckets

    counter = {"pending": 3, "cur_m1": M1, "m1_created": 4, "m1_d_pending": -1, "cur_H": H0, "H_created": 9}
    assert held_buckets(counter) == {
        MINUTE: (M1, {"created": 4, "d_pending": -1}),
        HOURLY: (H0, {"created": 9}),
    }
    assert held_buckets({"pending": 3}) == {}
