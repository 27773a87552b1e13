"""Queues (contract §2.5, §3.7): list, get, config, stats, pause, resume, delete.

A queue exists implicitly once a job names it (its first create registers it, QREG#) and gets a
config item (QUEUE#) on PUT config or pause; both live in the organization's partition, so a
list is two queries of one partition. Its counters sit in the queue's own partition and are read
by key only where a document shows them. A queue's `settings` are stored as JSON text (the timers
read retry_backoff / lambda_worker from them, shared/jobs/queues/settings.py); the pause markers are
top-level attributes, shown inside `settings` on the way out, so pausing never has to
read-modify-write the settings object.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import TYPE_CHECKING, Any

from shared.identity import lambda_functions
from shared.identity.credentials import AuthContext
from shared.jobs import expressions as ex
from shared.jobs import purge as job_purge
from shared.jobs.queues import activity as job_activity
from shared.jobs.queues import counters as queue_counters
from shared.jobs.queues import registry as queue_registry
from shared.jobs.queues import settings as queue_settings
from shared.jobs.workers.directory import WorkerDirectory
from shared.plumbing import dynamo_codec, table_keys
from shared.plumbing.aws_clients import is_conditional_failure as _conditional_failed
from shared.plumbing.clock import to_rfc3339
from shared.plumbing.config import settings
from shared.plumbing.errors import BadRequest, Conflict, NotFound, ValidationFailed
from shared.plumbing.request_models import QUEUE_NAME_PATTERN
from shared.plumbing.table_service import TableService

if TYPE_CHECKING:  # request models are built only where a route parses a body
    from shared.identity import requests as am

MAX_LISTED = 100
MAX_RATE_LIMIT = 100_000
ACTIVE = ("pending", "scheduled", "processing")
_NAME = re.compile(QUEUE_NAME_PATTERN)


def require_valid_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise BadRequest("Invalid queue name: 1-100 of [A-Za-z0-9_.-], not starting with '.' or '-'")


def _settings_document(item: dict[str, Any]) -> dict[str, Any]:
    raw = item.get("settings")
    value = json.loads(raw) if isinstance(raw, str) else (raw or {})
    value = dict(value) if isinstance(value, dict) else {}
    for marker in ("paused", "paused_at", "paused_reason"):
        value.pop(marker, None)
    if item.get("enabled") is False:
        value["paused"] = True
        if item.get("paused_at"):
            value["paused_at"] = to_rfc3339(item["paused_at"])
        if item.get("paused_reason"):
            value["paused_reason"] = item["paused_reason"]
    return value


def _implicit_id(org_id: str, queue: str) -> str:
    # A queue without a config row still needs an id; derived, so it is the same on every read.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"spooled-queue:{org_id}/{queue}"))


def config_document(org_id: str, queue: str, item: dict[str, Any] | None, seen_ms: int) -> dict[str, Any]:
    """QueueConfig; an implicit queue (no config row) gets the defaults the contract lists."""
    config = settings()
    item = item or {}
    created = item.get("created_at", seen_ms)
    return {
        "id": item.get("id") or _implicit_id(org_id, queue),
        "organization_id": org_id,
        "queue_name": queue,
        "max_retries": int(item.get("max_retries", config.default_max_retries)),
        "default_timeout": int(item.get("default_timeout", config.default_timeout_seconds)),
        "rate_limit": item.get("rate_limit"),
        "enabled": bool(item.get("enabled", True)),
        "settings": _settings_document(item),
        "created_at": to_rfc3339(created),
        "updated_at": to_rfc3339(item.get("updated_at", created)),
    }


def summary_document(document: dict[str, Any]) -> dict[str, Any]:
    return {k: document[k] for k in ("queue_name", "max_retries", "default_timeout", "rate_limit", "enabled")}


class QueueConfigService(TableService):
    # --- reads used by the job service on the hot path -----------------------------------

    def config_item(self, org_id: str, queue: str, consistent: bool = True) -> dict[str, Any] | None:
        found = self._db.get_item(
            TableName=self.table, Key=ex.queue_config_key(org_id, queue), ConsistentRead=consistent
        )
        return dynamo_codec.decode_item(found["Item"]) if "Item" in found else None

    def is_paused(self, org_id: str, queue: str) -> bool:
        # Consistent: a claim right after a pause must already see it (contract §3.3).
        item = self.config_item(org_id, queue)
        return item is not None and item.get("enabled") is False

    # --- partition reads -----------------------------------------------------------------

    def _config_items(self, org_id: str) -> dict[str, dict[str, Any]]:
        items: dict[str, dict[str, Any]] = {}
        args = table_keys.query_partition(self.table, f"ORG#{org_id}", "QUEUE#")
        while True:
            response = self._db.query(**args)
            for raw in response.get("Items", []):
                item = dynamo_codec.decode_item(raw)
                items[item["sk"].split("#", 1)[1]] = item
            if "LastEvaluatedKey" not in response:
                return items
            args["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def overview(self, org_id: str) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, int]]]:
        """(config items by queue, status counts by queue) of every queue of the organization."""
        return self._config_items(org_id), queue_counters.read_counts(self.table, org_id)

    # --- endpoints -----------------------------------------------------------------------

    def list(self, ctx: AuthContext) -> list[dict[str, Any]]:
        # Names only: the registry (one query) and the configs; no counter is read.
        configs = self._config_items(ctx.org_id)
        registered = queue_registry.queue_names_of(self.table, ctx.org_id)
        now_ms = self.clock.now_ms()
        names = sorted(name for name in set(configs) | set(registered) if ctx.allows_queue(name))
        return [
            summary_document(config_document(ctx.org_id, name, configs.get(name), now_ms))
            for name in names[:MAX_LISTED]
        ]

    def get(self, ctx: AuthContext, name: str) -> dict[str, Any]:
        require_valid_name(name)
        ctx.require_visible(name)
        item = self.config_item(ctx.org_id, name)
        if item is None and name not in queue_counters.read_counts(self.table, ctx.org_id, [name]):
            raise NotFound()
        return config_document(ctx.org_id, name, item, self.clock.now_ms())

    def update_config(self, ctx: AuthContext, name: str, req: am.QueueConfigUpdate) -> dict[str, Any]:
        require_valid_name(name)
        ctx.require_queue(name)
        config = settings()
        now_ms = self.clock.now_ms()
        enabled = True if req.enabled is None else req.enabled
        # The reference's PUT is a replace: omitted fields go back to their defaults, except
        # settings, which stay as they were unless sent.
        sets: dict[str, Any] = {
            "max_retries": req.max_retries if req.max_retries is not None else config.default_max_retries,
            "default_timeout": (
                req.default_timeout if req.default_timeout is not None else config.default_timeout_seconds
            ),
            "rate_limit": min(req.rate_limit, MAX_RATE_LIMIT) if req.rate_limit is not None else None,
            "enabled": enabled,
        }
        if req.settings is not None:
            _require_own_lambda_worker(self.table, ctx.org_id, req.settings)
            self._require_valid_ready_shards(ctx.org_id, name, req.settings)
            sets["settings"] = json.dumps(
                {k: v for k, v in req.settings.items() if k not in ("paused", "paused_at", "paused_reason")}
            )
        defaults: dict[str, Any] = {} if "settings" in sets else {"settings": "{}"}
        removes: tuple[str, ...] = ()
        if enabled:
            removes = ("paused_at", "paused_reason")
        else:
            defaults["paused_at"] = now_ms
        response = self._db.update_item(
            **ex.upsert_queue_config(
                self.table,
                ctx.org_id,
                name,
                config_id=str(uuid.uuid4()),
                sets=sets,
                removes=removes,
                defaults=defaults,
                now_ms=now_ms,
            )
        )
        queue_settings.forget_everywhere()  # this container serves the new config at once
        return config_document(ctx.org_id, name, dynamo_codec.decode_item(response["Attributes"]), now_ms)

    def _require_valid_ready_shards(self, org_id: str, name: str, document: dict[str, Any]) -> None:
        """settings.ready_shards: 1-64, and never lower than before: claims read the shards below
        it only, so jobs already waiting in a higher shard would be stranded."""
        wanted = document.get("ready_shards")
        if wanted is None:
            return
        current = queue_settings.settings_of(self.config_item(org_id, name)).get("ready_shards", 1)
        problem = None
        if not isinstance(wanted, int) or isinstance(wanted, bool) or not 1 <= wanted <= 64:
            problem = ("ready_shards must be an integer from 1 to 64", "out_of_range")
        elif isinstance(current, int) and wanted < current:
            problem = (f"ready_shards can only grow (it is {current})", "cannot_decrease")
        if problem:
            raise ValidationFailed(
                details=[{"field": "settings.ready_shards", "message": problem[0], "code": problem[1]}]
            )

    def pause(self, ctx: AuthContext, name: str, req: am.PauseQueue) -> dict[str, Any]:
        require_valid_name(name)
        ctx.require_queue(name)
        config = settings()
        now_ms = self.clock.now_ms()
        sets: dict[str, Any] = {"enabled": False, "paused_reason": req.reason or None}
        response = self._db.update_item(
            **ex.upsert_queue_config(
                self.table,
                ctx.org_id,
                name,
                config_id=str(uuid.uuid4()),
                sets=sets,
                # Pausing a paused queue keeps the first pause's time: the duration counts from it.
                defaults={
                    "paused_at": now_ms,
                    "max_retries": config.default_max_retries,
                    "default_timeout": config.default_timeout_seconds,
                    "settings": "{}",
                },
                now_ms=now_ms,
            )
        )
        queue_settings.forget_everywhere()  # this container serves the new config at once
        item = dynamo_codec.decode_item(response["Attributes"])
        return {
            "queue_name": name,
            "paused": True,
            "paused_at": to_rfc3339(item.get("paused_at", now_ms)),
            "reason": item.get("paused_reason"),
        }

    def resume(self, ctx: AuthContext, name: str) -> dict[str, Any]:
        require_valid_name(name)
        ctx.require_queue(name)
        now_ms = self.clock.now_ms()
        try:
            response = self._db.update_item(**ex.resume_queue(self.table, ctx.org_id, name, now_ms))
        except Exception as error:
            if _conditional_failed(error):
                raise NotFound() from error
            raise
        queue_settings.forget_everywhere()  # this container serves the new config at once
        old = dynamo_codec.decode_item(response.get("Attributes") or {})
        paused_at = old.get("paused_at") if old.get("enabled") is False else None
        return {
            "queue_name": name,
            "resumed": True,
            "paused_duration_secs": max(0, (now_ms - paused_at) // 1000) if paused_at else 0,
        }

    def stats(self, ctx: AuthContext, name: str) -> dict[str, Any]:
        require_valid_name(name)
        ctx.require_visible(name)
        now_ms = self.clock.now_ms()
        counts = queue_counters.read_counts(self.table, ctx.org_id, [name]).get(name, {})
        day = job_activity.last_24_hours(self.table, ctx.org_id, now_ms, [name])
        workers = WorkerDirectory(self.table, self.clock).active_per_queue(ctx.org_id)
        return {
            "queue_name": name,
            "pending_jobs": counts.get("pending", 0),
            "processing_jobs": counts.get("processing", 0),
            "completed_jobs_24h": job_activity.total(day, "completed", [name]),
            "failed_jobs_24h": job_activity.total(day, "deadlettered", [name]),
            "avg_processing_time_ms": job_activity.average(day, "proc_ms", "proc_n", [name]),
            "max_job_age_seconds": None,
            "active_workers": workers.get(name, 0),
        }

    def delete(self, ctx: AuthContext, name: str, delete_jobs: bool) -> None:
        require_valid_name(name)
        ctx.require_queue(name)
        has_config = self.config_item(ctx.org_id, name) is not None
        counts = queue_counters.read_counts(self.table, ctx.org_id, [name]).get(name)
        if delete_jobs:
            try:
                deleted = job_purge.purge(self.table, ctx.org_id, name)
            except job_purge.PurgeIncomplete as incomplete:
                raise Conflict(
                    f"{incomplete.deleted} jobs deleted so far; more remain: repeat the request to finish"
                ) from None
            if not has_config and not deleted and counts is None:
                raise NotFound()
        else:
            if not has_config:
                raise NotFound()
            if counts and any(counts.get(status, 0) for status in ACTIVE):
                raise Conflict("The queue has pending or processing jobs; delete_jobs=true deletes them too")
        if has_config:
            try:
                self._db.delete_item(**ex.delete_queue_config(self.table, ctx.org_id, name))
                queue_settings.forget_everywhere()
            except Exception as error:
                if not _conditional_failed(error):
                    raise  # (a failed condition: a concurrent delete got there first, also fine)

    # --- queue defaults for new jobs (contract §2.5: max_retries, default_timeout) -----------

    def job_defaults(self, org_id: str, queue: str) -> tuple[int, int]:
        """(max_retries, timeout_seconds) a new job of this queue gets when the request omits them."""
        config = settings()
        item = self.config_item(org_id, queue, consistent=False) or {}
        return (
            int(item.get("max_retries", config.default_max_retries)),
            int(item.get("default_timeout", config.default_timeout_seconds)),
        )


def _require_own_lambda_worker(table: str, org_id: str, document: dict[str, Any]) -> None:
    """A queue may push its jobs only to a function its organization was allowed (403 otherwise):
    the invoker's role can call every worker function of the deployment (issue 12, finding 1)."""
    worker = document.get("lambda_worker")
    name = worker.get("function_name") if isinstance(worker, dict) else None
    if isinstance(name, str) and name:
        lambda_functions.require_allowed(table, org_id, name)
