"""The live dashboard's web UI (docs/dashboard.md): `GET /dashboard` and its scripts and styles.

Public routes: the files hold no data, and the page asks for an API key before it calls the API.
Served by the API Lambda so that the page, the REST API and the WebSocket share one origin, which
lets the Content-Security-Policy allow only that origin.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from functions.api import static_files, vendor_assets
from functions.api.http import ApiRequest, ApiResponse
from functions.api.router import Route
from shared.identity.credentials import AuthContext
from shared.plumbing.config import settings
from shared.plumbing.errors import RouteNotFound

# Beside functions/ in the repository and in the Lambda bundle (scripts/build_lambda_bundle.py).
UI_FOLDER = Path(__file__).resolve().parents[2] / "dashboard_ui"
INDEX = "index.html"

# No inline script or style, no third-party origin. The page's socket goes to its own host
# (dashboard_ui/urls.js), so connect-src names only that origin: 'self', plus its ws:/wss: form
# spelled out for browsers whose 'self' does not cover WebSocket schemes. `ws: wss:` allowed any
# host (issue 12, finding 8).
_DIRECTIVES = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src {connect}",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}(?::[0-9]{1,5})?")
OTHER_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _socket_origin(scheme: str, host: str | None) -> str | None:
    if not host or not _HOST.fullmatch(host):
        return None
    return f"{'ws' if scheme == 'http' else 'wss'}://{host.lower()}"


def content_security_policy(req: ApiRequest) -> str:
    """The page's origins: the one clients are told to use (EXTERNAL_URL: the CloudFront host when
    the front door is on, which does not pass the viewer's Host on) and the host that served this
    request (the API's own host, or 127.0.0.1 in `make dev`, over ws: when it came over http)."""
    external = urlsplit(settings().external_url)
    # API Gateway always sets X-Forwarded-Proto; make dev's gateway serves plain http without it.
    served_scheme = str(req.headers.get("x-forwarded-proto") or "http").split(",")[0].strip().lower()
    origins = ["'self'"]
    for origin in (
        _socket_origin(external.scheme, external.netloc),
        _socket_origin(served_scheme, req.headers.get("host")),
    ):
        if origin and origin not in origins:
            origins.append(origin)
    return "; ".join(_DIRECTIVES).format(connect=" ".join(origins))


def security_headers(req: ApiRequest) -> dict[str, str]:
    return {"Content-Security-Policy": content_security_policy(req), **OTHER_SECURITY_HEADERS}


@lru_cache(maxsize=1)
def ui_files() -> dict[str, static_files.StaticFile]:
    return static_files.load_folder(UI_FOLDER)


def serve_file(req: ApiRequest, file: static_files.StaticFile | None) -> ApiResponse:
    """A static file with the pages' security headers, or a 304 when the browser's copy is current."""
    if file is None:
        raise RouteNotFound()
    # Names are not content-hashed, so every use revalidates; an unchanged file costs a 304.
    headers = {**security_headers(req), "Cache-Control": "no-cache", "ETag": file.etag}
    if static_files.etag_matches(req.headers.get("if-none-match"), file.etag):
        return ApiResponse(304, headers=headers)
    return ApiResponse(200, headers={**headers, "Content-Type": file.content_type}, text=file.text)


def _serve(req: ApiRequest, name: str) -> ApiResponse:
    return serve_file(req, ui_files().get(name))


def index(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    if req.path.endswith("/"):
        # The page loads "dashboard/app.js" relative to itself, which only resolves from
        # /dashboard. A relative Location keeps any path prefix in front of it.
        return ApiResponse(308, headers={**security_headers(req), "Location": "../dashboard"})
    return _serve(req, INDEX)


def asset(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    name = req.path_params["asset"]
    if name == INDEX:
        raise RouteNotFound()  # only at /dashboard, where its relative links resolve
    return _serve(req, name)


def vendor_asset(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    """The chart library (uPlot), from its npm package (functions/api/vendor_assets.py)."""
    name = req.path_params["asset"]
    if not name.startswith("uplot."):
        raise RouteNotFound()  # /docs serves Swagger UI's files
    return serve_file(req, vendor_assets.files().get(name))


ROUTES = [
    Route("GET", "/dashboard", index, public=True),
    Route("GET", "/dashboard/{asset}", asset, public=True),
    Route("GET", "/dashboard/vendor/{asset}", vendor_asset, public=True),
]
