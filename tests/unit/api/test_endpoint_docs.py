"""docs/api-endpoints.md against the router: every served route is documented, and every
endpoint documented as SaaS-only answers 404 with a message that says why."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from functions.api.handler import ROUTER, handler
from local_stack.gateway import event_from_request

DOC = Path(__file__).resolve().parents[3] / "docs" / "api-endpoints.md"
ROW = re.compile(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \| [^|]+ \| (.*) \|$")


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def _rows() -> list[tuple[str, str, str]]:
    return [m.groups() for line in DOC.read_text().splitlines() if (m := ROW.match(line))]  # type: ignore[misc]


def test_every_served_route_is_documented() -> None:
    documented = {(method, _shape(path)) for method, path, _ in _rows()}
    served = {(route.method, _shape(route.template)) for route in ROUTER.routes}
    assert served - documented == set()


@pytest.mark.parametrize(
    ("method", "path"), [(m, p) for m, p, what in _rows() if "SaaS-only" in what], ids=lambda v: str(v)
)
def test_saas_only_endpoints_answer_404(method: str, path: str) -> None:
    event = event_from_request(method, path, {"content-type": "application/json"}, b"{}", "127.0.0.1")
    result = handler(event, None)
    assert result["statusCode"] == 404
    assert "SaaS" in json.loads(result["body"])["message"]
