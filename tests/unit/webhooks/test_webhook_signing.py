"""Outgoing webhook signatures and headers (contract §3.11)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from shared.webhooks.outgoing.signing import request_headers, signature, verify

SECRET = "whsec_test"
BODY = b'{"a":1}'
TS = 1_767_225_600
# hex(HMAC-SHA256("whsec_test", '1767225600.{"a":1}')), computed independently with openssl dgst -hmac
KNOWN = "sha256=6d204545ff126a339c00513d93603299c984074ce1331c3537c3f6c976b49019"


def test_signature_matches_an_independent_computation() -> None:
    assert signature(SECRET, TS, BODY) == KNOWN


@pytest.mark.parametrize(
    ("secret", "body", "ts", "header", "now_s", "valid"),
    [
        (SECRET, BODY, str(TS), KNOWN, None, True),
        (SECRET, BODY, str(TS), KNOWN, TS + 299, True),
        (SECRET, BODY, str(TS), KNOWN, TS + 301, False),  # too old for a 300 s tolerance
        (SECRET, BODY, str(TS), KNOWN, TS - 301, False),
        ("other-secret", BODY, str(TS), KNOWN, None, False),
        (SECRET, b'{"a":2}', str(TS), KNOWN, None, False),  # body changed
        (SECRET, BODY, str(TS + 1), KNOWN, None, False),  # timestamp changed
        (SECRET, BODY, "not-a-number", KNOWN, None, False),
        (SECRET, BODY, None, KNOWN, None, False),
        (SECRET, BODY, str(TS), None, None, False),
        (SECRET, BODY, str(TS), KNOWN.removeprefix("sha256="), None, False),
    ],
)
def test_verify(
    secret: str, body: bytes, ts: str | None, header: str | None, now_s: int | None, valid: bool
) -> None:
    assert verify(secret, body, ts, header, now_s=now_s) is valid


def test_headers_of_a_signed_request() -> None:
    headers = request_headers(event="job.completed", timestamp=TS, attempt=3, body=BODY, secret=SECRET)
    assert headers == {
        "Content-Type": "application/json",
        "User-Agent": "Spooled-OutgoingWebhook/1.0",
        "X-Spooled-Event": "job.completed",
        "X-Spooled-Timestamp": str(TS),
        "X-Spooled-Delivery-Attempt": "3",
        "X-Spooled-Signature": KNOWN,
    }


@pytest.mark.parametrize("secret", [None, ""])
def test_no_secret_no_signature(secret: str | None) -> None:
    headers = request_headers(event="job.created", timestamp=TS, attempt=1, body=BODY, secret=secret)
    assert "X-Spooled-Signature" not in headers
    assert headers["X-Spooled-Event"] == "job.created"


def _documented_verifier() -> Any:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "webhooks.md").read_text()
    (code,) = [
        block for block in re.findall(r"```python\n(.*?)```", doc, re.S) if "def is_from_spooled" in block
    ]
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # the snippet users copy, run as written
    return namespace["is_from_spooled"]


def test_the_verification_snippet_in_the_docs_accepts_our_requests_and_nothing_else() -> None:
    is_from_spooled = _documented_verifier()
    now = int(time.time())
    headers = request_headers(event="job.completed", timestamp=now, attempt=1, body=BODY, secret=SECRET)
    assert is_from_spooled(SECRET, BODY, headers)
    assert not is_from_spooled("wrong-secret", BODY, headers)
    assert not is_from_spooled(SECRET, BODY + b" ", headers)
    stale = request_headers(event="job.completed", timestamp=now - 3600, attempt=1, body=BODY, secret=SECRET)
    assert not is_from_spooled(SECRET, BODY, stale)
    unsigned = request_headers(event="job.completed", timestamp=now, attempt=1, body=BODY, secret=None)
    assert not is_from_spooled(SECRET, BODY, unsigned)
