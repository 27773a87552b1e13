"""Request rate limits (contract §1.6): DynamoDB fixed-window counters.

Each container takes its requests from a window's item (`RATE#{subject}`, one item per window,
TTL'd) in chunks: a conditional ADD of several requests at once, refused once they would not fit,
so the limit holds under any concurrency and a refused request is answered 429 before the route
runs: nothing it carries is written. A busy container's chunk doubles per window up to a fiftieth
of the limit, so an organization at full speed costs one write per ~60 requests, not one per
request (issue 11: the per-request write was a third of a job's write units and capped an
organization at 1,000 requests/s on one item). The price: requests a container took and did not
use are lost to the others until the window ends (at most a fiftieth of the limit per container);
a limit under 50 is counted one request at a time, exactly as before.

Limits: a key's own `rate_limit` (requests per minute), an organization-wide limit
(SPOOLED_ORG_RATE_LIMIT_PER_MINUTE, 3,000 by default), a per-client-address limit on every request
without a valid credential (SPOOLED_IP_RATE_LIMIT_PER_MINUTE, 1,200 by default), and
fixed limits for logins (per key) and for the admin and slug routes (per client IP).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
from dataclasses import dataclass
from typing import Any

from shared.identity import expressions as ex
from shared.identity.credentials import AuthContext
from shared.plumbing import aws_clients
from shared.plumbing.clock import to_rfc3339
from shared.plumbing.config import settings
from shared.plumbing.errors import RateLimited
from shared.plumbing.table_service import TableService

logger = logging.getLogger("spooled.rate_limits")

MINUTE = 60
LOGIN_ATTEMPTS_PER_MINUTE = 5  # per SHA-256 of the key tried (contract §1.6)
SLUG_CHECKS_PER_MINUTE = 60  # per client IP


@dataclass(frozen=True)
class Window:
    """Where a subject stands in its current window after this request."""

    scope: str  # what the limit counts against: api_key, organization, ip, login
    limit: int
    remaining: int
    reset_s: int  # the window's end, unix seconds
    allowed: bool

    def retry_after(self, now_s: int) -> int:
        return max(1, self.reset_s - now_s)

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.remaining)),
            "X-RateLimit-Reset": str(self.reset_s),
            "X-RateLimit-Scope": self.scope,
        }


SCOPE_NAMES = {
    "api_key": "this API key",
    "organization": "this organization",
    "ip": "this client address",
    "login": "logins with this key",
}


def refusal(window: Window, now_s: int) -> RateLimited:
    retry_after = window.retry_after(now_s)
    counted = SCOPE_NAMES.get(window.scope, window.scope)
    error = RateLimited(
        f"Rate limit exceeded: {window.limit} requests per minute for {counted}",
        error="rate_limit_exceeded",
        retry_after_secs=retry_after,
        limit=window.limit,
        remaining=0,
        reset_at=to_rfc3339(window.reset_s * 1000),
    )
    error.response_headers = window.headers()  # type: ignore[attr-defined]  # merged by the API handler
    return error


@dataclass(frozen=True)
class Verdict:
    """The outcome for one request: the tightest window (for the headers) and the first refusal."""

    window: Window | None
    now_s: int

    def headers(self) -> dict[str, str]:
        return self.window.headers() if self.window else {}

    def raise_if_refused(self) -> None:
        if self.window is not None and not self.window.allowed:
            raise refusal(self.window, self.now_s)


MAX_CHUNK_SHARE = 50  # a container takes at most limit / 50 requests per write

# (subject, window start) → requests this container took and has not used yet, with the
# window's count after its last take; subject → the chunk it takes next. Per process, like the
# container it stands for; a window's entries go when the window does.
_taken: dict[tuple[str, int], tuple[int, int]] = {}
_chunks: dict[str, int] = {}
_taken_lock = threading.Lock()


def forget_taken() -> None:
    with _taken_lock:
        _taken.clear()
        _chunks.clear()


# The test fixtures reset every cache a shared module holds through `cache_clear`.
forget_taken.cache_clear = forget_taken  # type: ignore[attr-defined]


class RateLimiter(TableService):
    def hit(self, scope: str, subject: str, limit: int, window_seconds: int = MINUTE) -> Window:
        """Count one request of `subject` against `limit` per window; never raises for a full window."""
        now_s = self.clock.now_ms() // 1000
        start = now_s - now_s % window_seconds
        end = start + window_seconds
        name = f"{scope}#{subject}"
        with _taken_lock:
            left, used = _taken.get((name, start), (0, 0))
            if left > 0:
                _taken[(name, start)] = (left - 1, used)
                return Window(scope, limit, limit - used + left - 1, end, allowed=True)
            for stale in [key for key in _taken if key[1] < start]:
                del _taken[stale]
            chunk = _chunks.get(name, 1) if (name, start) in _taken else 1
        chunk = max(1, min(chunk, limit // MAX_CHUNK_SHARE))
        for size in dict.fromkeys((chunk, 1)):  # the chunk, then a single request if it did not fit
            try:
                response = aws_clients.client("dynamodb").update_item(
                    **ex.count_request(self.table, name, start, limit, end + window_seconds, size)
                )
            except Exception as error:
                code = getattr(error, "response", {}).get("Error", {}).get("Code")
                if code == "ConditionalCheckFailedException":
                    continue
                # The limiter's store failing must not take the API down with it: fail open, loudly.
                logger.exception("rate limiter unavailable; request let through")
                return Window(scope, limit, limit, end, allowed=True)
            used = int(response["Attributes"]["n"]["N"])
            with _taken_lock:
                _taken[(name, start)] = (size - 1, used)
                _chunks[name] = size * 2  # busy enough to need another take: take more next time
            return Window(scope, limit, limit - used + size - 1, end, allowed=True)
        return Window(scope, limit, 0, end, allowed=False)

    def admit(self, ctx: AuthContext) -> Verdict:
        """The limits of an authenticated request: the key's own, then the organization's."""
        now_s = self.clock.now_ms() // 1000
        windows: list[Window] = []
        if ctx.rate_limit:
            windows.append(self.hit("api_key", ctx.api_key_id, int(ctx.rate_limit)))
        org_limit = settings().org_rate_limit_per_minute
        if org_limit and all(w.allowed for w in windows):
            windows.append(self.hit("organization", ctx.org_id, org_limit))
        if not windows:
            return Verdict(None, now_s)
        refused = [w for w in windows if not w.allowed]
        tightest = refused[0] if refused else min(windows, key=lambda w: (w.remaining, w.limit))
        return Verdict(tightest, now_s)

    def require(self, scope: str, subject: str, limit: int) -> Window:
        window = self.hit(scope, subject, limit)
        if not window.allowed:
            raise refusal(window, self.clock.now_ms() // 1000)
        return window


EDGE_TOKEN_HEADER = "x-spooled-edge"


def client_ip(headers: dict[str, Any], source_ip: str) -> str:
    """The address a per-IP limit counts. API Gateway puts its caller's address in sourceIp;
    behind the CloudFront front door that is an edge server, shared by everyone near it, so the
    viewer's own address comes from CloudFront-Viewer-Address ("ip:port"). That header is trusted
    only when the front door is on and the request carries the distribution's origin token: a
    client calling API Gateway directly could send the header itself (issue 12, finding 6).
    X-Forwarded-For can be forged: it is only the local gateway's fallback."""
    viewer = _viewer_address(headers) if _through_front_door(headers) else None
    return viewer or source_ip or str(headers.get("x-forwarded-for", "")).split(",")[0].strip() or "unknown"


def _through_front_door(headers: dict[str, Any]) -> bool:
    config = settings()
    if not config.front_door or not config.edge_token:
        return False
    given = str(headers.get(EDGE_TOKEN_HEADER) or "")
    return hmac.compare_digest(given.encode(), config.edge_token.encode())


def _viewer_address(headers: dict[str, Any]) -> str | None:
    value = str(headers.get("cloudfront-viewer-address") or "").strip()
    host, sep, port = value.rpartition(":")  # IPv6 addresses hold colons too: the port is last
    if not sep or not port.isdigit():
        return None
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None
