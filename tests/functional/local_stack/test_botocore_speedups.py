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
from tests.conftest import ApiClient
from tests.functional.local_stack.stack_setup import inprocess_stack


class Comparison:
    def __init__(self) -> None:
        self.parsed = Counter[str]()
        self.mismatches: list[str] = []

    def parse(self, parser: Any, response: dict[str, Any], shape: Any) -> Any:
        got = parsers.ResponseParser.parse(parser, response, shape)  # the fast parser's own walk
        expected = parsers.JSONParser().parse(response, shape)
        name = getattr(shape, "name", "")
        self.parsed[name] += 1
        if got != expected or _types(got) != _types(expected):
            self.mismatches.append(f"{name}: {expected!r:.600} != {got!r:.600}")
        return got


def _types(value: Any) -> Any:
    """The value's structure with each leaf's type: == alone takes 1 for True and [] for ()."""
    if isinstance(value, dict):
        return {key: _types(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_types(item) for item in value]
    return type(value).__name__


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
    import boto3

    from functions.dispatcher.handler import handle_stream
    from functions.live_updates.handler import handle_stream as live_updates
    from local_stack.stream_poller import StreamPoller
    from shared.identity.credentials import mint_key
    from shared.identity.organizations import create_organization
    from shared.plumbing.config import settings

    created = create_organization("Parse", "parse", api_key=mint_key("development"))
    api = ApiClient(created.api_key["key"])
    jobs = "/api/v1/jobs"
    text = {"text": "é ü 😀", "n": 1.5, "l": [1, None]}
    assert api.post(jobs, {"queue_name": "q", "payload": text}).status == 201
    # Compressible: stored brotli-compressed, a binary attribute in the item and its stream records.
    assert api.post(jobs, {"queue_name": "q", "payload": {"data": "x" * 1000}}).status == 201
    bulk = api.post(f"{jobs}/bulk", {"queue_name": "q", "jobs": [{"payload": {"i": i}} for i in range(12)]})
    assert bulk.status in (200, 201), bulk
    claimed = api.post(f"{jobs}/claim", {"queue_name": "q", "worker_id": "w", "limit": 5}).json["jobs"]
    first, second, *_ = claimed
    lease = {"worker_id": "w", "lease_id": first["lease_id"]}
    assert api.post(f"{jobs}/{first['id']}/complete", {**lease, "result": {"ok": True}}).status == 200
    # A late ack: a lost conditional write, whose error carries the item (ALL_OLD).
    assert api.post(f"{jobs}/{first['id']}/complete", {**lease, "result": {"ok": True}}).status == 409
    failed = {"worker_id": "w", "lease_id": second["lease_id"], "error": "boom"}
    assert api.post(f"{jobs}/{second['id']}/fail", failed).status == 200
    assert api.get(f"{jobs}/{first['id']}").status == 200
    assert api.get(jobs, params={"queue_name": "q"}).status == 200

    # Every kind of attribute value, nested, and the empty forms.
    dynamodb = boto3.session.Session().client("dynamodb")
    table = settings().table_name
    every_kind = {
        "pk": {"S": "KINDS"},
        "sk": {"S": "1"},
        "s": {"S": ""},
        "n": {"N": "-1.5e3"},
        "b": {"B": b"\x00\xff"},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2.5"]},
        "bs": {"BS": [b"x", b"\x01"]},
        "null": {"NULL": True},
        "bool": {"BOOL": False},
        "m": {"M": {"inner": {"L": [{"S": "x"}, {"M": {}}, {"B": b"y"}]}, "B": {"N": "1"}}},
        "l": {"L": []},
    }
    dynamodb.put_item(TableName=table, Item=every_kind)
    dynamodb.get_item(TableName=table, Key={"pk": every_kind["pk"], "sk": every_kind["sk"]})
    dynamodb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "KINDS"}},
    )
    dynamodb.update_item(
        TableName=table,
        Key={"pk": every_kind["pk"], "sk": every_kind["sk"]},
        UpdateExpression="SET s = :s",
        ExpressionAttributeValues={":s": {"S": "set"}},
        ReturnValues="ALL_NEW",
    )

    def both(records: list[dict[str, Any]]) -> None:
        handle_stream(records)
        live_updates(records)

    poller = StreamPoller(settings().table_name, both)
    while poller.poll_once():
        pass

    assert not compared.mismatches, "\n".join(compared.mismatches[:5])
    for shape in ("GetItemOutput", "UpdateItemOutput", "QueryOutput", "GetRecordsOutput", "PutItemOutput"):
        assert compared.parsed[shape] > 0, (shape, compared.parsed)
