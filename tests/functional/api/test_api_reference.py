"""GET /api/v1/openapi.json and the /docs page as the API Lambda serves them (docs/openapi.md)."""

from __future__ import annotations

import json
from typing import Any

from functions.api import routes_docs
from tests.functional.jobs_api import assert_error


def test_the_document_is_served_without_a_key_as_json(api: Any) -> None:
    response = api.get("/api/v1/openapi.json", api_key=None)
    assert response.status == 200, response
    assert response.headers["content-type"] == "application/json"
    assert json.loads(response.text)["openapi"] == "3.1.0"
    assert response.text == routes_docs.DOCUMENT.read_text(encoding="utf-8")
    again = api.get("/api/v1/openapi.json", api_key=None, headers={"If-None-Match": response.headers["etag"]})
    assert again.status == 304


def test_the_reference_page_and_its_files_are_served_under_the_dashboard_policy(api: Any) -> None:
    page = api.get("/docs", api_key=None)
    assert page.status == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"].startswith("default-src 'self'; script-src 'self';")
    assert "<script>" not in page.text and " style=" not in page.text  # nothing inline
    for name, kind in (
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("reference.js", "text/javascript"),
        ("reference.css", "text/css"),
    ):
        response = api.get(f"/docs/{name}", api_key=None)
        assert response.status == 200, (name, response)
        assert response.headers["content-type"].startswith(kind)
        assert "content-security-policy" in response.headers


def test_the_reference_page_lives_at_docs_only(api: Any) -> None:
    assert api.get("/docs/", api_key=None).headers["location"] == "../docs"
    for path in ("/docs/index.html", "/docs/uplot.js", "/docs/nope.js"):
        assert_error(api.get(path, api_key=None), 404, "NOT_FOUND")
