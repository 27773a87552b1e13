"""Request bodies of the outgoing-webhook endpoints (contract §2.10), parsed with
shared.jobs.requests.parse_body (400 for a broken rule, 422 for a body of the wrong shape). Imported
only by the routes that parse them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from shared.plumbing.request_models import RequestBody
from shared.webhooks.outgoing.payloads import EVENTS, FORMATS

EventName = Literal[EVENTS]  # type: ignore[valid-type]
Format = Literal[FORMATS]  # type: ignore[valid-type]


def _distinct(events: list[str]) -> list[str]:
    return list(dict.fromkeys(events))


Events = Annotated[
    list[EventName], Field(min_length=1, max_length=len(EVENTS) * 4), AfterValidator(_distinct)
]
Name = Annotated[str, Field(min_length=1, max_length=255)]
Url = Annotated[str, Field(min_length=1, max_length=2048)]
Secret = Annotated[str, Field(max_length=255)]


class CreateWebhook(RequestBody):
    name: Name
    url: Url
    events: Events
    secret: Secret | None = None
    enabled: bool = True
    format: Format = "json"


class UpdateWebhook(RequestBody):
    """Omitted fields keep their value. `secret` is three-state: absent keeps it, null clears it,
    a string replaces it (read model_fields_set)."""

    name: Name | None = None
    url: Url | None = None
    events: Events | None = None
    secret: Secret | None = None
    enabled: bool | None = None
    format: Format | None = None
