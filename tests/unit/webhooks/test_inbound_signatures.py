"""Verification of incoming webhooks (shared/webhooks/inbound/signatures.py), as tables of cases.

The GitHub vector is the one GitHub's documentation gives ("Validating webhook deliveries"); the
Stripe cases use Stripe's header format (`t=<unix>,v1=<hex>[,v1=…][,v0=…]`) over an event body as
Stripe sends it, pretty-printed with a trailing newline, so a verifier that re-encodes the body fails.
"""

from __future__ import annotations

import pytest

from shared.plumbing.errors import Unauthorized, ValidationFailed
from shared.webhooks.inbound.signatures import (
    github_signature,
    hmac_sha256_hex,
    provider_secret_status,
    split_provider_secrets,
    stripe_signature,
    verify_github,
    verify_stripe,
    verify_token,
)

# --- GitHub --------------------------------------------------------------------------------

GITHUB_DOC_SECRET = "It's a Secret to Everybody"
GITHUB_DOC_BODY = b"Hello, World!"
GITHUB_DOC_HEADER = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_the_github_documentation_vector() -> None:
    assert github_signature(GITHUB_DOC_SECRET, GITHUB_DOC_BODY) == GITHUB_DOC_HEADER
    verify_github(GITHUB_DOC_SECRET, GITHUB_DOC_BODY, GITHUB_DOC_HEADER)


@pytest.mark.parametrize(
    ("secret", "body", "header"),
    [
        pytest.param(GITHUB_DOC_SECRET, b"Hello, World?", GITHUB_DOC_HEADER, id="tampered body"),
        pytest.param(GITHUB_DOC_SECRET, b"Hello, World! ", GITHUB_DOC_HEADER, id="one byte added"),
        pytest.param("It's a Secret to Everybody!", GITHUB_DOC_BODY, GITHUB_DOC_HEADER, id="wrong secret"),
        pytest.param(GITHUB_DOC_SECRET, GITHUB_DOC_BODY, None, id="missing header"),
        pytest.param(GITHUB_DOC_SECRET, GITHUB_DOC_BODY, "", id="empty header"),
        pytest.param(GITHUB_DOC_SECRET, GITHUB_DOC_BODY, GITHUB_DOC_HEADER[7:], id="no sha256= prefix"),
        pytest.param(
            GITHUB_DOC_SECRET,
            GITHUB_DOC_BODY,
            "sha1=" + GITHUB_DOC_HEADER[7:],
            id="the legacy sha1 scheme",
        ),
        pytest.param(GITHUB_DOC_SECRET, GITHUB_DOC_BODY, GITHUB_DOC_HEADER[:-2], id="truncated digest"),
        pytest.param(GITHUB_DOC_SECRET, GITHUB_DOC_BODY, "sha256=" + "zz" * 32, id="not hex"),
        pytest.param(GITHUB_DOC_SECRET, GITHUB_DOC_BODY, "sha256=é" + "0" * 63, id="not ascii"),
        pytest.param(None, GITHUB_DOC_BODY, GITHUB_DOC_HEADER, id="no secret configured"),
        pytest.param("", GITHUB_DOC_BODY, GITHUB_DOC_HEADER, id="empty secret configured"),
    ],
)
def test_github_refusals(secret: str | None, body: bytes, header: str | None) -> None:
    with pytest.raises(Unauthorized):
        verify_github(secret, body, header)


def test_github_accepts_upper_case_hex_and_surrounding_spaces() -> None:
    verify_github(GITHUB_DOC_SECRET, GITHUB_DOC_BODY, " sha256=" + GITHUB_DOC_HEADER[7:].upper() + " ")


# --- Stripe --------------------------------------------------------------------------------

STRIPE_SECRET = "whsec_test_secret"
STRIPE_BODY = (
    b'{\n  "id": "evt_test_webhook",\n  "object": "event",\n  "type": "invoice.paid",\n'
    b'  "data": {\n    "object": {\n      "id": "in_123",\n      "amount_paid": 2000\n    }\n  }\n}\n'
)
# The same event as a JSON library would print it again: equal as JSON, different as bytes.
COMPACT_BODY = STRIPE_BODY.replace(b"\n", b"").replace(b"  ", b"")
T = 1_492_774_577  # the timestamp of Stripe's documented header example
NOW = T + 10


def _v1(secret: str = STRIPE_SECRET, body: bytes = STRIPE_BODY, t: int = T) -> str:
    return hmac_sha256_hex(secret, f"{t}.".encode() + body)


def test_the_signature_is_hmac_sha256_of_timestamp_dot_raw_body() -> None:
    assert stripe_signature(STRIPE_SECRET, STRIPE_BODY, T) == f"t={T},v1={_v1()}"
    assert (
        verify_stripe(STRIPE_SECRET, STRIPE_BODY, stripe_signature(STRIPE_SECRET, STRIPE_BODY, T), NOW) == T
    )


@pytest.mark.parametrize(
    ("header", "now"),
    [
        pytest.param(f"t={T},v1={_v1()}", NOW, id="one v1"),
        pytest.param(f"t={T},v1={_v1()},v0={'6f' * 32}", NOW, id="with a v0 as Stripe's example"),
        pytest.param(f"t={T},v1={_v1('whsec_old')},v1={_v1()}", NOW, id="second v1 matches (secret roll)"),
        pytest.param(f"t={T},v1={_v1()},v1={_v1('whsec_old')}", NOW, id="first v1 matches"),
        pytest.param(f"v1={_v1()},t={T}", NOW, id="elements in another order"),
        pytest.param(f"t={T}, v1={_v1()}", NOW, id="space after the comma"),
        pytest.param(f"t={T},v1={_v1()}", T + 300, id="exactly 300 s old"),
        pytest.param(f"t={T},v1={_v1()}", T - 60, id="exactly 60 s ahead"),
    ],
)
def test_stripe_accepts(header: str, now: int) -> None:
    assert verify_stripe(STRIPE_SECRET, STRIPE_BODY, header, now) == T


@pytest.mark.parametrize(
    ("secret", "body", "header", "now"),
    [
        pytest.param(
            STRIPE_SECRET, STRIPE_BODY.replace(b"2000", b"2001"), f"t={T},v1={_v1()}", NOW, id="tampered"
        ),
        pytest.param(STRIPE_SECRET, COMPACT_BODY, f"t={T},v1={_v1()}", NOW, id="same JSON, re-encoded"),
        pytest.param("whsec_other", STRIPE_BODY, f"t={T},v1={_v1()}", NOW, id="wrong secret"),
        pytest.param(STRIPE_SECRET, STRIPE_BODY, f"t={T + 1},v1={_v1()}", NOW, id="timestamp changed"),
        pytest.param(
            STRIPE_SECRET, STRIPE_BODY, f"t={T},v1={_v1('a')},v1={_v1('b')}", NOW, id="no v1 matches"
        ),
        pytest.param(STRIPE_SECRET, STRIPE_BODY, f"t={T},v0={_v1()}", NOW, id="only v0"),
        pytest.param(STRIPE_SECRET, STRIPE_BODY, f"t={T},v1={_v1()}", T + 301, id="stale: 301 s old"),
        pytest.param(STRIPE_SECRET, STRIPE_BODY, f"t={T},v1={_v1()}", T + 86_400, id="stale: a day old"),
        pytest.param(STRIPE_SECRET, STRIPE_BODY, f"t={T},v1={_v1()}", T - 61, id="future: 61 s ahead"),
        pytest.param(STRIPE_SECRET, STRIPE_BODY, f"v1={_v1()}", NOW, id="no timestamp"),
        pytest.param(STRIPE_SECRET, STRIPE_BODY, f"t={T},t={T},v1={_v1()}", NOW, id="two timestamps"),
        pytest.param(STRIPE_SECRET, STRIPE_BODY, f"t=soon,v1={_v1()}", NOW, id="timestamp not a number"),
        pytest.param(STRIPE_SECRET, STRIPE_BODY, f"t=-{T},v1={_v1()}", NOW, id="negative timestamp"),
        pytest.param(STRIPE_SECRET, STRIPE_BODY, f"t={T}", NOW, id="no signature"),
        pytest.param(STRIPE_SECRET, STRIPE_BODY, "garbage", NOW, id="malformed"),
        pytest.param(STRIPE_SECRET, STRIPE_BODY, "", NOW, id="empty header"),
        pytest.param(STRIPE_SECRET, STRIPE_BODY, None, NOW, id="missing header"),
        pytest.param(None, STRIPE_BODY, f"t={T},v1={_v1()}", NOW, id="no secret configured"),
    ],
)
def test_stripe_refusals(secret: str | None, body: bytes, header: str | None, now: int) -> None:
    with pytest.raises(Unauthorized):
        verify_stripe(secret, body, header, now)


# --- the organization's token -------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "given", "accepted"),
    [
        ("whk_abc123", "whk_abc123", True),
        ("whk_abc123", " whk_abc123 ", True),
        ("whk_abc123", "whk_abc124", False),
        ("whk_abc123", "whk_abc12", False),
        ("whk_abc123", "whk_abc1234", False),
        ("whk_abc123", "", False),
        ("whk_abc123", None, False),
        ("whk_abc123", "whk_abc12é", False),
        (None, "whk_abc123", False),
        ("", "", False),
    ],
)
def test_token(expected: str | None, given: str | None, accepted: bool) -> None:
    if accepted:
        verify_token(expected, given)
    else:
        with pytest.raises(Unauthorized):
            verify_token(expected, given)


def test_an_org_without_a_token_says_so() -> None:
    with pytest.raises(Unauthorized, match="not configured"):
        verify_token(None, "whk_anything")


# --- the secrets in an organization settings update ----------------------------------------


@pytest.mark.parametrize(
    ("sent", "rest", "secrets"),
    [
        ({"theme": "dark"}, {"theme": "dark"}, {}),
        ({"github_webhook_secret": "s1"}, {}, {"github_webhook_secret": "s1"}),
        (
            {"theme": "dark", "stripe_webhook_secret": "whsec_1", "github_webhook_secret": None},
            {"theme": "dark"},
            {"stripe_webhook_secret": "whsec_1", "github_webhook_secret": None},
        ),
        ({"stripe_webhook_secret": ""}, {}, {"stripe_webhook_secret": None}),
    ],
)
def test_split_provider_secrets(sent: dict, rest: dict, secrets: dict) -> None:
    assert split_provider_secrets(sent) == (rest, secrets)


@pytest.mark.parametrize("value", [123, ["a"], "x" * 256, " padded ", {"a": 1}])
def test_a_secret_that_is_not_a_usable_string_is_a_400(value: object) -> None:
    with pytest.raises(ValidationFailed):
        split_provider_secrets({"github_webhook_secret": value})


def test_secret_status_says_whether_each_is_set_never_what() -> None:
    status = provider_secret_status({"github_webhook_secret": "s3cret"}, "https://x/api/v1/webhooks/o1")
    assert status == {
        "github_webhook_url": "https://x/api/v1/webhooks/o1/github",
        "has_github_webhook_secret": True,
        "stripe_webhook_url": "https://x/api/v1/webhooks/o1/stripe",
        "has_stripe_webhook_secret": False,
    }
    assert "s3cret" not in str(status)
