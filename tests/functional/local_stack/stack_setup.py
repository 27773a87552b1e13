"""The service's tables and queues on a fresh in-process moto (what `make dev` runs), with the
environment the handlers read, and a job's life to run on it, for tests that compare
local_stack's shortcuts with what they replace."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local_stack.inprocess_moto import InProcessMoto
from tests.conftest import ADMIN_KEY, JWT_SECRET, SHARED_MOCK, ApiClient, reset_process_caches


@contextlib.contextmanager
def inprocess_stack(
    monkeypatch: pytest.MonkeyPatch,
    patch: Callable[[], None] = lambda: None,
    direct_calls: bool = False,
) -> Iterator[None]:
    """The tests' shared mock stopped, an in-process moto started with every resource created, and
    the SPOOLED_ settings pointing at it; everything undone afterwards. `patch` runs first, so
    what it wraps sees the set-up's calls too. direct_calls: as `make dev` runs it."""
    import boto3

    from local_stack.resources import create_all

    SHARED_MOCK.stop()
    moto = InProcessMoto(direct_calls=direct_calls).start()
    try:
        patch()
        for name in [n for n in os.environ if n.startswith("SPOOLED_")]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("SPOOLED_ADMIN_KEY", ADMIN_KEY)
        monkeypatch.setenv("SPOOLED_JWT_SECRET", JWT_SECRET)
        reset_process_caches()
        for name, value in create_all(boto3.session.Session()).items():
            monkeypatch.setenv(name, value)
        reset_process_caches()
        yield
    finally:
        monkeypatch.undo()
        reset_process_caches()
        moto.stop(keep_data=False)


def job_life() -> None:
    """A job's life through the real handlers (create, compressed payload, bulk, claim, complete, a
    late ack losing its conditional write, fail, reads), items holding every kind of attribute
    value written, read, queried and updated, and the stream read to the end by the dispatcher and
    the live fan-out."""
    import boto3

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

    drain_stream()


def drain_stream() -> None:
    """Hand every new record of the jobs table's stream to both readers, as make dev's poller does."""
    from functions.dispatcher.handler import handle_stream
    from functions.live_updates.handler import handle_stream as live_updates
    from local_stack.stream_poller import StreamPoller
    from shared.plumbing.config import settings

    def both(records: list[dict[str, Any]]) -> None:
        handle_stream(records)
        live_updates(records)

    poller = StreamPoller(settings().table_name, both)
    while poller.poll_once():
        pass


def leaf_types(value: Any) -> Any:
    """The value's structure with each leaf's type: == alone takes 1 for True and [] for ()."""
    if isinstance(value, dict):
        return {key: leaf_types(item) for key, item in value.items()}
    if isinstance(value, list):
        return [leaf_types(item) for item in value]
    return type(value).__name__
