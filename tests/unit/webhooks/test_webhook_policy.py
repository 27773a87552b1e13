"""Retry, give-up and auto-disable rules of outgoing webhook deliveries (contract §3.11)."""

from __future__ import annotations

import pytest

from shared.webhooks.outgoing import policy as p


@pytest.mark.parametrize(
    ("failed_attempt", "delay"),
    [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 32), (7, 32), (50, 32)],
)
def test_retry_delay_doubles_up_to_32_seconds(failed_attempt: int, delay: int) -> None:
    assert p.retry_delay_seconds(failed_attempt) == delay


def test_attempts_are_numbered_from_one() -> None:
    with pytest.raises(ValueError):
        p.retry_delay_seconds(0)


@pytest.mark.parametrize(
    ("failed_attempt", "max_attempts", "retry"),
    [(1, 5, True), (4, 5, True), (5, 5, False), (6, 5, False), (1, 1, False)],
)
def test_should_retry(failed_attempt: int, max_attempts: int, retry: bool) -> None:
    assert p.should_retry(failed_attempt, max_attempts) is retry


def test_five_attempts_wait_one_two_four_eight_seconds_between_them() -> None:
    waits = []
    attempt = 1
    while p.should_retry(attempt):
        waits.append(p.retry_delay_seconds(attempt))
        attempt += 1
    assert (attempt, waits) == (5, [1, 2, 4, 8])


@pytest.mark.parametrize(
    ("status_code", "success"),
    [(200, True), (201, True), (204, True), (299, True), (199, False), (301, False), (302, False),
     (400, False), (404, False), (500, False), (503, False), (None, False)],
)  # fmt: skip
def test_success_is_any_2xx(status_code: int | None, success: bool) -> None:
    assert p.is_success(status_code) is success


@pytest.mark.parametrize(
    ("status_code", "transport_error", "error"),
    [
        (200, None, None),
        (500, None, "HTTP 500"),
        (302, None, "HTTP 302"),
        (None, "Request timed out", "Request timed out"),
        (None, None, "Request failed"),
        (None, "x" * 1000, "x" * p.ERROR_LIMIT),
    ],
)
def test_attempt_error(status_code: int | None, transport_error: str | None, error: str | None) -> None:
    assert p.attempt_error(status_code, transport_error) == error


@pytest.mark.parametrize(("failures", "disable"), [(0, False), (19, False), (20, True), (21, True)])
def test_twenty_failed_deliveries_disable(failures: int, disable: bool) -> None:
    assert p.should_auto_disable(failures) is disable


def test_response_bodies_are_kept_short() -> None:
    assert p.truncate_response(None) is None
    assert p.truncate_response("ok") == "ok"
    assert len(p.truncate_response("y" * 5000) or "") == p.RESPONSE_BODY_LIMIT
