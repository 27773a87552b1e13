"""The job store's timed transitions: promote due delayed jobs and backoffs, expire jobs, recover
expired leases and the jobs of workers that went offline (docs/timers.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from shared.jobs import backoff as backoff_policy
from shared.jobs import expressions as ex
from shared.jobs.backoff import BackoffPolicy
from shared.jobs.store_base import (
    LEASE_EXPIRED_DEADLETTER_ERROR,
    LEASE_EXPIRED_ERROR,
    OFFLINE_WORKER_DEADLETTER_ERROR,
    OFFLINE_WORKER_ERROR,
    TIMEOUT_DEADLETTER_ERROR,
    TIMEOUT_ERROR,
    S,
    StoreBase,
)
from shared.plumbing import schema, table_keys
from shared.plumbing.aws_clients import is_conditional_failure as _is_conditional_failure
from shared.plumbing.timer_queue import due_ms_of


class TimerTransitions(StoreBase):
    # --- timers (docs/timers.md) --------------------------------------------------------

    def promote_due(self, org_id: str, queue: str, limit: int = 25) -> int:
        """Act on every due timer of one queue: promote due delayed jobs, expire jobs past their
        expires_at, recover expired leases. Returns how many index entries were due.

        Claims call this first, so a due job is claimable at its second even if no timer fired;
        the dispatcher calls it when a queue's wake message arrives, and its sweep calls it for
        every queue as the safety net for lost messages (shared/jobs/timers.py).
        """
        now_ms = self.clock.now_ms()
        response = self._call("query", **ex.query_due_timers(self.table, org_id, queue, now_ms, limit))
        items = response.get("Items", [])
        for raw in items:
            job_id = ex.job_id_from_key(raw)
            seen_timer_sk = raw[schema.TIMER_INDEX.sort_key.name]["S"]
            item = self._get_item(org_id, job_id)
            # The index may lag: act only on the timer the item itself still carries.
            if item is not None and item.get("timer_sk") == seen_timer_sk:
                self._act_on_timer(org_id, queue, job_id, item, now_ms)
        return len(items)

    def act_on_timer(self, org_id: str, queue: str, timer_sk: str) -> None:
        """Act on one job's timer, named by a timer message, if the job still has it and it is due.
        A consistent read, not the index: a delay of a fraction of a second can be due before the
        index shows the timer."""
        job_id = timer_sk.split("#", 1)[1]
        item = self._get_item(org_id, job_id)
        if item is not None and item.get("timer_sk") == timer_sk:
            self._act_on_timer(org_id, queue, job_id, item, self.clock.now_ms())

    def recover_lease(self, org_id: str, queue: str, job_id: str, lease_id: str, lease_end: int) -> None:
        """A lease check came due: recover the job if that lease is still on it and over. A
        heartbeat that moved the end armed a check of its own; a settled or re-claimed job changed
        status or lease_id. A consistent read, then a write fenced on what it read."""
        self._recover_if_over(org_id, queue, job_id, self._get_item(org_id, job_id), lease_id, lease_end)

    def recover_leases(self, org_id: str, queue: str, leases: Iterable[tuple[str, str, int]]) -> None:
        """recover_lease for each (job, lease, end) of a lease check (a claim batch's leases share
        one, up to 100): the jobs are read in one consistent BatchGetItem, not one GetItem each.
        Nearly every check finds its jobs settled, so the read is all it costs; same read units."""
        wanted = list(leases)
        items = self._get_items(org_id, [job_id for job_id, _, _ in wanted])
        for job_id, lease_id, lease_end in wanted:
            self._recover_if_over(org_id, queue, job_id, items.get(job_id), lease_id, lease_end)

    def _recover_if_over(
        self, org_id: str, queue: str, job_id: str, item: dict[str, Any] | None, lease_id: str, lease_end: int
    ) -> None:
        now_ms = self.clock.now_ms()
        if (
            item is None
            or item.get("status") != S.PROCESSING
            or item.get("lease_id") != lease_id
            or item.get("lease_expires_at") != lease_end
            or lease_end > now_ms
        ):
            return
        try:
            self._recover_expired_lease(org_id, queue, job_id, item, now_ms)
        except Exception as error:
            if not _is_conditional_failure(error):
                raise

    def current_timer(self, org_id: str, job_id: str) -> str | None:
        """The job's timer_sk now (None: no timer, or no job)."""
        found = self._call(
            "get_item",
            TableName=self.table,
            Key=ex.job_key(org_id, job_id),
            ConsistentRead=True,
            ProjectionExpression="timer_sk",
        )
        return found.get("Item", {}).get("timer_sk", {}).get("S")

    def _act_on_timer(self, org_id: str, queue: str, job_id: str, item: dict[str, Any], now_ms: int) -> None:
        """The one transition a due timer calls for. Every write is conditional on what was read
        (timer_sk, expires_at, retry_count), so a redelivered message or two sweeps at once
        move the job once; a lost race is expected and ignored."""
        seen_timer_sk = item["timer_sk"]
        if due_ms_of(seen_timer_sk) > now_ms:
            return
        status = item.get("status")
        try:
            # A running job has no timer (its lease end is a LeaseCheck message): nothing else is due.
            if status in (S.PENDING, S.SCHEDULED):
                expires_at = item.get("expires_at")
                if expires_at is not None and expires_at <= now_ms:
                    self._expire(org_id, job_id, now_ms)
                elif item.get("dependencies_met") is False:
                    # Gated: its delay is over but it waits on into pending; the release makes it
                    # claimable (docs/workflows.md).
                    self._call(
                        "update_item",
                        **ex.promote_gated(
                            self.table,
                            ex.job_key(org_id, job_id),
                            seen_timer_sk=seen_timer_sk,
                            next_timer_sk=table_keys.timer_sk(expires_at, job_id) if expires_at else None,
                            now_ms=now_ms,
                        ),
                    )
                elif "ready_pk" not in item:
                    self._call(
                        "update_item",
                        **ex.promote_released(
                            self.table,
                            ex.job_key(org_id, job_id),
                            org_id=org_id,
                            queue=queue,
                            job_id=job_id,
                            priority=item["priority"],
                            created_ms=item["created_at"],
                            shard=ex.shard_of(job_id, self.ready_shards_of(org_id, queue)),
                            seen_timer_sk=seen_timer_sk,
                            now_ms=now_ms,
                            next_timer_sk=table_keys.timer_sk(expires_at, job_id) if expires_at else None,
                        ),
                    )
        except Exception as error:
            if not _is_conditional_failure(error):
                raise

    def backoff_for(self, item: dict[str, Any]) -> BackoffPolicy:
        """The job's own retry_backoff over its queue's over the store default."""
        queue_settings = self.queue_settings.get(item["org_id"], item["queue_name"])
        own = json.loads(item["retry_backoff"]) if item.get("retry_backoff") else None
        return backoff_policy.resolve(own, queue_settings.get("retry_backoff"), self.backoff)

    def _recover_expired_lease(
        self, org_id: str, queue: str, job_id: str, item: dict[str, Any], now_ms: int
    ) -> None:
        key = ex.job_key(org_id, job_id)
        seen = {"seen_lease_id": item.get("lease_id", ""), "seen_lease_end": item["lease_expires_at"]}
        retry_count = item.get("retry_count", 0)
        deadline_ms = item.get("deadline_at")
        timed_out = deadline_ms is not None and item.get("lease_expires_at", 0) >= deadline_ms
        seconds = item.get("timeout_seconds")
        if retry_count < item["max_retries"]:
            due_ms = now_ms + self.backoff_for(item).delay_ms(retry_count, self.rng)
            args = ex.expired_lease_retry(
                self.table,
                key,
                org_id=org_id,
                queue=queue,
                job_id=job_id,
                **seen,
                retry_count=retry_count,
                due_ms=due_ms,
                error=TIMEOUT_ERROR.format(seconds=seconds) if timed_out else LEASE_EXPIRED_ERROR,
                now_ms=now_ms,
                attempt=ex.attempt_event(item),
            )
        else:
            args = ex.expired_lease_dead_letter(
                self.table,
                key,
                org_id=org_id,
                **seen,
                retry_count=retry_count,
                error=(
                    TIMEOUT_DEADLETTER_ERROR.format(seconds=seconds)
                    if timed_out
                    else LEASE_EXPIRED_DEADLETTER_ERROR
                ),
                now_ms=now_ms,
                attempt=ex.attempt_event(item),
            )
        self._call("update_item", **args)

    # --- releases: offline workers, Lambda workers (docs/timers.md) ----------------------

    def held_job_ids(self, org_id: str, worker_id: str) -> list[str]:
        """The jobs the worker holds, from the map the stream keeps on its item (a running job has
        no index entry to find it by); some may have been settled since: callers re-read each."""
        found = self._call(
            "get_item",
            TableName=self.table,
            Key=ex.worker_key(org_id, worker_id),
            ConsistentRead=True,
            ProjectionExpression="leases",
        )
        return sorted(found.get("Item", {}).get("leases", {}).get("M", {}))

    def release_from_offline_worker(self, org_id: str, queue: str, worker_id: str) -> int:
        """Give back every job of `queue` that `worker_id` holds: pending after a backoff with
        retry_count + 1, or the DLQ when its retries are spent. Returns how many moved."""
        released = 0
        for job_id in self.held_job_ids(org_id, worker_id):
            item = self._get_item(org_id, job_id)
            if (
                item is None
                or item.get("status") != S.PROCESSING
                or item.get("assigned_worker_id") != worker_id
                or not item.get("lease_id")
            ):
                continue
            queue = item["queue_name"]
            now_ms = self.clock.now_ms()
            retry_count = item.get("retry_count", 0)
            key = ex.job_key(org_id, job_id)
            if retry_count < item["max_retries"]:
                args = ex.offline_worker_retry(
                    self.table,
                    key,
                    org_id=org_id,
                    queue=queue,
                    job_id=job_id,
                    worker_id=worker_id,
                    lease_id=item["lease_id"],
                    retry_count=retry_count,
                    due_ms=now_ms + self.backoff_for(item).delay_ms(retry_count, self.rng),
                    error=OFFLINE_WORKER_ERROR,
                    now_ms=now_ms,
                    attempt=ex.attempt_event(item),
                )
            else:
                args = ex.offline_worker_dead_letter(
                    self.table,
                    key,
                    org_id=org_id,
                    worker_id=worker_id,
                    lease_id=item["lease_id"],
                    retry_count=retry_count,
                    error=OFFLINE_WORKER_DEADLETTER_ERROR,
                    now_ms=now_ms,
                    attempt=ex.attempt_event(item),
                )
            try:
                self._call("update_item", **args)
                released += 1
            except Exception as error:
                if not _is_conditional_failure(error):
                    raise
        return released
