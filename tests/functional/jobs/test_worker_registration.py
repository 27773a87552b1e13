"""Worker registration, heartbeat and deregistration (contract §2.6, §3.10)."""

from __future__ import annotations

import uuid

import pytest

from tests.functional.jobs_api import JOBS, V1, assert_error, claim_one, create_job, detail_codes, get_job

WORKERS = f"{V1}/workers"


def _register(api, **fields):
    return api.post(f"{WORKERS}/register", {"queue_name": "emails", "hostname": "host-1", **fields})


def _worker(api, worker_id):
    response = api.get(f"{WORKERS}/{worker_id}")
    assert response.status == 200, response
    return response.json


def test_register_is_201_and_mints_an_id(api):
    response = _register(api)
    assert response.status == 201, response
    body = response.json
    uuid.UUID(body["id"])
    assert body == {
        "id": body["id"],
        "queue_name": "emails",
        "lease_duration_secs": 30,
        "heartbeat_interval_secs": 10,
    }
    worker = _worker(api, body["id"])
    assert (worker["status"], worker["hostname"], worker["queue_name"]) == ("healthy", "host-1", "emails")


def test_register_with_a_stable_id_upserts(api):
    first = _register(api, worker_id="worker-a.1", max_concurrency=3, worker_type="python", version="1.6.0")
    assert first.status == 201 and first.json["id"] == "worker-a.1"
    again = _register(api, worker_id="worker-a.1", hostname="host-2", max_concurrency=8)
    assert again.status == 201 and again.json["id"] == "worker-a.1"
    worker = _worker(api, "worker-a.1")
    assert (worker["hostname"], worker["max_concurrency"]) == ("host-2", 8)


def test_two_organizations_may_use_the_same_worker_id(api, other_api):
    """Issue 12, finding 3: ids were global, so one organization could squat another's ids (409)."""
    assert _register(other_api, worker_id="worker-1", hostname="theirs").status == 201
    assert _register(api, worker_id="worker-1", hostname="ours").status == 201
    assert api.post(f"{WORKERS}/worker-1/heartbeat", {"current_jobs": 4}).status == 200
    assert api.post(f"{WORKERS}/worker-1/deregister").status == 204

    ours, theirs = _worker(api, "worker-1"), _worker(other_api, "worker-1")
    assert (ours["hostname"], ours["status"], ours["current_jobs"]) == ("ours", "offline", 4)
    assert (theirs["hostname"], theirs["status"], theirs["current_jobs"]) == ("theirs", "healthy", 0)
    assert [w["hostname"] for w in other_api.get(WORKERS).json] == ["theirs"]


@pytest.mark.parametrize("action", ["heartbeat", "deregister"])
def test_a_queue_scoped_key_reaches_only_the_workers_of_its_queues(api, action):
    """Issue 12, finding 3: a key scoped to one queue could heartbeat or deregister any worker."""
    scoped = api.post(f"{V1}/api-keys", {"name": "scoped", "queues": ["emails"]}).json["key"]
    foreign = _register(api, worker_id="reports-worker", queue_name="reports").json["id"]
    own = _register(api, worker_id="emails-worker", queue_name="emails").json["id"]
    body = {"json_body": {"current_jobs": 9, "status": "draining"}} if action == "heartbeat" else {}

    refused = api.request("POST", f"{WORKERS}/{foreign}/{action}", api_key=scoped, **body)
    assert_error(refused, 404, "NOT_FOUND")
    assert (_worker(api, foreign)["status"], _worker(api, foreign)["current_jobs"]) == ("healthy", 0)
    allowed = api.request("POST", f"{WORKERS}/{own}/{action}", api_key=scoped, **body)
    assert allowed.status in (200, 204), allowed
    assert _worker(api, own)["status"] in ("draining", "offline")


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"hostname": "bad host"}, 400, None),
        ({"hostname": "-leading"}, 400, None),
        ({"hostname": "trailing."}, 400, None),
        ({"hostname": ""}, 400, None),
        ({"queue_name": "bad queue"}, 400, None),
        ({"worker_id": "w" * 129}, 400, None),
        ({"worker_id": "has space"}, 400, None),
        ({"max_concurrency": 0}, 400, None),
        ({"max_concurrency": 101}, 400, None),
        ({"worker_type": "t" * 51}, 400, None),
        ({"max_concurrency": "5"}, 422, "invalid_type"),
        ({"hostname": None}, 422, "invalid_type"),
    ],
)
def test_register_validation(api, fields, status, code):
    response = _register(api, **fields)
    assert_error(response, status, "VALIDATION_ERROR")
    if code:
        assert code in detail_codes(response)


def test_register_without_hostname_is_422(api):
    response = api.post(f"{WORKERS}/register", {"queue_name": "emails"})
    assert_error(response, 422, "VALIDATION_ERROR")
    assert "missing_field" in detail_codes(response)


def test_heartbeat_updates_the_worker(api, clock):
    worker_id = _register(api).json["id"]
    clock.advance(5)
    response = api.post(
        f"{WORKERS}/{worker_id}/heartbeat",
        {"current_jobs": 3, "status": "degraded", "metadata": {"load": 0.7}},
    )
    assert response.status == 200, response
    worker = _worker(api, worker_id)
    assert worker["current_jobs"] == 3
    assert worker["status"] == "degraded"
    assert worker["metadata"] == {"load": 0.7}
    assert worker["last_heartbeat"] > worker["registered_at"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"current_jobs": -1}, 400),
        ({"current_jobs": 1001}, 400),
        ({"current_jobs": 1, "status": "sleeping"}, 400),
        ({"current_jobs": "1"}, 422),
        ({}, 422),
    ],
)
def test_heartbeat_validation(api, body, status):
    worker_id = _register(api).json["id"]
    assert_error(api.post(f"{WORKERS}/{worker_id}/heartbeat", body), status, "VALIDATION_ERROR")


def test_deregister_is_204_and_idempotent(api):
    worker_id = _register(api).json["id"]
    first = api.post(f"{WORKERS}/{worker_id}/deregister")  # no body, as the SDK sends it
    assert first.status == 204 and first.text == ""
    assert _worker(api, worker_id)["status"] == "offline"
    assert api.post(f"{WORKERS}/{worker_id}/deregister").status == 204


def test_a_heartbeat_after_deregistering_brings_the_worker_back(api):
    worker_id = _register(api).json["id"]
    api.post(f"{WORKERS}/{worker_id}/deregister")
    assert api.post(f"{WORKERS}/{worker_id}/heartbeat", {"current_jobs": 0}).status == 200
    assert _worker(api, worker_id)["status"] == "healthy"


def test_deregistering_leaves_a_live_lease_with_its_holder(api):
    worker_id = _register(api).json["id"]
    job_id = create_job(api)
    leased = claim_one(api, worker=worker_id)
    assert api.post(f"{WORKERS}/{worker_id}/deregister").status == 204
    assert get_job(api, job_id)["status"] == "processing"
    done = api.post(f"{JOBS}/{job_id}/complete", {"worker_id": worker_id, "lease_id": leased["lease_id"]})
    assert done.status == 200


@pytest.mark.parametrize("action", ["heartbeat", "deregister"])
def test_another_organizations_worker_is_404_and_unchanged(api, other_api, action):
    worker_id = _register(other_api, worker_id="theirs").json["id"]
    body = {"current_jobs": 9, "status": "draining"} if action == "heartbeat" else None
    response = api.request("POST", f"{WORKERS}/{worker_id}/{action}", **({"json_body": body} if body else {}))
    assert_error(response, 404, "NOT_FOUND")
    worker = _worker(other_api, worker_id)
    assert (worker["status"], worker["current_jobs"]) == ("healthy", 0)


@pytest.mark.parametrize("action", ["heartbeat", "deregister"])
def test_an_unknown_worker_is_404(api, action):
    body = {"current_jobs": 0} if action == "heartbeat" else None
    response = api.request(
        "POST", f"{WORKERS}/{uuid.uuid4()}/{action}", **({"json_body": body} if body else {})
    )
    assert_error(response, 404, "NOT_FOUND")
