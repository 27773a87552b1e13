"""Outgoing webhook and completion webhook deliveries (contract §3.11, §3.6), end to end inside the
process: API → table → stream → dispatcher fan-out → SQS (moto) → the webhooks handler → a receiver
on 127.0.0.1. Retries are queued on an in-memory queue with SQS's delay rules on the test clock, so
the delays are asserted without sleeping."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from spooled.types import webhooks as sdk

from functions.webhooks.handler import handle
from shared.plumbing.timer_queue import InMemorySender
from shared.webhooks.outgoing.delivery import WebhookDeliverer
from shared.webhooks.outgoing.signing import verify
from tests.functional.jobs_api import JOBS, V1, claim_one, create_job, get_job
from tests.functional.webhook_receiver import Receiver, running_receiver

HOOKS = f"{V1}/outgoing-webhooks"
SECRET = "whsec_delivery_0123456789"


@dataclass
class Pump:
    """Drives the webhook delivery queue: the fan-out's messages from SQS, then every retry as its
    delay comes due on the test clock. `handled_at` is when each attempt was made."""

    deliverer: WebhookDeliverer
    sender: InMemorySender
    clock: Any
    handled_at: list[int] = field(default_factory=list)

    def _handle(self, bodies: list[str]) -> None:
        event = {"Records": [{"messageId": str(uuid.uuid4()), "body": body} for body in bodies]}
        result = handle(event, self.deliverer, parallel=1)
        assert result == {"batchItemFailures": []}
        self.handled_at.extend([self.clock.now_ms()] * len(bodies))

    def from_queue(self) -> int:
        from shared.plumbing import aws_clients
        from shared.plumbing.config import settings

        sqs, url, total = aws_clients.client("sqs"), settings().webhook_queue_url, 0
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            self._handle([m["Body"] for m in messages])
            for m in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            total += len(messages)
        return total

    def step(self) -> bool:
        """Handle what is visible now, else move the clock to the next retry; False when none is left."""
        visible = self.sender.receive()
        if visible:
            self._handle(visible)
            return True
        due = self.sender.next_visible_ms()
        if due is None:
            return False
        self.clock.advance((due - self.clock.now_ms()) / 1000)
        return True

    def flush(self) -> None:
        self.from_queue()
        while self.step():
            pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def pump(api: Any, clock: Any) -> Pump:
    sender = InMemorySender(clock)
    return Pump(WebhookDeliverer(sender=sender, clock=clock), sender, clock)


def create_hook(api: Any, url: str, events: list[str], **fields: Any) -> str:
    response = api.post(HOOKS, {"name": "hook", "url": url, "events": events, **fields})
    assert response.status == 201, response
    return str(response.json["id"])


def complete_job(api: Any, queue: str = "emails", result: Any = None, **fields: Any) -> str:
    job_id = create_job(api, queue, **fields)
    leased = claim_one(api, queue)
    response = api.post(
        f"{JOBS}/{job_id}/complete",
        {"worker_id": "worker-1", "lease_id": leased["lease_id"], "result": result or {"sent": True}},
    )
    assert response.status == 200, response
    return job_id


def dead_letter_job(api: Any, queue: str = "emails", **fields: Any) -> str:
    job_id = create_job(api, queue, max_retries=0, **fields)
    leased = claim_one(api, queue)
    response = api.post(
        f"{JOBS}/{job_id}/fail",
        {"worker_id": "worker-1", "lease_id": leased["lease_id"], "error": "smtp down"},
    )
    assert response.status == 200, response
    return job_id


def deliveries(api: Any, hook_id: str, **params: Any) -> list[dict[str, Any]]:
    response = api.get(f"{HOOKS}/{hook_id}/deliveries", params=params or None)
    assert response.status == 200, response
    for row in response.json:
        sdk.OutgoingWebhookDelivery.model_validate(row)
    return list(response.json)


def hook(api: Any, hook_id: str) -> dict[str, Any]:
    response = api.get(f"{HOOKS}/{hook_id}")
    assert response.status == 200, response
    return dict(response.json)


def test_a_completed_job_makes_exactly_one_signed_delivery(
    api: Any, org: Any, receiver: Receiver, pump: Pump, drain_stream: Any
) -> None:
    hook_id = create_hook(api, receiver.url, ["job.completed"], secret=SECRET)
    job_id = complete_job(api, result={"sent": True, "to": "ada@example.com"})
    drain_stream()
    pump.flush()

    (request,) = receiver.requests
    headers = request.headers
    assert verify(SECRET, request.body, headers["x-spooled-timestamp"], headers["x-spooled-signature"])
    assert (headers["x-spooled-event"], headers["x-spooled-delivery-attempt"]) == ("job.completed", "1")
    assert headers["user-agent"] == "Spooled-OutgoingWebhook/1.0"
    job = get_job(api, job_id)
    envelope = request.json
    assert envelope == {
        "id": envelope["id"],
        "event": "job.completed",
        "created_at": job["completed_at"],
        "data": {
            "job_id": job_id,
            "queue_name": "emails",
            "status": "completed",
            "result": {"sent": True, "to": "ada@example.com"},
        },
    }
    (row,) = deliveries(api, hook_id)
    assert row["id"] == envelope["id"] and row["webhook_id"] == hook_id
    assert (row["event"], row["status"], row["attempts"], row["status_code"]) == (
        "job.completed",
        "success",
        1,
        200,
    )
    assert row["payload"] == envelope
    assert row["response_body"] == "answered 200" and row["error"] is None
    assert row["delivered_at"] is not None
    after = hook(api, hook_id)
    assert (after["last_status"], after["failure_count"]) == ("success", 0)
    assert after["last_triggered_at"] is not None


def test_only_subscribed_events_are_delivered(
    api: Any, receiver: Receiver, pump: Pump, drain_stream: Any
) -> None:
    create_hook(api, receiver.url, ["job.created", "job.failed"])
    complete_job(api)  # created (delivered), started and completed (not subscribed)
    dead_letter_job(api, "billing")  # created and failed (both delivered)
    drain_stream()
    pump.flush()
    events = sorted((r.json["event"], r.json["data"]["queue_name"]) for r in receiver.requests)
    assert events == [("job.created", "billing"), ("job.created", "emails"), ("job.failed", "billing")]
    failed = next(r.json for r in receiver.requests if r.json["event"] == "job.failed")
    assert failed["data"]["status"] == "deadletter" and failed["data"]["error"] == "smtp down"


def test_a_replayed_stream_batch_and_a_duplicated_message_deliver_once(
    api: Any, receiver: Receiver, pump: Pump
) -> None:
    from functions.dispatcher.handler import handle_stream
    from local_stack.stream_poller import StreamPoller
    from shared.plumbing.config import settings

    hook_id = create_hook(api, receiver.url, ["job.completed"])
    complete_job(api)
    batches: list[list[dict[str, Any]]] = []

    def deliver(records: list[dict[str, Any]]) -> None:
        batches.append(records)
        handle_stream(records)

    poller = StreamPoller(settings().table_name, deliver)
    while poller.poll_once():
        pass
    for records in batches:  # the event source mapping delivers the same batch again
        handle_stream(records)
    assert pump.from_queue() == 2  # the replay queued the same delivery a second time
    assert len(receiver.requests) == 1
    (row,) = deliveries(api, hook_id)
    assert (row["status"], row["attempts"]) == ("success", 1)


def test_a_failing_receiver_gets_five_attempts_one_two_four_eight_seconds_apart(
    api: Any, receiver: Receiver, pump: Pump, drain_stream: Any
) -> None:
    hook_id = create_hook(api, receiver.url, ["job.completed"])
    receiver.respond_with(then=500)
    complete_job(api)
    drain_stream()
    pump.from_queue()
    (row,) = deliveries(api, hook_id)
    assert (row["status"], row["attempts"], row["status_code"], row["error"]) == (
        "pending",
        1,
        500,
        "HTTP 500",
    )
    assert hook(api, hook_id)["last_status"] == "failed"
    assert hook(api, hook_id)["failure_count"] == 0  # the delivery is not over yet

    while pump.step():
        pass
    gaps = [later - earlier for earlier, later in zip(pump.handled_at, pump.handled_at[1:], strict=False)]
    assert gaps == [1_000, 2_000, 4_000, 8_000]
    assert [r.headers["x-spooled-delivery-attempt"] for r in receiver.requests] == ["1", "2", "3", "4", "5"]
    assert len({r.json["id"] for r in receiver.requests}) == 1  # one delivery, five attempts
    (row,) = deliveries(api, hook_id)
    assert (row["status"], row["attempts"], row["status_code"], row["error"]) == (
        "failed",
        5,
        500,
        "HTTP 500",
    )
    assert row["delivered_at"] is None
    after = hook(api, hook_id)
    assert (after["last_status"], after["failure_count"], after["enabled"]) == ("failed", 1, True)


def test_a_later_success_ends_the_retries_and_resets_the_failure_count(
    api: Any, receiver: Receiver, pump: Pump, drain_stream: Any
) -> None:
    hook_id = create_hook(api, receiver.url, ["job.completed"])
    receiver.respond_with(then=500)
    complete_job(api)
    drain_stream()
    pump.flush()
    assert hook(api, hook_id)["failure_count"] == 1
    receiver.respond_with(503, 502, then=200)
    complete_job(api)
    drain_stream()
    pump.flush()
    newest = deliveries(api, hook_id)[0]
    assert (newest["status"], newest["attempts"], newest["status_code"]) == ("success", 3, 200)
    assert (hook(api, hook_id)["failure_count"], hook(api, hook_id)["last_status"]) == (0, "success")


def test_twenty_failed_deliveries_disable_the_webhook_until_it_is_enabled_again(
    api: Any, receiver: Receiver, pump: Pump, drain_stream: Any
) -> None:
    hook_id = create_hook(api, receiver.url, ["job.created"])
    receiver.respond_with(then=500)
    for _ in range(19):
        create_job(api, "emails")
    drain_stream()
    pump.flush()
    assert (hook(api, hook_id)["failure_count"], hook(api, hook_id)["enabled"]) == (19, True)

    create_job(api, "emails")
    drain_stream()
    pump.flush()
    disabled = hook(api, hook_id)
    assert (disabled["enabled"], disabled["last_status"], disabled["failure_count"]) == (
        False,
        "auto_disabled",
        20,
    )
    assert len(receiver.requests) == 20 * 5

    create_job(api, "emails")
    drain_stream()
    pump.flush()
    assert len(receiver.requests) == 100  # a disabled webhook receives nothing

    receiver.respond_with(then=200)
    enabled = api.put(f"{HOOKS}/{hook_id}", {"enabled": True}).json
    assert (enabled["enabled"], enabled["failure_count"]) == (True, 0)
    create_job(api, "emails")
    drain_stream()
    pump.flush()
    assert len(receiver.requests) == 101
    assert hook(api, hook_id)["last_status"] == "success"


def test_completion_webhook_is_one_signed_attempt(
    api: Any, receiver: Receiver, pump: Pump, drain_stream: Any
) -> None:
    receiver.respond_with(500)
    job_id = complete_job(api, completion_webhook=receiver.url, completion_webhook_secret=SECRET)
    drain_stream()
    pump.flush()
    (request,) = receiver.requests  # failed, and not tried again (§3.6)
    headers = request.headers
    assert verify(SECRET, request.body, headers["x-spooled-timestamp"], headers["x-spooled-signature"])
    assert request.json["event"] == "job.completed"
    assert request.json["data"] == {
        "job_id": job_id,
        "queue_name": "emails",
        "status": "completed",
        "result": {"sent": True},
    }
    assert "completion_webhook_secret" not in get_job(api, job_id)


def test_completion_webhook_on_terminal_failure_unsigned_without_secret(
    api: Any, receiver: Receiver, pump: Pump, drain_stream: Any
) -> None:
    job_id = dead_letter_job(api, completion_webhook=receiver.url)
    drain_stream()
    pump.flush()
    (request,) = receiver.requests
    assert "x-spooled-signature" not in request.headers
    assert request.json["event"] == "job.failed"
    assert request.json["data"] == {
        "job_id": job_id,
        "queue_name": "emails",
        "status": "deadletter",
        "error": "smtp down",
    }


def test_manual_retry_resends_now_and_its_result_is_final(
    api: Any, receiver: Receiver, pump: Pump, drain_stream: Any
) -> None:
    hook_id = create_hook(api, receiver.url, ["job.completed"], secret=SECRET)
    receiver.respond_with(then=500)
    complete_job(api)
    drain_stream()
    pump.flush()
    (failed,) = deliveries(api, hook_id)
    assert failed["status"] == "failed"

    receiver.respond_with(then=200)
    response = api.post(f"{HOOKS}/{hook_id}/retry/{failed['id']}", body=b"")
    assert response.status == 200, response
    result = sdk.RetryDeliveryResponse.model_validate(response.json)
    assert result.success is True
    last = receiver.requests[-1]
    assert last.json == failed["payload"]
    assert last.headers["x-spooled-delivery-attempt"] == "6"
    assert verify(SECRET, last.body, last.headers["x-spooled-timestamp"], last.headers["x-spooled-signature"])
    (row,) = deliveries(api, hook_id)
    assert (row["status"], row["attempts"], row["status_code"]) == ("success", 6, 200)
    assert hook(api, hook_id)["failure_count"] == 0

    receiver.respond_with(then=500)
    again = api.post(f"{HOOKS}/{hook_id}/retry/{failed['id']}", body=b"").json
    assert again == {"success": False, "message": "Delivery failed: HTTP 500"}
    assert deliveries(api, hook_id)[0]["status"] == "failed"


def test_a_manual_retry_stands_in_for_the_queued_automatic_one(
    api: Any, receiver: Receiver, pump: Pump, drain_stream: Any
) -> None:
    hook_id = create_hook(api, receiver.url, ["job.completed"])
    receiver.respond_with(500, then=200)
    complete_job(api)
    drain_stream()
    pump.from_queue()  # attempt 1 failed, attempt 2 is queued
    (pending,) = deliveries(api, hook_id)
    assert api.post(f"{HOOKS}/{hook_id}/retry/{pending['id']}", body=b"").json["success"] is True
    while pump.step():
        pass
    assert len(receiver.requests) == 2  # the queued attempt 2 found its number taken
    assert deliveries(api, hook_id)[0]["attempts"] == 2


def test_delivery_log_filters_pages_and_orders_newest_first(
    api: Any, clock: Any, receiver: Receiver, pump: Pump, drain_stream: Any
) -> None:
    hook_id = create_hook(api, receiver.url, ["job.created"])
    receiver.respond_with(200, 500, 500, 500, 500, 500, 200)
    ids = []
    for _ in range(3):
        ids.append(create_job(api, "emails"))
        drain_stream()
        pump.flush()
        clock.advance(1)
    rows = deliveries(api, hook_id)
    assert [r["payload"]["data"]["job_id"] for r in rows] == ids[::-1]
    assert [r["status"] for r in rows] == ["success", "failed", "success"]
    assert [r["payload"]["data"]["job_id"] for r in deliveries(api, hook_id, status="failed")] == [ids[1]]
    assert len(deliveries(api, hook_id, status="success")) == 2
    assert len(deliveries(api, hook_id, status="bogus")) == 3  # an unknown filter is ignored
    assert [r["payload"]["data"]["job_id"] for r in deliveries(api, hook_id, limit=1, offset=1)] == [ids[1]]


def test_deleting_or_disabling_a_webhook_stops_its_queued_attempts(
    api: Any, receiver: Receiver, pump: Pump, drain_stream: Any
) -> None:
    kept = create_hook(api, receiver.url, ["job.completed"])
    deleted = create_hook(api, receiver.url, ["job.completed"])
    receiver.respond_with(then=500)
    complete_job(api)
    drain_stream()
    pump.from_queue()
    assert len(receiver.requests) == 2
    assert api.delete(f"{HOOKS}/{deleted}").status == 204
    assert api.put(f"{HOOKS}/{kept}", {"enabled": False}).status == 200
    while pump.step():
        pass
    assert len(receiver.requests) == 2
    (row,) = deliveries(api, kept)
    assert (row["status"], row["error"]) == ("failed", "Webhook is disabled")


def test_dns_is_checked_again_at_delivery_time(
    api: Any, receiver: Receiver, pump: Pump, drain_stream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.plumbing import url_safety

    answers = {"hooks.example.test": ["93.184.215.14"]}
    monkeypatch.setattr(url_safety, "system_resolver", lambda host, port: answers[host])
    pump.deliverer.resolver = lambda host, port: answers[host]
    hook_id = create_hook(api, "https://hooks.example.test/in", ["job.completed"])
    answers["hooks.example.test"] = ["10.20.30.40"]  # the name now points inside
    complete_job(api)
    drain_stream()
    pump.flush()
    (row,) = deliveries(api, hook_id)
    assert row["status"] == "failed" and row["status_code"] is None
    assert row["error"] == "Invalid webhook URL: IP address not allowed: private/internal addresses blocked"


def test_an_org_without_webhooks_costs_one_query_per_batch_then_none_while_cached(
    api: Any, other_api: Any, drain_stream: Any
) -> None:
    from shared.plumbing import aws_clients
    from shared.webhooks.outgoing import fanout as webhook_fanout

    webhook_fanout.invalidate()
    partitions: list[str] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        partition = params.get("ExpressionAttributeValues", {}).get(":pk", {}).get("S", "")
        if partition.startswith("OUTHOOKS#"):
            partitions.append(partition)

    client = aws_clients.client("dynamodb")
    client.meta.events.register("provide-client-params.dynamodb.Query", count)
    try:
        for _ in range(3):
            create_job(api, "emails")
        create_job(other_api, "emails")
        drain_stream()
        first = list(partitions)
        create_job(api, "emails")
        drain_stream()
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.Query", count)
    assert len(first) == len(set(first)) == 2  # one read per organization, not one per event
    assert partitions == first  # the next batch within CACHE_SECONDS reads nothing


def test_an_unreadable_message_fails_alone(
    api: Any, receiver: Receiver, pump: Pump, drain_stream: Any
) -> None:
    from shared.plumbing import aws_clients
    from shared.plumbing.config import settings

    create_hook(api, receiver.url, ["job.created"])
    create_job(api, "emails")
    drain_stream()
    (message,) = aws_clients.client("sqs").receive_message(QueueUrl=settings().webhook_queue_url)["Messages"]
    event = {
        "Records": [
            {"messageId": "good", "body": message["Body"]},
            {"messageId": "bad", "body": '{"kind": "outhook"}'},
        ]
    }
    assert handle(event, pump.deliverer, parallel=2) == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert len(receiver.requests) == 1


def test_created_at_of_the_envelope_is_the_event_time(
    api: Any, receiver: Receiver, pump: Pump, drain_stream: Any
) -> None:
    create_hook(api, receiver.url, ["job.created"])
    job_id = create_job(api, "emails")
    drain_stream()
    pump.flush()
    (request,) = receiver.requests
    assert request.json["created_at"] == get_job(api, job_id)["created_at"]
    assert request.json["data"] == {
        "job_id": job_id,
        "queue_name": "emails",
        "priority": 0,
        "status": "pending",
    }


def _queued_bodies() -> list[str]:
    from shared.plumbing import aws_clients
    from shared.plumbing.config import settings

    response = aws_clients.client("sqs").receive_message(
        QueueUrl=settings().webhook_queue_url, MaxNumberOfMessages=10
    )
    return [m["Body"] for m in response.get("Messages", [])]


def test_an_attempt_abandoned_mid_flight_is_made_again_once_its_claim_runs_out(
    api: Any, clock: Any, receiver: Receiver, pump: Pump, drain_stream: Any
) -> None:
    from shared.webhooks.outgoing.messages import DeliveryMessage

    create_hook(api, receiver.url, ["job.created"])
    create_job(api, "emails")
    drain_stream()
    (body,) = _queued_bodies()

    def crash(*_: Any) -> Any:
        raise RuntimeError("the Lambda died mid-request")

    crashing = WebhookDeliverer(sender=pump.sender, clock=clock, poster=crash)
    event = {"Records": [{"messageId": "m-1", "body": body}]}
    assert handle(event, crashing, parallel=1) == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    message = DeliveryMessage.from_json(body)
    assert pump.deliverer.handle(message) == "duplicate"  # SQS repeats it while the claim holds
    assert receiver.requests == []
    clock.advance(61)  # the claim has run out, and SQS brings the message back
    assert pump.deliverer.handle(message) == "delivered"
    assert pump.deliverer.handle(message) == "duplicate"
    assert len(receiver.requests) == 1


def test_the_next_attempt_waits_while_the_previous_one_is_still_being_recorded(
    api: Any, clock: Any, receiver: Receiver, pump: Pump, drain_stream: Any
) -> None:
    from shared.webhooks.outgoing.delivery import AttemptNotReady
    from shared.webhooks.outgoing.messages import DeliveryMessage

    hook_id = create_hook(api, receiver.url, ["job.created"])
    receiver.respond_with(500, then=200)
    create_job(api, "emails")
    drain_stream()
    (body,) = _queued_bodies()
    early: list[str] = []

    class Overtaking:
        """Hands attempt 2 over before attempt 1 has recorded its outcome (an SQS delay of 1 s
        against a slow write)."""

        def send(self, messages: Any) -> None:
            for outgoing in messages:
                try:
                    pump.deliverer.handle(DeliveryMessage.from_json(outgoing.body))
                except AttemptNotReady:
                    early.append(outgoing.body)

    racing = WebhookDeliverer(sender=Overtaking(), clock=clock)
    assert racing.handle(DeliveryMessage.from_json(body)) == "retrying"
    assert len(early) == 1  # refused, so SQS keeps it and delivers it again later
    assert pump.deliverer.handle(DeliveryMessage.from_json(early[0])) == "delivered"
    (row,) = deliveries(api, hook_id)
    assert (row["status"], row["attempts"]) == ("success", 2)


def test_a_workflow_that_completes_is_delivered_once(
    api: Any, org: Any, receiver: Receiver, pump: Pump
) -> None:
    from tests.functional.workflows.test_workflows_harness import Stream, create_workflow, job_spec, run

    stream = Stream()
    hook_id = create_hook(api, receiver.url, ["workflow.completed", "workflow.failed"], secret=SECRET)
    ids = create_workflow(api, [job_spec("only")], name="wf")
    run(api, ids["only"])
    stream.drain()  # the job's completion makes the workflow completed; that change is the event
    pump.flush()
    stream.replay()  # a replayed batch names the same delivery, which is not made twice
    pump.flush()

    (request,) = [r for r in receiver.requests if r.json.get("event", "").startswith("workflow.")]
    assert request.headers["x-spooled-event"] == "workflow.completed"
    assert request.json["data"] == {"workflow_id": ids["_id"], "name": "wf", "status": "completed"}
    assert verify(
        SECRET, request.body, request.headers["x-spooled-timestamp"], request.headers["x-spooled-signature"]
    )
    assert [(d["event"], d["status"]) for d in deliveries(api, hook_id)] == [
        ("workflow.completed", "success")
    ]


def test_a_soft_deleted_organization_sends_no_more_webhooks(
    api: Any, org: Any, receiver: Receiver, pump: Pump, drain_stream: Any
) -> None:
    """Issue 12, finding 9: webhooks of a soft-deleted organization kept being sent."""
    from tests.conftest import ADMIN_KEY

    create_hook(api, receiver.url, ["job.completed"], secret=SECRET)
    complete_job(api)
    drain_stream()  # the delivery is queued
    deleted = api.request(
        "DELETE", f"/api/v1/admin/organizations/{org.id}", headers={"X-Admin-Key": ADMIN_KEY}, api_key=None
    )
    assert deleted.status == 204, deleted

    pump.flush()

    assert receiver.requests == []
