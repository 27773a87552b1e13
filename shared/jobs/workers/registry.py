"""Registered workers: register (upsert by id), heartbeat, deregister; the jobs each one holds."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from shared.identity.credentials import AuthContext
from shared.jobs import expressions as ex
from shared.plumbing import aws_clients, dynamo_codec
from shared.plumbing.aws_clients import is_conditional_failure as _conditional_failed
from shared.plumbing.clock import to_rfc3339
from shared.plumbing.errors import Conflict, NotFound
from shared.plumbing.table_service import TableService

LEASE_DURATION_SECS = 30
HEARTBEAT_INTERVAL_SECS = 10
# Registration takes ids of at most 128 characters (minted ones are UUIDs). A longer id from a URL
# names no worker, and DynamoDB would refuse it as a key with a ValidationException (a 500).
MAX_WORKER_ID_BYTES = 255


class WorkerRegistry(TableService):
    def register(
        self,
        org_id: str,
        *,
        queue_name: str,
        hostname: str,
        worker_id: str | None = None,
        worker_type: str | None = None,
        max_concurrency: int = 5,
        metadata: Any = None,
        version: str | None = None,
    ) -> dict[str, Any]:
        now_ms = self.clock.now_ms()
        worker_id = worker_id or str(uuid.uuid4())
        fields = {
            "queue_name": queue_name,
            "hostname": hostname,
            "worker_type": worker_type or "generic",
            "max_concurrency": max_concurrency,
            "metadata": json.dumps(metadata if metadata is not None else {}),
            "version": version or "",
        }
        try:
            self._db.update_item(**ex.register_worker(self.table, worker_id, org_id, fields, now_ms))
        except Exception as error:
            if _conditional_failed(error):
                raise Conflict("This worker id is registered to another organization") from error
            raise
        return {
            "id": worker_id,
            "queue_name": queue_name,
            "lease_duration_secs": LEASE_DURATION_SECS,
            "heartbeat_interval_secs": HEARTBEAT_INTERVAL_SECS,
        }

    def heartbeat(
        self,
        ctx: AuthContext,
        worker_id: str,
        *,
        current_jobs: int,
        status: str = "healthy",
        metadata: Any = None,
    ) -> None:
        self._update_owned(
            worker_id,
            ex.worker_heartbeat(
                self.table,
                worker_id,
                ctx.org_id,
                current_jobs=current_jobs,
                status=status,
                metadata_text=json.dumps(metadata) if metadata is not None else None,
                now_ms=self.clock.now_ms(),
                queue_name=self._scoped_queue(ctx, worker_id),
            ),
        )

    def deregister(self, ctx: AuthContext, worker_id: str) -> None:
        # Leases the worker still holds stay in place: the SDK acks or fails its jobs before it
        # deregisters, and an expired lease is recovered by the timers.
        self._update_owned(
            worker_id,
            ex.deregister_worker(
                self.table,
                worker_id,
                ctx.org_id,
                self.clock.now_ms(),
                queue_name=self._scoped_queue(ctx, worker_id),
            ),
        )

    def _scoped_queue(self, ctx: AuthContext, worker_id: str) -> str | None:
        """For a queue-scoped key, the worker's queue once checked against the key's scope (the
        write is then conditional on it); None for an unrestricted key, which needs no read. A
        worker of a queue outside the scope is as missing as another organization's (404)."""
        if ctx.unrestricted:
            return None
        queue = str(self.get(ctx.org_id, worker_id)["queue_name"])
        if not ctx.allows_queue(queue):
            raise NotFound()
        return queue

    def _update_owned(self, worker_id: str, update: dict[str, Any]) -> None:
        if len(worker_id.encode("utf-8")) > MAX_WORKER_ID_BYTES:
            raise NotFound()
        try:
            self._db.update_item(**update)
        except Exception as error:
            if _conditional_failed(error):
                raise NotFound() from error
            raise

    def get(self, org_id: str, worker_id: str) -> dict[str, Any]:
        if len(worker_id.encode("utf-8")) > MAX_WORKER_ID_BYTES:
            raise NotFound()
        found = self._db.get_item(
            TableName=self.table, Key=ex.worker_key(org_id, worker_id), ConsistentRead=True
        )
        if "Item" not in found:
            raise NotFound()
        item = dynamo_codec.decode_item(found["Item"])
        if item["org_id"] != org_id:
            raise NotFound()
        return item


def worker_document(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item["id"],
        "organization_id": item["org_id"],
        "queue_name": item["queue_name"],
        "queue_names": [item["queue_name"]],
        "hostname": item["hostname"],
        "worker_type": item.get("worker_type"),
        "max_concurrency": item.get("max_concurrency", 5),
        "current_jobs": item.get("current_jobs", 0),
        "status": item["status"],
        "last_heartbeat": to_rfc3339(item["last_heartbeat"]),
        "metadata": json.loads(item["metadata"]) if item.get("metadata") else {},
        "version": item.get("version") or None,
        "registered_at": to_rfc3339(item["registered_at"]),
        "updated_at": to_rfc3339(item.get("updated_at")),
    }


def lease_changes(records: Iterable[dict[str, Any]]) -> dict[tuple[str, str], tuple[set[str], set[str]]]:
    """(org, worker) → (jobs it took, jobs it let go) in a batch of stream records of job items."""
    changes: dict[tuple[str, str], tuple[set[str], set[str]]] = {}
    for record in records:
        change = record.get("dynamodb", {})
        old, new = ex.decoded_job_image(change.get("OldImage")), ex.decoded_job_image(change.get("NewImage"))
        held_before = _holder(old)
        held_after = _holder(new)
        if held_before == held_after:
            continue
        job_id = str((new or old or {}).get("id"))
        if held_before is not None:
            taken, dropped = changes.setdefault(held_before, (set(), set()))
            dropped.add(job_id)
            taken.discard(job_id)
        if held_after is not None:
            taken, dropped = changes.setdefault(held_after, (set(), set()))
            taken.add(job_id)
            dropped.discard(job_id)
    return changes


def held_jobs(table: str, org_id: str, worker_id: str) -> set[str]:
    """The jobs the worker holds, as the stream last saw them (a job settled since may be left)."""
    found = aws_clients.client("dynamodb").get_item(
        TableName=table,
        Key=ex.worker_key(org_id, worker_id),
        ConsistentRead=True,
        ProjectionExpression="leases",
    )
    return set(found.get("Item", {}).get("leases", {}).get("M", {}))


def _holder(image: dict[str, Any] | None) -> tuple[str, str] | None:
    if image is None or image.get("status") != "processing" or not image.get("assigned_worker_id"):
        return None
    return str(image["org_id"]), str(image["assigned_worker_id"])
