"""Request validation: 422 when the body is not the document, 400 when a rule is broken."""

from __future__ import annotations

import pytest

from shared.jobs import requests as m
from shared.plumbing import request_models
from shared.plumbing.errors import UnprocessableBody, ValidationFailed


@pytest.mark.parametrize(
    ("body", "error", "detail_code"),
    [
        (b"", UnprocessableBody, "empty_body"),
        (b"   ", UnprocessableBody, "empty_body"),
        (b"{not json", UnprocessableBody, "invalid_json"),
        (b'{"payload": {}}', UnprocessableBody, "missing_field"),
        (b'{"queue_name": "q"}', UnprocessableBody, "missing_field"),
        (b'{"queue_name": "q", "payload": 1, "priority": "5"}', UnprocessableBody, "invalid_type"),
        (b'{"queue_name": 7, "payload": 1}', UnprocessableBody, "invalid_type"),
        (b"[1, 2]", UnprocessableBody, "invalid_type"),
        (b'{"queue_name": "q", "payload": 1, "priority": 101}', ValidationFailed, "less_than_equal"),
        (b'{"queue_name": "has space", "payload": 1}', ValidationFailed, "string_pattern_mismatch"),
        (b'{"queue_name": ".hidden", "payload": 1}', ValidationFailed, "string_pattern_mismatch"),
        (b'{"queue_name": "q", "payload": 1, "max_retries": -1}', ValidationFailed, "greater_than_equal"),
        (b'{"queue_name": "q", "payload": 1, "timeout_seconds": 0}', ValidationFailed, "greater_than_equal"),
    ],
)
def test_create_job_rejections(body: bytes, error: type[Exception], detail_code: str) -> None:
    with pytest.raises(error) as caught:
        request_models.parse_body(m.CreateJob, body)
    codes = {detail["code"] for detail in caught.value.extra["details"]}
    assert detail_code in codes


@pytest.mark.parametrize(
    "body",
    [
        b'{"queue_name": "emails", "payload": {"to": "a@b.c"}}',
        b'{"queue_name": "a.b-c_d", "payload": null, "priority": -100}',
        b'{"queue_name": "q", "payload": [1, 2], "scheduled_at": "2030-01-01T00:00:00Z", "unknown": 1}',
    ],
)
def test_create_job_accepts(body: bytes) -> None:
    assert request_models.parse_body(m.CreateJob, body).queue_name


def test_an_optional_body_may_be_empty() -> None:
    assert request_models.parse_body(m.DlqRetry, b"", optional=True).limit == 100


def test_claim_defaults() -> None:
    claim = request_models.parse_body(m.Claim, b'{"queue_name": "q", "worker_id": "w"}')
    assert (claim.limit, claim.lease_duration_secs) == (1, 30)
