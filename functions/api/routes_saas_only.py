"""Spooled Cloud features a self-hosted deployment does not have (contract §6): billing and
e-mail sign-up. They answer 404 with a message that says why, rather than "no route"."""

from __future__ import annotations

from functions.api.http import ApiRequest, ApiResponse
from functions.api.router import Route
from shared.identity.credentials import AuthContext
from shared.plumbing.errors import NotFound

V1 = "/api/v1"


def saas_only(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    raise NotFound(
        "This is a Spooled Cloud (SaaS) feature; a self-hosted deployment has no billing or e-mail sign-up"
    )


SAAS_ONLY_PATHS = (
    ("GET", f"{V1}/billing/status"),
    ("POST", f"{V1}/billing/portal"),
    ("POST", f"{V1}/billing/webhook"),
    ("POST", f"{V1}/auth/email/start"),
    ("POST", f"{V1}/auth/email/verify"),
    ("GET", f"{V1}/auth/check-email"),
    ("POST", f"{V1}/auth/signup/complete"),
)

ROUTES = [Route(method, path, saas_only, public=True) for method, path in SAAS_ONLY_PATHS]
