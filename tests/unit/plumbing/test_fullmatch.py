"""Issue 12, finding 8: `re.match(...$)` accepts a trailing newline ("emails\n" passed as a queue
name). Validation uses fullmatch everywhere; this test keeps it so."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from shared.identity import slugs
from shared.jobs.queues.config import require_valid_name
from shared.plumbing.errors import SpooledError

ROOT = Path(__file__).resolve().parents[3]
PRODUCTION = ("shared", "functions", "local_stack", "stacks", "scripts")


def _match_calls() -> list[str]:
    found = []
    for package in PRODUCTION:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                call = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                if call and node.func.attr == "match":  # type: ignore[attr-defined]
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


# Not validation: moto routes a request by the first URL pattern that matches at the start of its
# URL, and MotoRoutes must find the same one, with the same re.match.
ROUTING = "local_stack/inprocess_moto.py:"


def test_no_validation_uses_re_match() -> None:
    assert [call for call in _match_calls() if not call.startswith(ROUTING)] == []


@pytest.mark.parametrize("name", ["emails\n", "emails\r\n", "\nemails"])
def test_a_queue_name_with_a_newline_is_refused(name: str) -> None:
    with pytest.raises(SpooledError):
        require_valid_name(name)


def test_a_slug_with_a_trailing_newline_is_refused() -> None:
    assert slugs.problem("acme-corp\n") is not None
    assert slugs.problem("acme-corp") is None


def test_request_models_refuse_a_trailing_newline_too() -> None:
    from pydantic import TypeAdapter, ValidationError

    from shared.plumbing.request_models import QueueName

    assert TypeAdapter(QueueName).validate_python("emails") == "emails"
    with pytest.raises(ValidationError):
        TypeAdapter(QueueName).validate_python("emails\n")
