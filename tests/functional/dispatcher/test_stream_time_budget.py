"""A stream batch whose side effects outlast the invocation makes progress (issue 11, no bisection).

Given Lambda's context, the dispatcher stops taking records while it still has time to commit the
counters of those it did, and reports the next one: Lambda restarts the shard there, so a slow
batch is finished over several invocations instead of timing out again and again from its first
record until its range goes to the failure queue with its side effects and counts.
Without a context (tests, `make dev`'s poller) there is no budget: the batch is handled whole.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from functions.dispatcher import handler as dispatcher
from shared.plumbing.timer_queue import InMemorySender, TimerQueue, Wake, decode
from tests.functional import timers_harness as h
from tests.functional.dispatcher.stream_tools import Recorder, created_totals, stored_counts

JOBS = 40
TIMEOUT_MS = 60_000  # the invocation's time, as get_remaining_time_in_millis says at its start
PER_RECORD_MS = 2_000  # what arming one record's timer takes (a slow SQS)
# The handler keeps max(5 s, 10% of its time) to commit the prefix: 6 s here, so 54 s of records.
FITS = (TIMEOUT_MS - max(5_000, TIMEOUT_MS // 10)) // PER_RECORD_MS  # 27


class LambdaContext:
    """get_remaining_time_in_millis of one invocation, on a clock only the side effects move."""

    def __init__(self, timeout_ms: int) -> None:
        self.left_ms = timeout_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.left_ms


@pytest.fixture
def slow_timers(monkeypatch: pytest.MonkeyPatch, clock: Any) -> dict[str, Any]:
    """Arming timers takes PER_RECORD_MS per record on the current invocation's context (if any),
    into an in-memory queue whose messages the test reads."""
    sender = InMemorySender(clock)
    monkeypatch.setattr(dispatcher, "timer_queue", lambda: TimerQueue(sender, clock))
    original = dispatcher.SIDE_EFFECTS["arm_timers"]
    state: dict[str, Any] = {"context": None, "sender": sender, "calls": 0, "per_record_ms": PER_RECORD_MS}

    def arm_timers(batch: list[dict[str, Any]]) -> None:
        state["calls"] += 1
        if state["context"] is not None:
            state["context"].left_ms -= state["per_record_ms"] * len(batch)
        original(batch)

    monkeypatch.setitem(dispatcher.SIDE_EFFECTS, "arm_timers", arm_timers)
    return state


def _scheduled_jobs(api: Any, clock: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """JOBS jobs due in a few minutes, each at its own second: one stream record and one timer
    each."""
    recorder = Recorder()
    due = clock.now_ms() + 120_000
    ids = [h.create(api, queue_name="slow", scheduled_at=h.iso(due + i * 1_000)) for i in range(JOBS)]
    records = recorder.new_records()
    assert len(records) == JOBS
    return ids, records


def _armed(sender: InMemorySender) -> Counter[str]:
    """Job id → how many times a timer message named its timer."""
    armed: Counter[str] = Counter()
    for _, body in sender.pending:
        message = decode(body)
        assert isinstance(message, Wake)
        armed.update(timer_sk.split("#", 1)[1] for timer_sk in message.timers)
    return armed


def _counted(org_id: str) -> tuple[dict[tuple[str, str], dict[str, int]], dict[str, int]]:
    return stored_counts([org_id]), {q: n for q, n in created_totals(org_id).items() if n}


def _sequence(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def test_an_invocation_running_out_of_time_reports_the_next_record_and_the_retry_finishes(
    api: Any, org: Any, clock: Any, slow_timers: dict[str, Any]
) -> None:
    ids, records = _scheduled_jobs(api, clock)

    slow_timers["context"] = LambdaContext(TIMEOUT_MS)
    answer = dispatcher.handle_stream(records, slow_timers["context"])
    # The records that fit went through; the next one is where Lambda restarts the shard.
    assert answer == {"batchItemFailures": [{"itemIdentifier": _sequence(records[FITS])}]}
    assert slow_timers["context"].left_ms >= 5_000  # it stopped with its margin still there
    assert _armed(slow_timers["sender"]) == Counter(ids[:FITS])
    # The prefix is counted, exactly: nothing of the records it did not get to.
    assert _counted(org.id) == ({(org.id, "slow"): {"scheduled": FITS}}, {"slow": FITS})

    slow_timers["context"] = LambdaContext(TIMEOUT_MS)  # Lambda's next invocation, from there
    assert dispatcher.handle_stream(records[FITS:], slow_timers["context"]) == {"batchItemFailures": []}
    assert _armed(slow_timers["sender"]) == Counter(ids)  # every timer, once
    assert _counted(org.id) == ({(org.id, "slow"): {"scheduled": JOBS}}, {"slow": JOBS})


def test_without_a_context_the_whole_batch_is_handled_in_one_go(
    api: Any, org: Any, clock: Any, slow_timers: dict[str, Any]
) -> None:
    ids, records = _scheduled_jobs(api, clock)
    assert dispatcher.handle_stream(records) == {"batchItemFailures": []}
    assert slow_timers["calls"] == 1  # no slices: each side effect once over the batch, as before
    assert _armed(slow_timers["sender"]) == Counter(ids)
    assert _counted(org.id) == ({(org.id, "slow"): {"scheduled": JOBS}}, {"slow": JOBS})


@pytest.mark.parametrize("per_record_ms", [PER_RECORD_MS, 0])
def test_a_batch_with_time_to_spare_is_two_slices(
    api: Any, org: Any, clock: Any, slow_timers: dict[str, Any], per_record_ms: int
) -> None:
    """The first few records measure the pace; the rest, fitting in the time left, go in one more
    slice: each side effect is called twice, not once per few records (a pace too fast for the
    context's milliseconds, 0, included)."""
    ids, records = _scheduled_jobs(api, clock)
    slow_timers["per_record_ms"] = per_record_ms
    slow_timers["context"] = LambdaContext(900_000)
    assert dispatcher.handle_stream(records, slow_timers["context"]) == {"batchItemFailures": []}
    assert slow_timers["calls"] == 2
    assert _armed(slow_timers["sender"]) == Counter(ids)
    assert _counted(org.id) == ({(org.id, "slow"): {"scheduled": JOBS}}, {"slow": JOBS})


def test_a_side_effect_retried_record_by_record_stops_when_the_time_is_gone(
    api: Any, org: Any, clock: Any, slow_timers: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Arming fails for the first slice as a whole, and each record alone takes PER_RECORD_MS:
    the retry record by record stops once the time left is spent instead of outlasting the
    invocation, and the records it got to are kept."""
    ids, records = _scheduled_jobs(api, clock)
    slow = dispatcher.SIDE_EFFECTS["arm_timers"]

    def fails_in_bulk(batch: list[dict[str, Any]]) -> None:
        if len(batch) > 1:
            raise RuntimeError("SQS throttles the batch")
        slow(batch)

    monkeypatch.setitem(dispatcher.SIDE_EFFECTS, "arm_timers", fails_in_bulk)
    slow_timers["context"] = LambdaContext(20_000)  # 5 s margin: 15 s, spent after 8 records
    answer = dispatcher.handle_stream(records, slow_timers["context"])
    assert answer == {"batchItemFailures": [{"itemIdentifier": _sequence(records[8])}]}
    assert _armed(slow_timers["sender"]) == Counter(ids[:8])
    assert _counted(org.id) == ({(org.id, "slow"): {"scheduled": 8}}, {"slow": 8})
