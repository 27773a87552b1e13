"""Third-party browser files the API serves (Swagger UI for /docs, uPlot for the dashboard's charts).

They come from npm packages pinned in package.json, never from a CDN (the pages' CSP allows only
'self'). The Lambda bundle holds copies under vendor/ (scripts/build_lambda_bundle.py); a checkout
serves them straight from node_modules/ after `npm ci`, so nothing generated is committed.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from functions.api import static_files

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "vendor"
NODE_MODULES = ROOT / "node_modules"

# served name -> file of the npm package (versions: package.json / package-lock.json)
FILES = {
    "swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
    "uplot.js": "uplot/dist/uPlot.iife.min.js",
    "uplot.css": "uplot/dist/uPlot.min.css",
}
# Shipped beside the copies: both licences ask for their notice to travel with the code.
LICENSES = {
    "swagger-ui-dist.LICENSE": "swagger-ui-dist/LICENSE",
    "swagger-ui-dist.NOTICE": "swagger-ui-dist/NOTICE",
    "uplot.LICENSE": "uplot/LICENSE",
}


def source(name: str) -> Path:
    """Where the served file `name` is read from: the bundle's copy, else node_modules."""
    bundled = BUNDLED / name
    return bundled if bundled.is_file() else NODE_MODULES / FILES[name]


@lru_cache(maxsize=1)
def files() -> dict[str, static_files.StaticFile]:
    """Every vendored file that is present (a checkout without `npm ci` serves none: 404)."""
    loaded: dict[str, static_files.StaticFile] = {}
    for name in FILES:
        path = source(name)
        if not path.is_file():
            continue
        data = path.read_bytes()
        loaded[name] = static_files.StaticFile(
            name=name,
            content_type=static_files.CONTENT_TYPES[path.suffix],
            text=data.decode("utf-8"),
            etag='"' + hashlib.sha256(data).hexdigest()[:32] + '"',
        )
    return loaded
