"""Payload and result objects in S3: live ones are told apart from orphans by their tag alone.

shared/plumbing/payload_store.py writes each object tagged `spooled-state=uncommitted` and re-tags
it `committed` once the item pointing at it is written; the bucket's lifecycle rule (stacks/data.py,
pinned in tests/cdk/test_payload_lifecycle.py) expires what is still uncommitted after a day. These
tests run the real API handler on moto and check, for every way a large payload or result is
written, that the rule would expire exactly the objects no item points at.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from shared.jobs import expressions as ex
from shared.plumbing import aws_clients, schema
from shared.plumbing.config import settings
from shared.plumbing.payload_store import PayloadStore
from tests.conftest import reset_process_caches
from tests.functional import timers_harness as h
from tests.functional.jobs_api import JOBS, claim_one, create_job, get_job
from tests.functional.timers_harness import Timers
from tests.functional.workflows.test_workflows_harness import create_workflow, job_spec

# What the lifecycle rule filters on, spelled out: the CDK test pins the rule to the same pair.
UNCOMMITTED = {"spooled-state": "uncommitted"}
COMMITTED = {"spooled-state": "committed"}
INLINE_LIMIT = 64  # bytes: anything bigger goes to S3, so small test documents exercise it
BIG = {"text": "x" * 200}


@pytest.fixture
def small_inline(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOOLED_INLINE_PAYLOAD_LIMIT", str(INLINE_LIMIT))
    reset_process_caches(clients=False)


@pytest.fixture
def timers(api: Any, clock: Any, small_inline: None, monkeypatch: pytest.MonkeyPatch) -> Timers:
    return h.install(monkeypatch, clock)


def _objects() -> dict[str, dict[str, str]]:
    """Every object of the payload bucket with its tags."""
    s3 = aws_clients.client("s3")
    bucket = settings().payload_bucket
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {
        entry["Key"]: {
            tag["Key"]: tag["Value"]
            for tag in s3.get_object_tagging(Bucket=bucket, Key=entry["Key"])["TagSet"]
        }
        for entry in listed
    }


def _rule_would_expire() -> set[str]:
    """The objects the lifecycle rule's tag filter selects."""
    key, value = schema.PAYLOAD_BUCKET.uncommitted_tag
    return {name for name, tags in _objects().items() if tags.get(key) == value}


def _item(org_id: str, job_id: str) -> dict[str, Any]:
    return aws_clients.client("dynamodb").get_item(
        TableName=settings().table_name,
        Key=ex.job_key(org_id, job_id),
        ConsistentRead=True,
    )["Item"]


@contextmanager
def failing(operation: str, code: str = "InternalServerError", times: int = 1) -> Iterator[list[str]]:
    """The next `times` calls of `operation` (any client) fail as AWS fails them after retries."""
    original = BaseClient._make_api_call
    failed: list[str] = []

    def call(client: BaseClient, name: str, params: dict[str, Any]) -> Any:
        if name == operation and len(failed) < times:
            failed.append(params.get("Key") if isinstance(params.get("Key"), str) else name)
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, name)
        return original(client, name, params)

    BaseClient._make_api_call = call  # type: ignore[method-assign]
    try:
        yield failed
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]


def test_schema_names_the_tags_the_lifecycle_rule_filters_on() -> None:
    assert dict([schema.PAYLOAD_BUCKET.uncommitted_tag]) == UNCOMMITTED
    assert dict([schema.PAYLOAD_BUCKET.committed_tag]) == COMMITTED
    assert schema.PAYLOAD_BUCKET.orphan_expiry_days == 1


def test_an_object_is_born_uncommitted_in_the_same_request_as_its_body(aws: dict[str, str]) -> None:
    inline, ref = PayloadStore(inline_limit=0).place("org", "job", "payload", '{"a":1}')
    assert inline is None and ref is not None
    # Tagged by PutObject itself: there is no moment in which an untagged (never-expiring) copy exists.
    assert _objects() == {ref: UNCOMMITTED}
    PayloadStore().commit(ref, None)
    assert _objects() == {ref: COMMITTED}


def test_every_live_payload_and_result_is_committed(api: Any, org: Any, small_inline: None) -> None:
    plain = create_job(api, "big", BIG)
    keyed = create_job(api, "big", BIG, idempotency_key="once")
    again = api.post(JOBS, {"queue_name": "big", "payload": BIG, "idempotency_key": "once"})
    assert (again.status, again.json["id"], again.json["created"]) == (200, keyed, False)
    bulk = api.post(f"{JOBS}/bulk", {"queue_name": "big", "jobs": [{"payload": BIG}, {"payload": BIG}]})
    assert bulk.status == 200, bulk
    flow = create_workflow(api, [job_spec("a", payload=BIG), job_spec("b", depends_on=["a"], payload=BIG)])
    leased = claim_one(api, "big")
    done = api.post(
        f"{JOBS}/{leased['id']}/complete",
        {"worker_id": "worker-1", "lease_id": leased["lease_id"], "result": BIG},
    )
    assert done.status == 200, done

    job_ids = [plain, keyed, flow["a"], flow["b"], *(row["job_id"] for row in bulk.json["succeeded"])]
    refs = {_item(org.id, job_id)["payload_ref"]["S"] for job_id in job_ids}
    refs.add(_item(org.id, leased["id"])["result_ref"]["S"])
    assert len(refs) == 7  # six payloads (the repeated key placed none) and one result
    assert _objects() == dict.fromkeys(refs, COMMITTED)
    assert _rule_would_expire() == set()
    assert get_job(api, leased["id"])["result"] == BIG


def test_an_object_whose_item_write_failed_is_left_to_the_rule(
    api: Any, org: Any, small_inline: None
) -> None:
    live = create_job(api, "big", BIG)
    with failing("PutItem"):
        refused = api.post(JOBS, {"queue_name": "big", "payload": BIG})
    assert refused.status == 503, refused  # the client retries; the first object is an orphan
    (orphan,) = set(_objects()) - {_item(org.id, live)["payload_ref"]["S"]}
    assert _rule_would_expire() == {orphan}


def test_a_commit_that_fails_keeps_the_operation_and_names_the_object(
    api: Any, org: Any, small_inline: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, "spooled.payloads"), failing("PutObjectTagging", "SlowDown"):
        job_id = create_job(api, "big", BIG)  # the item is written: a 201, not an error
    ref = _item(org.id, job_id)["payload_ref"]["S"]
    assert get_job(api, job_id)["payload"] == BIG
    assert _objects() == {ref: UNCOMMITTED}
    assert any(ref in record.getMessage() for record in caplog.records), caplog.text


def test_committing_an_object_deleted_in_between_is_no_error(
    aws: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    store = PayloadStore(inline_limit=0)
    _, ref = store.place("org", "job", "payload", '{"a":1}')
    store.delete(ref)  # a queue purge took the job and its object between the write and the commit
    with caplog.at_level(logging.ERROR, "spooled.payloads"):
        store.commit(ref)
    assert caplog.records == [] and _objects() == {}


def test_a_late_completion_leaves_the_accepted_result_alone(
    api: Any, org: Any, clock: Any, timers: Timers
) -> None:
    """A zombie worker's completion (its lease ended, another worker completed the job) writes its
    result object and deletes it when the completion is refused: that must be its own object, not
    the accepted result (one key per job and kind made the zombie overwrite, then delete it)."""
    job_id = create_job(api, "big", {"n": 1})
    zombie = claim_one(api, "big", worker="worker-1", lease=10)
    timers.run_until(h.ms(zombie["lease_expires_at"]) + 1_000)
    timers.run_for(60)  # the retry backoff
    winner = claim_one(api, "big", worker="worker-2", lease=30)
    assert winner["id"] == job_id
    accepted = {"by": "worker-2", **BIG}
    done = api.post(
        f"{JOBS}/{job_id}/complete",
        {"worker_id": "worker-2", "lease_id": winner["lease_id"], "result": accepted},
    )
    assert done.status == 200, done
    late = api.post(
        f"{JOBS}/{job_id}/complete",
        {"worker_id": "worker-1", "lease_id": zombie["lease_id"], "result": {"by": "worker-1", **BIG}},
    )
    assert late.status in (404, 409), late
    assert get_job(api, job_id)["result"] == accepted
    assert _objects() == {_item(org.id, job_id)["result_ref"]["S"]: COMMITTED}
