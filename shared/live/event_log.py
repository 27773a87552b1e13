"""The per-organization event log that server-sent events read (docs/sse.md).

The live fan-out (shared/live/fanout.py) appends each stream batch's frames for an organization as
ONE item (`LIVELOG#{org}`, sort key `{written_ms:013d}#{batch}`, a TTL of minutes), not one item
per event. An SSE request reads the entries after its position with a consistent Query of that
partition. A position is `{sort key}/{index of the last frame seen in that entry}`; it is the SSE
`id:` of every event, so `Last-Event-ID` resumes exactly where a client stopped.

Readers stay SETTLE_MS behind the clock: two stream shards may append concurrently, and an entry
stamped at T is only visible once its PutItem lands (milliseconds later). Reading no later than
`now - SETTLE_MS` means no entry can appear behind a position already handed out.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.live import expressions as ex
from shared.live.events import Frame
from shared.plumbing import aws_clients, dynamo_codec
from shared.plumbing.clock import Clock, SystemClock
from shared.plumbing.config import settings

SETTLE_MS = 500
LOG_TTL_SECONDS = 15 * 60  # a client that was away longer starts from the live position
MAX_ENTRY_BYTES = 300 * 1024  # DynamoDB items stop at 400 KB; a bigger batch is split
RESUME_TTL_SECONDS = 120


@dataclass(frozen=True)
class Position:
    sk: str  # entry sort key, or a bare `{ms:013d}~` for "everything written after ms"
    index: int = -1  # last frame seen in that entry; -1 = none of it

    def __str__(self) -> str:
        return f"{self.sk}/{self.index}"

    @staticmethod
    def at(ms: int) -> Position:
        return Position(f"{max(0, ms):013d}~")

    @staticmethod
    def parse(text: str | None) -> Position | None:
        """None for an absent or malformed id (the caller then starts from the live position)."""
        if not text or "/" not in text:
            return None
        sk, _, index = text.strip().rpartition("/")
        if len(sk) < 13 or not sk[:13].isdigit() or not index.lstrip("-").isdigit():
            return None
        return Position(sk, int(index))


def _encode(frame: Frame) -> list[Any]:
    return [frame.type, frame.event, frame.data, frame.queue_name, frame.job_id]


def _decode(org_id: str, row: list[Any]) -> Frame:
    variant, event, data, queue, job_id = row
    return Frame(variant, event, data, org_id, queue, job_id)


def _chunks(frames: list[Frame]) -> Iterable[str]:
    rows: list[str] = []
    size = 0
    for frame in frames:
        row = json.dumps(_encode(frame), separators=(",", ":"), ensure_ascii=False)
        if rows and size + len(row.encode("utf-8")) > MAX_ENTRY_BYTES:
            yield "[" + ",".join(rows) + "]"
            rows, size = [], 0
        rows.append(row)
        size += len(row.encode("utf-8")) + 1
    if rows:
        yield "[" + ",".join(rows) + "]"


class EventLog:
    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self.table = settings().table_name

    @property
    def _db(self) -> Any:
        return aws_clients.client("dynamodb")

    def append(self, org_id: str, frames: list[Frame]) -> int:
        """One PutItem per organization and batch (more only past MAX_ENTRY_BYTES); returns writes."""
        if not frames:
            return 0
        now_ms = self.clock.now_ms()
        batch = uuid.uuid4().hex[:12]
        writes = 0
        for part, body in enumerate(_chunks(frames)):
            sk = f"{now_ms:013d}#{batch}#{part:02d}"
            self._db.put_item(
                **ex.put_log_entry(self.table, org_id, sk, body, now_ms // 1000 + LOG_TTL_SECONDS)
            )
            writes += 1
        return writes

    def horizon(self) -> int:
        return self.clock.now_ms() - SETTLE_MS

    def read(self, org_id: str, after: Position, horizon_ms: int) -> tuple[list[tuple[str, Frame]], Position]:
        """Frames after `after` written no later than horizon_ms, each with its id, and the position
        to read from next (past everything up to the horizon, even when nothing was there)."""
        found: list[tuple[str, Frame]] = []
        last = after
        to_sk = f"{horizon_ms:013d}~"
        if after.sk > to_sk:
            return found, after
        args = ex.query_log(self.table, org_id, after.sk, to_sk)
        while True:
            response = self._db.query(**args)
            for item in response.get("Items", []):
                entry = dynamo_codec.decode_item(item)
                rows = json.loads(entry["frames"])
                for index, row in enumerate(rows):
                    if entry["sk"] == after.sk and index <= after.index:
                        continue
                    found.append((f"{entry['sk']}/{index}", _decode(org_id, row)))
                last = Position(entry["sk"], len(rows) - 1)
            if "LastEvaluatedKey" not in response:
                break
            args = ex.query_log(self.table, org_id, after.sk, to_sk, response["LastEvaluatedKey"])
        live = Position.at(horizon_ms)
        return found, live if live.sk > last.sk else last

    # --- a resume point for clients that never send Last-Event-ID (the SDK 1.6.0 SSE client) ----

    def saved_position(self, credential: str, stream: str) -> Position | None:
        item = self._db.get_item(**ex.get_resume(self.table, credential, stream)).get("Item")
        return Position.parse(dynamo_codec.decode_item(item).get("position")) if item else None

    def save_position(self, credential: str, stream: str, position: Position) -> None:
        expires = self.clock.now_ms() // 1000 + RESUME_TTL_SECONDS
        self._db.put_item(**ex.put_resume(self.table, credential, stream, str(position), expires))

    def forget_position(self, credential: str, stream: str) -> None:
        self._db.delete_item(TableName=self.table, Key=ex.resume_key(credential, stream))
