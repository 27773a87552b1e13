"""API keys (contract §2.12, §3.13): create, list, get, update, revoke; storage and scopes."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

from shared.identity import expressions as ex
from shared.identity.credentials import hash_key
from shared.plumbing.config import settings
from tests.conftest import ApiClient, Org
from tests.functional.identity.support import ADMIN_HEADERS, create_key, enqueue, error_code


@pytest.fixture
def keys_api(tenant_api: ApiClient) -> ApiClient:
    return tenant_api


def _all_table_text() -> str:
    # A scan, in a test only: proves no item anywhere holds the raw key.
    items = boto3.client("dynamodb").scan(TableName=settings().table_name)["Items"]
    return repr(items)


def test_a_new_key_is_shown_once_stored_only_as_a_hash_and_works_at_once(keys_api: ApiClient) -> None:
    created = create_key(keys_api, name="Deploy bot (ci)", queues=["emails"], rate_limit=100)
    key = created["key"]
    assert key.startswith("sp_test_") and len(key) == 51
    assert created["queues"] == ["emails"]

    # Only the SHA-256 is stored, and no read ever returns the key again.
    table = _all_table_text()
    assert key not in table
    assert hash_key(key) in table
    listed = keys_api.get("/api/v1/api-keys").json
    fetched = keys_api.get(f"/api/v1/api-keys/{created['id']}").json
    assert key not in repr(listed) and key not in repr(fetched)
    assert fetched["key_prefix"] == key[:8]
    assert fetched["queues"] == ["emails"] and fetched["rate_limit"] == 100 and fetched["is_active"] is True

    assert keys_api.post("/api/v1/jobs", {"queue_name": "emails", "payload": {}}, api_key=key).status == 201


def test_revoked_key_is_refused_on_its_next_request_and_still_listed(keys_api: ApiClient) -> None:
    created = create_key(keys_api)
    assert keys_api.get("/api/v1/jobs", api_key=created["key"]).status == 200
    assert keys_api.delete(f"/api/v1/api-keys/{created['id']}").status == 204
    refused = keys_api.get("/api/v1/jobs", api_key=created["key"])
    assert refused.status == 401 and error_code(refused) == "UNAUTHORIZED"
    listed = {row["id"]: row for row in keys_api.get("/api/v1/api-keys").json}
    assert listed[created["id"]]["is_active"] is False
    # Revoking again is idempotent; reactivating brings it back.
    assert keys_api.delete(f"/api/v1/api-keys/{created['id']}").status == 204
    updated = keys_api.put(f"/api/v1/api-keys/{created['id']}", {"is_active": True})
    assert updated.status == 200 and updated.json["is_active"] is True
    assert keys_api.get("/api/v1/jobs", api_key=created["key"]).status == 200


def test_an_expired_key_is_refused(keys_api: ApiClient, clock: Any) -> None:
    created = create_key(keys_api, expires_at="2099-01-01T00:00:00Z")
    assert keys_api.get("/api/v1/jobs", api_key=created["key"]).status == 200
    # Move the key's expiry into the past (authentication reads the wall clock).
    boto3.client("dynamodb").update_item(
        TableName=settings().table_name,
        Key=ex.api_key_key(hash_key(created["key"])),
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": "1000"}},
    )
    # A write behind the service's back is seen once the container's key cache has aged (5 s).
    from shared.identity.api_keys import forget_cached_keys

    forget_cached_keys()
    refused = keys_api.get("/api/v1/jobs", api_key=created["key"])
    assert refused.status == 401 and "expired" in refused.json["message"]


def test_legacy_sk_prefixed_keys_authenticate(keys_api: ApiClient) -> None:
    from shared.identity.organizations import create_organization

    legacy = "sk_test_" + uuid.uuid4().hex + "L" * 11
    create_organization("Legacy Inc", f"legacy-{uuid.uuid4().hex[:8]}", api_key=legacy)
    assert ApiClient(legacy).get("/api/v1/jobs").status == 200


def test_update_changes_only_what_is_sent(keys_api: ApiClient) -> None:
    created = create_key(keys_api, name="before", queues=["a"], rate_limit=10)
    updated = keys_api.put(f"/api/v1/api-keys/{created['id']}", {"name": "after"}).json
    assert (updated["name"], updated["queues"], updated["rate_limit"]) == ("after", ["a"], 10)
    updated = keys_api.put(f"/api/v1/api-keys/{created['id']}", {"queues": ["b", "c"], "rate_limit": 20}).json
    assert (updated["name"], updated["queues"], updated["rate_limit"]) == ("after", ["b", "c"], 20)
    # The new scope applies to the key's next request.
    assert (
        keys_api.post("/api/v1/jobs", {"queue_name": "a", "payload": {}}, api_key=created["key"]).status
        == 403
    )


CREATE_VALIDATION = [
    ({"name": ""}, 400),
    ({"name": "bad/name"}, 400),
    ({"name": "x" * 101}, 400),
    ({"name": "ok", "queues": ["bad queue"]}, 400),
    ({"name": "ok", "queues": ["q"] * 51}, 400),
    ({"name": "ok", "rate_limit": 0}, 400),
    ({"name": "ok", "rate_limit": 10001}, 400),
    ({"name": "ok", "expires_at": "2001-01-01T00:00:00Z"}, 400),
    ({"queues": ["a"]}, 422),
    ({"name": 5}, 422),
]


def test_create_validation(keys_api: ApiClient) -> None:
    for body, status in CREATE_VALIDATION:
        assert keys_api.post("/api/v1/api-keys", body).status == status, body
    assert len(keys_api.get("/api/v1/api-keys").json) == 1  # none of them made a key


def test_a_scoped_key_can_only_hand_out_narrower_keys_and_manages_none(keys_api: ApiClient) -> None:
    scoped = ApiClient(create_key(keys_api, queues=["emails", "sms"])["key"])
    assert scoped.post("/api/v1/api-keys", {"name": "all"}).status == 403
    assert scoped.post("/api/v1/api-keys", {"name": "star", "queues": ["*"]}).status == 403
    assert scoped.post("/api/v1/api-keys", {"name": "other", "queues": ["billing"]}).status == 403
    narrower = scoped.post("/api/v1/api-keys", {"name": "sms only", "queues": ["sms"]})
    assert narrower.status == 201 and narrower.json["queues"] == ["sms"]
    assert scoped.get("/api/v1/api-keys").status == 403
    assert scoped.get(f"/api/v1/api-keys/{narrower.json['id']}").status == 403
    assert scoped.put(f"/api/v1/api-keys/{narrower.json['id']}", {"name": "x"}).status == 403
    assert scoped.delete(f"/api/v1/api-keys/{narrower.json['id']}").status == 403


def test_last_used_is_recorded(keys_api: ApiClient) -> None:
    created = create_key(keys_api)
    assert keys_api.get(f"/api/v1/api-keys/{created['id']}").json["last_used"] is None
    ApiClient(created["key"]).get("/api/v1/jobs")
    assert keys_api.get(f"/api/v1/api-keys/{created['id']}").json["last_used"] is not None


def test_a_key_limit_from_custom_limits_is_a_quota(keys_api: ApiClient, tenant: Org) -> None:
    patched = keys_api.request(
        "PATCH",
        f"/api/v1/admin/organizations/{tenant.id}",
        json_body={"custom_limits": {"max_api_keys": 2}},
        headers=ADMIN_HEADERS,
    )
    assert patched.status == 200
    second = create_key(keys_api)  # the initial key is the first
    refused = keys_api.post("/api/v1/api-keys", {"name": "third"})
    assert refused.status == 429 and error_code(refused) == "QUOTA_EXCEEDED"
    assert "retry-after" not in refused.headers  # the SDK must not retry a quota
    assert refused.json["resource"] == "api_keys" and refused.json["limit"] == 2
    # A revoked key frees its slot.
    assert keys_api.delete(f"/api/v1/api-keys/{second['id']}").status == 204
    create_key(keys_api)
    assert keys_api.put(f"/api/v1/api-keys/{second['id']}", {"is_active": True}).status == 429


def test_unknown_key_id_is_404(keys_api: ApiClient) -> None:
    for method in ("GET", "PUT", "DELETE"):
        body: Any = {"name": "x"} if method == "PUT" else None
        response = keys_api.request(
            method, "/api/v1/api-keys/0d3c1f0e-0000-4000-8000-000000000000", json_body=body
        )
        assert response.status == 404, method


def test_jobs_of_a_revoked_key_remain(keys_api: ApiClient) -> None:
    created = create_key(keys_api)
    job_id = enqueue(ApiClient(created["key"]), "emails")
    keys_api.delete(f"/api/v1/api-keys/{created['id']}")
    assert keys_api.get(f"/api/v1/jobs/{job_id}").status == 200
