"""Which frames a live connection gets (key scope, `events`, subscriptions), and parsing what clients send."""

from __future__ import annotations

from typing import Any

import pytest

from shared.live.connections import (
    Command,
    Connection,
    InvalidCommand,
    Subscription,
    connect_filters,
    credential_changes,
    frame_matches,
    parse_command,
    parse_events,
)
from shared.live.events import Frame
from shared.plumbing import dynamo_codec
from shared.plumbing.errors import AccessDenied, ValidationFailed

ORG = "org-1"


def frame(
    event: str = "job.created", queue: str | None = "emails", job: str | None = "j1", org: str = ORG
) -> Frame:
    variant = {
        "job.created": "JobCreated",
        "queue.stats": "QueueStats",
        "worker.heartbeat": "WorkerHeartbeat",
    }
    return Frame(variant.get(event, "JobStatusChange"), event, {}, org, queue, job)


def conn(
    scope: tuple[str, ...] = ("*",),
    events: tuple[str, ...] = (),
    subs: tuple[Subscription, ...] = (),
) -> Connection:
    return Connection(
        "c1", ORG, "key-1", scope, valid_until_ms=10**15, events=frozenset(events), subscriptions=subs
    )


EMAILS = Subscription(queue="emails")
JOB_1 = Subscription(job_id="j1")


@pytest.mark.parametrize(
    ("frame", "connection", "wanted"),
    [
        # No filter, unrestricted key: everything of the organization except the opt-in queue.stats.
        (frame(), conn(), True),
        (frame(queue="reports"), conn(scope=()), True),
        (frame("worker.heartbeat", job=None), conn(), True),
        (frame("queue.stats", job=None), conn(), False),
        # Never another organization's frames, whatever the filters.
        (frame(org="org-2"), conn(), False),
        # A queue-scoped key: its queues only, and nothing that is not tied to a queue.
        (frame(queue="emails"), conn(scope=("emails",)), True),
        (frame(queue="reports"), conn(scope=("emails",)), False),
        (frame("worker.heartbeat", queue=None, job=None), conn(scope=("emails",)), False),
        (frame("worker.heartbeat", queue="emails", job=None), conn(scope=("emails",)), True),
        # A subscription to a queue outside the scope (refused at subscribe anyway) still sees nothing.
        (frame(queue="reports"), conn(scope=("emails",), subs=(Subscription("reports"),)), False),
        # `events`: dot names; "*" means all, and is how queue.stats is asked for along with the rest.
        (frame("job.created"), conn(events=("job.completed",)), False),
        (frame("job.completed"), conn(events=("job.completed",)), True),
        (frame("queue.stats", job=None), conn(events=("queue.stats",)), True),
        (frame("queue.stats", job=None), conn(events=("*",)), True),
        (frame("job.created"), conn(events=("*",)), True),
        # Subscriptions: any one of them; a field left out matches anything.
        (frame(queue="emails"), conn(subs=(EMAILS,)), True),
        (frame(queue="reports"), conn(subs=(EMAILS,)), False),
        (frame(queue="reports", job="j1"), conn(subs=(EMAILS, JOB_1)), True),
        (frame(queue="emails", job="j2"), conn(subs=(Subscription("emails", "j1"),)), False),
        (frame(queue="emails", job="j1"), conn(subs=(Subscription("emails", "j1"),)), True),
        # A queue subscription drops what has no queue; a job subscription what has no job.
        (frame("worker.heartbeat", queue=None, job=None), conn(subs=(EMAILS,)), False),
        (frame("queue.stats", job=None), conn(events=("queue.stats",), subs=(JOB_1,)), False),
        (frame("queue.stats", job=None), conn(events=("queue.stats",), subs=(EMAILS,)), True),
    ],
)
def test_frame_matches(frame: Frame, connection: Connection, wanted: bool) -> None:
    assert frame_matches(frame, connection) is wanted


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ('{"cmd":"subscribe","queue":"emails"}', Command("subscribe", "emails", None)),
        ('{"cmd":"Subscribe","queue":"emails","job_id":"j1"}', Command("subscribe", "emails", "j1")),
        ('{"cmd":"unsubscribe","job_id":"j1"}', Command("unsubscribe", None, "j1")),
        ('{"cmd":"Unsubscribe"}', Command("unsubscribe", None, None)),
        ('{"cmd":"ping"}', Command("ping")),
        ('{"cmd":"Ping"}', Command("ping")),
        ('{"cmd":"subscribe","queue":"","job_id":null}', Command("subscribe", None, None)),
    ],
)
def test_parse_command(text: str, command: Command) -> None:
    assert parse_command(text) == command


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ping",
        "[]",
        '{"type":"subscribe"}',
        '{"cmd":"shutdown"}',
        '{"cmd":"subscribe","queue":5}',
        '{"cmd":1}',
    ],
)
def test_parse_command_refuses(text: str) -> None:
    with pytest.raises(InvalidCommand):
        parse_command(text)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (None, frozenset()),
        ("", frozenset()),
        ("job.created", frozenset({"job.created"})),
        (" Job.Created , job.completed,", frozenset({"job.created", "job.completed"})),
        # The SDK's name for job.status is accepted.
        ("job.status_changed", frozenset({"job.status"})),
        ("*", frozenset({"*"})),
    ],
)
def test_parse_events(text: str | None, names: frozenset[str]) -> None:
    assert parse_events(text) == names


def test_unknown_event_names_are_refused() -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_events("job.created,job.exploded")
    assert "job.exploded" in refused.value.message


@pytest.mark.parametrize(
    ("query", "scope", "subscription"),
    [
        ({}, ("*",), None),
        ({"queue": "emails"}, ("*",), Subscription("emails")),
        ({"queue": "emails", "job_id": "j-1"}, ("emails",), Subscription("emails", "j-1")),
        ({"job_id": "j-1"}, ("emails",), Subscription(None, "j-1")),
        ({"queue": ""}, (), None),
    ],
)
def test_connect_filters(
    query: dict[str, str], scope: tuple[str, ...], subscription: Subscription | None
) -> None:
    assert connect_filters(query, scope)[0] == subscription


@pytest.mark.parametrize(
    ("query", "scope", "error"),
    [
        ({"queue": "reports"}, ("emails",), AccessDenied),
        ({"queue": "bad queue!"}, ("*",), ValidationFailed),
        ({"queue": "x" * 101}, ("*",), ValidationFailed),
        ({"job_id": "../etc"}, ("*",), ValidationFailed),
        ({"events": "nope"}, ("*",), ValidationFailed),
    ],
)
def test_connect_filters_refuse(
    query: dict[str, str], scope: tuple[str, ...], error: type[Exception]
) -> None:
    with pytest.raises(error):
        connect_filters(query, scope)


def key_record(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    keys = {"pk": "APIKEY#abc", "sk": "APIKEY"}
    change: dict[str, Any] = {"Keys": dynamo_codec.encode_item(keys)}
    if old is not None:
        change["OldImage"] = dynamo_codec.encode_item({**keys, **old})
    if new is not None:
        change["NewImage"] = dynamo_codec.encode_item({**keys, **new})
    return {"dynamodb": change}


KEY = {"org_id": ORG, "id": "key-1", "is_active": True, "queues": ["emails"]}


@pytest.mark.parametrize(
    ("old", "new", "changed"),
    [
        (KEY, {**KEY, "is_active": False}, {ORG: {"key-1"}}),
        (KEY, None, {ORG: {"key-1"}}),
        (KEY, {**KEY, "queues": ["emails", "reports"]}, {ORG: {"key-1"}}),
        # Unchanged scope (another order), a touch of last_used, a new key, a reactivation: nothing.
        ({**KEY, "queues": ["a", "b"]}, {**KEY, "queues": ["b", "a"]}, {}),
        (KEY, {**KEY, "last_used": 5}, {}),
        (None, KEY, {}),
        ({**KEY, "is_active": False}, KEY, {}),
    ],
)
def test_credential_changes(
    old: dict[str, Any] | None, new: dict[str, Any] | None, changed: dict[str, set[str]]
) -> None:
    assert credential_changes([key_record(old, new)]) == changed
