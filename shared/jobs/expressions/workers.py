"""The worker registry (contract §2.6)."""

from __future__ import annotations

from typing import Any

from shared.jobs.expressions.keys import worker_key, workers_by_org_pk
from shared.jobs.expressions.timers import LIVE_WORKERS_PARTITION
from shared.plumbing import schema
from shared.plumbing.table_keys import created_sk
from shared.plumbing.update_builder import Update as _Update

TIMERS = schema.TIMER_INDEX


# --- workers (contract §2.6) ---------------------------------------------------------------


def register_worker(
    table: str, worker_id: str, org_id: str, fields: dict[str, Any], now_ms: int
) -> dict[str, Any]:
    """Upsert by id. A stable worker id owned by another organization must not be taken over: two
    orgs may use the same id (the key carries the organization), and the condition stays as a
    guard against a key collision."""
    u = _Update()
    for name, value in fields.items():
        u.set(name, value)
    u.set("id", worker_id).set("org_id", org_id).set("status", "healthy")
    u.set("last_heartbeat", now_ms).set("updated_at", now_ms).set("current_jobs", 0)
    u.set("org_pk", workers_by_org_pk(org_id))
    # The live-worker registry the stale-worker sweep walks (shared/jobs/workers/stale.py).
    u.set(TIMERS.partition_key.name, LIVE_WORKERS_PARTITION).set(
        TIMERS.sort_key.name, live_worker_sk(org_id, worker_id)
    )
    # The jobs it holds (settle_worker, from the stream): kept across a re-registration.
    held = u.n("leases")
    u.sets.append(f"{held} = if_not_exists({held}, {u.v('no_leases', {})})")
    registered, created = u.n("registered_at"), u.n("created_sk")
    u.sets.append(f"{registered} = if_not_exists({registered}, {u.v('now', now_ms)})")
    u.sets.append(f"{created} = if_not_exists({created}, {u.v('first_sk', created_sk(now_ms, worker_id))})")
    u.condition(f"attribute_not_exists({u.n('pk')}) OR {u.n('org_id')} = {u.v('org', org_id)}")
    return u.build(table, worker_key(org_id, worker_id))


def live_worker_sk(org_id: str, worker_id: str) -> str:
    return f"{org_id}#{worker_id}"


def worker_heartbeat(
    table: str,
    worker_id: str,
    org_id: str,
    *,
    current_jobs: int,
    status: str,
    metadata_text: str | None,
    now_ms: int,
    queue_name: str | None = None,
) -> dict[str, Any]:
    # Back into the live-worker registry if the stale sweep took it out; the same values as
    # before otherwise, which writes nothing to the index.
    u = _Update()
    u.set("last_heartbeat", now_ms).set("updated_at", now_ms).set("current_jobs", current_jobs)
    u.set("status", status)
    u.set(TIMERS.partition_key.name, LIVE_WORKERS_PARTITION).set(
        TIMERS.sort_key.name, live_worker_sk(org_id, worker_id)
    )
    if metadata_text is not None:
        u.set("metadata", metadata_text)
    _owned_by(u, org_id, queue_name)
    return u.build(table, worker_key(org_id, worker_id))


def deregister_worker(
    table: str, worker_id: str, org_id: str, now_ms: int, queue_name: str | None = None
) -> dict[str, Any]:
    u = _Update()
    u.set("status", "offline").set("updated_at", now_ms)
    u.remove(TIMERS.partition_key.name, TIMERS.sort_key.name)
    _owned_by(u, org_id, queue_name)
    return u.build(table, worker_key(org_id, worker_id))


def _owned_by(u: _Update, org_id: str, queue_name: str | None) -> None:
    # Another organization's worker (or none) must look exactly like a missing one.
    u.condition(f"{u.n('org_id')} = {u.v('org', org_id)}")
    if queue_name is not None:
        # A queue-scoped key checked the worker's queue on a read: a re-registration onto
        # another queue between that read and this write must not let it through.
        u.condition(f"{u.n('queue_name')} = {u.v('queue', queue_name)}")
