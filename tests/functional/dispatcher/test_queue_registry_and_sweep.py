"""The queue registry (written by a queue's first create) and the minute sweep that pages through it
and fans out per page of queues (issue 11: "a queue registered when its first job is created, so it
is in GET /queues as soon as the create returns; the sweep fanned out per queue with a cursor")."""

from __future__ import annotations

from typing import Any

import pytest

from functions.dispatcher import handler as dispatcher
from functions.dispatcher import sweep, timer_messages
from shared.jobs.queues import registry
from shared.plumbing import aws_clients
from shared.plumbing.timer_queue import InMemorySender
from tests.functional import timers_harness as h
from tests.functional.dispatcher.stream_tools import scanned_counts, stored_counts

QUEUES = "/api/v1/queues"


def _listed(api: Any) -> set[str]:
    response = api.get(QUEUES)
    assert response.status == 200, response
    return {q["queue_name"] for q in response.json}


def test_a_queue_is_listed_as_soon_as_its_first_create_returns(api: Any) -> None:
    assert _listed(api) == set()
    h.create(api, queue_name="fresh")  # no stream record is ever delivered in this test
    assert _listed(api) == {"fresh"}
    response = api.post(
        "/api/v1/jobs/bulk", {"queue_name": "bulky", "jobs": [{"payload": {}}, {"payload": {}}]}
    )
    assert response.status == 200, response
    assert _listed(api) == {"fresh", "bulky"}
    assert api.get(f"{QUEUES}/fresh").status == 200


def test_only_the_first_create_of_a_queue_in_a_container_writes_the_registry(api: Any) -> None:
    calls: list[str] = []
    db = aws_clients.client("dynamodb")

    def count(params: Any, **kwargs: Any) -> None:
        if "QREG#" in str(params.get("Key", {})):
            calls.append("register")

    db.meta.events.register("before-parameter-build.dynamodb.UpdateItem", count)
    try:
        for _ in range(3):
            h.create(api, queue_name="once")
        h.create(api, queue_name="twice")
    finally:
        db.meta.events.unregister("before-parameter-build.dynamodb.UpdateItem", count)
    assert calls == ["register", "register"]
    registry.forget()  # a new container: one more (conditional, failing) write, and no harm
    h.create(api, queue_name="once")
    assert _listed(api) == {"once", "twice"}


def test_a_queue_created_while_the_stream_is_down_is_swept_and_counted_once_it_is_back(
    api: Any, org: Any, clock: Any, drain_stream: Any
) -> None:
    due = clock.now_ms() + 30_000
    job = h.create(api, queue_name="stream-down", scheduled_at=h.iso(due))
    assert h.job(api, job)["status"] == "scheduled"
    clock.advance(31)
    # The stream is down: no batch was ever handled, nothing armed a timer. The sweep finds it.
    result = dispatcher.handler({"sweep": True})
    assert result["moved"] >= 1
    assert h.job(api, job)["status"] == "pending"
    assert drain_stream() > 0  # the stream is back
    assert stored_counts([org.id]) == scanned_counts() == {(org.id, "stream-down"): {"pending": 1}}


def test_the_sweep_fans_out_one_message_per_page_of_queues(
    api: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep, "SWEEP_PAGE", 2)
    monkeypatch.setattr(sweep, "LIST_PAGE", 3)  # the cursor is followed across listing pages too
    due = clock.now_ms() + 30_000
    jobs = {f"q{i}": h.create(api, queue_name=f"q{i}", scheduled_at=h.iso(due)) for i in range(7)}
    clock.advance(31)
    pages = InMemorySender(clock)
    result = sweep.run(dispatcher.store(), dispatcher.lambda_workers(), pages)
    assert result["moved"] == 2 and result["pages_sent"] == 3
    assert sum(h.job(api, j)["status"] == "pending" for j in jobs.values()) == 2
    bodies = pages.receive()
    assert [len(sweep.page_of(b) or []) for b in bodies] == [2, 2, 1]
    answer = timer_messages.handle(
        h.sqs_event(bodies),
        None,
        dispatcher.store(),
        dispatcher.timer_queue(),
        lambda_workers=dispatcher.lambda_workers(),
    )
    assert answer == {"batchItemFailures": []}
    assert {h.job(api, j)["status"] for j in jobs.values()} == {"pending"}


def test_a_failing_page_is_reported_alone_and_retried(
    api: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    due = clock.now_ms() + 30_000
    good = h.create(api, queue_name="good", scheduled_at=h.iso(due))
    h.create(api, queue_name="broken", scheduled_at=h.iso(due))
    clock.advance(31)
    real = sweep.job_timers.act_on_due_timers

    def act(store: Any, org_id: str, queue: str) -> int:
        if queue == "broken":
            raise RuntimeError("throttled")
        return real(store, org_id, queue)

    monkeypatch.setattr(sweep.job_timers, "act_on_due_timers", act)
    queues = sweep.registered_queues(dispatcher.store())
    bodies = [sweep.page_message([q]) for q in queues]
    event = h.sqs_event(bodies)
    answer = timer_messages.handle(
        event, None, dispatcher.store(), dispatcher.timer_queue(), lambda_workers=dispatcher.lambda_workers()
    )
    broken = [r["messageId"] for r in event["Records"] if "broken" in r["body"]]
    assert [f["itemIdentifier"] for f in answer["batchItemFailures"]] == broken
    assert h.job(api, good)["status"] == "pending"  # the good queue's page went through on its own
