"""Build the OpenAPI 3.1 document from the API's router and the pydantic models its handlers use.

Nothing is listed twice: the paths and methods are the router's routes; each operation's request
body model, query parameters, success statuses and raised errors are read from the handler that
serves it (and the helpers of its module it calls), and its response schema is the name the route
declares with `Route(returns=...)`. Run at build time only (`make openapi`, `make bundle`); the
API Lambda serves the written file and never imports this module (cold start, `make bench`).
"""

from __future__ import annotations

import inspect
import json
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from functions.api.handler import ROUTER
from functions.api.router import Route
from scripts.openapi import schemas

REPO_ROOT = Path(__file__).resolve().parents[2]
OUTPUT = REPO_ROOT / "functions" / "api" / "openapi.json"
REF = "#/components/schemas/{model}"

_PARSE_BODY = re.compile(r"parse_body\(\s*(?P<model>[\w.]+(?:\(\))?[\w.]*)\s*,(?P<rest>[^)]*)\)")
_QUERY = re.compile(r"req\.query(?:_int\(|\.get\(|\[)\s*\"(?P<name>\w+)\"")
_RESPONSE = re.compile(r"ApiResponse\(\s*(?P<first>[^,)]*)")
_RAISE = re.compile(r"raise\s+(?P<name>[A-Z]\w*)\(")
_CALL = re.compile(r"\b(?P<name>[a-z_]\w*)\(")
_STATUS = re.compile(r"\b([1-5]\d\d)\b")

ERROR_DESCRIPTIONS = {
    400: "a field breaks a rule (VALIDATION_ERROR, details name the fields) or a bad request",
    401: "missing or invalid credentials (UNAUTHORIZED)",
    403: "the key may not use this queue or resource (ACCESS_DENIED)",
    404: "not found, or not visible to this key (NOT_FOUND)",
    409: "conflict with the resource's state (CONFLICT, LEASE_EXPIRED)",
    413: "payload too large (PAYLOAD_TOO_LARGE)",
    422: "the body is not the expected JSON document (VALIDATION_ERROR)",
    429: "rate limit or plan quota exceeded (RATE_LIMIT_EXCEEDED, QUOTA_EXCEEDED)",
    503: "not ready",
}
SUCCESS_DESCRIPTIONS = {
    200: "OK",
    201: "created",
    204: "done, no body",
    304: "not modified (If-None-Match matched the ETag)",
    308: "permanent redirect",
}


@dataclass
class HandlerFacts:
    """What a handler does, as read from its source and its module's helpers it calls."""

    body: type[BaseModel] | None = None
    body_optional: bool = False
    query: list[str] = field(default_factory=list)
    statuses: set[int] = field(default_factory=set)
    errors: set[int] = field(default_factory=set)
    text_response: bool = False
    has_more_header: bool = False
    admin_key: bool = False
    rate_limited: bool = False


def _sources(function: Callable[..., Any]) -> list[str]:
    """The function's source and that of the API's functions it calls (one level deep)."""
    own = inspect.getsource(function)
    sources = [own]
    module_prefix = function.__module__.rsplit(".", 1)[0]  # this API's own helpers, not libraries
    for name in dict.fromkeys(m["name"] for m in _CALL.finditer(own)):
        helper = function.__globals__.get(name)
        if (
            inspect.isfunction(helper)
            and helper.__module__.startswith(module_prefix)
            and helper is not function
        ):
            sources.append(inspect.getsource(helper))
    return sources


def read_handler(function: Callable[..., Any]) -> HandlerFacts:
    facts = HandlerFacts()
    namespace = function.__globals__
    for source in _sources(function):
        for match in _PARSE_BODY.finditer(source):
            # The expression names the model as the handler does (m.CreateJob,
            # _models().CreateSchedule): evaluated in the handler's module (our own source text), wherever
            # the model lives.
            facts.body = eval(match["model"], dict(namespace))
            facts.body_optional = "optional=True" in match["rest"]
        facts.query.extend(m["name"] for m in _QUERY.finditer(source))
        for match in _RESPONSE.finditer(source):
            facts.statuses.update(int(s) for s in _STATUS.findall(match["first"]))
        facts.text_response = facts.text_response or "text=" in source
        facts.has_more_header = facts.has_more_header or "X-Has-More" in source
        facts.admin_key = facts.admin_key or "require_admin(" in source
        facts.rate_limited = facts.rate_limited or "limiter().require(" in source
        for match in _RAISE.finditer(source):
            error = namespace.get(match["name"])
            if isinstance(error, type) and isinstance(getattr(error, "status", None), int):
                facts.errors.add(error.status)
    facts.query = list(dict.fromkeys(facts.query))
    return facts


def _operation_id(route: Route) -> str:
    template = route.template.removeprefix("/api/v1")
    words = re.sub(r"[{}]", "", template).strip("/").replace("-", "_").replace(".", "_").split("/")
    if template == route.template:
        words.insert(0, "site")  # outside /api/v1: /dashboard (the page) is not /api/v1/dashboard
    return "_".join([route.method.lower(), *words])


def _tag(route: Route) -> str:
    return route.handler.__module__.rsplit(".", 1)[-1].removeprefix("routes_").replace("_", "-")


def _schema_ref(name: str) -> dict[str, Any]:
    if name.endswith("[]"):
        return {"type": "array", "items": {"$ref": REF.format(model=name[:-2])}}
    return {"$ref": REF.format(model=name)}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _text_media(route: Route) -> list[str]:
    """What a route that answers with text serves: the document, pages, their files, or probes."""
    if route.template.endswith(".json"):
        return ["application/json"]
    if route.template.endswith("{asset}"):
        return ["text/javascript", "text/css"]
    if route.template in ("/dashboard", "/docs"):
        return ["text/html"]
    return ["text/plain"]


def _success_response(route: Route, facts: HandlerFacts, status: int) -> dict[str, Any]:
    response: dict[str, Any] = {"description": SUCCESS_DESCRIPTIONS.get(status, "")}
    if status in (204, 304, 308):
        return response
    if route.returns:
        response.update(_json(_schema_ref(route.returns)))
    elif facts.text_response:
        response["content"] = {media: {"schema": {"type": "string"}} for media in _text_media(route)}
    else:
        response.update(_json({"type": "object"}))
    if facts.has_more_header:
        response["headers"] = {"X-Has-More": {"$ref": "#/components/headers/X-Has-More"}}
    return response


def operation(route: Route) -> dict[str, Any]:
    facts = read_handler(route.handler)
    errors = set(facts.errors) | set(route.errors)
    if facts.body is not None:
        errors |= {400, 422}
    if not route.public:
        errors |= {401, 403, 429}
    if facts.admin_key:
        errors |= {401, 403}
    if facts.rate_limited:
        errors.add(429)
    path_params = re.findall(r"{(\w+)}", route.template)
    if path_params:
        errors.add(404)  # a missing resource, or one another organization or key scope owns
    doc = inspect.getdoc(route.handler)
    op: dict[str, Any] = {
        "operationId": _operation_id(route),
        "tags": [_tag(route)],
        "summary": doc.splitlines()[0] if doc else f"{route.method} {route.template}",
    }
    parameters = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in path_params
    ]
    parameters += [
        {"name": q, "in": "query", "required": False, "schema": {"type": "string"}} for q in facts.query
    ]
    if parameters:
        op["parameters"] = parameters
    if facts.body is not None:
        op["requestBody"] = {
            "required": not facts.body_optional,
            **_json({"$ref": REF.format(model=facts.body.__name__)}),
        }
    responses: dict[str, Any] = {}
    for status in sorted(facts.statuses | errors):
        if status >= 400 and status not in facts.statuses:
            responses[str(status)] = {"$ref": f"#/components/responses/E{status}"}
        else:
            responses[str(status)] = _success_response(route, facts, status)
    op["responses"] = responses
    if facts.admin_key:
        op["security"] = [{"adminKey": []}]
    elif route.public:
        op["security"] = []
    return op


def _version() -> str:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]


def _components(request_models: Iterable[type[BaseModel]]) -> dict[str, Any]:
    responses = schemas.all_models()
    requests = {m.__name__: m for m in request_models}
    clash = set(requests) & set(responses)
    if clash:
        raise ValueError(f"request and response models share names: {sorted(clash)}")
    pairs: list[tuple[type[BaseModel], Any]] = [(requests[n], "validation") for n in sorted(requests)]
    pairs += [(responses[n], "serialization") for n in sorted(responses)]
    _, definitions = models_json_schema(pairs, ref_template=REF)
    error_ref = {"$ref": REF.format(model="Error")}
    return {
        "schemas": dict(sorted(definitions.get("$defs", {}).items())),
        "responses": {
            f"E{status}": {"description": text, **_json(error_ref)}
            for status, text in sorted(ERROR_DESCRIPTIONS.items())
        },
        "headers": {
            "X-Has-More": {
                "description": "true when another page follows (contract §1.5)",
                "schema": {"type": "string", "enum": ["true", "false"]},
            }
        },
        "securitySchemes": {
            "apiKey": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key (sp_...) or a JWT access token from /api/v1/auth/login",
            },
            "adminKey": {"type": "apiKey", "in": "header", "name": "X-Admin-Key"},
        },
    }


def build(routes: Iterable[Route] | None = None) -> dict[str, Any]:
    ordered = sorted(routes if routes is not None else ROUTER.routes, key=lambda r: (r.template, r.method))
    paths: dict[str, dict[str, Any]] = {}
    request_models: dict[str, type[BaseModel]] = {}
    for route in ordered:
        op = operation(route)
        paths.setdefault(route.template, {})[route.method.lower()] = op
        facts = read_handler(route.handler)
        if facts.body is not None:
            previous = request_models.setdefault(facts.body.__name__, facts.body)
            if previous is not facts.body:
                raise ValueError(f"two request models are called {facts.body.__name__}")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Spooled for AWS",
            "version": _version(),
            "summary": "The Spooled job queue REST API, served by API Gateway and Lambda",
            "description": (
                "Compatible with the official Spooled SDKs (spooled 1.6.0). Generated from the API's "
                "router and request models by scripts/openapi; differences from the upstream "
                "Spooled openapi.yaml are listed in docs/openapi.md."
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        # Relative to the document (/api/v1/openapi.json), so a stage or path prefix is kept.
        "servers": [{"url": "../..", "description": "this deployment"}],
        "security": [{"apiKey": []}],
        "tags": [{"name": t} for t in sorted({_tag(r) for r in ordered})],
        "paths": paths,
        "components": _components(request_models.values()),
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def write(path: Path = OUTPUT) -> Path:
    path.write_text(render(build()), encoding="utf-8")
    return path
