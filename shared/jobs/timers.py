"""Job timers: which changes arm a timer message, what a message does when it fires, and the sweep.

Arming happens from the table's stream, not in the API: every write that gives a job a new timer
(create with scheduled_at or expires_at, claim, heartbeat, fail into backoff, lease recovery,
promotion of a job that still has an expires_at ahead) shows up as a stream record whose new image
has another timer_sk than the old one. One place arms them all, in batches, off the request path;
a transition added later gets its timer without knowing about SQS.

A timer due within SQS's 900 s becomes a Wake for its queue (timers due close together share
one, so a claim batch arms one message); one further away becomes a FarTimer chain that ends in a Wake.
A Wake acts on every due timer of its queue through JobStore.promote_due: conditional transitions
on what it reads, so any number of wakes for the same moment, stale or duplicated, move each job
once. The sweep (every minute on AWS) does the same for every queue: the safety net for a message
that was lost, a stream batch that failed, a chain cut short.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from shared.jobs import expressions as ex
from shared.jobs.states import JobStatus
from shared.jobs.store import JobStore
from shared.plumbing import dynamo_codec, schema
from shared.plumbing.timer_queue import MAX_DELAY_SECONDS, FarTimer, TimerMessage, Wake, due_ms_of, wakes

# A wake arrives up to 0.75 s early (SQS delays are whole seconds; see timer_queue.LATE_BUDGET_MS)
# and is held until due; a re-send could only land a whole second later.
MAX_EARLY_WAIT_MS = 1000
FAR_MS = MAX_DELAY_SECONDS * 1000
# Timers due within one window share a wake (due at the latest of them). Delays, backoffs and
# expiries are kept to a tenth of a second; leases, which only need "within a few seconds of the
# lease end", to a second, so that a claim batch (its leases end over a few hundred ms) arms one.
WAKE_WINDOW_MS = 100
LEASE_WAKE_WINDOW_MS = 1000
# A lease end this far ahead is found in the index when due (on AWS the index lags the table by
# well under a second); a nearer one (timeout_seconds below 5) is named like a delay.
INDEX_LEAD_MS = 5000
# Every CHECK_EVERY_HOPS-th hop (~4 h) of a chain reads the job, so that the chain of a cancelled
# or rescheduled job stops: a three-week delay costs ~2,000 hops but only ~130 job reads.
CHECK_EVERY_HOPS = 16
# The hop ledger outlives its chain by a day, then TTL removes it.
LEDGER_GRACE_SECONDS = 86_400

Sleep = Callable[[float], None]


def _job_image(image: dict[str, Any] | None) -> dict[str, Any] | None:
    if not image or not image.get("pk", {}).get("S", "").startswith("JOB#"):
        return None
    return dynamo_codec.decode_item(image)


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


def timers_to_arm(records: Iterable[dict[str, Any]], now_ms: int) -> list[TimerMessage]:
    """The timer messages a batch of stream records calls for."""
    near: dict[tuple[str, str, bool], list[str]] = defaultdict(list)
    far: list[TimerMessage] = []
    for record in records:
        change = record.get("dynamodb", {})
        new = _job_image(change.get("NewImage"))
        timer_sk = changed_timer(_job_image(change.get("OldImage")), new)
        if timer_sk is None or new is None:
            continue
        if due_ms_of(timer_sk) - now_ms > FAR_MS:
            far.append(FarTimer(new["org_id"], new["queue_name"], new["id"], timer_sk))
        else:
            lease = (
                new.get("status") == JobStatus.PROCESSING and due_ms_of(timer_sk) - now_ms >= INDEX_LEAD_MS
            )
            near[(new["org_id"], new["queue_name"], lease)].append(timer_sk)
    messages: list[TimerMessage] = []
    for (org_id, queue, lease), timer_sks in near.items():
        window = LEASE_WAKE_WINDOW_MS if lease else WAKE_WINDOW_MS
        messages.extend(wakes(org_id, queue, timer_sks, window, named=not lease))
    return messages + far


def queues_to_pump(records: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    """Queues where a stream batch made a job claimable or ended a job's processing: if the queue
    has a Lambda worker, it may have work to start and a slot to start it in."""
    queues: dict[tuple[str, str], None] = {}
    for record in records:
        change = record.get("dynamodb", {})
        old = _job_image(change.get("OldImage"))
        new = _job_image(change.get("NewImage"))
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
        return [message]  # not ours to act on yet (a clock far behind?): wait again
    if early_ms > 0:
        sleep(early_ms / 1000)
    if message.timers:
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
