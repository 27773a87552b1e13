"""Live-update connections: who is connected, what each one asked to see, and what its key may see.

A connection is made by `$connect` (authenticated exactly like the REST API, with the credential in
`?token=` because browsers cannot set headers), changed by the client's commands on `$default`
(`subscribe`, `unsubscribe`, `ping`) and removed by `$disconnect` or when the fan-out finds it gone.
Matching a frame against a connection (`frame_matches`) is pure and table-tested.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.identity.credentials import AuthContext
from shared.live import expressions as ex
from shared.live.events import EVENT_ALIASES, EVENT_NAMES, Frame, error_frame, ping_frame
from shared.plumbing import aws_clients, dynamo_codec
from shared.plumbing.aws_clients import error_code, is_conditional_failure
from shared.plumbing.clock import Clock, SystemClock
from shared.plumbing.config import settings
from shared.plumbing.errors import AccessDenied, QuotaExceeded, ValidationFailed

MAX_CONNECTION_SECONDS = 2 * 60 * 60  # API Gateway closes every WebSocket connection after 2 h
MAX_CONNECTIONS_PER_ORG = 100  # as the reference server; counted at $connect
MAX_SUBSCRIPTIONS = 50  # per connection
_QUEUE_FILTER = re.compile(r"^[A-Za-z0-9_.*\-]{1,100}$")
_JOB_ID = re.compile(r"^[A-Za-z0-9_\-]{1,100}$")


@dataclass(frozen=True)
class Subscription:
    """Frames of one queue, one job, or both (an absent field matches anything)."""

    queue: str | None = None
    job_id: str | None = None

    def encode(self) -> str:
        return json.dumps([self.queue, self.job_id], separators=(",", ":"))

    @staticmethod
    def decode(text: str) -> Subscription:
        queue, job_id = json.loads(text)
        return Subscription(queue, job_id)

    def matches(self, frame: Frame) -> bool:
        if self.queue is not None and self.queue != frame.queue_name:
            return False
        return self.job_id is None or self.job_id == frame.job_id


@dataclass(frozen=True)
class Connection:
    connection_id: str
    org_id: str
    api_key_id: str
    scope: tuple[str, ...]  # the key's queues; empty or "*" = every queue
    valid_until_ms: int
    events: frozenset[str] = frozenset()  # dot names; empty = every event except queue.stats
    subscriptions: tuple[Subscription, ...] = ()  # none = the whole organization
    family: str | None = None  # the login (token family) of a connection opened with a JWT

    @property
    def credentials(self) -> set[str]:
        """What revoking closes this connection: its API key, and its login if it has one."""
        return {self.api_key_id, *((family_marker(self.family),) if self.family else ())}

    @property
    def unrestricted(self) -> bool:
        return not self.scope or "*" in self.scope

    def wants(self, frame: Frame) -> bool:
        return frame_matches(frame, self)

    @staticmethod
    def from_item(item: Mapping[str, Any]) -> Connection:
        return Connection(
            connection_id=item["connection_id"],
            org_id=item["org_id"],
            api_key_id=item.get("api_key_id", ""),
            scope=tuple(item.get("scope") or ()),
            valid_until_ms=int(item.get("valid_until") or 0),
            events=frozenset(item.get("events") or ()),
            subscriptions=tuple(sorted((Subscription.decode(s) for s in item.get("subs") or ()), key=repr)),
            family=item.get("family") or None,
        )


def frame_matches(frame: Frame, connection: Connection) -> bool:
    """Scope first (a queue-scoped key never sees another queue, nor anything not tied to a queue),
    then the `events` filter, then the subscriptions (any one of them)."""
    if frame.org_id and frame.org_id != connection.org_id:
        return False
    if not connection.unrestricted and (frame.queue_name is None or frame.queue_name not in connection.scope):
        return False
    if connection.events and frame.event not in connection.events and "*" not in connection.events:
        return False
    if frame.event == "queue.stats" and not connection.events:
        # Opt-in: one more message per queue per stream batch, which most clients never read.
        return False
    return not connection.subscriptions or any(s.matches(frame) for s in connection.subscriptions)


# --- parsing what the client sends ---------------------------------------------------------


def _checked_queue(queue: str | None, ctx_scope: tuple[str, ...], field_name: str) -> str | None:
    if queue is None or queue == "":
        return None
    if not _QUEUE_FILTER.fullmatch(queue):
        raise ValidationFailed(
            "Queue filter contains invalid characters",
            details=[{"field": field_name, "message": "Invalid queue name", "code": "invalid_format"}],
        )
    if ctx_scope and "*" not in ctx_scope and queue not in ctx_scope:
        raise AccessDenied("Queue is outside API key scope")
    return queue


def _checked_job_id(job_id: str | None, field_name: str) -> str | None:
    if job_id is None or job_id == "":
        return None
    if not _JOB_ID.fullmatch(job_id):
        raise ValidationFailed(
            "Invalid job id filter",
            details=[{"field": field_name, "message": "Invalid job id", "code": "invalid_format"}],
        )
    return job_id


def parse_events(text: str | None) -> frozenset[str]:
    if not text:
        return frozenset()
    names = {EVENT_ALIASES.get(n, n) for n in (part.strip().lower() for part in text.split(",")) if n}
    unknown = sorted(names - set(EVENT_NAMES) - {"*"})
    if unknown:
        raise ValidationFailed(
            f"Unknown event names: {', '.join(unknown)}",
            details=[
                {"field": "events", "message": f"Valid names: {', '.join(EVENT_NAMES)}", "code": "invalid"}
            ],
        )
    return frozenset(names)


def connect_filters(
    query: Mapping[str, str], scope: tuple[str, ...]
) -> tuple[Subscription | None, frozenset[str]]:
    """`?queue=&job_id=&events=`: the first subscription and the event filter (400 / 403 on refusal)."""
    queue = _checked_queue(query.get("queue"), scope, "queue")
    job_id = _checked_job_id(query.get("job_id"), "job_id")
    events = parse_events(query.get("events"))
    subscription = Subscription(queue, job_id) if queue or job_id else None
    return subscription, events


@dataclass(frozen=True)
class Command:
    cmd: str  # subscribe | unsubscribe | ping
    queue: str | None = None
    job_id: str | None = None


class InvalidCommand(ValueError):
    pass


def parse_command(text: str) -> Command:
    """`{"cmd": "subscribe", "queue": ..., "job_id": ...}`; the SDK sends lower case, the reference's
    enum reads PascalCase: both are accepted."""
    try:
        body = json.loads(text)
    except ValueError:
        raise InvalidCommand('Commands are JSON objects like {"cmd":"ping"}') from None
    if not isinstance(body, dict) or not isinstance(body.get("cmd"), str):
        raise InvalidCommand('Commands are JSON objects like {"cmd":"ping"}')
    cmd = body["cmd"].lower()
    if cmd not in ("subscribe", "unsubscribe", "ping"):
        raise InvalidCommand(f"Unknown command {body['cmd'][:40]!r}: use subscribe, unsubscribe or ping")
    queue, job_id = body.get("queue"), body.get("job_id")
    if not isinstance(queue, str | None) or not isinstance(job_id, str | None):
        raise InvalidCommand("queue and job_id are strings")
    return Command(cmd, queue or None, job_id or None)


# --- keys that changed under open connections ------------------------------------------------


def family_marker(family: str) -> str:
    return f"family:{family}"


def credential_changes(records: Iterable[dict[str, Any]]) -> dict[str, set[str]]:
    """org id → ids of API keys revoked, deleted or re-scoped in these stream records, and markers
    of logins (token families) revoked by a logout or a reused refresh token. Their connections
    are closed: a client that reconnects gets its key's new scope, or a 401 (issue 12, finding 5:
    a socket opened with a JWT outlived the logout)."""
    changed: dict[str, set[str]] = {}
    for record in records:
        change = record.get("dynamodb", {})
        keys = change.get("Keys") or {}
        pk = keys.get("pk", {}).get("S", "")
        old = dynamo_codec.decode_item(change.get("OldImage") or {})
        new = dynamo_codec.decode_item(change.get("NewImage") or {})
        if pk.startswith("RFAM#"):
            if new.get("revoked_at") and not old.get("revoked_at") and new.get("org_id"):
                changed.setdefault(new["org_id"], set()).add(family_marker(pk.split("#", 1)[1]))
            continue
        if not pk.startswith("APIKEY#"):
            continue
        if not old:
            continue  # a new key has no connections yet
        revoked = not new or not new.get("is_active", True)
        rescoped = sorted(old.get("queues") or ["*"]) != sorted(new.get("queues") or ["*"])
        if (revoked or rescoped) and old.get("is_active", True) and old.get("org_id") and old.get("id"):
            changed.setdefault(old["org_id"], set()).add(old["id"])
    return changed


# --- the registry ----------------------------------------------------------------------------


@dataclass
class LiveConnections:
    table: str = field(default_factory=lambda: settings().table_name)
    clock: Clock = field(default_factory=SystemClock)

    @property
    def _db(self) -> Any:
        return aws_clients.client("dynamodb")

    def connect(self, ctx: AuthContext, connection_id: str, query: Mapping[str, str]) -> Connection:
        subscription, events = connect_filters(query, ctx.queues)
        now_ms = self.clock.now_ms()
        live = self._db.query(**ex.count_live_connections(self.table, ctx.org_id, now_ms)).get("Count", 0)
        if live >= MAX_CONNECTIONS_PER_ORG:
            # Counted, not reserved: two simultaneous connects may both pass the last slot. A soft
            # cap against runaway clients, not a billing limit.
            raise QuotaExceeded(
                "Too many WebSocket connections",
                error="limit_exceeded",
                resource="websocket_connections",
                current=live,
                limit=MAX_CONNECTIONS_PER_ORG,
            )
        valid_until = now_ms + MAX_CONNECTION_SECONDS * 1000
        if ctx.token is not None:
            valid_until = min(valid_until, ctx.token.exp * 1000)  # a JWT does not outlive itself here
        connection = Connection(
            connection_id=connection_id,
            org_id=ctx.org_id,
            api_key_id=ctx.api_key_id,
            scope=tuple(ctx.queues),
            valid_until_ms=valid_until,
            events=events,
            subscriptions=(subscription,) if subscription else (),
            family=ctx.token.fam if ctx.token is not None else None,
        )
        item = {
            "connection_id": connection_id,
            "org_id": ctx.org_id,
            "api_key_id": ctx.api_key_id,
            "scope": list(ctx.queues),
            "events": sorted(events) or None,
            "connected_at": now_ms,
            "valid_until": valid_until,
            "family": connection.family,
        }
        subs = [subscription.encode()] if subscription else []
        args = ex.put_connection(self.table, ctx.org_id, connection_id, item, subs, valid_until // 1000 + 60)
        try:
            self._db.transact_write_items(**args)
        except Exception as error:
            reasons = getattr(error, "response", {}).get("CancellationReasons") or [{}]
            replayed = all(r.get("Code") in ("ConditionalCheckFailed", "None") for r in reasons)
            if error_code(error) != "TransactionCanceledException" or not replayed:
                raise
            # The same $connect delivered twice: the first one's items stand.
        return connection

    def _pointer(self, connection_id: str) -> dict[str, Any] | None:
        found = self._db.get_item(**ex.get_pointer(self.table, connection_id))
        return dynamo_codec.decode_item(found["Item"]) if "Item" in found else None

    def _connection(self, org_id: str, connection_id: str) -> Connection | None:
        found = self._db.get_item(**ex.get_connection(self.table, org_id, connection_id))
        return Connection.from_item(dynamo_codec.decode_item(found["Item"])) if "Item" in found else None

    def command(self, connection_id: str, text: str) -> Frame | None:
        """A client command; returns the frame to send back (Ping for ping, Error for a refused
        command), or None: the protocol acknowledges neither subscribe nor unsubscribe."""
        now_ms = self.clock.now_ms()
        try:
            command = parse_command(text)
        except InvalidCommand as error:
            return error_frame(str(error), now_ms)
        if command.cmd == "ping":
            return ping_frame(now_ms)
        pointer = self._pointer(connection_id)
        connection = self._connection(pointer["org_id"], connection_id) if pointer else None
        if connection is None:
            return error_frame("This connection is closing; connect again", now_ms)
        try:
            queue = _checked_queue(command.queue, connection.scope, "queue")
            job_id = _checked_job_id(command.job_id, "job_id")
        except (ValidationFailed, AccessDenied) as refused:
            return error_frame(refused.message, now_ms)
        if command.cmd == "subscribe":
            return self._subscribe(connection, Subscription(queue, job_id), now_ms)
        whole = None if queue is None and job_id is None else Subscription(queue, job_id).encode()
        try:
            self._db.update_item(
                **ex.remove_subscription(self.table, connection.org_id, connection_id, whole)
            )
        except Exception as error:
            if not is_conditional_failure(error):
                raise
        return None

    def _subscribe(self, connection: Connection, subscription: Subscription, now_ms: int) -> Frame | None:
        if subscription.queue is None and subscription.job_id is None:
            return error_frame("subscribe needs a queue or a job_id", now_ms)
        args = ex.add_subscription(
            self.table, connection.org_id, connection.connection_id, subscription.encode(), MAX_SUBSCRIPTIONS
        )
        try:
            self._db.update_item(**args)
        except Exception as error:
            if not is_conditional_failure(error):
                raise
            if "Item" in getattr(error, "response", {}):
                return error_frame(f"At most {MAX_SUBSCRIPTIONS} subscriptions per connection", now_ms)
            return error_frame("This connection is closing; connect again", now_ms)
        return None

    def disconnect(self, connection_id: str) -> None:
        pointer = self._pointer(connection_id)
        if pointer is not None:
            self.remove(pointer["org_id"], connection_id)

    def remove(self, org_id: str, connection_id: str) -> None:
        # The connection item first: from then on no fan-out lists it.
        self._db.delete_item(**ex.delete_connection(self.table, org_id, connection_id))
        self._db.delete_item(**ex.delete_pointer(self.table, connection_id))

    def for_org(self, org_id: str) -> list[Connection]:
        connections: list[Connection] = []
        args = ex.query_connections(self.table, org_id)
        while True:
            response = self._db.query(**args)
            connections.extend(Connection.from_item(dynamo_codec.decode_item(i)) for i in response["Items"])
            if "LastEvaluatedKey" not in response:
                return connections
            args = ex.query_connections(self.table, org_id, response["LastEvaluatedKey"])
