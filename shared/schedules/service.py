"""The schedule operations of the API (contract §2.7), one function per endpoint.

Handlers parse the request, call one of these and map the result. Scope rules as for jobs: a
queue-scoped key may create schedules only for its queues (403 otherwise) and does not see other
schedules at all (404, absent from lists).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from shared.identity import plan_limits
from shared.identity.credentials import AuthContext
from shared.plumbing.clock import to_rfc3339
from shared.plumbing.config import settings
from shared.plumbing.errors import Conflict, NotFound, PayloadTooLarge, QuotaExceeded
from shared.plumbing.payload_store import encode_json, encoded_size, json_within_limit
from shared.schedules import expressions as sx
from shared.schedules import policy
from shared.schedules.fires import ScheduleFirer
from shared.schedules.model import new_schedule_item, run_document, schedule_document
from shared.schedules.requests import CreateSchedule, UpdateSchedule
from shared.schedules.store import CreateOutcome, ScheduleStore

# Schedule ids are UUIDs minted here; a longer path parameter names nothing (and DynamoDB would
# refuse it as a key with a 500).
MAX_ID_BYTES = 255
# A filtered list reads the index page by page; this bounds the work one request may do.
MAX_EXAMINED_PER_LIST = 5000
# Two edits at once: the loser reads again; a schedule edited this often in a row is a conflict.
EDIT_ATTEMPTS = 3
# Fields a PUT copies as given (None from an explicit null removes the value).
_PLAIN_FIELDS = ("name", "description", "priority", "max_retries", "timeout_seconds")
_JSON_FIELDS = ("tags", "metadata")
# A schedule is one item (DynamoDB: 400 KB at most). Each JSON field has its own limit, but a full
# template with full tags and metadata would not fit: together they stay under this, which leaves
# room for the rest of the item (name, description, keys: a few KB).
MAX_JSON_BYTES_PER_SCHEDULE = 380 * 1024


def _payload_limit() -> int:
    # The template lives in the schedule item (400 KB at most), so it is held to the inline size.
    config = settings()
    return min(config.max_payload_bytes, config.inline_payload_limit)


def _template_text(value: Any) -> str:
    return json_within_limit(value, "payload_template", _payload_limit())


def _require_item_fits(*texts: str | None) -> None:
    """413 instead of the 500 DynamoDB's item-size error would become."""
    size = sum(encoded_size(text) for text in texts if text is not None)
    limit = MAX_JSON_BYTES_PER_SCHEDULE
    if size > limit:
        raise PayloadTooLarge(
            f"payload_template, tags and metadata together are {size} bytes; the limit is {limit} bytes",
            error="payload_too_large",
            current=size,
            limit=limit,
            plan="self-hosted",
            upgrade_to=False,
        )


def _never_fires(field: str) -> Exception:
    return policy.invalid_field(field, "The schedule has no fire time left")


class ScheduleService:
    def __init__(self, store: ScheduleStore | None = None, firer: ScheduleFirer | None = None) -> None:
        self.store = store or ScheduleStore()
        self.firer = firer or ScheduleFirer(self.store)

    @property
    def _now_ms(self) -> int:
        return self.store.clock.now_ms()

    # --- create --------------------------------------------------------------------------

    def create(self, ctx: AuthContext, req: CreateSchedule) -> dict[str, Any]:
        ctx.require_queue(req.queue_name)
        compiled = policy.compile_cron(req.cron_expression, req.timezone)
        payload_text = _template_text(req.payload_template)
        _require_item_fits(
            payload_text,
            None if req.tags is None else encode_json(req.tags),
            None if req.metadata is None else encode_json(req.metadata),
        )
        now_ms = self._now_ms
        next_run_ms = policy.next_fire_ms(compiled, now_ms)
        if next_run_ms is None:
            raise _never_fires("cron_expression")
        schedule_id = str(uuid.uuid4())
        item = new_schedule_item(
            org_id=ctx.org_id,
            schedule_id=schedule_id,
            fields=req.model_dump(),
            payload_text=payload_text,
            next_run_ms=next_run_ms,
            now_ms=now_ms,
        )
        limit = self._schedule_limit(ctx.org_id)
        outcome = self.store.create(item, limit)
        if outcome is CreateOutcome.NO_ORGANIZATION:
            raise NotFound()
        if outcome is CreateOutcome.OVER_LIMIT:
            current = self.store.schedule_count(ctx.org_id)
            raise QuotaExceeded(
                f"Schedule limit reached ({limit})",
                error="limit_exceeded",
                resource="schedules",
                current=current,
                limit=limit,
                plan="self-hosted",
            )
        return {
            "id": schedule_id,
            "name": req.name,
            "cron_expression": req.cron_expression,
            "next_run_at": schedule_document(item)["next_run_at"],
        }

    def _schedule_limit(self, org_id: str) -> int | None:
        org = self.store.organization(org_id)
        if org is None:
            raise NotFound()
        return plan_limits.for_organization(org).max_schedules

    # --- reads ---------------------------------------------------------------------------

    def _visible(self, ctx: AuthContext, schedule_id: str) -> dict[str, Any]:
        if len(schedule_id.encode("utf-8")) > MAX_ID_BYTES:
            raise NotFound()
        item = self.store.get(ctx.org_id, schedule_id)
        if item is None or not ctx.allows_queue(item["queue_name"]):
            raise NotFound()
        return item

    def get(self, ctx: AuthContext, schedule_id: str) -> dict[str, Any]:
        return schedule_document(self._visible(ctx, schedule_id))

    def list(
        self, ctx: AuthContext, *, queue: str | None, is_active: bool | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        if queue is not None and not ctx.allows_queue(queue):
            return []
        wanted = offset + limit
        matched: list[dict[str, Any]] = []
        for examined, item in enumerate(self.store.iter_schedules(ctx.org_id), start=1):
            if (
                ctx.allows_queue(item["queue_name"])
                and (queue is None or item["queue_name"] == queue)
                and (is_active is None or bool(item.get("is_active")) == is_active)
            ):
                matched.append(item)
                if len(matched) >= wanted:
                    break
            if examined >= MAX_EXAMINED_PER_LIST:
                break
        return [schedule_document(item) for item in matched[offset:wanted]]

    def history(self, ctx: AuthContext, schedule_id: str, limit: int) -> list[dict[str, Any]]:
        schedule = self._visible(ctx, schedule_id)
        return [run_document(run) for run in self.store.runs(ctx.org_id, schedule["id"], limit)]

    # --- edits ---------------------------------------------------------------------------

    def _edit(
        self,
        ctx: AuthContext,
        schedule_id: str,
        change: Callable[[dict[str, Any]], tuple[dict[str, Any], bool | None] | None],
    ) -> dict[str, Any]:
        """Read, compute the change from what was read, write it conditional on the version read.
        `change` returns (sets, required is_active) or None for "nothing to do"."""
        for _ in range(EDIT_ATTEMPTS):
            item = self._visible(ctx, schedule_id)
            planned = change(item)
            if planned is None:
                return schedule_document(item)
            sets, require_active = planned
            updated = self.store.edit(
                ctx.org_id,
                item["id"],
                sets=sets,
                seen_version=int(item.get("version", 0)),
                require_active=require_active,
            )
            if updated is not None:
                return schedule_document(updated)
        raise Conflict("The schedule changed while it was being updated; try again")

    def _next_run_sets(self, item: dict[str, Any], next_run_ms: int | None) -> dict[str, Any]:
        return {"next_run_ms": next_run_ms, **sx.due_entry(item["id"], next_run_ms)}

    def update(self, ctx: AuthContext, schedule_id: str, req: UpdateSchedule) -> dict[str, Any]:
        given = req.model_fields_set - {"queue_name"}
        # Validate before reading: a bad cron is a 400 whatever the schedule's state.
        if "cron_expression" in given and req.cron_expression is None:
            raise policy.invalid_field("cron_expression", "cron_expression cannot be null")
        if "timezone" in given and req.timezone is None:
            raise policy.invalid_field("timezone", "timezone cannot be null")
        for name in ("name", "priority", "max_retries", "timeout_seconds", "is_active"):
            if name in given and getattr(req, name) is None:
                raise policy.invalid_field(name, f"{name} cannot be null")
        template_text = _template_text(req.payload_template) if "payload_template" in given else None

        def change(item: dict[str, Any]) -> tuple[dict[str, Any], bool | None]:
            sets: dict[str, Any] = {name: getattr(req, name) for name in _PLAIN_FIELDS if name in given}
            for name in _JSON_FIELDS:
                if name in given:
                    value = getattr(req, name)
                    sets[name] = None if value is None else encode_json(value)
            if template_text is not None:
                sets["payload_template"] = template_text
            after = {**item, **sets}
            _require_item_fits(*(after.get(name) for name in ("payload_template", *_JSON_FIELDS)))
            expression = req.cron_expression if "cron_expression" in given else item["cron_expression"]
            zone = req.timezone if "timezone" in given else item["timezone"]
            compiled = policy.compile_cron(str(expression), str(zone))
            sets["cron_expression"], sets["timezone"] = expression, zone
            was_active = bool(item.get("is_active"))
            active = req.is_active if "is_active" in given else was_active
            retimed = expression != item["cron_expression"] or zone != item["timezone"]
            if active and (retimed or not was_active):
                next_run_ms = policy.next_fire_ms(compiled, self._now_ms)
                if next_run_ms is None:
                    raise _never_fires("cron_expression")
                sets.update(self._next_run_sets(item, next_run_ms))
            elif not active and was_active:
                sets.update(self._next_run_sets(item, None))
            sets["is_active"] = active
            return sets, None

        return self._edit(ctx, schedule_id, change)

    def pause(self, ctx: AuthContext, schedule_id: str) -> dict[str, Any]:
        def change(item: dict[str, Any]) -> tuple[dict[str, Any], bool | None] | None:
            if not item.get("is_active"):
                return None  # already paused: pausing again changes nothing
            return {"is_active": False, **self._next_run_sets(item, None)}, True

        return self._edit(ctx, schedule_id, change)

    def resume(self, ctx: AuthContext, schedule_id: str) -> dict[str, Any]:
        def change(item: dict[str, Any]) -> tuple[dict[str, Any], bool | None] | None:
            if item.get("is_active"):
                return None
            compiled = policy.compile_cron(item["cron_expression"], item["timezone"])
            next_run_ms = policy.next_fire_ms(compiled, self._now_ms)
            if next_run_ms is None:
                raise _never_fires("cron_expression")
            return {"is_active": True, **self._next_run_sets(item, next_run_ms)}, False

        return self._edit(ctx, schedule_id, change)

    def delete(self, ctx: AuthContext, schedule_id: str) -> None:
        item = self._visible(ctx, schedule_id)
        if not self.store.delete(ctx.org_id, item["id"]):
            raise NotFound()

    # --- manual trigger ------------------------------------------------------------------

    def trigger(self, ctx: AuthContext, schedule_id: str) -> dict[str, Any]:
        """Make the schedule's job now (paused or not); the run is recorded either way, and a job
        that cannot be made answers with its error (413, 429...) after being recorded."""
        schedule = self._visible(ctx, schedule_id)
        ctx.require_queue(schedule["queue_name"])
        result = self.firer.run_now(schedule)
        if result.error is not None:
            raise result.error
        return {"job_id": result.job_id, "triggered_at": to_rfc3339(result.at_ms)}
