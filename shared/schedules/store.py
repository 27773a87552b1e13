"""The DynamoDB side of cron schedules: the schedule items, their runs, the overdue index.

Every key and expression comes from shared/schedules/expressions.py. A failed condition is a
lost race, reported to the caller as a value (None/False/an outcome), never raised as a crash.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.plumbing import dynamo_codec, schema, table_service
from shared.plumbing.aws_clients import error_code, is_conditional_failure
from shared.plumbing.table_keys import org_key, query_newest_first
from shared.plumbing.table_service import TableService
from shared.schedules import expressions as sx

PAGE = 100


def _cancellation_codes(error: Exception) -> list[str]:
    reasons = getattr(error, "response", {}).get("CancellationReasons") or []
    return [reason.get("Code", "None") for reason in reasons]


class CreateOutcome(StrEnum):
    CREATED = "created"
    OVER_LIMIT = "over_limit"  # the organization's schedule count is at its limit
    NO_ORGANIZATION = "no_organization"  # deleted in between


class RunOutcome(StrEnum):
    RECORDED = "recorded"  # the run is written (and, for a cron fire, next_run moved on)
    DUPLICATE = "duplicate"  # this fire's run was already written: a second delivery
    SCHEDULE_CHANGED = "schedule_changed"  # edited (or deleted) since the fire was read
    GONE = "gone"  # the schedule was deleted


@dataclass(frozen=True)
class OverdueFire:
    org_id: str
    schedule_id: str
    fire_ms: int


class ScheduleStore(TableService):
    # --- reads ---------------------------------------------------------------------------

    def get(self, org_id: str, schedule_id: str) -> dict[str, Any] | None:
        found = self._db.get_item(
            TableName=self.table, Key=sx.schedule_key(org_id, schedule_id), ConsistentRead=True
        )
        return dynamo_codec.decode_item(found["Item"]) if "Item" in found else None

    def iter_schedules(self, org_id: str) -> Iterator[dict[str, Any]]:
        """The organization's schedules, newest first, a page of index keys at a time."""
        index = schema.BY_ORG_INDEX
        partition = sx.schedules_by_org_pk(org_id)
        start_key = None
        while True:
            page = self._db.query(**query_newest_first(self.table, index, partition, PAGE, start_key))
            keys = [{"pk": raw["pk"], "sk": raw["sk"]} for raw in page.get("Items", [])]
            yield from table_service.get_items(self.table, keys)
            start_key = page.get("LastEvaluatedKey")
            if not start_key:
                return

    def runs(self, org_id: str, schedule_id: str, limit: int) -> list[dict[str, Any]]:
        response = self._db.query(**sx.query_runs(self.table, org_id, schedule_id, limit))
        return [dynamo_codec.decode_item(raw) for raw in response.get("Items", [])]

    def overdue(self, due_before_ms: int, limit: int = 500) -> list[OverdueFire]:
        """Active schedules whose next fire is at or before due_before_ms (the index may lag: the
        fire re-reads the schedule before it acts)."""
        fires: list[OverdueFire] = []
        start_key = None
        while len(fires) < limit:
            page = self._db.query(
                **sx.query_overdue(self.table, due_before_ms, min(PAGE, limit - len(fires)), start_key)
            )
            for raw in page.get("Items", []):
                org_id, schedule_id = sx.schedule_ids_from_pk(raw["pk"]["S"])
                due_ms = int(raw[schema.TIMER_INDEX.sort_key.name]["S"].split("#", 1)[0])
                fires.append(OverdueFire(org_id, schedule_id, due_ms))
            start_key = page.get("LastEvaluatedKey")
            if not start_key:
                break
        return fires

    # --- writes from the API -------------------------------------------------------------

    def create(self, item: dict[str, Any], max_schedules: int | None) -> CreateOutcome:
        org_id = item["org_id"]
        now_ms = item["created_at"]
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {"Put": sx.put_new_schedule(self.table, item)},
                    {"Update": sx.count_schedules(self.table, org_id, 1, max_schedules, now_ms)},
                ]
            )
        except Exception as error:
            if error_code(error) != "TransactionCanceledException":
                raise
            codes = _cancellation_codes(error)
            if len(codes) == 2 and codes[1] == "ConditionalCheckFailed":
                org = self.organization(org_id)
                if org is None or org.get("plan_tier") == "deleted":
                    return CreateOutcome.NO_ORGANIZATION
                return CreateOutcome.OVER_LIMIT
            raise
        return CreateOutcome.CREATED

    def schedule_count(self, org_id: str) -> int:
        org = self.organization(org_id)
        return max(0, int((org or {}).get("schedule_count", 0)))

    def organization(self, org_id: str) -> dict[str, Any] | None:
        found = self._db.get_item(TableName=self.table, Key=org_key(org_id), ConsistentRead=True)
        return dynamo_codec.decode_item(found["Item"]) if "Item" in found else None

    def edit(
        self,
        org_id: str,
        schedule_id: str,
        *,
        sets: dict[str, Any],
        seen_version: int,
        require_active: bool | None = None,
    ) -> dict[str, Any] | None:
        """The item after the edit, or None when the condition failed (changed or deleted since read)."""
        args = sx.edit_schedule(
            self.table,
            org_id,
            schedule_id,
            sets=sets,
            seen_version=seen_version,
            now_ms=self.clock.now_ms(),
            require_active=require_active,
        )
        try:
            response = self._db.update_item(**args)
        except Exception as error:
            if is_conditional_failure(error):
                return None
            raise
        return dynamo_codec.decode_item(response["Attributes"])

    def delete(self, org_id: str, schedule_id: str) -> bool:
        """False when it was already gone. The runs stay until their TTL: nothing reads them
        once the schedule is gone (history answers 404)."""
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {"Delete": sx.delete_schedule(self.table, org_id, schedule_id)},
                    {"Update": sx.count_schedules(self.table, org_id, -1, None, self.clock.now_ms())},
                ]
            )
        except Exception as error:
            if error_code(error) != "TransactionCanceledException":
                raise
            codes = _cancellation_codes(error)
            if codes and codes[0] == "ConditionalCheckFailed":
                return False
            raise
        return True

    def delete_all(self, org_id: str) -> int:
        """Every schedule of an organization that is being deleted (runs leave with their TTL).
        Each deletion reaches the stream like any other, which disarms its next fire."""
        keys = table_service.keys_in_partition(
            self.table, schema.BY_ORG_INDEX, sx.schedules_by_org_pk(org_id), 100_000
        )
        for key in keys:
            self._db.delete_item(TableName=self.table, Key=key)
        return len(keys)

    # --- runs ----------------------------------------------------------------------------

    def record_fire(
        self, run: dict[str, Any], *, fire_ms: int, next_run_ms: int | None, seen_version: int
    ) -> RunOutcome:
        """A cron fire's run and the schedule's move to its next fire, in one transaction: either
        both are written or neither (a crash in between cannot lose the run or fire twice)."""
        org_id, schedule_id = run["org_id"], run["schedule_id"]
        advance = sx.advance_after_fire(
            self.table,
            org_id,
            schedule_id,
            fire_ms=fire_ms,
            next_run_ms=next_run_ms,
            seen_version=seen_version,
            now_ms=self.clock.now_ms(),
        )
        codes = self._transact_run(run, advance)
        if codes is None:
            return RunOutcome.RECORDED
        if codes[0] == "ConditionalCheckFailed":
            return RunOutcome.DUPLICATE
        return RunOutcome.SCHEDULE_CHANGED

    def record_run(self, run: dict[str, Any]) -> RunOutcome:
        """A run that leaves next_run alone (manual trigger, or a fire that raced an edit)."""
        count = sx.count_run(self.table, run["org_id"], run["schedule_id"], self.clock.now_ms())
        codes = self._transact_run(run, count)
        if codes is None:
            return RunOutcome.RECORDED
        return RunOutcome.DUPLICATE if codes[0] == "ConditionalCheckFailed" else RunOutcome.GONE

    def _transact_run(self, run: dict[str, Any], schedule_update: dict[str, Any]) -> list[str] | None:
        """None when written; else the cancellation codes (run row first, schedule second)."""
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {"Put": sx.put_run(self.table, run)},
                    {"Update": schedule_update},
                ]
            )
        except Exception as error:
            if error_code(error) != "TransactionCanceledException":
                raise
            codes = _cancellation_codes(error)
            if len(codes) != 2 or "ConditionalCheckFailed" not in codes:
                raise
            return codes
        return None
