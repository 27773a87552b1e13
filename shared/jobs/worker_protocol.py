"""The worker's side of the job store: claim with a lease, heartbeat, complete, fail, and the
Lambda-worker hand-off. Every write is fenced by the lease id the claim handed out.
"""

from __future__ import annotations

import os
from typing import Any

from shared.jobs import claim_policy
from shared.jobs import expressions as ex
from shared.jobs.model import JobRecord
from shared.jobs.store_base import EXPIRED_ERROR, SPLIT_MARKER, S, StoreBase, deadline_short_of, old_item
from shared.plumbing import dynamo_codec, observability, schema, table_keys
from shared.plumbing.aws_clients import is_conditional_failure as _is_conditional_failure
from shared.plumbing.errors import LeaseExpired, NotFound
from shared.plumbing.payload_store import encode_json


class WorkerProtocol(StoreBase):
    # --- claim ---------------------------------------------------------------------------

    def _ready_candidates(self, org_id: str, queue: str, shards: int, fetch: int) -> list[dict[str, Any]]:
        """The head of the queue, in priority/FIFO order, from one or two of its ready shards.

        A queue has one shard unless its settings ask for more (`ready_shards`, for queues past
        ~500 jobs/s: docs/architecture.md, "Scale"); then each claim reads its shards in a random
        order (claim_policy.shard_order) and reads a second only when the first cannot fill it, so
        claimers spread over the shards instead of racing for one head, and priority order holds
        within a shard. Only when both are empty does it look at the others, so a nearly empty
        queue still hands out its jobs."""
        candidates: list[dict[str, Any]] = []
        for step, shard in enumerate(claim_policy.shard_order(shards, self.rng)):
            if step >= 2 and candidates:
                break
            if step == 1 and len(candidates) >= fetch:
                break
            response = self._call("query", **ex.query_ready(self.table, org_id, queue, shard, fetch))
            candidates.extend(response.get("Items", []))
        candidates.sort(key=lambda raw: raw[schema.READY_INDEX.sort_key.name]["S"])
        return candidates[:100]

    def claim(
        self, org_id: str, queue: str, worker_id: str, limit: int, lease_seconds: int, gate: Any = None
    ) -> list[JobRecord]:
        """gate: the queue's concurrency slots (shared/jobs/flow_control.SlotGate), None without a cap."""
        if limit <= 0:
            return []
        # Due delayed jobs are made claimable by their timer messages and the sweep, off the
        # request path (shared/jobs/timers.py): a claim is one index read and its writes.
        shards = self.ready_shards_of(org_id, queue)
        with self._spread_lock:
            spread = self._spread.get((org_id, queue)) or claim_policy.initial_spread(shards)
        fetch = claim_policy.candidates_to_fetch(limit, spread)
        candidates = self._ready_candidates(org_id, queue, shards, fetch)
        order = claim_policy.claim_order(candidates, limit, spread, self.rng)
        claimed_items: list[dict[str, Any]] = []
        lost_races = held_skipped = 0
        while order and len(claimed_items) < limit and lost_races < claim_policy.lost_race_budget(limit):
            raw = order.pop(0)
            now_ms = self.clock.now_ms()
            job_id = ex.job_id_from_key(raw)
            # timeout_seconds caps the lease (docs/timers.md); the ready index projects it.
            timeout_ms = int(raw.get("timeout_seconds", {}).get("N", "0")) * 1000 or None
            lease_ms = min(lease_seconds * 1000, timeout_ms or lease_seconds * 1000)
            lease_expires_ms = now_ms + lease_ms
            with self._spread_lock:
                if claim_policy.claimed_moments_ago(self._own_claims, job_id, now_ms):
                    # This store holds it or is claiming it: the write could only fail. Contention
                    # all the same (other claimers read the same head): it widens the spread.
                    held_skipped += 1
                    continue
                # Remembered before the write, so that a concurrent claim through this store (the
                # threads of make dev's gateway) does not race this one for it; forgotten if lost.
                claim_policy.remember_claim(self._own_claims, job_id, now_ms, lease_expires_ms)
            # 64 random bits fence this claim: the job item carries it on every write until the
            # job is settled, so it is kept short (docs/architecture.md, "The job item").
            lease_id = os.urandom(8).hex()
            if gate is not None and not gate.reserve(job_id, lease_id, now_ms):
                self._forget_own_claim(job_id)
                if gate.full:
                    break
                continue
            try:
                response = self._call(
                    "update_item",
                    **ex.claim(
                        self.table,
                        {"pk": raw["pk"], "sk": raw["sk"]},
                        org_id=org_id,
                        queue=queue,
                        job_id=job_id,
                        worker_id=worker_id,
                        lease_id=lease_id,
                        lease_expires_ms=lease_expires_ms,
                        now_ms=now_ms,
                        deadline_ms=now_ms + timeout_ms if timeout_ms else None,
                    ),
                )
            except Exception as error:
                self._forget_own_claim(job_id)
                if gate is not None:
                    gate.release(job_id, lease_id)
                if not _is_conditional_failure(error):
                    raise
                old = old_item(error)
                if (
                    old
                    and old.get("status") in (S.PENDING, S.SCHEDULED)
                    and old.get("expires_at", now_ms + 1) <= now_ms
                ):
                    self._expire(org_id, job_id, now_ms)
                else:
                    lost_races += 1
                    if lost_races == 1:
                        order = claim_policy.after_first_lost_race(order, self.rng)
                continue
            claimed_items.append(dynamo_codec.decode_item(response["Attributes"]))
        # Payloads in items of their own: one batch read for the whole claim.
        split_ids = [
            (item["id"], str(item[SPLIT_MARKER])) for item in claimed_items if item.get(SPLIT_MARKER)
        ]
        split = self._split_payloads(org_id, split_ids) if split_ids else {}
        claimed = [self._record(item, split=split) for item in claimed_items]
        with self._spread_lock:
            # Kept at 1.0 too: a queue's first claim through this store is the only one that
            # starts from initial_spread.
            self._spread[(org_id, queue)] = claim_policy.next_spread(
                self._spread.get((org_id, queue)) or spread, lost_races + held_skipped
            )
        self.stats.claims += len(claimed)
        observability.count(observability.CLAIM_RACES_LOST, lost_races, org_id=org_id, queue=queue)
        return claimed

    def _expire(self, org_id: str, job_id: str, now_ms: int) -> None:
        try:
            self._call(
                "update_item",
                **ex.cancel(
                    self.table, ex.job_key(org_id, job_id), now_ms=now_ms, reason=EXPIRED_ERROR, expired=True
                ),
            )
        except Exception as error:
            if not _is_conditional_failure(error):
                raise

    # --- the worker protocol -------------------------------------------------------------

    def _raise_for_lease_miss(self, old: dict[str, Any] | None, worker_id: str) -> None:
        """Contract §3.3: owned by this worker but expired or another lease → 409; else 404."""
        if old is None or old.get("assigned_worker_id") != worker_id:
            raise NotFound()
        if old.get("status") == S.PROCESSING:
            raise LeaseExpired()
        # A replayed ack of a job this worker already settled (the SDK retries acks): 409 too.
        if old.get("status") in (S.COMPLETED, S.DEADLETTER, S.PENDING):
            raise LeaseExpired("The job is no longer leased to this worker")
        raise NotFound()

    def complete(
        self, org_id: str, job_id: str, worker_id: str, lease_id: str | None, result: Any
    ) -> JobRecord:
        now_ms = self.clock.now_ms()
        result_inline, result_ref = (None, None)
        if result is not None:
            result_inline, result_ref = self.payloads.place(org_id, job_id, "result", encode_json(result))
        try:
            response = self._call(
                "update_item",
                **ex.complete(
                    self.table,
                    ex.job_key(org_id, job_id),
                    worker_id=worker_id,
                    lease_id=lease_id,
                    now_ms=now_ms,
                    result=result_inline,
                    result_ref=result_ref,
                ),
            )
        except Exception as error:
            if not _is_conditional_failure(error):
                raise
            self.payloads.delete(result_ref)
            self._raise_for_lease_miss(old_item(error), worker_id)
            raise
        self.payloads.commit(result_ref)
        return self._record(dynamo_codec.decode_item(response["Attributes"]), with_payload=False)

    def fail(self, org_id: str, job_id: str, worker_id: str, lease_id: str | None, error_text: str) -> str:
        """Fail a leased job: back to pending after a backoff, or to the DLQ. Returns the new status."""
        self._forget_own_claim(job_id)
        item = self._get_item(org_id, job_id)
        now_ms = self.clock.now_ms()
        if item is None or item.get("assigned_worker_id") != worker_id:
            raise NotFound()
        key = ex.job_key(org_id, job_id)
        retry_count = item.get("retry_count", 0)
        if retry_count < item["max_retries"]:
            due_ms = now_ms + self.backoff_for(item).delay_ms(retry_count, self.rng)
            args = ex.fail_with_retry(
                self.table,
                key,
                org_id=org_id,
                queue=item["queue_name"],
                job_id=job_id,
                worker_id=worker_id,
                lease_id=lease_id,
                retry_count=retry_count,
                due_ms=due_ms,
                error=error_text,
                now_ms=now_ms,
                attempt=ex.attempt_event(item),
            )
            new_status = S.PENDING
        else:
            args = ex.fail_to_dead_letter(
                self.table,
                key,
                org_id=org_id,
                worker_id=worker_id,
                lease_id=lease_id,
                retry_count=retry_count,
                error=error_text,
                now_ms=now_ms,
                attempt=ex.attempt_event(item),
            )
            new_status = S.DEADLETTER
        try:
            self._call("update_item", **args)
        except Exception as error:
            if not _is_conditional_failure(error):
                raise
            self._raise_for_lease_miss(old_item(error), worker_id)
            raise
        return new_status.value

    def heartbeat(
        self, org_id: str, job_id: str, worker_id: str, lease_id: str | None, lease_seconds: int
    ) -> None:
        now_ms = self.clock.now_ms()
        lease_expires_ms = now_ms + lease_seconds * 1000
        for _ in range(2):  # the second round only when the first asked to extend past the deadline
            try:
                self._call(
                    "update_item",
                    **ex.heartbeat(
                        self.table,
                        ex.job_key(org_id, job_id),
                        job_id=job_id,
                        worker_id=worker_id,
                        lease_id=lease_id,
                        lease_expires_ms=lease_expires_ms,
                        now_ms=now_ms,
                    ),
                )
                return
            except Exception as error:
                if not _is_conditional_failure(error):
                    raise
                old = old_item(error)
                deadline_ms = deadline_short_of(old, worker_id, lease_id, lease_expires_ms, now_ms)
                if deadline_ms is None:
                    self._raise_for_lease_miss(old, worker_id)
                    raise
                # A live lease that would outlast timeout_seconds: extend it to the deadline only.
                lease_expires_ms = deadline_ms
        raise LeaseExpired()

    def release_unstarted(self, org_id: str, job_id: str, worker_id: str, lease_id: str) -> bool:
        """A claimed job that never started goes back to the head of its queue, retry_count unchanged."""
        self._forget_own_claim(job_id)
        item = self._get_item(org_id, job_id)
        if item is None:
            return False
        expires_at = item.get("expires_at")
        try:
            self._call(
                "update_item",
                **ex.release_unstarted(
                    self.table,
                    ex.job_key(org_id, job_id),
                    org_id=org_id,
                    queue=item["queue_name"],
                    job_id=job_id,
                    worker_id=worker_id,
                    lease_id=lease_id,
                    priority=item["priority"],
                    created_ms=item["created_at"],
                    shard=ex.shard_of(job_id, self.ready_shards_of(org_id, item["queue_name"])),
                    next_timer_sk=table_keys.timer_sk(expires_at, job_id) if expires_at else None,
                    now_ms=self.clock.now_ms(),
                    attempt=ex.attempt_event(item),
                ),
            )
        except Exception as error:
            if not _is_conditional_failure(error):
                raise
            return False
        return True

    def mark_invoked(self, org_id: str, job_id: str, lease_id: str) -> JobRecord | None:
        """The job, if this is the first invocation under `lease_id` and the lease is live; else None."""
        now_ms = self.clock.now_ms()
        args = ex.mark_invoked(self.table, ex.job_key(org_id, job_id), lease_id=lease_id, now_ms=now_ms)
        args["ReturnValues"] = "ALL_NEW"
        try:
            response = self._call("update_item", **args)
        except Exception as error:
            if not _is_conditional_failure(error):
                raise
            return None
        return self._record(dynamo_codec.decode_item(response["Attributes"]))
