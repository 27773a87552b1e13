"""The SSRF policy for webhook URLs (contract §3.11), with a fake resolver: a table of cases."""

from __future__ import annotations

import pytest

from shared.plumbing.url_safety import (
    BLOCKED_HOSTNAME,
    DNS_BLOCKED,
    HTTP_IN_PRODUCTION,
    MISSING_HOST,
    PRIVATE_IP,
    UnsafeUrl,
    check_url,
    ip_allowed,
)

DNS = {
    "example.com": ["93.184.215.14"],
    "hooks.example.com": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    "rebind.example.com": ["93.184.215.14", "10.0.0.7"],  # one public, one private
    "internal-only.example.com": ["192.168.1.20"],
    "metadata-alias.example.com": ["169.254.169.254"],
    "loop.example.com": ["127.0.0.1"],
    "v6-private.example.com": ["fd12:3456::1"],
    "mapped.example.com": ["::ffff:10.1.2.3"],
    "localhost": ["127.0.0.1", "::1"],
}


def resolver(host: str, port: int) -> list[str]:
    if host not in DNS:
        raise OSError(f"no such host: {host}")
    return DNS[host]


ALLOWED = "allowed"

PRODUCTION_CASES = [
    # scheme
    ("https://example.com/webhook", ALLOWED),
    ("https://hooks.example.com:8443/in?x=1", ALLOWED),
    ("http://example.com/webhook", HTTP_IN_PRODUCTION),
    ("http://localhost:3000/hook", HTTP_IN_PRODUCTION),
    ("http://127.0.0.1:3000/hook", HTTP_IN_PRODUCTION),
    ("ftp://example.com/file", "URL scheme not allowed: ftp"),
    ("file:///etc/passwd", "URL scheme not allowed: file"),
    ("javascript:alert(1)", "URL scheme not allowed: javascript"),
    ("gopher://example.com/", "URL scheme not allowed: gopher"),
    # not a URL
    ("not-a-url", "Invalid URL format"),
    ("", "Invalid URL format"),
    ("https://", MISSING_HOST),
    ("https://example.com:99999/", "Invalid URL format"),
    ("https://example.com/" + "a" * 2100, "Invalid URL format"),
    # blocked host names and suffixes
    ("https://localhost/webhook", BLOCKED_HOSTNAME),
    ("https://LOCALHOST/webhook", BLOCKED_HOSTNAME),
    ("https://localhost./webhook", BLOCKED_HOSTNAME),
    ("https://localhost.localdomain/", BLOCKED_HOSTNAME),
    ("https://postgres:5432/", BLOCKED_HOSTNAME),
    ("https://redis:6379/", BLOCKED_HOSTNAME),
    ("https://elasticsearch:9200/", BLOCKED_HOSTNAME),
    ("https://kubernetes.default.svc/", BLOCKED_HOSTNAME),
    ("https://metadata.google.internal/computeMetadata/", BLOCKED_HOSTNAME),
    ("https://instance-data/latest/", BLOCKED_HOSTNAME),
    ("https://my-service.internal/", BLOCKED_HOSTNAME),
    ("https://app.local/", BLOCKED_HOSTNAME),
    ("https://backend.svc.cluster.local/", BLOCKED_HOSTNAME),
    ("https://ip-10-0-0-1.ec2.internal/", BLOCKED_HOSTNAME),
    ("https://db.localdomain/", BLOCKED_HOSTNAME),
    ("https://169.254.169.254/latest/meta-data/", BLOCKED_HOSTNAME),
    ("https://168.63.129.16/", BLOCKED_HOSTNAME),
    # IP literals
    ("https://127.0.0.1/webhook", PRIVATE_IP),
    ("https://127.8.9.10/", PRIVATE_IP),
    ("https://0.0.0.0/", PRIVATE_IP),
    ("https://10.0.0.1/webhook", PRIVATE_IP),
    ("https://10.255.255.255/", PRIVATE_IP),
    ("https://172.16.0.1/", PRIVATE_IP),
    ("https://172.31.255.255/", PRIVATE_IP),
    ("https://172.15.0.1/", ALLOWED),
    ("https://172.32.0.1/", ALLOWED),
    ("https://192.168.0.1/", PRIVATE_IP),
    ("https://169.254.1.1/", PRIVATE_IP),
    ("https://100.64.0.1/", PRIVATE_IP),
    ("https://100.127.255.255/", PRIVATE_IP),
    ("https://100.128.0.1/", ALLOWED),
    ("https://192.0.2.10/", PRIVATE_IP),
    ("https://198.51.100.10/", PRIVATE_IP),
    ("https://203.0.113.10/", PRIVATE_IP),
    ("https://255.255.255.255/", PRIVATE_IP),
    ("https://8.8.8.8/", ALLOWED),
    ("https://[::1]/webhook", PRIVATE_IP),
    ("https://[::]/", PRIVATE_IP),
    ("https://[fe80::1]/", PRIVATE_IP),
    ("https://[fd00::1]/", PRIVATE_IP),
    ("https://[fc00::1]/", PRIVATE_IP),
    ("https://[::ffff:127.0.0.1]/", PRIVATE_IP),
    ("https://[::ffff:192.168.1.1]/", PRIVATE_IP),
    ("https://[::10.0.0.1]/", PRIVATE_IP),
    ("https://[::ffff:8.8.8.8]/", ALLOWED),
    ("https://[2606:4700:4700::1111]/", ALLOWED),
    # DNS: every address must be allowed, and the name must resolve
    ("https://rebind.example.com/", PRIVATE_IP),
    ("https://internal-only.example.com/", PRIVATE_IP),
    ("https://metadata-alias.example.com/", PRIVATE_IP),
    ("https://loop.example.com/", PRIVATE_IP),
    ("https://v6-private.example.com/", PRIVATE_IP),
    ("https://mapped.example.com/", PRIVATE_IP),
    ("https://does-not-resolve.example.com/", DNS_BLOCKED),
    # user info does not change where the request goes
    ("https://user:pw@example.com/hook", ALLOWED),
    ("https://example.com@10.0.0.1/", PRIVATE_IP),
]

DEVELOPMENT_CASES = [
    ("http://localhost:3000/webhook", ALLOWED),
    ("http://127.0.0.1:3000/webhook", ALLOWED),
    ("https://localhost:3000/webhook", ALLOWED),
    ("https://127.0.0.1/webhook", ALLOWED),
    ("https://loop.example.com/", ALLOWED),  # any loopback, outside production
    ("http://example.com/webhook", HTTP_IN_PRODUCTION),  # http only to the local machine
    ("http://127.0.0.2/webhook", HTTP_IN_PRODUCTION),
    ("https://10.0.0.1/", PRIVATE_IP),
    ("https://169.254.169.254/", BLOCKED_HOSTNAME),
    ("https://postgres/", BLOCKED_HOSTNAME),
    ("https://rebind.example.com/", PRIVATE_IP),
    ("https://example.com/webhook", ALLOWED),
]


def _outcome(url: str, production: bool) -> str:
    try:
        check_url(url, production=production, resolve=resolver)
    except UnsafeUrl as refused:
        return str(refused)
    return ALLOWED


@pytest.mark.parametrize(("url", "expected"), PRODUCTION_CASES, ids=[c[0][:60] for c in PRODUCTION_CASES])
def test_production_policy(url: str, expected: str) -> None:
    assert _outcome(url, production=True).startswith(expected)


@pytest.mark.parametrize(("url", "expected"), DEVELOPMENT_CASES, ids=[c[0] for c in DEVELOPMENT_CASES])
def test_development_allows_the_local_machine_only(url: str, expected: str) -> None:
    assert _outcome(url, production=False).startswith(expected)


def test_the_target_names_the_checked_addresses_and_the_request() -> None:
    target = check_url("https://hooks.example.com:8443/in?x=1", production=True, resolve=resolver)
    assert target.addresses == tuple(DNS["hooks.example.com"])
    assert (target.scheme, target.host, target.port) == ("https", "hooks.example.com", 8443)
    assert target.request_target == "/in?x=1"
    assert target.host_header == "hooks.example.com:8443"


def test_default_ports_and_paths() -> None:
    assert check_url("https://example.com", production=True, resolve=resolver).port == 443
    assert check_url("https://example.com", production=True, resolve=resolver).request_target == "/"
    assert check_url("http://localhost", production=False, resolve=resolver).port == 80


def test_ip_literals_are_not_looked_up() -> None:
    def no_dns(host: str, port: int) -> list[str]:
        raise AssertionError("an IP literal needs no DNS")

    assert check_url("https://8.8.8.8/", production=True, resolve=no_dns).addresses == ("8.8.8.8",)


@pytest.mark.parametrize(
    ("address", "production", "allowed"),
    [
        ("8.8.8.8", True, True),
        ("10.1.1.1", True, False),
        ("127.0.0.1", True, False),
        ("127.0.0.1", False, True),
    ],
)
def test_ip_allowed(address: str, production: bool, allowed: bool) -> None:
    assert ip_allowed(address, production=production) is allowed


@pytest.mark.parametrize(
    "address",
    [
        # IPv4 inside IPv6 translation prefixes: a NAT64 gateway (an IPv6-only Lambda subnet) or a
        # 6to4/Teredo relay carries these to the private IPv4 address they embed.
        "64:ff9b::a00:7",  # NAT64 well-known prefix → 10.0.0.7
        "64:ff9b::a9fe:a9fe",  # → 169.254.169.254 (instance metadata)
        "64:ff9b:1::a00:7",  # NAT64 local-use prefix
        "2002:a00:7::1",  # 6to4 → 10.0.0.7
        "2001:0:4136:e378:8000:63bf:f5ff:fff8",  # Teredo → server 65.54.227.120, client 10.0.0.7
        # "this network", multicast, reserved and benchmarking ranges reach no public receiver
        "0.1.2.3",
        "224.0.0.1",
        "240.0.0.1",
        "198.18.0.1",
        "ff02::1",
        "fec0::1",  # deprecated site-local
    ],
)
def test_addresses_that_only_lead_inside_are_refused(address: str) -> None:
    assert ip_allowed(address, production=True) is False
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(UnsafeUrl, match=PRIVATE_IP):
        check_url(f"https://{host}/hook", production=True, resolve=resolver)


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1", "2606:4700::1111"])
def test_translated_public_addresses_stay_allowed(address: str) -> None:
    assert ip_allowed(address, production=True) is True
