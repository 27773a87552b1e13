"""Stream batches re-delivered the ways Lambda re-delivers them leave every counter exact, and no
side effect of a batch is dropped (issue 11, "Exactness").

Lambda re-delivers a batch whole, from its first record (a crashed or timed-out invocation; the
dispatcher's mapping does not bisect), possibly with more records after it, or from the record a
partial batch response names. The stream-kept counters and activity totals must equal what a full
scan of the table says after any of these; a side effect that fails is retried from its record
until it succeeds; a record that keeps failing goes to the failure queue and the records after it
are handled.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from typing import Any

import pytest

from functions.dispatcher import handler as dispatcher
from local_stack.stream_poller import StreamPoller
from shared.plumbing import aws_clients, schema
from shared.plumbing.config import settings
from tests.functional import timers_harness as h
from tests.functional.dispatcher.stream_tools import (
    Recorder,
    created_totals,
    scanned_counts,
    scanned_created,
    stored_counts,
    stored_created,
)

JOBS = "/api/v1/jobs"


@pytest.fixture(autouse=True)
def _fast_moto_transactions() -> Iterator[None]:
    """moto backs up the whole table before each transaction (seconds once it holds thousands of
    items); the local stack's speedups back up only the partitions the transaction writes."""
    from local_stack import moto_speedups

    moto_speedups.install()
    yield
    moto_speedups.uninstall()


WORKLOAD_JOBS = int(os.environ.get("SPOOLED_EXACTNESS_JOBS", "200"))


def _mixed_history(api: Any, n: int = 12) -> list[str]:
    """Jobs in two queues: created, claimed, completed, failed into backoff, cancelled."""
    ids = [h.create(api, queue_name=f"q{i % 2}", max_retries=1) for i in range(n)]
    for queue in ("q0", "q1"):
        claimed = h.claim(api, queue, limit=3)
        assert api.post(f"{JOBS}/{claimed[0]['id']}/complete", {"worker_id": "worker-1"}).status == 200
        body = {"worker_id": "worker-1", "error": "boom"}
        assert api.post(f"{JOBS}/{claimed[1]['id']}/fail", body).status == 200
    pending = [i for i in ids if h.job(api, i)["status"] == "pending"]
    assert api.delete(f"{JOBS}/{pending[-1]}").status == 204
    return ids


def _assert_exact(org_id: str, created: dict[str, int] | None = None) -> None:
    assert stored_counts([org_id]) == scanned_counts()
    if created is not None:
        assert {q: n for q, n in created_totals(org_id).items() if n} == created


def _ok(answer: dict[str, Any]) -> None:
    assert answer == {"batchItemFailures": []}


def test_a_batch_delivered_three_times_counts_each_record_once(api: Any, org: Any) -> None:
    recorder = Recorder()
    _mixed_history(api)
    records = recorder.new_records()
    assert len(records) > 20
    for _ in range(3):  # the same batch, as Lambda re-delivers it after a failed invocation
        _ok(dispatcher.handle_stream(records))
    _assert_exact(org.id, {"q0": 6, "q1": 6})


def test_a_crash_after_the_commit_retries_the_batch_whole_and_counts_nothing_twice(
    api: Any, org: Any
) -> None:
    """The invocation commits its counters, then dies (a timeout, an out-of-memory kill) before it
    answers: the poller, like Lambda without bisection, delivers the batch again from its first
    record, now with the records written meanwhile after it."""
    deliveries: list[list[str]] = []

    def crashes_once_after_the_commit(records: list[dict[str, Any]]) -> dict[str, Any]:
        deliveries.append([r["dynamodb"]["SequenceNumber"] for r in records])
        answer = dispatcher.handle_stream(records)
        if len(deliveries) == 1:
            raise RuntimeError("Task timed out after 120.00 seconds")
        return answer

    _mixed_history(api)
    poller = StreamPoller(
        settings().table_name, crashes_once_after_the_commit, filters=schema.DISPATCHER_STREAM.filters
    )
    assert poller.poll_once()
    _assert_exact(org.id, {"q0": 6, "q1": 6})  # the crashed delivery's counts are in
    h.create(api, queue_name="q0")
    h.create(api, queue_name="q1")
    while poller.poll_once():
        pass
    first, retry = deliveries[0], deliveries[1]
    assert retry[: len(first)] == first and len(retry) > len(first)  # the same start, and more
    assert poller.sent_to_failure_queue == 0
    _assert_exact(org.id, {"q0": 7, "q1": 7})


def test_a_half_batch_retried_from_the_reported_record_counts_once(
    api: Any, org: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()
    _mixed_history(api)
    records = recorder.new_records()
    target = records[len(records) // 2]
    original = dispatcher.SIDE_EFFECTS["arm_timers"]
    down = {"on": True}

    def arm_timers(batch: list[dict[str, Any]]) -> None:
        if down["on"] and target in batch:
            raise RuntimeError("SQS is down")
        original(batch)

    monkeypatch.setitem(dispatcher.SIDE_EFFECTS, "arm_timers", arm_timers)
    answer = dispatcher.handle_stream(records)
    assert answer == {"batchItemFailures": [{"itemIdentifier": target["dynamodb"]["SequenceNumber"]}]}
    down["on"] = False
    start = records.index(target)
    _ok(dispatcher.handle_stream(records[start:]))  # Lambda restarts at the reported record
    _ok(dispatcher.handle_stream(records[start:]))  # and that retry is delivered twice
    _assert_exact(org.id, {"q0": 6, "q1": 6})


def test_a_longer_batch_from_the_same_first_record_applies_only_the_new_records(api: Any, org: Any) -> None:
    recorder = Recorder()
    _mixed_history(api)
    records = recorder.new_records()
    _ok(dispatcher.handle_stream(records[:7]))
    _ok(dispatcher.handle_stream(records))  # a retry of the same checkpoint may carry more records
    _assert_exact(org.id, {"q0": 6, "q1": 6})


def test_sequence_numbers_compare_as_numbers_not_strings() -> None:
    from shared.jobs import expressions as ex

    assert ex.padded_sequence("9") < ex.padded_sequence("10")
    assert ex.padded_sequence("100000000000000000009") < ex.padded_sequence("4" * 40)


@pytest.mark.parametrize("effect", list(dispatcher.SIDE_EFFECTS))
def test_a_failing_side_effect_is_recovered_on_the_retry(
    api: Any, org: Any, monkeypatch: pytest.MonkeyPatch, effect: str
) -> None:
    """The side effect's target is down for the first two calls that carry one record: the batch
    is reported failed at that record, the poller restarts there, and the effect then gets it."""
    original = dispatcher.SIDE_EFFECTS[effect]
    seen: dict[str, Any] = {"target": None, "failed": 0, "done": False, "answers": []}

    def flaky(batch: list[dict[str, Any]]) -> None:
        if seen["target"] is None and len(batch) > 5:
            seen["target"] = batch[5]["eventID"]
        if any(r["eventID"] == seen["target"] for r in batch):
            if seen["failed"] < 2:
                seen["failed"] += 1
                raise RuntimeError(f"{effect}: target down")
            seen["done"] = True
        original(batch)

    def reader(records: list[dict[str, Any]]) -> dict[str, Any]:
        answer = dispatcher.handle_stream(records)
        seen["answers"].append(answer)
        return answer

    monkeypatch.setitem(dispatcher.SIDE_EFFECTS, effect, flaky)
    _mixed_history(api)
    poller = StreamPoller(settings().table_name, reader, filters=schema.DISPATCHER_STREAM.filters)
    while poller.poll_once():
        pass
    assert seen["failed"] == 2 and seen["done"], seen
    assert seen["answers"][0]["batchItemFailures"], "the first delivery reports the failed record"
    assert seen["answers"][-1] == {"batchItemFailures": []}
    assert poller.sent_to_failure_queue == 0
    _assert_exact(org.id, {"q0": 6, "q1": 6})


def _failure_queue_messages() -> list[str]:
    sqs = aws_clients.client("sqs")
    url = sqs.get_queue_url(QueueName=schema.STREAM_FAILURE_QUEUE.local_name)["QueueUrl"]
    found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [m["Body"] for m in found]


def test_a_record_that_keeps_failing_goes_to_the_failure_queue_and_the_rest_go_on(
    api: Any, org: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    poison = h.create(api, queue_name="q0")
    after = [
        h.create(api, queue_name="q0", scheduled_at=h.iso(h.ms(h.job(api, poison)["created_at"]) + 60_000))
    ]
    after += [h.create(api, queue_name="q1") for _ in range(3)]
    original = dispatcher.SIDE_EFFECTS["arm_timers"]
    armed: list[str] = []

    def arm_timers(batch: list[dict[str, Any]]) -> None:
        if any(r["dynamodb"]["Keys"]["sk"]["S"] == poison for r in batch):  # a job's sk is its id
            raise RuntimeError("poison")
        armed.extend(r["dynamodb"]["Keys"]["sk"]["S"] for r in batch)
        original(batch)

    monkeypatch.setitem(dispatcher.SIDE_EFFECTS, "arm_timers", arm_timers)
    poller = StreamPoller(
        settings().table_name,
        dispatcher.handle_stream,
        filters=schema.DISPATCHER_STREAM.filters,
        retry_attempts=2,
        failure_queue=schema.STREAM_FAILURE_QUEUE.local_name,
    )
    while poller.poll_once():
        pass
    (failed,) = _failure_queue_messages()
    assert json.loads(failed)["keys"]["sk"] == poison
    assert set(after) <= set(armed)  # the records after it were handled
    # Its count went with it (nothing after it was counted twice or lost): the scan has one more.
    scanned = scanned_counts()
    scanned[(org.id, "q0")]["pending"] -= 1
    assert stored_counts([org.id]) == {q: {s: n for s, n in c.items() if n} for q, c in scanned.items()}


def test_stats_and_queues_agree_with_a_full_scan_after_a_random_workload_with_replays(
    api: Any, org: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """WORKLOAD_JOBS jobs (SPOOLED_EXACTNESS_JOBS: 200 by default, ~16 s; 2,000 took 277 s here) in five
    queues, created, claimed, completed, failed with retries into the DLQ, cancelled, retried from
    the DLQ; every stream batch delivered with a random replay: whole, from a record on, a prefix
    and then the whole batch (a crash after committing a shorter batch from the same record)."""
    rng = random.Random(11)
    # 10 s before an hour ends: the workload's clock moves ~25 s (at 200 jobs), across a minute and
    # an hour, so batches move the newest buckets off the counter items (shared/jobs/queues/
    # activity.py), and records of a lagging replay land behind the bucket a counter holds.
    clock.advance(3600 - (clock.now_ms() // 1000) % 3600 - 10)
    began_s = clock.now_ms() // 1000
    recorder = Recorder()
    queues = [f"w{i}" for i in range(5)]
    ids: list[str] = []

    failing: dict[str, Any] = {"record": None}
    original = dispatcher.SIDE_EFFECTS["arm_timers"]

    def arm_timers(batch: list[dict[str, Any]]) -> None:
        if failing["record"] is not None and failing["record"] in batch:
            raise RuntimeError("injected")
        original(batch)

    monkeypatch.setitem(dispatcher.SIDE_EFFECTS, "arm_timers", arm_timers)

    def deliver() -> None:
        records = recorder.new_records()
        if not records:
            return
        replay = rng.choice(("whole", "from", "grown", "none"))
        if replay == "from":  # a record fails: Lambda restarts there (twice, for good measure)
            start = rng.randrange(len(records))
            failing["record"] = records[start]
            answer = dispatcher.handle_stream(records)
            assert (
                answer["batchItemFailures"][0]["itemIdentifier"]
                == records[start]["dynamodb"]["SequenceNumber"]
            )
            failing["record"] = None
            _ok(dispatcher.handle_stream(records[start:]))
            _ok(dispatcher.handle_stream(records[start:]))
            return
        if replay == "grown":  # a crash after committing a shorter batch from the same record
            _ok(dispatcher.handle_stream(records[: max(1, len(records) // 2)]))
        _ok(dispatcher.handle_stream(records))
        if replay == "whole":  # a failed invocation after the commit: the same batch again
            _ok(dispatcher.handle_stream(records))

    while len(ids) < WORKLOAD_JOBS:
        for _ in range(rng.randrange(5, 30)):
            if len(ids) < WORKLOAD_JOBS:
                ids.append(h.create(api, queue_name=rng.choice(queues), max_retries=rng.choice((0, 1))))
        queue = rng.choice(queues)
        for job in h.claim(api, queue, limit=rng.randrange(1, 10)):
            roll = rng.random()
            if roll < 0.6:
                api.post(f"{JOBS}/{job['id']}/complete", {"worker_id": "worker-1"})
            elif roll < 0.9:
                api.post(f"{JOBS}/{job['id']}/fail", {"worker_id": "worker-1", "error": "boom"})
        if rng.random() < 0.3:
            api.delete(f"{JOBS}/{rng.choice(ids)}")  # pending or scheduled: cancelled; else 4xx
        if rng.random() < 0.2:
            api.post(f"{JOBS}/dlq/retry", {"queue_name": queue, "limit": 5})
        clock.advance(rng.randrange(0, 5))
        deliver()
    deliver()
    _assert_exact(org.id)
    stats = api.get(f"{JOBS}/stats").json
    scanned = scanned_counts()
    for status in ("pending", "processing", "completed", "failed", "deadletter", "cancelled"):
        assert stats[status] == sum(c.get(status, 0) for c in scanned.values()), status
    listed = {q["queue_name"] for q in api.get("/api/v1/queues").json}
    assert listed == set(queues)
    # Every creation in exactly one bucket of each size, however the batches were replayed.
    now_s = clock.now_ms() // 1000
    for granularity, seconds in (("m1", 60), ("H", 3600)):
        stored = stored_created(org.id, granularity, began_s - seconds, now_s)
        assert stored == scanned_created(seconds), granularity
    assert len(scanned_created(3600)) > len(queues)  # the hour boundary was crossed


def test_what_exactness_costs_per_record(api: Any, org: Any, clock: Any) -> None:
    """A 100-record batch of one queue (creates, claims, completions within a minute): the write
    units of its transaction(s), all items under 1 KB, each billed twice in a transaction: the
    mark and the counter item, which holds the newest activity buckets of an hour and a minute.
    The first batch of a later minute moves the held minute to its own item: one item more."""
    recorder = Recorder()
    ids = [h.create(api, queue_name="cost") for _ in range(34)]
    for job in h.claim(api, "cost", limit=33):
        api.post(f"{JOBS}/{job['id']}/complete", {"worker_id": "worker-1"})
    records = recorder.new_records()[:100]
    assert len(records) == 100 and len(ids) == 34
    items: list[int] = []
    reads: list[int] = []
    db = aws_clients.client("dynamodb")

    def count(params: Any, **kwargs: Any) -> None:
        if "TransactItems" in params:
            items.append(len(params["TransactItems"]))
        elif "RequestItems" in params:
            reads.append(sum(len(r["Keys"]) for r in params["RequestItems"].values()))

    db.meta.events.register("before-parameter-build.dynamodb.*", count)
    try:
        _ok(dispatcher.handle_stream(records))
        _ok(dispatcher.handle_stream(records))  # a replay: reads the marks, writes nothing
        h.create(api, queue_name="cost")  # the same minute: added to the buckets held
        _ok(dispatcher.handle_stream(recorder.new_records()))
        clock.advance(60)
        h.create(api, queue_name="cost")  # the next minute: the held minute moves to its item
        _ok(dispatcher.handle_stream(recorder.new_records()))
    finally:
        db.meta.events.unregister("before-parameter-build.dynamodb.*", count)
    write_units = 2 * sum(items[:1])
    print(f"\nexactness cost: {items} items, {write_units} WRU per 100 records; reads {reads}")
    assert items == [2, 2, 3]  # one transaction a batch (one queue), none for the replay
    assert write_units == 4  # 0.04 WRU per record, half of it the mark


def test_a_batch_that_read_the_counter_before_another_shards_batch_moved_it_reads_it_again(
    api: Any, org: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two shards' batches of one queue, in two minutes: B read the counter item before A wrote
    it, so B's move of the newest minute is conditioned on a version that is gone. Its transaction
    is cancelled, B reads again, and moves what A added: every creation is in one bucket."""
    from shared.jobs.queues import stream_apply

    recorder = Recorder()
    clock.advance(60 - (clock.now_ms() // 1000) % 60)  # the start of a minute
    for _ in range(3):
        h.create(api, queue_name="raced")
    batch_a = recorder.new_records()
    clock.advance(60)
    for _ in range(2):
        h.create(api, queue_name="raced")
    batch_b = recorder.new_records()

    real_read = stream_apply.read_counter
    stale = real_read(settings().table_name, (org.id, "raced"))  # before A: nothing held
    reads: list[str] = []

    def read_counter(table: str, queue: Any) -> Any:
        reads.append("stale" if not reads else "fresh")
        return stale if len(reads) == 1 else real_read(table, queue)

    _ok(dispatcher.handle_stream(batch_a))
    monkeypatch.setattr(stream_apply, "read_counter", read_counter)
    _ok(dispatcher.handle_stream(batch_b))
    assert reads[:2] == ["stale", "fresh"]  # the cancelled try, then the one that committed
    now_s = clock.now_ms() // 1000
    for granularity, seconds in (("m1", 60), ("H", 3600)):
        assert stored_created(org.id, granularity, now_s - 7200, now_s) == scanned_created(seconds)
    _assert_exact(org.id, {"raced": 5})


def test_each_registered_worker_is_one_item_of_the_batch_transaction(api: Any, org: Any) -> None:
    """Three registered workers claim; one batch later each worker's item says which jobs it
    holds, and after they complete two, what each did: its credits and its held jobs change in one
    update per worker and batch, inside the batch's transaction (2 WRU), and nothing else writes
    the worker items (the held jobs were a string set of their own, 1-2 writes more per batch)."""
    from shared.jobs.workers import registry as worker_registry

    workers = ["w-a", "w-b", "w-c"]
    for worker_id in workers:
        body = {"queue_name": "crew", "hostname": "host", "worker_id": worker_id}
        assert api.post("/api/v1/workers/register", body).status in (200, 201)
    recorder = Recorder()
    recorder.new_records()  # the registrations
    for _ in range(6):
        h.create(api, queue_name="crew")
    held = {worker_id: h.claim(api, "crew", worker=worker_id, limit=2) for worker_id in workers}
    transactions: list[int] = []
    worker_writes: list[str] = []
    db = aws_clients.client("dynamodb")

    def count(params: Any, model: Any, **kwargs: Any) -> None:
        if "TransactItems" in params:
            transactions.append(len(params["TransactItems"]))
        elif model.name in ("UpdateItem", "PutItem") and params["Key"]["pk"]["S"].startswith("WORKER#"):
            worker_writes.append(params["Key"]["pk"]["S"])

    db.meta.events.register("before-parameter-build.dynamodb.*", count)
    try:
        _ok(dispatcher.handle_stream(recorder.new_records()))
        table = settings().table_name
        for worker_id in workers:
            expected = {job["id"] for job in held[worker_id]}
            assert worker_registry.held_jobs(table, org.id, worker_id) == expected
        for worker_id in workers[:2]:
            for job in held[worker_id]:
                body = {"worker_id": worker_id, "lease_id": job["lease_id"]}
                assert api.post(f"{JOBS}/{job['id']}/complete", body).status == 200
        _ok(dispatcher.handle_stream(recorder.new_records()))
    finally:
        db.meta.events.unregister("before-parameter-build.dynamodb.*", count)
    assert transactions == [5, 4]  # mark, counter, and each worker the batch changed
    assert worker_writes == []
    listed = {w["id"]: w for w in api.get("/api/v1/workers").json}
    assert [listed[w].get("jobs_processed") for w in workers] == [2, 2, 0]
    for worker_id in workers[:2]:
        assert worker_registry.held_jobs(table, org.id, worker_id) == set()
    assert worker_registry.held_jobs(table, org.id, "w-c") == {job["id"] for job in held["w-c"]}
