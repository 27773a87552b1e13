"""Request bodies of the schedule endpoints (contract §2.7), parsed with shared.jobs.requests.parse_body
so the 400-vs-422 rules are the same as for jobs. The cron expression and time zone are checked
by the service with shared/schedules/cron.py (a field-level 400 naming what is wrong)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field

from shared.plumbing.request_models import (
    MaxRetries,
    Priority,
    QueueName,
    RequestBody,
    TimeoutSeconds,
    json_size,
)

MAX_JSON_FIELD_BYTES = 64 * 1024


def _small_json(value: Any) -> Any:
    if value is not None and json_size(value) > MAX_JSON_FIELD_BYTES:
        raise ValueError("must be at most 64 KiB of JSON")
    return value


def _tags_shape(value: Any) -> Any:
    if value is not None and not isinstance(value, dict | list):
        raise ValueError("tags must be an object or an array")
    return _small_json(value)


ScheduleName = Annotated[str, Field(min_length=1, max_length=255)]
Description = Annotated[str, Field(max_length=1000)]
CronText = Annotated[str, Field(min_length=9, max_length=100)]
TimeZoneName = Annotated[str, Field(min_length=1, max_length=64)]
Tags = Annotated[Any, AfterValidator(_tags_shape)]
Metadata = Annotated[Any, AfterValidator(_small_json)]


class CreateSchedule(RequestBody):
    name: ScheduleName
    description: Description | None = None
    cron_expression: CronText
    timezone: TimeZoneName = "UTC"
    queue_name: QueueName
    # The key is required (contract §2.7); its value may be any JSON, null included.
    payload_template: Any = Field(...)
    priority: Priority = 0
    max_retries: MaxRetries = 3
    timeout_seconds: TimeoutSeconds = 300
    tags: Tags = None
    metadata: Metadata = None


class UpdateSchedule(RequestBody):
    """Omitted = unchanged (model_fields_set tells omitted from null)."""

    name: ScheduleName | None = None
    description: Description | None = None
    cron_expression: CronText | None = None
    timezone: TimeZoneName | None = None
    # Accepted and ignored, as the reference does: a schedule's jobs stay in the queue it was
    # created for (and in the scope of the key that created it).
    queue_name: Annotated[str, Field(max_length=255)] | None = None
    payload_template: Any = None
    priority: Priority | None = None
    max_retries: MaxRetries | None = None
    timeout_seconds: TimeoutSeconds | None = None
    is_active: bool | None = None
    tags: Tags = None
    metadata: Metadata = None
