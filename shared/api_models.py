"""Request bodies as the contract defines them (§2.4, §2.6, §2.8), validated with pydantic.

Validation is strict (a string is not an integer) and the errors are translated into the contract's
two kinds: a body that is not the expected document (missing field, wrong type, not JSON) is 422;
a value that breaks a field rule (range, length, pattern) is 400.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from shared.errors import UnprocessableBody, ValidationFailed

QUEUE_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$"
HOSTNAME_PATTERN = r"^[A-Za-z0-9_](?:[A-Za-z0-9_.\-]{0,253}[A-Za-z0-9_])?$"
WORKER_ID_PATTERN = r"^[A-Za-z0-9._\-]{1,128}$"

QueueName = Annotated[str, Field(min_length=1, max_length=100, pattern=QUEUE_NAME_PATTERN)]
Priority = Annotated[int, Field(ge=-100, le=100)]
MaxRetries = Annotated[int, Field(ge=0, le=100)]
TimeoutSeconds = Annotated[int, Field(ge=1, le=86400)]
WorkerId = Annotated[str, Field(min_length=1, max_length=255)]
LeaseId = Annotated[str, Field(min_length=1, max_length=255)]
MIN_LEASE_SECS, MAX_LEASE_SECS = 5, 3600


def _clamp_lease(seconds: int) -> int:
    # Contract §3.3: out-of-range leases are clamped, not refused, so a worker configured with a
    # 2-hour lease still gets jobs (with an hour's lease) instead of failing every claim.
    return min(max(seconds, MIN_LEASE_SECS), MAX_LEASE_SECS)


LeaseSeconds = Annotated[int, AfterValidator(_clamp_lease)]

# pydantic error types that mean "not the document we expected" rather than "a rule was broken"
_SHAPE_ERRORS = {
    "missing": "missing_field",
    "model_type": "invalid_type",
    "model_attributes_type": "invalid_type",
    "dict_type": "invalid_type",
    "list_type": "invalid_type",
    "int_type": "invalid_type",
    "int_from_float": "invalid_type",
    "string_type": "invalid_type",
    "bool_type": "invalid_type",
    "float_type": "invalid_type",
    "datetime_type": "invalid_type",
    "json_invalid": "invalid_json",
    "json_type": "invalid_json",
}


class _Body(BaseModel):
    # Strict: "5" is not a priority. Unknown keys are ignored, as the reference does.
    # defer_build: a model's validator is built on its first use, not at import, so a cold start
    # pays only for the request bodies it actually parses.
    model_config = ConfigDict(strict=True, extra="ignore", defer_build=True)


class RetryBackoff(_Body):
    """A job's own retry backoff (an extension of the contract; docs/timers.md). Omitted fields
    come from the queue's settings.retry_backoff, then from the default 1 s x2 capped at 60 s."""

    base_seconds: Annotated[float, Field(ge=0, le=3600)] | None = None
    factor: Annotated[float, Field(ge=1, le=10)] | None = None
    cap_seconds: Annotated[float, Field(ge=0, le=86400)] | None = None
    jitter_ms: Annotated[int, Field(ge=0, le=60000)] | None = None


class CreateJob(_Body):
    queue_name: QueueName
    payload: Any = Field(...)
    priority: Priority = 0
    max_retries: MaxRetries | None = None
    timeout_seconds: TimeoutSeconds | None = None
    scheduled_at: datetime | None = None
    expires_at: datetime | None = None
    idempotency_key: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    tags: Any = None
    parent_job_id: str | None = None
    completion_webhook: Annotated[str, Field(max_length=2048)] | None = None
    completion_webhook_secret: Annotated[str, Field(max_length=255)] | None = None
    retry_backoff: RetryBackoff | None = None


class BulkJob(_Body):
    payload: Any = Field(...)
    priority: Priority | None = None
    idempotency_key: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    scheduled_at: datetime | None = None


class BulkCreate(_Body):
    queue_name: QueueName
    jobs: Annotated[list[BulkJob], Field(min_length=1, max_length=100)]
    default_priority: Priority = 0
    default_max_retries: MaxRetries | None = None
    default_timeout_seconds: TimeoutSeconds | None = None


class Claim(_Body):
    queue_name: QueueName
    worker_id: WorkerId
    limit: Annotated[int, Field(ge=1, le=100)] = 1
    lease_duration_secs: LeaseSeconds = 30


class Complete(_Body):
    worker_id: WorkerId
    result: Any = None
    lease_id: LeaseId | None = None


class Fail(_Body):
    worker_id: WorkerId
    error: Annotated[str, Field(min_length=1, max_length=2048)]
    lease_id: LeaseId | None = None


class JobHeartbeat(_Body):
    worker_id: WorkerId
    lease_duration_secs: LeaseSeconds = 30
    lease_id: LeaseId | None = None


class SetPriority(_Body):
    priority: Priority


class DlqRetry(_Body):
    job_ids: Annotated[list[str], Field(max_length=100)] | None = None
    queue_name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 100


class DlqPurge(_Body):
    confirm: bool
    queue_name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    older_than: datetime | None = None
    limit: Annotated[int, Field(ge=1, le=10000)] = 10000


class RegisterWorker(_Body):
    queue_name: QueueName
    hostname: Annotated[str, Field(min_length=1, max_length=255, pattern=HOSTNAME_PATTERN)]
    worker_id: Annotated[str, Field(pattern=WORKER_ID_PATTERN)] | None = None
    worker_type: Annotated[str, Field(max_length=50)] | None = None
    max_concurrency: Annotated[int, Field(ge=1, le=100)] = 5
    metadata: Any = None
    version: Annotated[str, Field(max_length=50)] | None = None


class WorkerHeartbeat(_Body):
    current_jobs: Annotated[int, Field(ge=0, le=1000)]
    status: Annotated[str, Field(pattern=r"^(healthy|degraded|offline|draining)$")] = "healthy"
    metadata: Any = None


class WorkflowJobSpec(_Body):
    key: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$")]
    queue_name: QueueName
    payload: Any = Field(...)
    depends_on: Annotated[list[str], Field(max_length=100)] | None = None
    dependency_mode: Literal["all", "any"] = "all"
    priority: Priority = 0
    max_retries: MaxRetries | None = None
    timeout_seconds: TimeoutSeconds | None = None
    scheduled_at: datetime | None = None
    expires_at: datetime | None = None
    tags: Any = None


class CreateWorkflow(_Body):
    name: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9 _.()\-]+$")]
    description: Annotated[str, Field(max_length=1000)] | None = None
    metadata: Any = None
    jobs: Annotated[list[WorkflowJobSpec], Field(min_length=1, max_length=100)]


class AddDependencies(_Body):
    depends_on: Annotated[list[str], Field(min_length=1, max_length=100)]
    dependency_mode: Literal["all", "any"] = "all"


class CreateOrganization(_Body):
    name: Annotated[str, Field(min_length=3, max_length=100)]
    slug: Annotated[str, Field(min_length=3, max_length=50, pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")]
    plan_tier: str = "enterprise"
    billing_email: str | None = None


Model = TypeVar("Model", bound=BaseModel)


def parse_body(model: type[Model], body: bytes | None, *, optional: bool = False) -> Model:
    """Parse a request body into `model`, raising the contract's 400/422 errors."""
    if not body or not body.strip():
        if optional:
            return model.model_validate({})
        raise UnprocessableBody(
            details=[{"field": "body", "message": "Request body is empty", "code": "empty_body"}]
        )
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        raise _translate(error) from None


def _translate(error: ValidationError) -> Exception:
    details = []
    shape_problem = False
    for problem in error.errors(include_url=False, include_context=False, include_input=False):
        field = ".".join(str(part) for part in problem["loc"]) or "body"
        code = _SHAPE_ERRORS.get(problem["type"])
        if code:
            shape_problem = True
        details.append({"field": field, "message": problem["msg"], "code": code or problem["type"]})
    if shape_problem:
        return UnprocessableBody(details=details)
    return ValidationFailed(details=details, error="Validation failed")


def json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
