"""The OpenAPI 3.1 document (docs/openapi.md): valid, current, complete, and its differences from
the upstream Spooled openapi.yaml listed with reasons (tests/fixtures/openapi_differences.json)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from functions.api.handler import ROUTER
from scripts.openapi.generate import OUTPUT, build, read_handler, render

REPO_ROOT = Path(__file__).resolve().parents[3]
UPSTREAM = REPO_ROOT.parent / "shared" / "spooled-api" / "openapi.yaml"
FIXTURES = REPO_ROOT / "tests" / "fixtures"
DIFFERENCES = json.loads((FIXTURES / "openapi_differences.json").read_text())
UPSTREAM_OPERATIONS = json.loads((FIXTURES / "upstream_openapi_operations.json").read_text())["operations"]
METHODS = ("get", "put", "post", "patch", "delete")
DOCUMENT = build()


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": op
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOCUMENT["openapi"] == "3.1.0"
    validate(DOCUMENT)  # the 3.1 meta-schema, $refs resolved, operation ids unique


def test_the_validator_would_catch_a_broken_document() -> None:
    # Guards the test above: a response keyed by something other than a status must not pass.
    broken = json.loads(render(DOCUMENT))
    broken["paths"]["/api/v1/jobs"]["post"]["responses"] = {"created": {"description": "x"}}
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_reference_resolves() -> None:
    # The validator does not follow $refs inside schemas; a dangling one would break Swagger UI.
    refs = set(_refs(DOCUMENT))
    assert len(refs) > 50
    for ref in refs:
        node: Any = DOCUMENT
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(node, dict) and part in node, ref
            node = node[part]


def test_the_committed_document_is_what_the_generator_writes_now() -> None:
    # `make openapi` rewrites it; the Lambda bundle always gets a fresh one (build_lambda_bundle).
    assert OUTPUT.read_text(encoding="utf-8") == render(DOCUMENT), "stale: run `make openapi`"


def test_generating_twice_gives_the_same_bytes() -> None:
    assert render(build()) == render(DOCUMENT)


@pytest.mark.parametrize("route", ROUTER.routes, ids=lambda r: f"{r.method} {r.template}")
def test_every_route_the_router_serves_is_documented_with_its_status_codes(route: Any) -> None:
    op = DOCUMENT["paths"][route.template][route.method.lower()]
    documented = {int(status) for status in op["responses"]}
    facts = read_handler(route.handler)
    assert facts.statuses | set(route.errors) <= documented
    assert documented, "an operation without any response"
    if not route.public:
        assert {401, 403, 429} <= documented and "security" not in op  # the document-wide key
    for name in re.findall(r"{(\w+)}", route.template):
        assert {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} in op[
            "parameters"
        ]
        assert 404 in documented
    if facts.body is not None:
        assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
            facts.body.__name__
        )
        assert {400, 422} <= documented


def test_the_document_has_no_operation_the_router_does_not_serve() -> None:
    served = {f"{r.method} {r.template}" for r in ROUTER.routes}
    assert set(_operations(DOCUMENT)) == served


def test_handlers_are_read_correctly() -> None:
    # Spot checks of what the generator reads from the handlers' source.
    by_key = {f"{r.method} {r.template}": r for r in ROUTER.routes}
    create = read_handler(by_key["POST /api/v1/jobs"].handler)
    assert create.body is not None and create.body.__name__ == "CreateJob"
    assert create.statuses == {200, 201}
    listing = read_handler(by_key["GET /api/v1/jobs"].handler)
    assert {"queue_name", "status", "tag", "limit", "offset"} <= set(listing.query)
    assert listing.has_more_header
    pause = read_handler(by_key["POST /api/v1/queues/{name}/pause"].handler)
    assert pause.body is not None and pause.body.__name__ == "PauseQueue" and pause.body_optional
    assert read_handler(by_key["DELETE /api/v1/jobs/{id}"].handler).statuses == {204}
    admin = read_handler(by_key["GET /api/v1/admin/stats"].handler)
    assert admin.admin_key and admin.rate_limited


def test_every_declared_response_schema_exists() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    for route in ROUTER.routes:
        if route.returns:
            assert route.returns.removesuffix("[]") in schemas, route


def _success(statuses: list[str]) -> list[str]:
    return sorted(s for s in statuses if s.startswith("2"))


def test_the_upstream_extract_matches_the_upstream_document() -> None:
    if not UPSTREAM.is_file():
        pytest.skip(f"{UPSTREAM} is not beside this checkout; the extract in tests/fixtures stands in")
    upstream = _operations(yaml.safe_load(UPSTREAM.read_text()))
    assert {k: sorted(str(s) for s in op["responses"]) for k, op in upstream.items()} == UPSTREAM_OPERATIONS


def test_the_differences_from_the_upstream_document_are_exactly_the_listed_ones() -> None:
    ours = _operations(DOCUMENT)
    assert sorted(set(ours) - set(UPSTREAM_OPERATIONS)) == sorted(DIFFERENCES["only_here"])
    assert sorted(set(UPSTREAM_OPERATIONS) - set(ours)) == sorted(DIFFERENCES["only_upstream"])
    differing = {
        key: {"here": _success(list(ours[key]["responses"])), "upstream": _success(UPSTREAM_OPERATIONS[key])}
        for key in sorted(set(ours) & set(UPSTREAM_OPERATIONS))
        if _success(list(ours[key]["responses"])) != _success(UPSTREAM_OPERATIONS[key])
    }
    listed = {
        k: {"here": v["here"], "upstream": v["upstream"]} for k, v in DIFFERENCES["success_statuses"].items()
    }
    assert differing == listed
    # Each difference says why.
    for section in ("only_here", "only_upstream"):
        assert all(len(reason) > 10 for reason in DIFFERENCES[section].values())
    assert all(len(v["why"]) > 10 for v in DIFFERENCES["success_statuses"].values())
