"""The operator's admin API (contract §2.15)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from spooled.types.admin import AdminCreateApiKeyResponse, AdminStats, PlanInfo
from spooled.types.organizations import CreateOrganizationResponse, Organization, UsageInfo

from shared.plumbing.clock import FixedClock
from tests.conftest import ApiClient, Org, install_clock
from tests.functional.identity.support import ADMIN_HEADERS, enqueue, error_code

ADMIN = "/api/v1/admin"


def admin_call(method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
    return ApiClient(None).request(method, f"{ADMIN}{path}", json_body=body, headers=ADMIN_HEADERS, **kwargs)


def test_the_admin_key_is_required(tenant_api: ApiClient, tenant: Org) -> None:
    for headers in ({}, {"X-Admin-Key": "wrong"}):
        response = ApiClient(tenant.api_key).get(f"{ADMIN}/stats", headers=headers)
        assert response.status == 401 and error_code(response) == "UNAUTHORIZED", headers


def test_no_admin_key_configured_disables_the_admin_api(
    tenant_api: ApiClient, configure: Callable[..., None]
) -> None:
    configure(SPOOLED_ADMIN_KEY="")
    response = admin_call("GET", "/plans")
    assert response.status == 403 and error_code(response) == "ACCESS_DENIED"


def test_create_get_update_and_keys(tenant_api: ApiClient) -> None:
    slug = f"adm-{uuid.uuid4().hex[:8]}"
    created = admin_call(
        "POST",
        "/organizations",
        {
            "name": "Admin Made",
            "slug": slug,
            "settings": {"region": "eu"},
            "custom_limits": {"max_api_keys": 9},
        },
    )
    assert created.status == 201, created
    body = CreateOrganizationResponse.model_validate(created.json)
    org_id = body.organization.id
    assert body.organization.plan_tier == "free" and body.organization.settings["region"] == "eu"
    assert ApiClient(body.api_key.key).get("/api/v1/jobs").status == 200

    got = admin_call("GET", f"/organizations/{org_id}").json
    assert Organization.model_validate(got).slug == slug
    usage = UsageInfo.model_validate(got["usage_info"])
    assert usage.limits.max_api_keys == 9 and usage.usage.api_keys.current == 1
    assert got["api_keys_count"] == 1 and got["total_jobs"] == 0

    patched = admin_call(
        "PATCH",
        f"/organizations/{org_id}",
        {"plan_tier": "pro", "stripe_customer_id": "cus_1", "name": "Renamed"},
    ).json
    assert (patched["plan_tier"], patched["stripe_customer_id"], patched["name"]) == (
        "pro",
        "cus_1",
        "Renamed",
    )
    assert patched["custom_limits"] == {"max_api_keys": 9}
    # An explicit null resets the limits and clears the Stripe id; absent fields stay.
    reset = admin_call(
        "PATCH", f"/organizations/{org_id}", {"custom_limits": None, "stripe_customer_id": None}
    ).json
    assert (
        reset["custom_limits"] is None and reset["stripe_customer_id"] is None and reset["plan_tier"] == "pro"
    )

    key = admin_call("POST", f"/organizations/{org_id}/api-keys", {"name": "ops", "queues": ["ops"]})
    assert key.status == 201
    made = AdminCreateApiKeyResponse.model_validate(key.json)
    assert ApiClient(made.key).post("/api/v1/jobs", {"queue_name": "ops", "payload": {}}).status == 201
    assert ApiClient(made.key).post("/api/v1/jobs", {"queue_name": "dev", "payload": {}}).status == 403
    assert admin_call("POST", f"/organizations/{uuid.uuid4()}/api-keys", {"name": "x"}).status == 404
    assert admin_call("GET", f"/organizations/{uuid.uuid4()}").status == 404


def test_list_filters_searches_and_pages(tenant_api: ApiClient) -> None:
    marker = uuid.uuid4().hex[:8]
    ids = []
    for index, tier in enumerate(("starter", "starter", "enterprise")):
        made = admin_call(
            "POST", "/organizations", {"name": f"Lister {marker} {index}", "slug": f"l-{marker}-{index}"}
        )
        ids.append(made.json["organization"]["id"])
        admin_call("PATCH", f"/organizations/{ids[-1]}", {"plan_tier": tier})
    found = admin_call(
        "GET", "/organizations", params={"search": marker, "sort_by": "slug", "sort_order": "asc"}
    )
    assert found.status == 200
    assert [row["id"] for row in found.json["organizations"]] == ids and found.json["total"] == 3
    assert found.json["organizations"][0]["usage"]["api_keys"] == 1
    starters = admin_call("GET", "/organizations", params={"search": marker, "plan_tier": "starter"}).json
    assert starters["total"] == 2
    page = admin_call(
        "GET", "/organizations", params={"search": marker, "limit": 1, "offset": 1, "sort_by": "slug"}
    )
    assert [row["id"] for row in page.json["organizations"]] == [ids[1]]
    assert (page.json["limit"], page.json["offset"]) == (1, 1)


def test_soft_and_hard_delete(tenant_api: ApiClient) -> None:
    soft = admin_call(
        "POST", "/organizations", {"name": "Soft Delete", "slug": f"s-{uuid.uuid4().hex[:8]}"}
    ).json
    assert admin_call("DELETE", f"/organizations/{soft['organization']['id']}").status == 204
    assert ApiClient(soft["api_key"]["key"]).get("/api/v1/jobs").status == 401
    assert admin_call("GET", f"/organizations/{soft['organization']['id']}").json["plan_tier"] == "deleted"

    hard = admin_call(
        "POST", "/organizations", {"name": "Hard Delete", "slug": f"h-{uuid.uuid4().hex[:8]}"}
    ).json
    job = enqueue(ApiClient(hard["api_key"]["key"]), "doomed")
    org_id = hard["organization"]["id"]
    assert admin_call("DELETE", f"/organizations/{org_id}", params={"hard_delete": "true"}).status == 204
    assert admin_call("GET", f"/organizations/{org_id}").status == 404
    assert ApiClient(hard["api_key"]["key"]).get(f"/api/v1/jobs/{job}").status == 401


def test_stats_plans_and_reset(
    tenant_api: ApiClient, tenant: Org, clock: Any, drain: Callable[[], int]
) -> None:
    enqueue(tenant_api, "counted")
    drain()
    stats = AdminStats.model_validate(admin_call("GET", "/stats").json)
    assert stats.organizations.total >= 1 and stats.organizations.created_today >= 1
    assert stats.jobs.pending >= 1 and stats.system.api_version
    plans = [PlanInfo.model_validate(row) for row in admin_call("GET", "/plans").json]
    assert [plan.tier for plan in plans] == ["free", "starter", "pro", "enterprise"]

    usage = tenant_api.get("/api/v1/organizations/usage").json["usage"]
    assert usage["jobs_today"]["current"] == 1
    clock.advance(3600)  # a reset counts from its hour on
    assert admin_call("POST", f"/organizations/{tenant.id}/reset-usage").status == 200
    assert tenant_api.get("/api/v1/organizations/usage").json["usage"]["jobs_today"]["current"] == 0


def test_admin_requests_are_rate_limited_per_client(
    tenant_api: ApiClient, configure: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(SPOOLED_ADMIN_RATE_LIMIT_PER_MINUTE="3")
    clock = FixedClock(1_900_000_040_000)  # 20 s into its minute: a window of its own
    install_clock(monkeypatch, clock)
    for _ in range(3):
        assert admin_call("GET", "/plans").status == 200
    limited = admin_call("GET", "/plans")
    assert limited.status == 429 and limited.headers["retry-after"] == "40"
    assert limited.headers["x-ratelimit-scope"] == "ip" and limited.json["retry_after_secs"] == 40
    clock.advance(40)
    assert admin_call("GET", "/plans").status == 200


def test_provider_secrets_set_by_the_operator_are_stored_apart_and_never_returned(
    tenant_api: ApiClient,
) -> None:
    created = admin_call("POST", "/organizations", {"name": "Hooks", "slug": f"hk-{uuid.uuid4().hex[:8]}"})
    org_id, key = created.json["organization"]["id"], created.json["api_key"]["key"]
    patched = admin_call(
        "PATCH",
        f"/organizations/{org_id}",
        {"settings": {"github_webhook_secret": "gh-secret-1", "stripe_webhook_secret": "whsec_2"}},
    )
    assert patched.status == 200, patched
    assert "gh-secret-1" not in json.dumps(patched.json) and "whsec_2" not in json.dumps(patched.json)
    token = ApiClient(key).get("/api/v1/organizations/webhook-token").json
    assert token["has_github_webhook_secret"] and token["has_stripe_webhook_secret"]
    got = admin_call("GET", f"/organizations/{org_id}").json
    assert "github_webhook_secret" not in json.dumps(got)
