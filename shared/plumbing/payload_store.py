"""Job payloads and results: inline in the job item when small, in S3 when not.

A DynamoDB item holds at most 400 KB, the contract allows 1 MiB payloads. The JSON text is stored
as it was encoded, so a payload comes back with exactly the value it was sent with.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any
from urllib.parse import urlencode

from shared.plumbing import aws_clients, schema
from shared.plumbing.config import settings

logger = logging.getLogger("spooled.payloads")


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
    """Objects are written tagged uncommitted and re-tagged committed once the item that points at
    them is written (`commit`): the bucket's lifecycle rule expires what stays uncommitted, i.e.
    the orphans a cancelled transaction, a lost lease or a crash leaves (docs/deploy.md)."""

    def __init__(self, bucket: str | None = None, inline_limit: int | None = None) -> None:
        self.bucket = bucket or settings().payload_bucket
        self.inline_limit = inline_limit if inline_limit is not None else settings().inline_payload_limit

    def place(self, org_id: str, job_id: str, kind: str, text: str) -> tuple[str | None, str | None]:
        """Return (inline text, S3 key): exactly one of them is set. An S3 object starts
        uncommitted: the caller commits it right after writing the item that points at it."""
        if encoded_size(text) <= self.inline_limit:
            return text, None
        # A key of its own for every write: two writers of one job's result (a worker whose lease
        # ran out and the one that took the job over) must not overwrite each other's object, and
        # the loser, which deletes its object when its completion is refused, must delete only its own.
        key = f"payloads/{org_id}/{job_id}/{kind}-{uuid.uuid4().hex}.json"
        # The tag is set in the same request as the body (x-amz-tagging), so no object exists
        # without it, even for an instant: an untagged object would never expire.
        aws_clients.client("s3").put_object(
            Bucket=self.bucket,
            Key=key,
            Body=text.encode("utf-8"),
            ContentType="application/json",
            Tagging=urlencode([schema.PAYLOAD_BUCKET.uncommitted_tag]),
        )
        return None, key

    def commit(self, *refs: str | None) -> None:
        """The items pointing at `refs` are written: keep the objects (None refs are skipped).

        Never raises. The item is written, so the caller's operation has succeeded; failing it
        now would make a client retry a create (a second job) or a worker retry a completion
        that is already accepted. An object left uncommitted expires after a day: the error log
        names it, and re-tagging it (docs/deploy.md) keeps it.
        """
        key, value = schema.PAYLOAD_BUCKET.committed_tag
        for ref in refs:
            if not ref:
                continue
            try:
                aws_clients.client("s3").put_object_tagging(
                    Bucket=self.bucket, Key=ref, Tagging={"TagSet": [{"Key": key, "Value": value}]}
                )
            except Exception as error:
                if aws_clients.error_code(error) == "NoSuchKey":
                    continue  # the job was deleted in between (a purge), and its object with it
                logger.exception(
                    "payload object %s is in use but still tagged uncommitted: the lifecycle rule "
                    "deletes it after %d day(s) unless it is re-tagged %s=%s",
                    ref,
                    schema.PAYLOAD_BUCKET.orphan_expiry_days,
                    key,
                    value,
                )

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
