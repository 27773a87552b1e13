"""Which address a per-IP limit counts (issue 12, finding 6): behind the CloudFront front door the
viewer's own (CloudFront-Viewer-Address), and only then; API Gateway's sourceIp otherwise."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.identity.rate_limits import client_ip
from shared.plumbing.config import settings

EDGE = "1.2.3.4"  # a CloudFront edge server, API Gateway's sourceIp behind the front door
TOKEN = "edge-token-0123"


@pytest.fixture
def front_door(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SPOOLED_FRONT_DOOR", "true")
    monkeypatch.setenv("SPOOLED_EDGE_TOKEN", TOKEN)
    settings.cache_clear()
    yield
    settings.cache_clear()


@pytest.fixture
def no_front_door(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("SPOOLED_FRONT_DOOR", raising=False)
    monkeypatch.delenv("SPOOLED_EDGE_TOKEN", raising=False)
    settings.cache_clear()
    yield
    settings.cache_clear()


@pytest.mark.parametrize(
    ("viewer", "expected"),
    [
        ("203.0.113.9:51234", "203.0.113.9"),
        ("2001:db8::7:443", "2001:db8::7"),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("not-an-address:1", EDGE),
        ("203.0.113.9", EDGE),  # no port: not what CloudFront sends
        ("", EDGE),
    ],
)
def test_behind_the_front_door_the_viewer_address_counts(
    front_door: None, viewer: str, expected: str
) -> None:
    headers = {"cloudfront-viewer-address": viewer, "x-spooled-edge": TOKEN}
    assert client_ip(headers, EDGE) == expected


def test_a_request_without_the_distributions_token_cannot_pick_its_address(front_door: None) -> None:
    forged = {"cloudfront-viewer-address": "198.51.100.1:1", "x-spooled-edge": "guess"}
    assert client_ip(forged, "192.0.2.50") == "192.0.2.50"
    assert client_ip({"cloudfront-viewer-address": "198.51.100.1:1"}, "192.0.2.50") == "192.0.2.50"


def test_without_the_front_door_the_header_is_ignored(no_front_door: None) -> None:
    headers = {"cloudfront-viewer-address": "198.51.100.1:1", "x-spooled-edge": TOKEN}
    assert client_ip(headers, "192.0.2.50") == "192.0.2.50"
