"""Timer messages: what wakes the dispatcher at a due time, and the queue they travel on.

Three kinds (docs/timers.md):
- Wake {org, queue, due, timers?}: "this queue has timers due then". SQS holds it back with
  DelaySeconds (at most 900 s). When it arrives the dispatcher acts on the timers it names (each
  job read with a consistent read: a delay of a fraction of a second must not depend on the
  index having caught up), or, for lease ends, which it does not name, on every due timer of the
  queue found in the index (the lease is seconds old by then, and a heartbeat that moved it is
  seen there without reading the job). Acting is conditional transitions on what was read, so a
  wake that is late, duplicated or stale changes nothing. A wake never sends anything on.
- FarTimer {org, queue, job, timer_sk, due, hop}: one job's timer more than 900 s away. It is
  re-sent hop by hop (re-chaining); each hop is claimed in a small ledger item first, so a
  duplicated or retried delivery of a hop cannot fork the chain. The last hop becomes a Wake.
- LeaseCheck {org, queue, due, leases}: the lease ends of running jobs (which have no timers-index
  entry), named with their lease ids; see the class.

The port (MessageSender) has an SQS adapter and an in-memory one the tests drive with their clock.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from shared.plumbing import aws_clients
from shared.plumbing.clock import Clock

MAX_DELAY_SECONDS = 900  # SQS DelaySeconds limit
SQS_BATCH = 10  # SendMessageBatch entries per call


def due_ms_of(timer_sk: str) -> int:
    """The moment a timers-index sort key ("{zero-padded due_ms}#{id}") is due."""
    return int(timer_sk.split("#", 1)[0])


@dataclass(frozen=True)
class Wake:
    org_id: str
    queue: str
    due_ms: int
    timers: tuple[str, ...] = ()  # timer_sk values ({due}#{job_id}); empty: whatever the index holds

    def to_json(self) -> str:
        document: dict[str, object] = {
            "kind": "wake",
            "org": self.org_id,
            "queue": self.queue,
            "due": self.due_ms,
        }
        if self.timers:
            document["timers"] = list(self.timers)
        return json.dumps(document, separators=(",", ":"))


@dataclass(frozen=True)
class FarTimer:
    org_id: str
    queue: str
    job_id: str
    timer_sk: str  # the job's timer when armed; the chain is about this timer only
    hop: int = 0

    @property
    def due_ms(self) -> int:
        return due_ms_of(self.timer_sk)

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": "far",
                "org": self.org_id,
                "queue": self.queue,
                "job": self.job_id,
                "sk": self.timer_sk,
                "hop": self.hop,
            },
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class LeaseCheck:
    """"These leases end at due": (job_id, lease_id, lease_end_ms) of running jobs of one queue,
    armed from the stream when a claim or a heartbeat sets a lease end. When it arrives the
    dispatcher reads each job and recovers it only if that very lease is still on it and over; a
    lease a heartbeat extended was armed again by the heartbeat's own record. A check more than
    900 s ahead is re-sent until due, like a wake."""

    org_id: str
    queue: str
    due_ms: int
    leases: tuple[tuple[str, str, int], ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": "lease",
                "org": self.org_id,
                "queue": self.queue,
                "due": self.due_ms,
                "leases": [list(lease) for lease in self.leases],
            },
            separators=(",", ":"),
        )


TimerMessage = Wake | FarTimer | LeaseCheck


def decode(text: str) -> TimerMessage:
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError("not a timer message")
    kind = document.get("kind")
    if kind == "wake":
        timers = tuple(str(sk) for sk in document.get("timers", ()))
        return Wake(str(document["org"]), str(document["queue"]), int(document["due"]), timers)
    if kind == "far":
        return FarTimer(
            str(document["org"]),
            str(document["queue"]),
            str(document["job"]),
            str(document["sk"]),
            int(document["hop"]),
        )
    if kind == "lease":
        leases = tuple((str(job), str(lease), int(end)) for job, lease, end in document["leases"])
        return LeaseCheck(str(document["org"]), str(document["queue"]), int(document["due"]), leases)
    raise ValueError(f"not a timer message: kind {kind!r}")


# SQS delays are whole seconds. Rounding (due - now) to the nearest second would deliver up to
# 0.5 s late; shifting the rounding by LATE_BUDGET_MS delivers within [-0.75 s, +0.25 s] of due,
# and the dispatcher holds an early message until due. Lateness is what the rule counts ("at that
# second"); the price is ~0.25 s of dispatcher time per message on average.
LATE_BUDGET_MS = 250


def delay_seconds(due_ms: int, now_ms: int) -> int:
    """DelaySeconds for a message due at due_ms, capped at SQS's 900."""
    return max(0, min(MAX_DELAY_SECONDS, (due_ms - now_ms + LATE_BUDGET_MS) // 1000))


MAX_NAMED_TIMERS = 100  # a wake naming 100 timers is ~8 KB of JSON


def wakes(org_id: str, queue: str, timer_sks: Iterable[str], window_ms: int, named: bool) -> list[Wake]:
    """One wake per window of due times, at the latest due time in it: the timers of a window
    (a claim batch's leases, jobs scheduled for the same moment) share one message, and none
    is acted on more than window_ms after its due time because of the sharing."""
    windows: dict[int, list[str]] = {}
    for sk in timer_sks:
        windows.setdefault(due_ms_of(sk) // window_ms, []).append(sk)
    messages = []
    for _, sks in sorted(windows.items()):
        size = MAX_NAMED_TIMERS if named else len(sks)
        for chunk in (sks[start : start + size] for start in range(0, len(sks), size)):
            names = tuple(sorted(set(chunk))) if named else ()
            messages.append(Wake(org_id, queue, max(due_ms_of(sk) for sk in chunk), names))
    return messages


@dataclass(frozen=True)
class OutgoingMessage:
    body: str
    delay_seconds: int = 0


class MessageSender(Protocol):
    def send(self, messages: Sequence[OutgoingMessage]) -> None: ...


class SqsSender:
    """SendMessageBatch to one queue, ten entries per call; entries SQS rejects are sent again once,
    then reported as an error (the caller decides whether a lost timer is fatal: it never is, the
    sweep finds every timer in the index)."""

    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url

    def send(self, messages: Sequence[OutgoingMessage]) -> None:
        if not messages:
            return
        if not self.queue_url:
            raise RuntimeError("no queue URL configured (see shared/plumbing/schema.py for the variable)")
        sqs = aws_clients.client("sqs")
        for start in range(0, len(messages), SQS_BATCH):
            entries = [
                {"Id": str(i), "MessageBody": m.body, "DelaySeconds": m.delay_seconds}
                for i, m in enumerate(messages[start : start + SQS_BATCH])
            ]
            for _ in range(2):
                response = sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
                failed = {f["Id"] for f in response.get("Failed", [])}
                entries = [e for e in entries if e["Id"] in failed]
                if not entries:
                    break
            if entries:
                raise RuntimeError(f"SQS refused {len(entries)} message(s) to {self.queue_url}")


@dataclass
class InMemorySender:
    """A queue in memory with SQS's delay semantics, on the tests' clock."""

    clock: Clock
    pending: list[tuple[int, str]] = field(default_factory=list)  # (visible at ms, body)
    sent: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, messages: Sequence[OutgoingMessage]) -> None:
        now_ms = self.clock.now_ms()
        with self._lock:
            for message in messages:
                if not 0 <= message.delay_seconds <= MAX_DELAY_SECONDS:
                    raise ValueError(f"DelaySeconds {message.delay_seconds} is outside 0..900")
                self.pending.append((now_ms + message.delay_seconds * 1000, message.body))
                self.sent += 1

    def receive(self) -> list[str]:
        """Take every message visible now (what a poll of the queue would return)."""
        now_ms = self.clock.now_ms()
        with self._lock:
            visible = [body for at, body in self.pending if at <= now_ms]
            self.pending = [(at, body) for at, body in self.pending if at > now_ms]
        return visible

    def next_visible_ms(self) -> int | None:
        with self._lock:
            return min((at for at, _ in self.pending), default=None)


class TimerQueue:
    """Arms timer messages on a MessageSender, each delayed toward its due time."""

    def __init__(self, sender: MessageSender, clock: Clock) -> None:
        self.sender = sender
        self.clock = clock

    def arm(self, messages: Iterable[TimerMessage]) -> int:
        now_ms = self.clock.now_ms()
        outgoing = [OutgoingMessage(m.to_json(), delay_seconds(m.due_ms, now_ms)) for m in messages]
        if outgoing:
            self.sender.send(outgoing)
        return len(outgoing)
