"""The one error hierarchy of the service.

Each class carries its HTTP status and the contract's `code`; functions/api/http_response.py turns
any SpooledError into the contract's error body. The domain raises these and nothing else.
"""

from __future__ import annotations

from typing import Any


class SpooledError(Exception):
    status: int = 500
    code: str = "INTERNAL_ERROR"
    default_message = "Internal server error"

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        # Extra fields go into the error body next to code and message (e.g. details, limit).
        self.extra = extra


class BadRequest(SpooledError):
    status, code, default_message = 400, "BAD_REQUEST", "Bad request"


class ValidationFailed(SpooledError):
    """A field broke a rule (400) — details name the fields."""

    status, code, default_message = 400, "VALIDATION_ERROR", "Validation failed"


class UnprocessableBody(SpooledError):
    """The body could not be read as the expected document at all (422)."""

    status, code, default_message = 422, "VALIDATION_ERROR", "Request body could not be processed"


class Unauthorized(SpooledError):
    status, code, default_message = 401, "UNAUTHORIZED", "Missing or invalid credentials"


class AccessDenied(SpooledError):
    status, code, default_message = 403, "ACCESS_DENIED", "Access denied"


class NotFound(SpooledError):
    # The message never echoes ids: a 404 must not confirm another tenant's resource exists.
    status, code, default_message = 404, "NOT_FOUND", "Resource not found"


class RouteNotFound(NotFound):
    default_message = "No route matches this path"


class MethodNotAllowed(SpooledError):
    status, code, default_message = 405, "METHOD_NOT_ALLOWED", "Method not allowed for this path"


class Conflict(SpooledError):
    status, code, default_message = 409, "CONFLICT", "The resource is not in a state that allows this"


class LeaseExpired(Conflict):
    code, default_message = "LEASE_EXPIRED", "The job's lease has expired or belongs to another claim"


class PayloadTooLarge(SpooledError):
    status, code, default_message = 413, "PAYLOAD_TOO_LARGE", "Payload too large"


class RateLimited(SpooledError):
    status, code, default_message = 429, "RATE_LIMIT_EXCEEDED", "Rate limit exceeded"


class QuotaExceeded(RateLimited):
    """A configured limit on a resource (API keys, …): 429 without Retry-After, so the SDK raises
    QuotaExceededError instead of retrying. Extra fields: error, resource, current, limit, plan."""

    code, default_message = "QUOTA_EXCEEDED", "Limit exceeded"


class ServiceUnavailable(SpooledError):
    status, code, default_message = 503, "SERVICE_UNAVAILABLE", "Service unavailable"


# AWS refusing or failing a call after the client's own retries (botocore's standard mode) gave up:
# overload or a transient fault, not a bug of the request. The caller should come back shortly.
AWS_THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionInProgressException",
        "SlowDown",
    }
)
AWS_TRANSIENT_CODES = frozenset(
    {
        "InternalServerError",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)
RETRY_AFTER_SECS_WHEN_BUSY = 1


def unavailable_from_aws(error: BaseException) -> ServiceUnavailable | None:
    """A 503 with Retry-After for AWS throttling or an AWS 5xx, None for anything else.

    The contract's clients (the SDK) retry 503 with Retry-After; a 500 would say the request is
    at fault and is not retried by them.
    """
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    code = str(response.get("Error", {}).get("Code") or "")
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code in AWS_THROTTLING_CODES or code in AWS_TRANSIENT_CODES or status >= 500:
        return ServiceUnavailable(
            "The service is busy; retry after a short wait",
            retry_after_secs=RETRY_AFTER_SECS_WHEN_BUSY,
        )
    return None
