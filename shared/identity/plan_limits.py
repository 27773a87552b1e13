"""Limits of an organization (contract §2.13 PlanLimits, §4), for a self-hosted deployment.

Spooled Cloud sells tiers; a self-hosted deployment has one set of limits from configuration
(SPOOLED_LIMITS, a JSON object of PlanLimits fields; unlimited when absent), overridden per
organization by its `custom_limits` (admin API). The plan tier is a label only. Pure functions.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from shared.plumbing.config import settings
from shared.plumbing.errors import ServiceUnavailable

TIERS = ("free", "starter", "pro", "enterprise")
DISPLAY_NAMES = {"free": "Free", "starter": "Starter", "pro": "Pro", "enterprise": "Enterprise"}
COUNTED_RESOURCES = (
    # (usage name, PlanLimits field)
    ("jobs_today", "max_jobs_per_day"),
    ("active_jobs", "max_active_jobs"),
    ("queues", "max_queues"),
    ("workers", "max_workers"),
    ("api_keys", "max_api_keys"),
    ("schedules", "max_schedules"),
    ("workflows", "max_workflows"),
    ("webhooks", "max_webhooks"),
)
WARNING_PERCENT = 80.0


@dataclass(frozen=True)
class Limits:
    tier: str
    display_name: str
    max_payload_size_bytes: int
    # Requests per second and burst of the organization-wide limiter; 0 = not limited.
    rate_limit_requests_per_second: int
    rate_limit_burst: int
    job_retention_days: int
    history_retention_days: int
    # None = unlimited, 0 = the feature is disabled.
    max_jobs_per_day: int | None = None
    max_active_jobs: int | None = None
    max_queues: int | None = None
    max_workers: int | None = None
    max_api_keys: int | None = None
    max_schedules: int | None = None
    max_workflows: int | None = None
    max_webhooks: int | None = None

    def document(self) -> dict[str, Any]:
        return asdict(self)


_OVERRIDABLE = {f.name for f in fields(Limits)} - {"tier", "display_name"}


def _overrides(value: Any, source: str) -> dict[str, Any]:
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ServiceUnavailable(f"{source} is not valid JSON") from None
    if not isinstance(value, dict):
        raise ServiceUnavailable(f"{source} must be a JSON object")
    # Unknown keys and values that are not whole numbers are ignored rather than trusted.
    return {
        k: v
        for k, v in value.items()
        if k in _OVERRIDABLE and (v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0))
    }


def configured(tier: str = "enterprise") -> Limits:
    """The deployment's limits under a tier's name."""
    config = settings()
    per_minute = config.org_rate_limit_per_minute
    base = Limits(
        tier=tier,
        display_name=f"{DISPLAY_NAMES.get(tier, tier.title())} (self-hosted)",
        max_payload_size_bytes=config.max_payload_bytes,
        rate_limit_requests_per_second=math.ceil(per_minute / 60) if per_minute else 0,
        rate_limit_burst=per_minute or 0,
        job_retention_days=90,
        history_retention_days=90,
    )
    overrides = _overrides(config.limits_json, "SPOOLED_LIMITS")
    for required in ("max_payload_size_bytes", "rate_limit_requests_per_second", "rate_limit_burst"):
        if overrides.get(required) is None:
            overrides.pop(required, None)  # the contract requires these as integers
    return replace(base, **overrides)


def for_organization(org_item: dict[str, Any]) -> Limits:
    limits = configured(org_item.get("plan_tier") or "enterprise")
    custom = _overrides(org_item.get("custom_limits"), "custom_limits")
    nullable = {field for _, field in COUNTED_RESOURCES}  # None = unlimited; the others must be numbers
    return replace(limits, **{k: v for k, v in custom.items() if v is not None or k in nullable})


def all_plans() -> list[Limits]:
    return [configured(tier) for tier in TIERS]


def usage_item(current: int, limit: int | None) -> dict[str, Any]:
    return {
        "current": current,
        "limit": limit,
        "percentage": round(current * 100.0 / limit, 2) if limit else None,
        "is_disabled": limit == 0,
    }


def warnings(usage: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for resource, item in usage.items():
        if item["limit"] is None or item["is_disabled"]:
            continue
        percentage = item["percentage"] or 0.0
        if percentage >= 100.0:
            severity = "critical"
        elif percentage >= WARNING_PERCENT:
            severity = "warning"
        else:
            continue
        found.append(
            {
                "resource": resource,
                "message": f"{resource} at {item['current']} of {item['limit']} ({percentage:.0f}%)",
                "severity": severity,
            }
        )
    return found
