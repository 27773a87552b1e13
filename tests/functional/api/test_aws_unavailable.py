"""AWS refusing a call after botocore's retries is a 503 with Retry-After (the SDK retries it); an
AWS error that says the request itself is wrong stays a 500 (a bug of ours, logged)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.faults import aws_error


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ProvisionedThroughputExceededException", 400),
        ("ThrottlingException", 400),
        ("RequestLimitExceeded", 400),
        ("InternalServerError", 500),
        ("ServiceUnavailable", 503),
    ],
)
def test_aws_throttling_or_failing_is_a_503_with_retry_after(
    api: Any, monkeypatch: pytest.MonkeyPatch, code: str, status: int
) -> None:
    from functions.api import routes_jobs

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise aws_error("dynamodb", "GetItem", code, status)

    monkeypatch.setattr(routes_jobs.service().store, "get", refuse)
    response = api.get("/api/v1/jobs/00000000-0000-4000-8000-000000000000")
    assert response.status == 503, response
    assert response.json["code"] == "SERVICE_UNAVAILABLE"
    assert response.headers["retry-after"] == "1"


def test_an_aws_error_about_the_request_stays_a_500(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from functions.api import routes_jobs

    def invalid(*args: Any, **kwargs: Any) -> Any:
        raise aws_error("dynamodb", "GetItem", "ValidationException", 400)

    monkeypatch.setattr(routes_jobs.service().store, "get", invalid)
    response = api.get("/api/v1/jobs/00000000-0000-4000-8000-000000000000")
    assert response.status == 500 and "retry-after" not in response.headers
