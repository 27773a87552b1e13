"""Match a method and path to a route; unknown paths are 404 and known paths with another method 405."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from functions.api.http import ApiRequest, ApiResponse
from shared.identity.credentials import AuthContext
from shared.plumbing.errors import MethodNotAllowed, RouteNotFound

Handler = Callable[[ApiRequest, AuthContext | None], ApiResponse]


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # e.g. /api/v1/jobs/{id}/complete
    handler: Handler
    public: bool = False  # no API key needed (health, admin routes check their own key)
    # The response body's schema in the OpenAPI document, by name ("Job", "JobSummary[]" for a
    # list; scripts/openapi/schemas.py). A name, not a model: the handler's cold path imports
    # nothing for documentation. Everything else (body model, query, statuses) is read from the
    # handler itself at build time.
    returns: str | None = None
    # Error statuses the domain raises below the handler (409 on a stale lease, 413 on a large
    # payload), which reading the handler cannot see; the rest the generator works out.
    errors: tuple[int, ...] = ()
    # A public route's requests count against the per-client-address limit, but for the webhook
    # ingest: its senders (GitHub, Stripe) share a few addresses, and it counts per organization.
    ip_limited: bool = True

    @property
    def segments(self) -> list[str]:
        return self.template.strip("/").split("/")


def _match(route: Route, parts: list[str]) -> dict[str, str] | None:
    segments = route.segments
    if len(segments) != len(parts):
        return None
    params: dict[str, str] = {}
    for segment, part in zip(segments, parts, strict=True):
        if segment.startswith("{"):
            if not part:
                return None
            params[segment[1:-1]] = part
        elif segment != part:
            return None
    return params


def _literal_count(route: Route) -> int:
    return sum(1 for segment in route.segments if not segment.startswith("{"))


class Router:
    def __init__(self, routes: list[Route]) -> None:
        # More literal segments first, so /jobs/claim wins over /jobs/{id}.
        self.routes = sorted(routes, key=_literal_count, reverse=True)

    def resolve(self, request: ApiRequest) -> Route:
        parts = request.path.rstrip("/").strip("/").split("/") if request.path.strip("/") else [""]
        path_matched = False
        best_literals = 0
        for route in self.routes:
            params = _match(route, parts)
            if params is None:
                continue
            # The most literal template that matches owns the path (as in the reference's router):
            # DELETE /jobs/claim is a 405 on /jobs/claim, not a cancel of a job called "claim".
            if path_matched and _literal_count(route) < best_literals:
                break
            path_matched, best_literals = True, _literal_count(route)
            if route.method == request.method or (request.method == "HEAD" and route.method == "GET"):
                request.path_params = params
                return route
        if path_matched:
            raise MethodNotAllowed()
        raise RouteNotFound()
