"""The small builder every expression module uses: SET/REMOVE/ADD clauses and a condition, with a
placeholder name for every attribute, turned into the keyword arguments of one UpdateItem call."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.plumbing import dynamo_codec


class Update:
    """Collects SET/REMOVE/ADD clauses and a condition with placeholder names for every attribute."""

    def __init__(self) -> None:
        self.sets: list[str] = []
        self.removes: list[str] = []
        self.adds: list[str] = []
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self.conditions: list[str] = []

    def n(self, attribute: str) -> str:
        placeholder = f"#{attribute}"
        self.names[placeholder] = attribute
        return placeholder

    def v(self, name: str, value: Any) -> str:
        placeholder = f":{name}"
        self.values[placeholder] = value
        return placeholder

    def set(self, attribute: str, value: Any) -> Update:
        if value is None:
            return self.remove(attribute)
        self.sets.append(f"{self.n(attribute)} = {self.v(attribute, value)}")
        return self

    def remove(self, *attributes: str) -> Update:
        self.removes.extend(self.n(a) for a in attributes)
        return self

    def bump_version(self) -> Update:
        self.adds.append(f"{self.n('version')} {self.v('one', 1)}")
        return self

    def append_event(self, *event: dict[str, Any]) -> Update:
        # History lives in the job item: no extra write per transition (see docs/architecture.md).
        events, empty, new = self.n("events"), self.v("empty", []), self.v("event", list(event))
        self.sets.append(f"{events} = list_append(if_not_exists({events}, {empty}), {new})")
        return self

    def status_in(self, statuses: Iterable[str]) -> Update:
        placeholders = [self.v(f"from_{s}", str(s)) for s in sorted(statuses)]
        self.conditions.append(f"{self.n('status')} IN ({', '.join(placeholders)})")
        return self

    def condition(self, text: str) -> Update:
        self.conditions.append(text)
        return self

    def build(self, table: str, key: dict[str, Any]) -> dict[str, Any]:
        parts = []
        if self.sets:
            parts.append("SET " + ", ".join(self.sets))
        if self.removes:
            parts.append("REMOVE " + ", ".join(self.removes))
        if self.adds:
            parts.append("ADD " + ", ".join(self.adds))
        args: dict[str, Any] = {
            "TableName": table,
            "Key": key,
            "UpdateExpression": " ".join(parts),
            "ExpressionAttributeNames": self.names,
        }
        if self.values:
            args["ExpressionAttributeValues"] = dynamo_codec.encode_values(self.values)
        if self.conditions:
            args["ConditionExpression"] = " AND ".join(f"({c})" for c in self.conditions)
        return args


def history_event(now_ms: int, kind: str, worker_id: str | None = None, **details: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"t": now_ms, "e": kind}
    if worker_id:
        event["w"] = worker_id
    if details:
        event["d"] = {k: v for k, v in details.items() if v is not None}
    return event
