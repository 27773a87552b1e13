"""local_stack/botocore_speedups.py parses moto's JSON answers with shortcuts: every answer the
service's calls get must be the same dict botocore's own parser builds. A job's life runs through
the real handlers, the stream goes to the dispatcher and the live fan-out, and items holding every
kind of attribute value are written, read, queried and streamed, with both parsers run on every
answer and compared."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from botocore import parsers

from local_stack import botocore_speedups
from tests.functional.local_stack.stack_setup import inprocess_stack, job_life, leaf_types


class Comparison:
    def __init__(self) -> None:
        self.parsed = Counter[str]()
        self.mismatches: list[str] = []

    def parse(self, parser: Any, response: dict[str, Any], shape: Any) -> Any:
        got = parsers.ResponseParser.parse(parser, response, shape)  # the fast parser's own walk
        expected = parsers.JSONParser().parse(response, shape)
        name = getattr(shape, "name", "")
        self.parsed[name] += 1
        if got != expected or leaf_types(got) != leaf_types(expected):
            self.mismatches.append(f"{name}: {expected!r:.600} != {got!r:.600}")
        return got




@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> Iterator[Comparison]:
    comparison = Comparison()

    def patch() -> None:
        assert parsers.PROTOCOL_PARSERS["json"] is botocore_speedups.FastJSONParser
        monkeypatch.setattr(
            botocore_speedups.FastJSONParser,
            "parse",
            lambda self, response, shape: comparison.parse(self, response, shape),
        )

    with inprocess_stack(monkeypatch, patch):
        yield comparison
    assert parsers.PROTOCOL_PARSERS["json"] is parsers.JSONParser  # stop() puts botocore's back


def test_the_fast_parse_builds_what_botocores_parser_builds(compared: Comparison) -> None:
    job_life()

    assert not compared.mismatches, "\n".join(compared.mismatches[:5])
    for shape in ("GetItemOutput", "UpdateItemOutput", "QueryOutput", "GetRecordsOutput", "PutItemOutput"):
        assert compared.parsed[shape] > 0, (shape, compared.parsed)
