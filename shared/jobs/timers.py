"""Job timers: which changes arm a timer message, what a message does when it fires, and the sweep.

Arming happens from the table's stream, not in the API: every write that gives a job a new timer
(create with scheduled_at or expires_at, fail into backoff, lease recovery, promotion of a job that
still has an expires_at ahead) shows up as a stream record whose new image has another timer_sk
than the old one, and every write that gives a running job a new lease end (claim, heartbeat) as
one whose lease_expires_at or lease_id changed. One place arms them all, in batches, off the
request path; a transition added later gets its timer without knowing about SQS.

A timer due within SQS's 900 s becomes a Wake naming it (timers due close together share one);
one further away becomes a FarTimer chain that ends in a Wake. A lease end becomes a LeaseCheck
(a claim batch's leases share one). Acting is a conditional transition on what the job item says
now, so any number of messages for the same moment, stale or duplicated, move each job once.

Waiting jobs (delays, backoffs, expiries) also sit in the timers index, so the sweep (every
minute on AWS) is the safety net for their messages. Running jobs do not (a claim and a
completion would cost two index writes): their lease checks are armed from a stream that retries
a failed batch until it succeeds, carried by SQS (durable; a message that fails five times lands in
the dispatch dead-letter queue, whose alarm pages), and a worker that goes offline has its jobs
released from its `leases` map (shared/jobs/expressions/queues.py, settle_worker). docs/timers.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from shared.jobs import expressions as ex
from shared.jobs.states import JobStatus
from shared.jobs.store import JobStore
from shared.plumbing import schema
from shared.plumbing.timer_queue import (
    MAX_DELAY_SECONDS,
    MAX_NAMED_TIMERS,
    FarTimer,
    LeaseCheck,
    TimerMessage,
    Wake,
    due_ms_of,
    wakes,
)

# A wake arrives up to 0.75 s early (SQS delays are whole seconds; see timer_queue.LATE_BUDGET_MS)
# and is held until due; a re-send could only land a whole second later.
MAX_EARLY_WAIT_MS = 1000
FAR_MS = MAX_DELAY_SECONDS * 1000
# Timers due within one window share a wake (due at the latest of them). Delays, backoffs and
# expiries are kept to a tenth of a second; lease ends, which only need "within a second or so of
# the lease end", to a second, so that a claim batch (its leases end over a few hundred ms) arms
# one lease check.
WAKE_WINDOW_MS = 100
LEASE_WAKE_WINDOW_MS = 1000
# Every CHECK_EVERY_HOPS-th hop (~4 h) of a chain reads the job, so that the chain of a cancelled
# or rescheduled job stops: a three-week delay costs ~2,000 hops but only ~130 job reads.
CHECK_EVERY_HOPS = 16
# The hop ledger outlives its chain by a day, then TTL removes it.
LEDGER_GRACE_SECONDS = 86_400

Sleep = Callable[[float], None]


def changed_timer(old: dict[str, Any] | None, new: dict[str, Any] | None) -> str | None:
    """The timer_sk a change of a job item arms, or None (no timer, or the same one as before)."""
    if new is None or "timer_sk" not in new:
        return None
    unchanged = (
        old is not None
        and old.get("timer_sk") == new["timer_sk"]
        and old.get("status") == new.get("status")
        and old.get("lease_id") == new.get("lease_id")
    )
    # The same due time in a new state is armed again: a fail whose backoff ends at the very
    # millisecond the lease would have was never armed as a backoff.
    return None if unchanged else str(new["timer_sk"])


def _lease_to_check(old: dict[str, Any] | None, new: dict[str, Any] | None) -> tuple[str, str, int] | None:
    """(job, lease, end) when a write gave a running job a lease end it did not have: a claim, a
    heartbeat (a new end), a Lambda worker's lease. A running job has no timers-index entry, so
    this message is the only thing that recovers it if its worker goes silent."""
    if new is None or new.get("status") != JobStatus.PROCESSING or "lease_expires_at" not in new:
        return None
    lease = (str(new["id"]), str(new.get("lease_id", "")), int(new["lease_expires_at"]))
    unchanged = (
        old is not None
        and old.get("status") == JobStatus.PROCESSING
        and (old.get("lease_id"), old.get("lease_expires_at")) == (lease[1], lease[2])
    )
    return None if unchanged else lease


def timers_to_arm(records: Iterable[dict[str, Any]], now_ms: int) -> list[TimerMessage]:
    """The timer messages a batch of stream records calls for."""
    near: dict[tuple[str, str], list[str]] = defaultdict(list)
    leases: dict[tuple[str, str], list[tuple[str, str, int]]] = defaultdict(list)
    far: list[TimerMessage] = []
    for record in records:
        change = record.get("dynamodb", {})
        old, new = ex.decoded_job_image(change.get("OldImage")), ex.decoded_job_image(change.get("NewImage"))
        lease = _lease_to_check(old, new)
        if lease is not None and new is not None:
            leases[(new["org_id"], new["queue_name"])].append(lease)
        timer_sk = changed_timer(old, new)
        if timer_sk is None or new is None:
            continue
        if due_ms_of(timer_sk) - now_ms > FAR_MS:
            far.append(FarTimer(new["org_id"], new["queue_name"], new["id"], timer_sk))
        else:
            near[(new["org_id"], new["queue_name"])].append(timer_sk)
    messages: list[TimerMessage] = []
    for (org_id, queue), timer_sks in near.items():
        messages.extend(wakes(org_id, queue, timer_sks, WAKE_WINDOW_MS, named=True))
    for (org_id, queue), ends in leases.items():
        messages.extend(lease_checks(org_id, queue, ends))
    return messages + far


def lease_checks(org_id: str, queue: str, leases: Iterable[tuple[str, str, int]]) -> list[LeaseCheck]:
    """One check per second of lease ends (due at the latest of them), at most 100 leases each."""
    windows: dict[int, list[tuple[str, str, int]]] = {}
    for lease in leases:
        windows.setdefault(lease[2] // LEASE_WAKE_WINDOW_MS, []).append(lease)
    checks = []
    for _, window in sorted(windows.items()):
        for start in range(0, len(window), MAX_NAMED_TIMERS):
            chunk = tuple(sorted(set(window[start : start + MAX_NAMED_TIMERS])))
            checks.append(LeaseCheck(org_id, queue, max(end for _, _, end in chunk), chunk))
    return checks


def queues_to_pump(records: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    """Queues where a stream batch made a job claimable or ended a job's processing: if the queue
    has a Lambda worker, it may have work to start and a slot to start it in."""
    queues: dict[tuple[str, str], None] = {}
    for record in records:
        change = record.get("dynamodb", {})
        old = ex.decoded_job_image(change.get("OldImage"))
        new = ex.decoded_job_image(change.get("NewImage"))
        became_ready = new is not None and "ready_pk" in new and (old is None or "ready_pk" not in old)
        left_processing = (
            old is not None
            and old.get("status") == JobStatus.PROCESSING
            and (new is None or new.get("status") != JobStatus.PROCESSING)
        )
        image = new or old
        if (became_ready or left_processing) and image is not None:
            queues[(image["org_id"], image["queue_name"])] = None
    return list(queues)


def fire(store: JobStore, message: TimerMessage, sleep: Sleep) -> list[TimerMessage]:
    """Act on a timer message SQS delivered; returns the messages to send on (the next hop of a
    far timer). Idempotent: acting is conditional transitions, hops are claimed in a ledger."""
    if isinstance(message, FarTimer):
        return _next_hop(store, message)
    early_ms = message.due_ms - store.clock.now_ms()
    if early_ms > MAX_EARLY_WAIT_MS:
        # Not ours to act on yet: a lease longer than SQS's 900 s delay, or a clock far behind.
        return [message]
    if early_ms > 0:
        sleep(early_ms / 1000)
    if isinstance(message, LeaseCheck):
        store.recover_leases(message.org_id, message.queue, message.leases)
    elif message.timers:
        for timer_sk in message.timers:
            store.act_on_timer(message.org_id, message.queue, timer_sk)
    else:
        act_on_due_timers(store, message.org_id, message.queue)
    return []


def _next_hop(store: JobStore, message: FarTimer) -> list[TimerMessage]:
    hop = message.hop + 1
    args = ex.claim_far_timer_hop(
        store.table,
        message.org_id,
        message.job_id,
        message.timer_sk,
        hop=hop,
        expires_s=message.due_ms // 1000 + LEDGER_GRACE_SECONDS,
    )
    if not store.conditional_update(args):
        return []  # a duplicate delivery: the first one already sent this hop on
    if (
        hop % CHECK_EVERY_HOPS == 0
        and store.current_timer(message.org_id, message.job_id) != message.timer_sk
    ):
        return []  # cancelled, rescheduled, claimed...: whatever changed it armed its own timer
    if message.due_ms - store.clock.now_ms() > FAR_MS:
        return [FarTimer(message.org_id, message.queue, message.job_id, message.timer_sk, hop)]
    return [Wake(message.org_id, message.queue, message.due_ms, (message.timer_sk,))]


def act_on_due_timers(store: JobStore, org_id: str, queue: str, page: int = 100, max_rounds: int = 20) -> int:
    """Every due timer of one queue; returns how many due entries were found.

    A full page means there may be more. The rounds are bounded because on AWS the index lags the
    table, and entries already acted on can show up again for a moment: the next sweep goes on.
    """
    found = 0
    for _ in range(max_rounds):
        n = store.promote_due(org_id, queue, limit=page)
        found += n
        if n < page:
            break
    return found


def known_queues(store: JobStore) -> Iterator[tuple[str, str]]:
    """(org_id, queue) of every queue that has ever held a job."""
    for _, raw in store.iter_index_ids(schema.BY_ORG_INDEX, ex.ALL_QUEUES_PARTITION, oldest_first=True):
        org_id, queue = raw[schema.BY_ORG_INDEX.sort_key.name]["S"].split("#", 1)
        yield org_id, queue


def sweep(store: JobStore) -> int:
    """Act on every due timer of every queue; returns how many due entries were found."""
    return sum(act_on_due_timers(store, org_id, queue) for org_id, queue in known_queues(store))
