"""With the official SDK against `make dev`: a queue is listed as soon as its first create returns,
before the stream has delivered anything about it (issue 11)."""

from __future__ import annotations

from typing import Any


def test_a_new_queue_is_listed_right_after_its_first_create(client: Any, queue_name: str) -> None:
    assert queue_name not in {q.queue_name for q in client.queues.list()}
    client.jobs.create({"queue_name": queue_name, "payload": {"v": 1}})
    # No waiting: the registry is written by the create itself, not by the stream.
    assert queue_name in {q.queue_name for q in client.queues.list()}
    assert client.queues.get(queue_name).queue_name == queue_name
