"""The API's OpenAPI 3.1 document and its reference page (docs/openapi.md).

`GET /api/v1/openapi.json` serves functions/api/openapi.json as written at build time by
scripts/openapi (from the router and the request models): the Lambda never imports pydantic's
schema machinery or the generator for it. `GET /docs` is Swagger UI, from its npm package, under
the same Content-Security-Policy as the dashboard. All public: they describe the API, hold no data.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from functions.api import static_files, vendor_assets
from functions.api.http import ApiRequest, ApiResponse
from functions.api.router import Route
from functions.api.routes_dashboard_ui import UI_FOLDER, security_headers, serve_file
from shared.identity.credentials import AuthContext
from shared.plumbing.errors import RouteNotFound

DOCUMENT = Path(__file__).resolve().with_name("openapi.json")
PAGE_FOLDER = UI_FOLDER / "reference"
INDEX = "index.html"


@lru_cache(maxsize=1)
def document() -> static_files.StaticFile:
    data = DOCUMENT.read_bytes()
    return static_files.StaticFile(
        name=DOCUMENT.name,
        content_type="application/json",
        text=data.decode("utf-8"),
        etag='"' + hashlib.sha256(data).hexdigest()[:32] + '"',
    )


@lru_cache(maxsize=1)
def page_files() -> dict[str, static_files.StaticFile]:
    files = static_files.load_folder(PAGE_FOLDER)
    # Swagger UI itself; uPlot is the dashboard's (/dashboard/vendor/).
    files.update({n: f for n, f in vendor_assets.files().items() if n.startswith("swagger-ui")})
    return files


def openapi(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    """The OpenAPI 3.1 document of this API."""
    return serve_file(req, document())


def reference_page(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    """The API reference page (Swagger UI)."""
    if req.path.endswith("/"):
        # As /dashboard/: the page's relative links ("docs/…", "api/v1/…") resolve only from /docs.
        return ApiResponse(308, headers={**security_headers(req), "Location": "../docs"})
    return serve_file(req, page_files().get(INDEX))


def reference_asset(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    """A script or style of the reference page."""
    name = req.path_params["asset"]
    if name == INDEX:
        raise RouteNotFound()
    return serve_file(req, page_files().get(name))


ROUTES = [
    Route("GET", "/api/v1/openapi.json", openapi, public=True),
    Route("GET", "/docs", reference_page, public=True),
    Route("GET", "/docs/{asset}", reference_asset, public=True),
]
