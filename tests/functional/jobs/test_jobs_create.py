"""POST /api/v1/jobs (contract §2.4, §3.5, §3.6): creation, idempotency, delay, priority, payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.functional import timers_harness
from tests.functional.jobs_api import JOBS, assert_error, claim, create_job, detail_codes, get_job

MIB = 1024 * 1024


def _rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def _encode(value: object) -> bytes:
    # The SDK and the service both write compact JSON; non-ASCII stays UTF-8.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _payload_of_size(size: int) -> dict[str, object]:
    """A payload whose compact JSON is exactly `size` bytes, with multi-byte characters and numbers
    that must come back unchanged."""
    base = {"text": "héllo wörld €😀", "n": 12345678901234567, "f": 0.1, "nested": [None, True, {"k": []}]}
    base["blob"] = ""
    pad = size - len(_encode(base))
    assert pad >= 0
    base["blob"] = "x" * pad
    assert len(_encode(base)) == size
    return base


def _stored_item(org_id: str, job_id: str) -> dict[str, object]:
    from shared.plumbing import aws_clients
    from shared.plumbing.config import settings

    found = aws_clients.client("dynamodb").get_item(
        TableName=settings().table_name,
        # The job's partition is the shard written in its id (byte 9, characters 21-22).
        Key={"pk": {"S": f"JOB#{org_id}#{int(job_id[21:23], 16)}"}, "sk": {"S": job_id}},
        ConsistentRead=True,
    )
    return found["Item"]


def _s3_keys(org_id: str, job_id: str) -> list[str]:
    from shared.plumbing import aws_clients
    from shared.plumbing.config import settings

    listed = aws_clients.client("s3").list_objects_v2(
        Bucket=settings().payload_bucket, Prefix=f"payloads/{org_id}/{job_id}/"
    )
    return [entry["Key"] for entry in listed.get("Contents", [])]


# --- creation --------------------------------------------------------------------------------


def test_create_returns_201_with_a_new_id_and_defaults(api, org):
    response = api.post(JOBS, {"queue_name": "emails", "payload": {"to": "a@example.com"}})
    assert response.status == 201, response
    assert response.json["created"] is True
    job = get_job(api, response.json["id"])
    assert job["id"] == response.json["id"]
    assert job["organization_id"] == org.id
    assert job["queue_name"] == "emails"
    assert job["status"] == "pending"
    assert job["payload"] == {"to": "a@example.com"}
    assert job["priority"] == 0
    assert job["retry_count"] == 0
    assert job["max_retries"] == 3
    assert job["timeout_seconds"] == 300
    assert job["created_at"].endswith("Z")
    assert job["result"] is None and job["last_error"] is None


def test_create_stores_every_optional_field(api, clock):
    expires = clock.now_ms() + 3_600_000
    job_id = create_job(
        api,
        "reports",
        {"job_type": "render"},
        priority=7,
        max_retries=5,
        timeout_seconds=60,
        expires_at=_rfc3339(expires),
        tags={"team": "billing", "urgent": True},
    )
    job = get_job(api, job_id)
    assert (job["priority"], job["max_retries"], job["timeout_seconds"]) == (7, 5, 60)
    assert job["tags"] == {"team": "billing", "urgent": True}
    assert datetime.fromisoformat(job["expires_at"].replace("Z", "+00:00")).timestamp() * 1000 == expires


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # the instance metadata service
        "https://10.0.0.8/hook",
        "https://metadata.google.internal/x",
        "ftp://example.com/hook",
    ],
)
def test_a_completion_webhook_to_a_private_or_metadata_address_is_refused(api, url):
    response = api.post(JOBS, {"queue_name": "emails", "payload": {}, "completion_webhook": url})
    assert_error(response, 400)
    assert "Invalid webhook URL" in response.json["message"]
    assert api.get(JOBS, params={"queue_name": "emails"}).json == []  # nothing was written


@pytest.mark.parametrize("tags", [["a", "b"], {"k": "v"}])
def test_tags_round_trip_as_object_or_array(api, tags):
    assert get_job(api, create_job(api, tags=tags))["tags"] == tags


@pytest.mark.parametrize("payload", [None, 0, -1.5, "text", [], {}, [1, "two", {"3": [4]}], {"ü": "∑"}])
def test_any_json_payload_round_trips(api, payload):
    assert get_job(api, create_job(api, payload=payload))["payload"] == payload


# --- idempotency ---------------------------------------------------------------------------------


def test_duplicate_idempotency_key_returns_200_with_the_original_id_and_changes_nothing(api):
    first = api.post(JOBS, {"queue_name": "emails", "payload": {"v": 1}, "idempotency_key": "order-42"})
    assert first.status == 201 and first.json["created"] is True
    again = api.post(
        JOBS, {"queue_name": "other", "payload": {"v": 2}, "priority": 50, "idempotency_key": "order-42"}
    )
    assert again.status == 200, again
    assert again.json == {"id": first.json["id"], "created": False}
    job = get_job(api, first.json["id"])
    assert (job["queue_name"], job["payload"], job["priority"]) == ("emails", {"v": 1}, 0)
    assert job["idempotency_key"] == "order-42"
    listed = api.get(JOBS, params={"limit": 100}).json
    assert [row["id"] for row in listed] == [first.json["id"]]


def test_idempotency_keys_are_scoped_per_organization(api, other_api):
    mine = api.post(JOBS, {"queue_name": "q", "payload": {}, "idempotency_key": "shared-key"})
    theirs = other_api.post(JOBS, {"queue_name": "q", "payload": {}, "idempotency_key": "shared-key"})
    assert mine.status == 201 and theirs.status == 201
    assert mine.json["id"] != theirs.json["id"]


def test_a_job_without_a_key_is_never_deduplicated(api):
    body = {"queue_name": "q", "payload": {"same": True}}
    assert api.post(JOBS, body).json["id"] != api.post(JOBS, body).json["id"]


# --- delayed jobs ----------------------------------------------------------------------------


def test_future_scheduled_at_makes_a_scheduled_job_that_is_not_claimable_until_then(api, clock, monkeypatch):
    timers = timers_harness.install(monkeypatch, clock)  # the dispatcher makes it claimable when due
    due = clock.now_ms() + 60_000
    job_id = create_job(api, "delayed", scheduled_at=_rfc3339(due))
    job = get_job(api, job_id)
    assert job["status"] == "scheduled"
    assert datetime.fromisoformat(job["scheduled_at"].replace("Z", "+00:00")).timestamp() * 1000 == due
    assert claim(api, "delayed") == []
    timers.run_for(59)
    assert claim(api, "delayed") == []
    assert get_job(api, job_id)["status"] == "scheduled"
    timers.run_for(1)
    jobs = claim(api, "delayed")
    assert [j["id"] for j in jobs] == [job_id]
    assert get_job(api, job_id)["status"] == "processing"


def test_past_scheduled_at_is_pending_and_claimable_at_once(api, clock):
    job_id = create_job(api, "delayed", scheduled_at=_rfc3339(clock.now_ms() - 5_000))
    assert get_job(api, job_id)["status"] == "pending"
    assert [j["id"] for j in claim(api, "delayed")] == [job_id]


def test_a_delay_far_in_the_future_stays_scheduled(api, clock):
    job_id = create_job(api, "delayed", scheduled_at="2500-01-01T00:00:00Z")
    assert claim(api, "delayed") == []
    clock.advance(86400)
    assert claim(api, "delayed") == []
    assert get_job(api, job_id)["status"] == "scheduled"


def test_naive_scheduled_at_means_utc(api, clock, monkeypatch):
    timers = timers_harness.install(monkeypatch, clock)
    due = datetime.fromtimestamp(clock.now_ms() / 1000, tz=UTC) + timedelta(seconds=30)
    job_id = create_job(api, "delayed", scheduled_at=due.replace(tzinfo=None).isoformat())
    assert get_job(api, job_id)["status"] == "scheduled"
    timers.run_for(29)
    assert claim(api, "delayed") == []
    timers.run_for(2)
    assert [j["id"] for j in claim(api, "delayed")] == [job_id]


# --- priority -----------------------------------------------------------------------------------


@pytest.mark.parametrize("priority", [-100, -1, 0, 1, 100])
def test_priorities_in_range_are_accepted(api, priority):
    assert get_job(api, create_job(api, priority=priority))["priority"] == priority


@pytest.mark.parametrize("priority", [-101, 101, 1000])
def test_priorities_out_of_range_are_400(api, priority):
    response = api.post(JOBS, {"queue_name": "q", "payload": {}, "priority": priority})
    body = assert_error(response, 400, "VALIDATION_ERROR")
    assert [d["field"] for d in body["details"]] == ["priority"]


# --- payload size ------------------------------------------------------------------------------


def test_small_payload_is_stored_inline(api, org):
    job_id = create_job(api, payload=_payload_of_size(10_000))
    item = _stored_item(org.id, job_id)
    # In the job item (as text, or brotli-compressed) or in a payload item of its own: not in S3.
    assert ("payload" in item or "pz" in item or "pl" in item) and "payload_ref" not in item
    assert _s3_keys(org.id, job_id) == []
    assert get_job(api, job_id)["payload"] == _payload_of_size(10_000)


@pytest.mark.parametrize("size", [400 * 1024, MIB])
def test_payload_above_the_inline_limit_goes_to_s3_and_round_trips_byte_exact(api, org, size):
    payload = _payload_of_size(size)
    job_id = create_job(api, "big", payload)
    item = _stored_item(org.id, job_id)
    assert "payload" not in item, "a large payload must not be inline in the item"
    assert "payload_ref" in item
    assert _s3_keys(org.id, job_id) == [item["payload_ref"]["S"]]
    fetched = api.get(f"{JOBS}/{job_id}")
    assert _encode(fetched.json["payload"]) == _encode(payload)
    # The response carries the payload's bytes unchanged, not a re-spelling of them.
    assert _encode(payload).decode("utf-8") in fetched.text
    claimed = claim(api, "big")
    assert [j["id"] for j in claimed] == [job_id]
    assert _encode(claimed[0]["payload"]) == _encode(payload)


def test_payload_one_byte_over_1_mib_is_413(api):
    response = api.post(JOBS, {"queue_name": "big", "payload": _payload_of_size(MIB + 1)})
    body = assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert body["current"] == MIB + 1
    assert body["limit"] == MIB
    assert body["error"] == "payload_too_large"
    assert api.get(JOBS, params={"queue_name": "big"}).json == []


# --- malformed requests --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"queue_name": "q", "payload": ', "invalid_json"),
        (b"{'queue_name': 'q'}", "invalid_json"),
        (b"", "empty_body"),
        (b"   ", "empty_body"),
        (b'{"queue_name": "q", "payload": {}, "priority": "5"}', "invalid_type"),
        (b'{"queue_name": 5, "payload": {}}', "invalid_type"),
        (b'{"queue_name": "q", "payload": {}, "max_retries": 1.5}', "invalid_type"),
        (b'{"queue_name": "q", "payload": {}, "tags": {}, "scheduled_at": 17}', "invalid_type"),
        (b'["queue_name", "q"]', "invalid_type"),
        (b'{"payload": {}}', "missing_field"),
        (b'{"queue_name": "q"}', "missing_field"),
    ],
)
def test_undeserialisable_bodies_are_422(api, body, code):
    response = api.request("POST", JOBS, body=body)
    assert_error(response, 422, "VALIDATION_ERROR")
    assert code in detail_codes(response), response
    for detail in response.json["details"]:
        assert set(detail) >= {"field", "message", "code"}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"queue_name": "my queue"}, "queue_name"),
        ({"queue_name": ".hidden"}, "queue_name"),
        ({"queue_name": "-dash"}, "queue_name"),
        ({"queue_name": ""}, "queue_name"),
        ({"queue_name": "q" * 101}, "queue_name"),
        ({"queue_name": "a#b"}, "queue_name"),
        ({"max_retries": 101}, "max_retries"),
        ({"max_retries": -1}, "max_retries"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"timeout_seconds": 86401}, "timeout_seconds"),
        ({"idempotency_key": "k" * 256}, "idempotency_key"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"tags": "not-an-object"}, "tags"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"scheduled_at": "tomorrow"}, "scheduled_at"),
    ],
)
def test_rule_violations_are_400_naming_the_field(api, fields, field):
    body = {"queue_name": "q", "payload": {}, **fields}
    error = assert_error(api.post(JOBS, body), 400, "VALIDATION_ERROR")
    assert field in [d["field"] for d in error["details"]], error


@pytest.mark.parametrize("name", ["q", "Q.1", "a_b-c.d", "_x", "9" * 100])
def test_valid_queue_names_are_accepted(api, name):
    assert get_job(api, create_job(api, name))["queue_name"] == name


def test_unknown_fields_are_ignored(api):
    response = api.post(JOBS, {"queue_name": "q", "payload": {}, "colour": "blue"})
    assert response.status == 201


def test_far_future_delays_do_not_hide_a_job_that_is_due(api, clock, org):
    # Timers past the year 2286 have 14-digit due times; whatever the key format, they must not
    # sort among the due ones and crowd a job that is due out of the sweep's look at the timers
    # index (the safety net when a timer message is lost).
    from shared.jobs import timers as job_timers
    from shared.jobs.store import JobStore

    for _ in range(30):
        create_job(api, "delayed", scheduled_at="2500-01-01T00:00:00Z")
    soon = create_job(api, "delayed", scheduled_at=_rfc3339(clock.now_ms() + 1_000))
    clock.advance(2)
    store = JobStore(clock=clock)
    assert store.promote_due(org.id, "delayed", limit=1) == 1  # the first page holds the due one
    assert [j["id"] for j in claim(api, "delayed")] == [soon]
    assert job_timers.act_on_due_timers(store, org.id, "delayed") == 0


@pytest.mark.parametrize("where", ["payload", "tags", "result"])
def test_a_number_json_cannot_carry_is_refused_and_nothing_is_written(api, where):
    body = b'{"x": 1e400}'
    if where == "result":
        job_id = create_job(api)
        leased = claim(api)[0]
        raw = b'{"worker_id": "worker-1", "lease_id": "%s", "result": %s}' % (
            leased["lease_id"].encode(),
            body,
        )
        response = api.request("POST", f"{JOBS}/{job_id}/complete", body=raw)
        assert_error(response, 400)
        assert get_job(api, job_id)["status"] == "processing"
        return
    raw = b'{"queue_name": "emails", "payload": {}, "%s": %s}' % (where.encode(), body)
    if where == "payload":
        raw = b'{"queue_name": "emails", "payload": %s}' % body
    assert_error(api.request("POST", JOBS, body=raw), 400)
    assert api.get(JOBS, params={"queue_name": "emails"}).json == []
