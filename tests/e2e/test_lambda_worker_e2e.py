"""The Lambda-worker example in `make dev`: a queue names a function, and its jobs are pushed to it.

examples/lambda_worker/handler.py holds two functions; the local stack registers them under the
names a deployment would give them (local_stack/lambda_workers.py). No worker polls these queues:
the dispatcher claims each job, invokes the function, and completes or fails the job with what it
returned or raised, through the normal retries and dead-letter queue.
"""

from __future__ import annotations

import uuid

import pytest
from spooled import SpooledClient
from spooled.errors import AuthorizationError

from tests.e2e.conftest import ClientFactory, RunningStack
from tests.e2e.sdk_helpers import wait_for_status, wait_until

pytestmark = pytest.mark.e2e


def test_a_function_the_organization_was_not_allowed_is_refused(
    make_client: ClientFactory, local_stack: RunningStack, queue_name: str
) -> None:
    """Issue 12, finding 1: another organization cannot name the development organization's functions."""
    admin = make_client(admin_key=local_stack.admin_key)
    created = admin.admin.create_organization({"name": "Intruder", "slug": f"intr-{uuid.uuid4().hex[:10]}"})
    intruder = make_client(created.api_key.key)
    try:
        with pytest.raises(AuthorizationError):
            _push_to(intruder, queue_name, "spooled-example-worker")
    finally:
        admin.admin.delete_organization(created.organization.id, hard=True)


def _push_to(client: SpooledClient, queue: str, function: str, max_concurrency: int = 2) -> None:
    client.queues.update_config(
        queue,
        {"settings": {"lambda_worker": {"function_name": function, "max_concurrency": max_concurrency}}},
    )


def test_the_example_function_completes_the_queues_jobs(client: SpooledClient, queue_name: str) -> None:
    _push_to(client, queue_name, "spooled-example-worker")
    texts = ["one two three", "the quick brown fox", "", "serverless job queues"]
    ids = [client.jobs.create({"queue_name": queue_name, "payload": {"text": text}}).id for text in texts]

    jobs = [wait_for_status(client, job_id, "completed") for job_id in ids]

    for job, text in zip(jobs, texts, strict=True):
        words = text.split()
        assert job.result == {
            "job_id": job.id,
            "words": len(words),
            "longest": max(words, key=len) if words else None,
            "attempt": 1,
        }
        assert job.assigned_worker_id == "lambda:spooled-example-worker"
        assert job.retry_count == 0


def test_the_failing_example_reaches_the_dlq_after_its_retries(
    client: SpooledClient, queue_name: str
) -> None:
    _push_to(client, queue_name, "spooled-example-failing-worker")
    job_id = client.jobs.create({"queue_name": queue_name, "payload": {}, "max_retries": 2}).id

    job = wait_for_status(client, job_id, "deadletter")

    assert job.retry_count == 2
    assert job.last_error == f"RuntimeError: cannot process job {job_id} (attempt 3)"
    history = [event.event_type for event in client.jobs.history(job_id)]
    assert history.count("processing") == 3  # max_retries + 1 executions
    assert history.count("retry_scheduled") == 2 and history[-1] == "deadlettered"
    dead = wait_until(lambda: list(client.jobs.dlq.list({"queue_name": queue_name})), "the DLQ listing")
    assert [row.id for row in dead] == [job_id]


def test_a_queue_without_a_function_is_not_pushed(client: SpooledClient, queue_name: str) -> None:
    job_id = client.jobs.create({"queue_name": queue_name, "payload": {}}).id
    _push_to(client, f"{queue_name}-other", "spooled-example-worker")
    assert client.jobs.get(job_id).status == "pending"
    (claimed,) = client.jobs.claim({"queue_name": queue_name, "worker_id": "puller"}).jobs
    assert claimed.id == job_id
