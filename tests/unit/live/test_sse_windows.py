"""The pure parts of server-sent events (docs/sse.md): positions, log entries, stream keys, frames."""

from __future__ import annotations

import json

from shared.live import event_log, sse
from shared.live.event_log import Position
from shared.live.events import Frame


def test_a_position_round_trips_through_its_event_id() -> None:
    position = Position("1767225600000#abc123#00", 4)
    assert Position.parse(str(position)) == position
    assert Position.parse(str(Position.at(1767225600000))) == Position("1767225600000~", -1)


def test_malformed_or_absent_ids_start_from_the_live_position() -> None:
    for text in (None, "", "abc", "12/x", "not-a-time/3", "17672256/1"):
        assert Position.parse(text) is None


def test_the_live_position_sorts_after_every_entry_written_in_that_millisecond() -> None:
    assert Position.at(1000).sk > f"{1000:013d}#zzzzzzzzzzzz#99"
    assert Position.at(1000).sk < f"{1001:013d}#000000000000#00"


def test_a_large_batch_is_split_into_entries_under_the_item_limit() -> None:
    big = {"blob": "x" * 100_000}
    frames = [Frame("JobCompleted", "job.completed", big, "org", "q", f"j{n}") for n in range(7)]
    parts = list(event_log._chunks(frames))
    assert len(parts) > 1
    assert all(len(part.encode()) <= event_log.MAX_ENTRY_BYTES + 110_000 for part in parts)
    rows = [row for part in parts for row in json.loads(part)]
    assert [row[4] for row in rows] == [f"j{n}" for n in range(7)]


def test_the_stream_key_ignores_credentials_and_positions() -> None:
    query = {"queue": "emails", "token": "sk_x", "last_event_id": "1/2", "events": "job.created"}
    assert sse.stream_key("/api/v1/events", query) == "/api/v1/events?events=job.created&queue=emails"
    assert sse.stream_key("/api/v1/events", {"api_key": "sk_x"}) == "/api/v1/events"


def test_a_window_renders_ids_dot_names_and_the_envelope() -> None:
    frame = Frame("JobCreated", "job.created", {"job_id": "j1"}, "org", "q", "j1")
    text = sse.render([("0000000001000#b#00/0", frame)], ("0000000002000~/-1", sse.health_frame(2000)))
    assert text.startswith(":connected\n\nretry: 1000\n\n")
    assert (
        'id: 0000000001000#b#00/0\nevent: job.created\ndata: {"type":"JobCreated","data":{"job_id":"j1"}}\n\n'
        in text
    )
    assert text.endswith("\n\n") and "event: system.health" in text
