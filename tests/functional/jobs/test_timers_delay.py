"""Delayed jobs become claimable at their second, by timer messages alone (no sweep, no claims).

The clock is the tests' FixedClock; the timer queue is in memory with SQS's delay rules (at most
900 s per message), so a three-week delay is re-chained hop by hop exactly as on AWS.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.jobs.timers import CHECK_EVERY_HOPS, MAX_EARLY_WAIT_MS
from shared.plumbing.timer_queue import FarTimer
from tests.functional import timers_harness as h
from tests.functional.timers_harness import Timers

QUEUE = "delayed"
# SQS delays are whole seconds: a message may arrive up to 0.75 s early and is then held
# until due (on this clock, held = the clock moves on). Checking "still scheduled" this far
# before the due time is checking that nothing fired early.
BEFORE_MS = MAX_EARLY_WAIT_MS + 100


@pytest.fixture
def timers(api: Any, clock: Any, monkeypatch: pytest.MonkeyPatch) -> Timers:
    return h.install(monkeypatch, clock)


def _promotion_lateness_ms(api: Any, job_id: str) -> int:
    document = h.job(api, job_id)
    assert document["status"] == "pending"
    lateness = h.ms(document["updated_at"]) - h.ms(document["scheduled_at"])
    assert 0 <= lateness <= 1_000, "promoted outside [due, due + 1 s]"
    return lateness


def test_three_week_delay_is_claimable_at_its_second(api: Any, clock: Any, timers: Timers) -> None:
    due_ms = clock.now_ms() + 21 * 86_400_000 + 300
    job_id = h.create(api, queue_name=QUEUE, scheduled_at=h.iso(due_ms))
    timers.run_until(due_ms - 1_000)
    assert h.job(api, job_id)["status"] == "scheduled"
    assert h.claim(api, QUEUE) == []  # a claim a second early finds nothing (and promotes nothing)
    timers.run_until(due_ms + 1_000)

    _promotion_lateness_ms(api, job_id)
    # 21 days in hops of at most 900 s: the chain went the whole way on SQS delays.
    hops = [message for message in timers.delivered if isinstance(message, FarTimer)]
    assert 21 * 86_400 // 900 <= len(hops) <= 21 * 86_400 // 900 + 1
    assert timers.sender.pending == []  # nothing left armed once the job is ready
    assert [job["id"] for job in h.claim(api, QUEUE)] == [job_id]


@pytest.mark.parametrize("delay_seconds", [1, 3, 59.5, 899, 900, 901, 3_600.25, 86_400])
def test_delays_around_the_sqs_limit(api: Any, clock: Any, timers: Timers, delay_seconds: float) -> None:
    due_ms = clock.now_ms() + int(delay_seconds * 1000)
    job_id = h.create(api, queue_name=QUEUE, scheduled_at=h.iso(due_ms))
    timers.run_until(due_ms - BEFORE_MS)
    assert h.job(api, job_id)["status"] == "scheduled"
    timers.run_until(due_ms + 1_000)
    _promotion_lateness_ms(api, job_id)


def test_many_delayed_jobs_each_at_its_own_second(api: Any, clock: Any, timers: Timers) -> None:
    start = clock.now_ms()
    due = {
        h.create(api, queue_name=QUEUE, scheduled_at=h.iso(start + s * 1_000 + 250)): s
        for s in range(1, 40, 3)
    }
    for job_id, second in sorted(due.items(), key=lambda item: item[1]):
        timers.run_until(start + second * 1_000 + 250 - BEFORE_MS)
        assert h.job(api, job_id)["status"] == "scheduled"
        timers.run_until(start + second * 1_000 + 1_250)
        _promotion_lateness_ms(api, job_id)


def test_a_delayed_job_is_claimable_from_its_due_millisecond_by_its_wake_alone(
    api: Any, clock: Any, timers: Timers
) -> None:
    due_ms = clock.now_ms() + 5_000
    job_id = h.create(api, queue_name=QUEUE, scheduled_at=h.iso(due_ms))
    timers.run_until(due_ms - 1)
    assert h.claim(api, QUEUE) == []
    timers.run_until(due_ms)  # the wake arrives early and is held until due
    assert [job["id"] for job in h.claim(api, QUEUE)] == [job_id]
    # A claim does no timer work: the request path never read the timers index.
    assert [m for m in timers.delivered if m.due_ms == due_ms]


def test_a_cancelled_delay_stops_its_chain(api: Any, clock: Any, timers: Timers) -> None:
    due_ms = clock.now_ms() + 3 * 86_400_000  # 288 hops if nobody stopped it
    job_id = h.create(api, queue_name=QUEUE, scheduled_at=h.iso(due_ms))
    timers.run_until(clock.now_ms() + 1_000_000)
    assert api.delete(f"/api/v1/jobs/{job_id}").status == 204
    timers.run_until(due_ms + 1_000)
    assert h.job(api, job_id)["status"] == "cancelled"
    assert timers.sender.pending == []
    # The first hop that read the job found it without its timer and did not re-send.
    assert len(timers.delivered) <= 1 + CHECK_EVERY_HOPS < 3 * 86_400 // 900


def test_a_lost_message_is_caught_by_the_sweep(api: Any, clock: Any, timers: Timers) -> None:
    from functions.dispatcher.handler import handler

    due_ms = clock.now_ms() + 30_000
    job_id = h.create(api, queue_name=QUEUE, scheduled_at=h.iso(due_ms))
    timers.settle()
    timers.sender.pending.clear()  # SQS lost it
    clock.advance(90)
    assert h.job(api, job_id)["status"] == "scheduled"
    result = handler({"sweep": True})
    assert result["moved"] == 1
    assert h.job(api, job_id)["status"] == "pending"


def test_a_short_delay_does_not_wait_for_the_index(api: Any, org: Any, clock: Any, timers: Timers) -> None:
    """On AWS the timers index lags the table by up to about a second: a job delayed by less than
    that can be due before the index shows it. Its wake names it, and the job is read directly."""
    from shared.jobs import expressions as ex
    from shared.plumbing import aws_clients
    from shared.plumbing.config import settings

    due_ms = clock.now_ms() + 300
    job_id = h.create(api, queue_name=QUEUE, scheduled_at=h.iso(due_ms))
    timers.settle()  # the stream armed the wake
    # The index has not caught up yet: the job is in the table with its timer, not in the index.
    aws_clients.client("dynamodb").update_item(
        TableName=settings().table_name, Key=ex.job_key(org.id, job_id), UpdateExpression="REMOVE timer_pk"
    )
    timers.run_until(due_ms + 1_000)
    _promotion_lateness_ms(api, job_id)
