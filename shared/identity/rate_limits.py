"""Request rate limits (contract §1.6): DynamoDB fixed-window counters.

Each window is one item (`RATE#{subject}`, one per subject and minute, TTL'd) holding the window's
count. A container counts the requests it admits locally and adds them to the item in one write
(an ADD that returns the new count) once they reach a flush size; between flushes it admits while
the count it last read plus its own unflushed requests is under the limit, and refuses without a
write once they are not. So a request is answered 429 before the route runs (nothing it carries is
written), and a refusal costs nothing.

The flush size is what trades write units for exactness (issue 11: one write per request was a
third of a job's write units):
- a container that has seen no other container's requests in the window's count flushes every
  tenth of what is left of the limit (300 requests at 3,000 a minute, then 270, 243, ...): within
  one container the limit is exact, a quiet organization writes nothing at all (unflushed requests
  of a window that ended are dropped: nothing reads them), and one at full speed writes ~50 times
  per window;
- once a flush shows another container's requests (the count grew by more than its own), every
  fiftieth of the limit, as long as it sees them;
- near the limit the flush size falls to 1, so each request is then counted before it is admitted.
Requests a container admitted and has not flushed are invisible to the others: up to a tenth of the
limit per container new to a window, a fiftieth per container that knows it is sharing, may pass
the limit before every container has seen the full count. Nothing is held back: no container takes
requests it might not use, so the limit is never stranded. A limit under 10 is counted one request
at a time.

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


ALONE_SHARE = 10  # a container alone in a window flushes every tenth of what is left of the limit
SHARED_SHARE = 50  # one that has seen others' requests, every fiftieth of the limit


@dataclass
class _Count:
    """This container's view of one window: the count it last read, what it admitted since and has
    not flushed, and whether the window's count has shown another container's requests."""

    known: int = 0
    pending: int = 0
    flushed: int = 0  # this container's own requests in `known`
    shared: bool = False


# (subject, window start) → this container's count; subject → whether its last window was shared
# (a container that shared the last window starts the next one with the smaller flush size). Per
# process, like the container it stands for; a window's entry goes when the window does.
_counts: dict[tuple[str, int], _Count] = {}
_was_shared: dict[str, bool] = {}
_counts_lock = threading.Lock()


def forget_taken() -> None:
    with _counts_lock:
        _counts.clear()
        _was_shared.clear()


# The test fixtures reset every cache a shared module holds through `cache_clear`.
forget_taken.cache_clear = forget_taken  # type: ignore[attr-defined]


def flush_size(limit: int, known: int, shared: bool) -> int:
    """How many admitted requests a container holds before it adds them to the window's count."""
    left = max(0, limit - known)
    size = left // ALONE_SHARE
    if shared:
        size = min(size, limit // SHARED_SHARE)
    return max(1, size)


class RateLimiter(TableService):
    def hit(self, scope: str, subject: str, limit: int, window_seconds: int = MINUTE) -> Window:
        """Count one request of `subject` against `limit` per window; never raises for a full window."""
        now_s = self.clock.now_ms() // 1000
        start = now_s - now_s % window_seconds
        end = start + window_seconds
        name = f"{scope}#{subject}"
        with _counts_lock:
            count = _counts.get((name, start))
            if count is None:
                for stale in [key for key in _counts if key[1] < start]:
                    _was_shared[stale[0]] = _counts.pop(stale).shared
                count = _counts[(name, start)] = _Count(shared=_was_shared.get(name, False))
            if count.known + count.pending >= limit:
                return Window(scope, limit, 0, end, allowed=False)
            count.pending += 1
            if count.pending < flush_size(limit, count.known, count.shared):
                return Window(scope, limit, limit - count.known - count.pending, end, allowed=True)
            flushing, count.pending = count.pending, 0
            count.flushed += flushing  # before the write: a flush of another thread may land first
        try:
            response = aws_clients.client("dynamodb").update_item(
                **ex.count_requests(self.table, name, start, end + window_seconds, flushing)
            )
        except Exception:
            # The limiter's store failing must not take the API down with it: fail open, loudly.
            logger.exception("rate limiter unavailable; request let through")
            return Window(scope, limit, limit, end, allowed=True)
        total = int(response["Attributes"]["n"]["N"])
        with _counts_lock:
            count.known = max(count.known, total)
            count.shared = count.shared or total > count.flushed
            over = total > limit  # others' requests filled the window first: this one is refused
            remaining = limit - count.known - count.pending
        return Window(scope, limit, 0 if over else remaining, end, allowed=not over)

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
