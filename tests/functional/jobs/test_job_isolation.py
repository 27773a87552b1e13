"""Tenant isolation of jobs: another organization's key sees none of them and changes none of them
(contract §1.4: a 404 that never confirms the job exists)."""

from __future__ import annotations

import pytest

from tests.functional.jobs_api import JOBS, assert_error, claim, claim_one, create_job, dead_letter, get_job

# (method, path suffix, body) an intruder tries on a job of the victim's
INTRUSIONS = [
    ("GET", "", None),
    ("DELETE", "", None),
    ("POST", "/retry", None),
    ("PUT", "/priority", {"priority": 99}),
    ("GET", "/history", None),
    ("POST", "/complete", {"worker_id": "worker-1", "result": "stolen"}),
    ("POST", "/fail", {"worker_id": "worker-1", "error": "sabotage"}),
    ("POST", "/heartbeat", {"worker_id": "worker-1", "lease_duration_secs": 3600}),
]


def _state(api, job_id):
    job = get_job(api, job_id)
    return {
        k: job[k] for k in ("status", "priority", "result", "retry_count", "lease_id", "lease_expires_at")
    }


@pytest.mark.parametrize("victim_state", ["pending", "processing", "deadletter"])
@pytest.mark.parametrize(("method", "suffix", "body"), INTRUSIONS)
def test_another_organizations_job_is_404_and_unchanged(
    api, other_api, clock, victim_state, method, suffix, body
):
    if victim_state == "deadletter":
        job_id = dead_letter(api, clock, "emails")
    else:
        job_id = create_job(api, "emails")
        if victim_state == "processing":
            leased = claim_one(api, "emails", worker="worker-1")
            if body and "worker_id" in body:
                body = {**body, "lease_id": leased["lease_id"]}  # even with the right lease id
    before = _state(api, job_id)
    response = other_api.request(method, f"{JOBS}/{job_id}{suffix}", **({"json_body": body} if body else {}))
    error = assert_error(response, 404, "NOT_FOUND")
    assert job_id not in response.text
    assert error["message"] == "Resource not found"
    assert _state(api, job_id) == before


def test_lists_status_and_claims_never_cross_organizations(api, other_api, clock):
    mine = create_job(api, "shared-queue", tags=["t"])
    dead = dead_letter(api, clock, "other-queue")
    assert other_api.get(JOBS).json == []
    assert other_api.get(JOBS, params={"queue_name": "shared-queue", "tag": "t"}).json == []
    assert other_api.get(f"{JOBS}/dlq").json == []
    assert other_api.get(f"{JOBS}/status", params={"ids": f"{mine},{dead}"}).json == []
    assert claim(other_api, "shared-queue") == []
    retried = other_api.post(f"{JOBS}/dlq/retry", {"job_ids": [dead]}).json
    assert retried["retried_count"] == 0
    assert other_api.post(f"{JOBS}/dlq/purge", {"confirm": True}).json == {"purged_count": 0}
    assert get_job(api, mine)["status"] == "pending"
    assert get_job(api, dead)["status"] == "deadletter"


def test_an_idempotency_key_never_reveals_another_organizations_job(api, other_api):
    mine = api.post(JOBS, {"queue_name": "q", "payload": {"secret": 1}, "idempotency_key": "k"}).json["id"]
    theirs = other_api.post(JOBS, {"queue_name": "q", "payload": {}, "idempotency_key": "k"})
    assert theirs.status == 201
    assert theirs.json["id"] != mine


def test_a_parent_job_of_another_organization_does_not_exist(api, other_api):
    theirs = create_job(other_api, "q")
    response = api.post(JOBS, {"queue_name": "q", "payload": {}, "parent_job_id": theirs})
    assert_error(response, 400)
    assert api.get(JOBS).json == []
