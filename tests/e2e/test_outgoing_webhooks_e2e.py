"""Outgoing webhooks through the official SDK against `make dev`: a receiver in this process gets
the signed envelope of a job an SDK worker completed, and a job's completion webhook."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from spooled import SpooledClient, SpooledWorker
from spooled.errors import NotFoundError, ValidationError
from spooled.worker.types import JobContext

from shared.webhooks.outgoing.signing import verify
from tests.e2e.sdk_helpers import running, wait_for_status, wait_until
from tests.functional.webhook_receiver import Received, Receiver, running_receiver

pytestmark = pytest.mark.e2e

SECRET = "whsec_e2e_0123456789abcdef"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running_one:
        yield running_one


def _received(receiver: Receiver, event: str, job_id: str) -> Received | None:
    with receiver.lock:
        requests = list(receiver.requests)
    return next(
        (
            r
            for r in requests
            if r.json.get("event") == event and r.json.get("data", {}).get("job_id") == job_id
        ),
        None,
    )


def test_a_registered_webhook_receives_the_signed_job_completed_envelope(
    client: SpooledClient, queue_name: str, receiver: Receiver
) -> None:
    hook = client.webhooks.create(
        {"name": "e2e receiver", "url": receiver.url, "events": ["job.completed"], "secret": SECRET}
    )
    try:
        assert client.webhooks.test(hook.id).success is True
        job_id = client.jobs.create({"queue_name": queue_name, "payload": {"n": 20}}).id
        worker = SpooledWorker(client, queue_name, poll_interval=0.1)

        @worker.process
        def handle(ctx: JobContext) -> dict[str, Any]:
            return {"answer": ctx.payload["n"] + 22}

        with running(worker):
            job = wait_for_status(client, job_id, "completed")
        request = wait_until(
            lambda: _received(receiver, "job.completed", job_id), "the job.completed webhook"
        )

        headers = request.headers
        assert verify(SECRET, request.body, headers["x-spooled-timestamp"], headers["x-spooled-signature"])
        assert headers["x-spooled-event"] == "job.completed"
        assert headers["x-spooled-delivery-attempt"] == "1"
        envelope = request.json
        assert envelope["data"] == {
            "job_id": job_id,
            "queue_name": queue_name,
            "status": "completed",
            "result": {"answer": 42},
        }
        assert envelope["created_at"].startswith(job.completed_at.strftime("%Y-%m-%dT%H:%M:%S"))

        # The receiver has the request before the sender records its answer: wait for the outcome.
        deliveries = wait_until(
            lambda: [
                d
                for d in client.webhooks.get_deliveries(hook.id)
                if d.id == envelope["id"] and d.status != "pending"
            ],
            "the delivery's outcome in the log",
        )
        assert (deliveries[0].status, deliveries[0].attempts, deliveries[0].status_code) == (
            "success",
            1,
            200,
        )
        assert client.webhooks.get(hook.id).last_status == "success"

        client.webhooks.update(hook.id, {"secret": None})
        before = len(receiver.requests)
        assert client.webhooks.test(hook.id).success is True
        assert "x-spooled-signature" not in receiver.requests[before].headers
    finally:
        client.webhooks.delete(hook.id)
    with pytest.raises(NotFoundError):
        client.webhooks.get(hook.id)


def test_a_jobs_completion_webhook_is_called_when_it_completes(
    client: SpooledClient, queue_name: str, receiver: Receiver
) -> None:
    job_id = client.jobs.create(
        {
            "queue_name": queue_name,
            "payload": {"to": "ada@example.com"},
            "completion_webhook": receiver.url,
            "completion_webhook_secret": SECRET,
        }
    ).id
    claimed = client.jobs.claim({"queue_name": queue_name, "worker_id": "e2e-completion"}).jobs
    assert [job.id for job in claimed] == [job_id]
    client.jobs.complete(
        job_id, {"worker_id": "e2e-completion", "lease_id": claimed[0].lease_id, "result": {"sent": True}}
    )
    request = wait_until(lambda: _received(receiver, "job.completed", job_id), "the completion webhook")
    headers = request.headers
    assert verify(SECRET, request.body, headers["x-spooled-timestamp"], headers["x-spooled-signature"])
    assert request.json["data"]["result"] == {"sent": True}


def test_a_webhook_to_a_private_address_is_refused(client: SpooledClient) -> None:
    with pytest.raises(ValidationError) as refused:
        client.webhooks.create({"name": "inside", "url": "https://10.0.0.8/hook", "events": ["job.created"]})
    assert "Invalid webhook URL" in str(refused.value)
