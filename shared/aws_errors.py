"""Reading botocore errors: a failed condition is a lost race or a stale read, not a crash."""

from __future__ import annotations


def error_code(error: BaseException) -> str | None:
    return getattr(error, "response", {}).get("Error", {}).get("Code")


def is_conditional_failure(error: BaseException) -> bool:
    return error_code(error) == "ConditionalCheckFailedException"
