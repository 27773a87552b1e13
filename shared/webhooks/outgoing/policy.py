"""When an outgoing webhook delivery is retried, given up, or its webhook disabled (contract §3.11).
Pure functions, table-tested in tests/unit/webhooks/test_webhook_policy.py."""

from __future__ import annotations

from dataclasses import dataclass

MAX_ATTEMPTS = 5  # OUTGOING_WEBHOOK_MAX_ATTEMPTS of the reference
MAX_DELAY_SECONDS = 32
AUTO_DISABLE_AFTER = 20  # consecutive failed deliveries (not attempts)
COMPLETION_WEBHOOK_ATTEMPTS = 1  # a job's completion_webhook is tried once (§3.6)
RESPONSE_BODY_LIMIT = 1024  # characters of the receiver's answer kept on the delivery row
ERROR_LIMIT = 512


@dataclass(frozen=True)
class HttpOutcome:
    """What one request to a receiver came to."""

    status_code: int | None  # None when no answer came
    response_body: str | None
    error: str | None  # the transport problem (or refused URL); None when the receiver answered
    elapsed_ms: int


def retry_delay_seconds(failed_attempt: int) -> int:
    """Wait after attempt `failed_attempt` (1-based) failed: 1, 2, 4, 8 … s, at most 32 s."""
    if failed_attempt < 1:
        raise ValueError("attempts are numbered from 1")
    return min(MAX_DELAY_SECONDS, 2 ** min(failed_attempt - 1, 6))


def should_retry(failed_attempt: int, max_attempts: int = MAX_ATTEMPTS) -> bool:
    return failed_attempt < max_attempts


def is_success(status_code: int | None) -> bool:
    """Any 2xx. A redirect is not followed, so it is a failure like any other answer."""
    return status_code is not None and 200 <= status_code < 300


def attempt_error(status_code: int | None, transport_error: str | None) -> str | None:
    """The error recorded for an attempt: "HTTP <code>" for an answer, else what went wrong."""
    if is_success(status_code):
        return None
    if status_code is not None:
        return f"HTTP {status_code}"
    return (transport_error or "Request failed")[:ERROR_LIMIT]


def should_auto_disable(failure_count: int, threshold: int = AUTO_DISABLE_AFTER) -> bool:
    return failure_count >= threshold


def truncate_response(text: str | None) -> str | None:
    if text is None:
        return None
    return text[:RESPONSE_BODY_LIMIT]
