"""Doorbells for the loops that stand in for AWS event sources in `make dev`.

On AWS the event source mappings poll for the functions; locally each poll is Python on the same
core as the API, so an idle stack that polls a few times a second burns a tenth of a core or more.
The in-process moto (inprocess_moto.py) sees every AWS call the stack makes, so it rings a bell
after each write, and a loop sleeps until its bell rings, a time it can compute (an SQS message's
delay or visibility timeout ending, an `at()` schedule coming due) or a long safety timeout.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

# A wake-up that no bell explains: nothing should need it, so it only bounds the cost of a bug.
SAFETY_SECONDS = 10.0
# Past the instant a message becomes visible: moto compares with ">" on milliseconds.
VISIBILITY_SLACK_SECONDS = 0.002
# The shortest sleep between polls of a queue, however soon a message is due: a message that moto
# reports receivable but a poll did not get (another reader had it) must not make a busy loop.
MIN_QUEUE_WAIT_SECONDS = 0.02

NextVisible = Callable[[str], float | None]  # queue URL → seconds until a message shows, or None


class Bell:
    """A wake-up that cannot be lost: a ring while nobody waits is kept for the next wait."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def ring(self) -> None:
        self._event.set()

    def wait(self, timeout: float) -> bool:
        """True when rung (now or since the last wait). Cleared after waking: a ring in between is
        covered because the caller polls right after, and the ring follows a completed write."""
        rung = self._event.wait(timeout)
        self._event.clear()
        return rung


@dataclass
class Wakeups:
    """One stack's bells; `next_visible` is wired by the in-process moto."""

    table: Bell = field(default_factory=Bell)  # any DynamoDB write: the stream has news
    schedules: Bell = field(default_factory=Bell)  # EventBridge Scheduler changes
    next_visible: NextVisible = lambda url: None
    writes: int = 0  # DynamoDB writes so far, for the sweep's "did anything happen"
    _queues: dict[str, Bell] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def queue(self, queue_url_or_name: str) -> Bell:
        name = queue_url_or_name.rstrip("/").rsplit("/", 1)[-1]
        with self._lock:
            return self._queues.setdefault(name, Bell())

    def table_written(self) -> None:
        self.writes += 1  # under the GIL; an off-by-one here only delays a sweep by a tick
        self.table.ring()

    def ring_all(self) -> None:
        """On stop: every sleeping loop wakes and sees the stop flag."""
        self.table.ring()
        self.schedules.ring()
        with self._lock:
            bells = list(self._queues.values())
        for bell in bells:
            bell.ring()

    def wait_for_queue(self, queue_url: str, limit: float = SAFETY_SECONDS) -> None:
        """Sleep until a message may be receivable from `queue_url`: a send to it, or the moment its
        next delayed or in-flight message becomes visible."""
        due = self.next_visible(queue_url)
        if due is None:
            timeout = limit
        else:
            timeout = min(limit, max(MIN_QUEUE_WAIT_SECONDS, due + VISIBILITY_SLACK_SECONDS))
        self.queue(queue_url).wait(timeout)
