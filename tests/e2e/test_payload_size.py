"""The contract's 1 MiB payload limit, through the SDK: the largest allowed payload survives
create → get and create → claim → complete byte for byte; one byte more is PayloadTooLargeError."""

from __future__ import annotations

from typing import Any

import pytest
from spooled import PayloadTooLargeError, SpooledClient

from tests.e2e.sdk_helpers import compact_json, json_size

pytestmark = pytest.mark.e2e

LIMIT = 1_048_576  # bytes of serialized JSON (contract §1.2)


def payload_of_size(size: int) -> dict[str, Any]:
    """A payload whose compact UTF-8 JSON is exactly `size` bytes, with the characters that break
    naive round trips: multi-byte text, escapes, big and fractional numbers, nesting, key order."""
    payload: dict[str, Any] = {
        "zeta": "first key, so key order is visible",
        "text": 'Grüße, 世界 🚀 "quoted" back\\slash\nnew line\ttab \u0000 nul \u2028',
        "numbers": [0, -1, 2**63 - 1, -(2**63), 1.5, -2.25e-8, 1e300],
        "nested": {"flags": [True, False, None], "empty": {}, "list": [[], [{}]]},
        "alpha": "",
    }
    payload["alpha"] = "é" * ((size - json_size(payload)) // 2)
    payload["alpha"] += "x" * (size - json_size(payload))
    assert json_size(payload) == size
    return payload


def test_the_largest_payload_round_trips_through_create_and_get(
    client: SpooledClient, queue_name: str
) -> None:
    payload = payload_of_size(LIMIT - 1)
    job = client.jobs.get(client.jobs.create({"queue_name": queue_name, "payload": payload}).id)
    assert compact_json(job.payload) == compact_json(payload)


def test_the_largest_payload_and_result_round_trip_through_a_worker(
    client: SpooledClient, queue_name: str
) -> None:
    payload = payload_of_size(LIMIT - 1)
    job_id = client.jobs.create({"queue_name": queue_name, "payload": payload}).id
    [claimed] = client.jobs.claim({"queue_name": queue_name, "worker_id": "big", "limit": 1}).jobs
    assert claimed.id == job_id
    assert compact_json(claimed.payload) == compact_json(payload)

    ack = {"worker_id": "big", "lease_id": claimed.lease_id}
    with pytest.raises(PayloadTooLargeError):
        client.jobs.complete(job_id, {**ack, "result": payload_of_size(LIMIT + 1)})
    result = payload_of_size(LIMIT)  # exactly the limit is still allowed
    client.jobs.complete(job_id, {**ack, "result": result})
    job = client.jobs.get(job_id)
    assert job.status == "completed"
    assert compact_json(job.result) == compact_json(result)


def test_one_byte_over_the_limit_is_payload_too_large(client: SpooledClient, queue_name: str) -> None:
    with pytest.raises(PayloadTooLargeError) as raised:
        client.jobs.create({"queue_name": queue_name, "payload": payload_of_size(LIMIT + 1)})
    assert (raised.value.status_code, raised.value.code) == (413, "PAYLOAD_TOO_LARGE")
    assert list(client.jobs.list({"queue_name": queue_name})) == []
