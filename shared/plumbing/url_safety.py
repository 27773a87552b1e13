"""Where outgoing webhooks may be sent (contract §3.11 SSRF policy). Pure: DNS comes in as a resolver.

The same check runs when a webhook is created, updated or tested, and again before every delivery,
whose connection then goes to one of the addresses checked here (webhook_http pins it), so a name
that resolves elsewhere between the check and the connection (DNS rebinding) cannot reach inside.

Blocked: other schemes; http, except to localhost/127.0.0.1 outside production; the reference's
internal host names and suffixes; loopback, unspecified, RFC 1918, link-local (metadata), CGNAT,
Azure's 168.63.129.16, the TEST-NETs, broadcast, "this network", multicast, reserved and benchmarking
ranges, IPv6 link-local, site-local, unique-local and multicast, and IPv4 mapped or embedded in IPv6
(compatible, NAT64, 6to4, Teredo) by the same IPv4 rules. Outside production any loopback address
is allowed, so a receiver on the developer's machine works in `make dev`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from shared.plumbing.config import settings
from shared.plumbing.errors import ValidationFailed

# host, port -> the IP addresses the name resolves to (raises OSError when it does not resolve)
Resolver = Callable[[str, int], list[str]]

MAX_URL_LENGTH = 2048

HTTP_IN_PRODUCTION = "HTTP not allowed in production"
BLOCKED_HOSTNAME = "Hostname not allowed: blocked for security"
PRIVATE_IP = "IP address not allowed: private/internal addresses blocked"
DNS_BLOCKED = "DNS resolution failed or resolved to blocked address"
MISSING_HOST = "URL host is missing"

BLOCKED_HOSTNAMES = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        # infrastructure names of container platforms
        "postgres",
        "postgresql",
        "mysql",
        "mariadb",
        "redis",
        "memcached",
        "elasticsearch",
        "elastic",
        "mongo",
        "mongodb",
        "rabbitmq",
        "kafka",
        "zookeeper",
        "consul",
        "vault",
        "etcd",
        "grafana",
        "prometheus",
        "jaeger",
        "zipkin",
        "nginx",
        "traefik",
        "envoy",
        "istio-proxy",
        "linkerd",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kube-dns",
        # cloud metadata
        "metadata",
        "metadata.google",
        "metadata.google.internal",
        "instance-data",
        "169.254.169.254",
        "169.254.170.2",
        "168.63.129.16",
        "169.254.169.123",
    }
)
BLOCKED_SUFFIXES = (
    ".internal",
    ".local",
    ".localhost",
    ".localdomain",
    ".svc",
    ".svc.cluster.local",
    ".pod.cluster.local",
    ".cluster.local",
    ".compute.internal",
    ".ec2.internal",
    ".us-east-1.compute.internal",
    ".us-west-1.compute.internal",
    ".eu-west-1.compute.internal",
)
_DEV_LOCAL_HOSTS = ("localhost", "127.0.0.1")

_BLOCKED_V4 = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "127.0.0.0/8",
        "100.64.0.0/10",
        "168.63.129.16/32",
        "192.0.2.0/24",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "255.255.255.255/32",
        "0.0.0.0/8",  # "this network": 0.0.0.0 itself reaches the local host on Linux
        "198.18.0.0/15",  # benchmarking, used inside some networks
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved
    )
)
_BLOCKED_V6 = tuple(
    ipaddress.IPv6Network(net)
    for net in ("::1/128", "::/128", "fe80::/10", "fc00::/7", "fec0::/10", "ff00::/8")
)
# NAT64 prefixes (RFC 6052 well-known, RFC 8215 local use): a NAT64 gateway, as an IPv6-only
# Lambda subnet uses, connects to the IPv4 address in the last 32 bits, private ones included.
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


class UnsafeUrl(ValueError):
    """The URL may not be a webhook target; str() is the contract's message (without the prefix)."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (one of `addresses`) and what to ask for."""

    scheme: str
    host: str  # as in the URL, lower case, without IPv6 brackets: the TLS server name and Host
    port: int
    request_target: str  # path and query, e.g. /hooks?a=1
    addresses: tuple[str, ...]
    host_header: str  # host[:port] as the URL spelled it


def check_url(url: str, *, production: bool, resolve: Resolver) -> Target:
    """The target of `url`, or UnsafeUrl with the contract's message."""
    if not url or len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl("Invalid URL format: empty or longer than 2048 characters")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise UnsafeUrl(f"Invalid URL format: {error}") from None
    scheme = parts.scheme.lower()
    if not scheme:
        raise UnsafeUrl("Invalid URL format: relative URL without a base")
    # A trailing dot is the same name to DNS ("localhost." is localhost).
    host = (parts.hostname or "").lower().rstrip(".")
    if scheme not in ("http", "https"):
        raise UnsafeUrl(f"URL scheme not allowed: {scheme}")
    if not host:
        raise UnsafeUrl(MISSING_HOST)
    dev_local = not production and host in _DEV_LOCAL_HOSTS
    if scheme == "http" and not dev_local:
        raise UnsafeUrl(HTTP_IN_PRODUCTION)
    if not dev_local and (host in BLOCKED_HOSTNAMES or host.endswith(BLOCKED_SUFFIXES)):
        raise UnsafeUrl(BLOCKED_HOSTNAME)
    port = port or (443 if scheme == "https" else 80)
    literal = _ip_or_none(host)
    if literal is not None:
        _require_allowed_ip(literal, production)
        addresses: tuple[str, ...] = (str(literal),)
    else:
        addresses = _resolved_allowed(host, port, production, resolve)
    path = parts.path or "/"
    return Target(
        scheme=scheme,
        host=host,
        port=port,
        request_target=path + (f"?{parts.query}" if parts.query else ""),
        addresses=addresses,
        host_header=parts.netloc.rsplit("@", 1)[-1],
    )


def ip_allowed(address: str, *, production: bool) -> bool:
    ip = _ip_or_none(address)
    if ip is None:
        return False
    try:
        _require_allowed_ip(ip, production)
    except UnsafeUrl:
        return False
    return True


def _ip_or_none(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 zone id names no other host
    except ValueError:
        return None


def _require_allowed_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, production: bool) -> None:
    if not production and ip.is_loopback:
        return
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded:
            for address in embedded:
                _require_allowed_ip(address, production)
            return
        if any(ip in net for net in _BLOCKED_V6):
            raise UnsafeUrl(PRIVATE_IP)
        return
    if any(ip in net for net in _BLOCKED_V4):
        raise UnsafeUrl(PRIVATE_IP)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address leads to: mapped, compatible, NAT64, 6to4 and Teredo
    (its server and its client) are each a way to reach an IPv4 host, a private one included."""
    single = ip.ipv4_mapped or _ipv4_compatible(ip) or ip.sixtofour
    if single is not None:
        return (single,)
    if any(ip in net for net in _NAT64):
        return (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF),)
    return ip.teredo or ()


def _ipv4_compatible(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    # ::a.b.c.d (deprecated) still reaches a.b.c.d on some stacks; :: and ::1 are handled as IPv6.
    value = int(ip)
    if value >> 32 == 0 and value > 1:
        return ipaddress.IPv4Address(value)
    return None


def _resolved_allowed(host: str, port: int, production: bool, resolve: Resolver) -> tuple[str, ...]:
    try:
        found = [a for a in dict.fromkeys(resolve(host, port)) if a]
    except (OSError, UnicodeError):
        raise UnsafeUrl(DNS_BLOCKED) from None
    if not found:
        raise UnsafeUrl(DNS_BLOCKED)
    # Every address must be allowed: a name with one public and one private address could be
    # connected to the private one by any client that picks another order.
    for address in found:
        ip = _ip_or_none(address)
        if ip is None:
            raise UnsafeUrl(DNS_BLOCKED)
        _require_allowed_ip(ip, production)
    return tuple(found)


def system_resolver(host: str, port: int) -> list[str]:
    """The process's resolver (getaddrinfo), TCP addresses only."""
    import socket

    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def invalid_url(refused: UnsafeUrl) -> ValidationFailed:
    message = f"Invalid webhook URL: {refused}"
    return ValidationFailed(
        message,
        details=[{"field": "url", "message": message, "code": "invalid_url"}],
        error="Validation failed",
    )


def require_safe_url(url: str) -> str:
    """The same check for any other webhook URL a caller gives (a job's completion_webhook, §2.4):
    400 "Invalid webhook URL: …" unless it is allowed."""
    try:
        check_url(url, production=settings().environment == "production", resolve=system_resolver)
    except UnsafeUrl as refused:
        raise invalid_url(refused) from None
    return url
