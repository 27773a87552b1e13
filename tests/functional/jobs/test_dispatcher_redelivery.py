"""At-least-once delivery changes nothing the second time.

The same job lifecycle (a delay long enough to be re-chained, lease expiries, explicit failures,
the DLQ) runs twice: once with every stream batch and every dispatcher message delivered once, and
once with each stream batch handled twice, each message twice in its batch, and each SQS event
handed to the dispatcher a second time (Lambda retrying it). Both runs must end identical: the same
jobs, statuses, retry counts, histories and item versions (one version per transition).
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.jobs import expressions as ex
from shared.plumbing import dynamo_codec
from tests.functional import timers_harness as h
from tests.functional.timers_harness import Timers


def _item(org_id: str, job_id: str) -> dict[str, Any]:
    from shared.plumbing import aws_clients
    from shared.plumbing.config import settings

    found = aws_clients.client("dynamodb").get_item(
        TableName=settings().table_name, Key=ex.job_key(org_id, job_id), ConsistentRead=True
    )
    return dynamo_codec.decode_item(found["Item"])


def _lifecycle(api: Any, org_id: str, timers: Timers, queue: str) -> dict[str, Any]:
    """Drive three jobs through delays, expiries, fails and the DLQ; return what they became."""
    now = timers.clock.now_ms()
    delayed = h.create(api, queue_name=queue, scheduled_at=h.iso(now + 2 * 3_600_000 + 400), max_retries=2)
    plain = h.create(api, queue_name=queue, max_retries=2)
    expiring = h.create(api, queue_name=queue, expires_at=h.iso(now + 7_230_000))
    timers.run_for(2 * 3_600 + 1)
    assert {h.job(api, j)["status"] for j in (delayed, plain, expiring)} == {"pending"}

    # Round 1: claimed and abandoned → the leases expire.
    assert len(h.claim(api, queue, lease=10, limit=3)) == 3
    timers.run_for(12)
    # Round 2: claimed (the expiring one is past its expires_at now) and failed explicitly.
    timers.run_for(60)
    jobs = h.claim(api, queue, lease=10, limit=3)
    assert {job["id"] for job in jobs} == {delayed, plain}
    for job in jobs:
        response = api.post(
            f"/api/v1/jobs/{job['id']}/fail",
            {"worker_id": "worker-1", "lease_id": job["lease_id"], "error": "no"},
        )
        assert response.status == 200, response
    # Round 3: claimed and abandoned on their last retry → the DLQ.
    timers.run_for(60)
    assert len(h.claim(api, queue, lease=10, limit=3)) == 2
    timers.run_for(12)

    listed = api.get("/api/v1/jobs", params={"queue_name": queue, "limit": 100}).json
    outcome: dict[str, Any] = {"jobs": len(listed)}
    for name, job_id in (("delayed", delayed), ("plain", plain), ("expiring", expiring)):
        document, item = h.job(api, job_id), _item(org_id, job_id)
        outcome[name] = {
            "status": document["status"],
            "retry_count": document["retry_count"],
            "last_error": document["last_error"],
            "history": h.history_types(api, job_id),
            "version": item["version"],
            "timer": item.get("timer_sk"),
        }
    return outcome


@pytest.mark.parametrize("queue", ["redelivery"])
def test_every_message_delivered_twice_changes_nothing(
    api: Any, org: Any, clock: Any, monkeypatch: pytest.MonkeyPatch, queue: str
) -> None:
    once = h.install(monkeypatch, clock)
    single = _lifecycle(api, org.id, once, f"{queue}-once")
    assert once.sender.pending == [] or all(at > clock.now_ms() for at, _ in once.sender.pending)

    twice = h.install(monkeypatch, clock)
    twice.duplicate = True
    double = _lifecycle(api, org.id, twice, f"{queue}-twice")

    assert double == single
    assert single["jobs"] == 3
    assert single["delayed"]["status"] == single["plain"]["status"] == "deadletter"
    assert single["delayed"]["retry_count"] == 2
    assert single["expiring"]["status"] == "cancelled"
    assert twice.failures == [] and once.failures == []


def test_a_retried_sqs_event_through_the_lambda_handler_is_a_no_op(
    api: Any, clock: Any, monkeypatch: Any
) -> None:
    """The real entry point: the same SQS event handed to the dispatcher Lambda twice."""
    from functions.dispatcher.handler import handler

    timers = h.install(monkeypatch, clock)
    job_id = h.create(api, queue_name="retried", scheduled_at=h.iso(clock.now_ms() + 5_000))
    timers.settle()
    clock.advance(5)
    event = h.sqs_event(timers.sender.receive())
    assert handler(event) == {"batchItemFailures": []}
    after_first = h.job(api, job_id)
    assert after_first["status"] == "pending"
    assert handler(event) == {"batchItemFailures": []}
    assert h.job(api, job_id) == after_first
