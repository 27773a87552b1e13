"""Request bodies of the account endpoints: auth, API keys, organizations, queues, admin
(contract §2.3, §2.5, §2.12, §2.13, §2.15). Parsed with shared.jobs.requests.parse_body, so the
400-vs-422 rules are the same as for jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from shared.plumbing.request_models import RequestBody, json_size

KEY_NAME_PATTERN = r"^[A-Za-z0-9 _.()\-]+$"
KEY_QUEUE_PATTERN = r"^[A-Za-z0-9_.*\-]+$"
SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
MAX_JSON_OBJECT_BYTES = 64 * 1024


def _small_json(value: Any) -> Any:
    if value is not None and json_size(value) > MAX_JSON_OBJECT_BYTES:
        raise ValueError("must be at most 64 KiB of JSON")
    return value


def _object(value: Any) -> Any:
    if value is not None and not isinstance(value, dict):
        raise ValueError("must be a JSON object")
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_small_json)]
KeyName = Annotated[str, Field(min_length=1, max_length=100, pattern=KEY_NAME_PATTERN)]
KeyQueues = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=255, pattern=KEY_QUEUE_PATTERN)]],
    Field(max_length=50),
]
KeyRateLimit = Annotated[int, Field(ge=1, le=10000)]
OrgName = Annotated[str, Field(min_length=3, max_length=100)]
Email = Annotated[str, Field(max_length=255, pattern=EMAIL_PATTERN)]
PlanTier = Literal["free", "starter", "pro", "enterprise"]


# --- auth (§2.3) ---------------------------------------------------------------------------


class Login(RequestBody):
    api_key: Annotated[str, Field(min_length=10, max_length=512)]


class Refresh(RequestBody):
    # No upper bound here: an over-long token is an invalid one (401), jwt_tokens caps the length.
    refresh_token: Annotated[str, Field(min_length=10)]


class Validate(RequestBody):
    token: str  # any string: {valid: false} for whatever is not a token of ours


class Logout(RequestBody):
    refresh_token: Annotated[str, Field(max_length=4096)] | None = None


# --- API keys (§2.12) ----------------------------------------------------------------------


class CreateApiKey(RequestBody):
    name: KeyName
    queues: KeyQueues | None = None
    rate_limit: KeyRateLimit | None = None
    expires_at: datetime | None = None


class UpdateApiKey(RequestBody):
    name: KeyName | None = None
    queues: KeyQueues | None = None
    rate_limit: KeyRateLimit | None = None
    is_active: bool | None = None


# --- organizations (§2.13, §2.15) ----------------------------------------------------------


class CreateOrganization(RequestBody):
    name: OrgName
    slug: Annotated[str, Field(min_length=3, max_length=50, pattern=SLUG_PATTERN)]
    billing_email: Email | None = None


class AdminCreateOrganization(CreateOrganization):
    plan_tier: PlanTier = "free"
    settings: JsonObject | None = None
    custom_limits: JsonObject | None = None


class UpdateOrganization(RequestBody):
    name: OrgName | None = None
    billing_email: Email | None = None
    settings: Annotated[Any, AfterValidator(_object), AfterValidator(_small_json)] = None


class AdminUpdateOrganization(UpdateOrganization):
    # An explicit null in custom_limits / stripe ids clears them: model_fields_set tells sent from absent.
    plan_tier: PlanTier | Literal["deleted"] | None = None
    custom_limits: Annotated[Any, AfterValidator(_object), AfterValidator(_small_json)] = None
    stripe_customer_id: Annotated[str, Field(max_length=255)] | None = None
    stripe_subscription_id: Annotated[str, Field(max_length=255)] | None = None
    # The Lambda functions this organization's queues may push jobs to (replaces the list).
    lambda_functions: (
        Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=50)] | None
    ) = None


class GenerateSlug(RequestBody):
    name: Annotated[str, Field(min_length=1, max_length=200)]


# --- queues (§2.5) -------------------------------------------------------------------------


class QueueConfigUpdate(RequestBody):
    max_retries: Annotated[int, Field(ge=0, le=100)] | None = None
    default_timeout: Annotated[int, Field(ge=1, le=86400)] | None = None
    rate_limit: Annotated[int, Field(ge=1)] | None = None
    enabled: bool | None = None
    settings: Annotated[Any, AfterValidator(_object), AfterValidator(_small_json)] = None


class PauseQueue(RequestBody):
    reason: Annotated[str, Field(max_length=500)] | None = None
