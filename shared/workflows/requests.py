"""Request bodies of the workflow API (§2.8), validated with pydantic (shared.plumbing.request_models)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from shared.plumbing.request_models import (
    MaxRetries,
    Priority,
    QueueName,
    RequestBody,
    TimeoutSeconds,
)


class WorkflowJobSpec(RequestBody):
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


class CreateWorkflow(RequestBody):
    name: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9 _.()\-]+$")]
    description: Annotated[str, Field(max_length=1000)] | None = None
    metadata: Any = None
    jobs: Annotated[list[WorkflowJobSpec], Field(min_length=1, max_length=100)]
