"""Job payloads and results: inline in the job item when small, in S3 when not.

A DynamoDB item holds at most 400 KB, the contract allows 1 MiB payloads. The JSON text is stored
as it was encoded, so a payload comes back with exactly the value it was sent with.
"""

from __future__ import annotations

import json
from typing import Any

from shared.plumbing import aws_clients
from shared.plumbing.config import settings


def encode_json(value: Any) -> str:
    """The JSON text we store and send back. A number too large for a double (1e400) parses as
    infinity, which JSON cannot carry: refused here, where every caller-given value passes, so it
    can never come back out as an invalid `Infinity` in a job, a webhook body or a live frame."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        from shared.plumbing.errors import ValidationFailed

        message = "numbers must be finite: JSON has no Infinity or NaN (is a number out of range?)"
        raise ValidationFailed(
            details=[{"field": "body", "message": message, "code": "invalid_number"}]
        ) from None


def encoded_size(text: str) -> int:
    return len(text.encode("utf-8"))


def json_within_limit(value: Any, what: str = "payload", limit: int | None = None) -> str:
    """`value` as the JSON text we store, or 413 when it is larger than the limit (the deployment's
    max_payload_bytes unless a caller holds it to less)."""
    from shared.plumbing.errors import PayloadTooLarge

    text = encode_json(value)
    size = encoded_size(text)
    limit = settings().max_payload_bytes if limit is None else limit
    if size > limit:
        raise PayloadTooLarge(
            f"{what} is {size} bytes; the limit is {limit} bytes",
            error="payload_too_large",
            current=size,
            limit=limit,
            plan="self-hosted",
            upgrade_to=False,
        )
    return text


class PayloadStore:
    def __init__(self, bucket: str | None = None, inline_limit: int | None = None) -> None:
        self.bucket = bucket or settings().payload_bucket
        self.inline_limit = inline_limit if inline_limit is not None else settings().inline_payload_limit

    def place(self, org_id: str, job_id: str, kind: str, text: str) -> tuple[str | None, str | None]:
        """Return (inline text, S3 key): exactly one of them is set."""
        if encoded_size(text) <= self.inline_limit:
            return text, None
        key = f"payloads/{org_id}/{job_id}/{kind}.json"
        aws_clients.client("s3").put_object(
            Bucket=self.bucket, Key=key, Body=text.encode("utf-8"), ContentType="application/json"
        )
        return None, key

    def load(self, inline: str | None, ref: str | None) -> Any:
        if ref:
            body = aws_clients.client("s3").get_object(Bucket=self.bucket, Key=ref)["Body"].read()
            return json.loads(body)
        if inline is None:
            return None
        return json.loads(inline)

    def delete(self, *refs: str | None) -> None:
        for ref in refs:
            if ref:
                aws_clients.client("s3").delete_object(Bucket=self.bucket, Key=ref)
