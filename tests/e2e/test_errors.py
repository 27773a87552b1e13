"""Service errors as the SDK raises them, and client mistakes never tripping the SDK's circuit breaker."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from spooled import (
    AuthenticationError,
    CircuitBreakerConfig,
    ConflictError,
    NotFoundError,
    RetryConfig,
    SpooledClient,
    SpooledError,
    ValidationError,
)
from spooled.errors import is_lease_expired
from spooled.types.jobs import ClaimJobsParams, CreateJobParams

from tests.e2e.conftest import ClientFactory
from tests.e2e.sdk_helpers import wait_until

pytestmark = pytest.mark.e2e

WRONG_KEY = "sp_test_" + "0" * 43
SHORTEST_LEASE = 5  # seconds; the contract's minimum lease_duration_secs


def _unchecked(model: type[Any], **fields: Any) -> Any:
    """SDK params built without the SDK's own validation, so the service's answer is what is tested."""
    return model.model_construct(**fields)


def test_a_wrong_api_key_is_an_authentication_error(make_client: ClientFactory) -> None:
    with pytest.raises(AuthenticationError) as raised:
        make_client(api_key=WRONG_KEY).jobs.list()
    assert raised.value.status_code == 401


def test_an_unknown_job_is_not_found(client: SpooledClient) -> None:
    with pytest.raises(NotFoundError) as raised:
        client.jobs.get(str(uuid.uuid4()))
    assert (raised.value.status_code, raised.value.code) == (404, "NOT_FOUND")


def test_an_out_of_range_priority_is_a_validation_error(client: SpooledClient, queue_name: str) -> None:
    with pytest.raises(ValidationError) as raised:
        client.jobs.create(_unchecked(CreateJobParams, queue_name=queue_name, payload={}, priority=101))
    assert (raised.value.status_code, raised.value.code) == (400, "VALIDATION_ERROR")
    assert [detail["field"] for detail in raised.value.details] == ["priority"]
    assert list(client.jobs.list({"queue_name": queue_name})) == []

    job_id = client.jobs.create({"queue_name": queue_name, "payload": {}}).id
    with pytest.raises(ValidationError):
        client.jobs.boost_priority(job_id, -101)
    assert client.jobs.get(job_id).priority == 0


def test_acks_with_a_stale_lease_are_lease_expired_conflicts(client: SpooledClient, queue_name: str) -> None:
    worker = "stale-worker"
    job_id = client.jobs.create({"queue_name": queue_name, "payload": {}, "max_retries": 3}).id

    def claim(lease_seconds: int) -> Any:
        jobs = client.jobs.claim(
            {"queue_name": queue_name, "worker_id": worker, "lease_duration_secs": lease_seconds}
        ).jobs
        return jobs[0] if jobs else None

    first = claim(SHORTEST_LEASE)
    assert first.id == job_id
    # The first lease runs out; the job is recovered and handed out again (to the same worker
    # here), so `first.lease_id` is now a stale lease, as a worker that stalled would hold.
    second = wait_until(lambda: claim(300), "the job to be claimable again after its lease expired")
    assert second.id == job_id and second.lease_id != first.lease_id

    stale = {"worker_id": worker, "lease_id": first.lease_id}
    late_acks: list[Callable[[], object]] = [
        lambda: client.jobs.complete(job_id, {**stale, "result": {"from": "the stale lease"}}),
        lambda: client.jobs.fail(job_id, {**stale, "error": "late failure"}),
        lambda: client.jobs.heartbeat(job_id, stale),
    ]
    for ack in late_acks:
        with pytest.raises(ConflictError) as raised:
            ack()
        assert raised.value.code == "LEASE_EXPIRED"
        assert is_lease_expired(raised.value)

    job = client.jobs.get(job_id)
    assert (job.status, job.retry_count, job.lease_id) == ("processing", 1, second.lease_id)
    client.jobs.complete(job_id, {"worker_id": worker, "lease_id": second.lease_id, "result": {"ok": True}})
    assert client.jobs.get(job_id).result == {"ok": True}


# One mistake below is a worker_id of the wrong type, which pydantic warns about as it serializes it.
@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")
def test_client_mistakes_never_open_the_circuit_breaker(make_client: ClientFactory, queue_name: str) -> None:
    # The SDK's defaults: retries, and a breaker that opens after 5 retryable failures.
    client = make_client(retry=RetryConfig(), circuit_breaker=CircuitBreakerConfig())
    stranger = make_client(api_key=WRONG_KEY, retry=RetryConfig(), circuit_breaker=CircuitBreakerConfig())
    unknown = str(uuid.uuid4())
    mistakes: list[Callable[[], object]] = [
        lambda: stranger.jobs.get(unknown),  # 401
        lambda: client.jobs.get(unknown),  # 404
        lambda: client.jobs.cancel(unknown),  # 404
        lambda: client.jobs.boost_priority(unknown, 1),  # 404
        lambda: client.jobs.complete(unknown, {"worker_id": "w", "lease_id": "l"}),  # 404
        lambda: client.jobs.create(
            _unchecked(CreateJobParams, queue_name=queue_name, payload={}, priority=500)
        ),
        lambda: client.jobs.claim(_unchecked(ClaimJobsParams, queue_name=queue_name, worker_id="w", limit=0)),
        lambda: client.jobs.claim(_unchecked(ClaimJobsParams, queue_name=queue_name, worker_id=7)),  # 422
        lambda: client.jobs.create({"queue_name": queue_name, "payload": "x" * (1024 * 1024 + 1)}),  # 413
    ]
    statuses = []
    for _ in range(2):  # twice the breaker's threshold, at least
        for mistake in mistakes:
            with pytest.raises(SpooledError) as raised:
                mistake()
            statuses.append(raised.value.status_code)
    assert all(400 <= status < 500 for status in statuses), statuses
    assert {422, 413, 401}.issubset(statuses)

    for sdk_client in (client, stranger):
        stats = sdk_client.get_circuit_breaker_stats()
        assert (stats["state"], stats["failure_count"]) == ("CLOSED", 0)
    assert client.jobs.create({"queue_name": queue_name, "payload": {}}).created is True
