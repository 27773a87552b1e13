"""Self-hosted limits from configuration and per-organization overrides (shared/identity/plan_limits.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shared.identity import plan_limits
from shared.plumbing.config import settings
from shared.plumbing.errors import ServiceUnavailable


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("SPOOLED_LIMITS", "SPOOLED_ORG_RATE_LIMIT_PER_MINUTE", "SPOOLED_MAX_PAYLOAD_BYTES"):
        monkeypatch.delenv(name, raising=False)
    settings.cache_clear()
    yield
    settings.cache_clear()


def test_unlimited_by_default() -> None:
    limits = plan_limits.configured()
    assert all(getattr(limits, field) is None for _, field in plan_limits.COUNTED_RESOURCES)
    assert limits.max_payload_size_bytes == 1024 * 1024
    # The organization-wide request limit is on by default (3,000/min, issue 12 finding 2).
    assert limits.rate_limit_requests_per_second == 50


def test_configured_limits_and_org_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "SPOOLED_LIMITS", '{"max_api_keys": 5, "max_queues": 0, "bogus": 1, "max_workers": -3}'
    )
    monkeypatch.setenv("SPOOLED_ORG_RATE_LIMIT_PER_MINUTE", "90")
    settings.cache_clear()
    limits = plan_limits.configured("pro")
    assert (limits.max_api_keys, limits.max_queues, limits.max_workers) == (5, 0, None)
    assert (limits.rate_limit_requests_per_second, limits.rate_limit_burst) == (2, 90)
    assert limits.tier == "pro"


@pytest.mark.parametrize(
    ("custom", "expected_keys", "expected_payload"),
    [
        (None, 5, 1024 * 1024),
        ('{"max_api_keys": 2}', 2, 1024 * 1024),
        ('{"max_api_keys": null}', None, 1024 * 1024),  # an explicit null lifts the limit
        ('{"max_payload_size_bytes": 65536}', 5, 65536),
        ('{"max_payload_size_bytes": null}', 5, 1024 * 1024),  # required numbers cannot be nulled
    ],
)
def test_custom_limits_override(
    monkeypatch: pytest.MonkeyPatch, custom: str | None, expected_keys: int | None, expected_payload: int
) -> None:
    monkeypatch.setenv("SPOOLED_LIMITS", '{"max_api_keys": 5}')
    settings.cache_clear()
    limits = plan_limits.for_organization({"plan_tier": "free", "custom_limits": custom})
    assert limits.max_api_keys == expected_keys
    assert limits.max_payload_size_bytes == expected_payload


@pytest.mark.parametrize("bad", ["{not json", "[1, 2]"])
def test_misconfigured_limits_are_a_service_error(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("SPOOLED_LIMITS", bad)
    settings.cache_clear()
    with pytest.raises(ServiceUnavailable):
        plan_limits.configured()


@pytest.mark.parametrize(
    ("current", "limit", "item"),
    [
        (3, None, {"current": 3, "limit": None, "percentage": None, "is_disabled": False}),
        (1, 4, {"current": 1, "limit": 4, "percentage": 25.0, "is_disabled": False}),
        (0, 0, {"current": 0, "limit": 0, "percentage": None, "is_disabled": True}),
    ],
)
def test_usage_item(current: int, limit: int | None, item: dict[str, Any]) -> None:
    assert plan_limits.usage_item(current, limit) == item


def test_warnings_from_80_percent_critical_from_100() -> None:
    usage = {
        "queues": plan_limits.usage_item(7, 10),
        "workers": plan_limits.usage_item(8, 10),
        "api_keys": plan_limits.usage_item(5, 5),
        "schedules": plan_limits.usage_item(0, 0),
        "webhooks": plan_limits.usage_item(99, None),
    }
    found = {w["resource"]: w["severity"] for w in plan_limits.warnings(usage)}
    assert found == {"workers": "warning", "api_keys": "critical"}


def test_all_plans_parse_as_the_sdk_plan_model() -> None:
    from spooled.types.admin import PlanInfo

    plans = [PlanInfo.model_validate(limits.document()) for limits in plan_limits.all_plans()]
    assert [p.tier for p in plans] == list(plan_limits.TIERS)
