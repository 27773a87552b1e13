"""Keys, conditions and updates of cron schedules and their runs (contract §2.7, §3.9).

  schedule       pk SCHEDULE#{org}#{schedule_id}   sk SCHEDULE
  schedule run   pk SCHEDULE#{org}#{schedule_id}   sk RUN#{at_ms:015d}#{run_id}   (TTL expires_ttl)

Index entries of a schedule:
  by_org   org_pk SCHEDULES#{org}, created_sk   (listing; shared/operations/usage.py counts this partition)
  timers   timer_pk SCHEDULES, timer_sk {next_run_ms:015d}#{id}   while active: the sweep finds
           overdue schedules there without a scan. One partition for the deployment; job timers
           live in {org}#{queue} partitions, so neither sweep ever reads the other's entries.

User edits (PUT, pause, resume) bump `version` and are conditional on the version they read.
Fires never bump it (an edit never has to retry because of a fire): they are conditional on
`next_run_ms`, the one field a fire moves, and on the version they read.
"""

from __future__ import annotations

from typing import Any

from shared.identity.expressions import count_in_organization
from shared.plumbing import dynamo_codec, schema
from shared.plumbing.table_keys import TIMER_DIGITS, created_sk, query_timer_partition, timer_sk
from shared.plumbing.update_builder import Update

TIMERS = schema.TIMER_INDEX
SCHEDULE_SK = "SCHEDULE"
RUN_PREFIX = "RUN#"
DUE_SCHEDULES_PARTITION = "SCHEDULES"  # timers-index partition of every active schedule


def schedule_pk(org_id: str, schedule_id: str) -> str:
    return f"SCHEDULE#{org_id}#{schedule_id}"


def schedule_key(org_id: str, schedule_id: str) -> dict[str, Any]:
    return {"pk": {"S": schedule_pk(org_id, schedule_id)}, "sk": {"S": SCHEDULE_SK}}


def schedule_ids_from_pk(pk: str) -> tuple[str, str]:
    """(org_id, schedule_id) of a schedule or run key."""
    _, org_id, schedule_id = pk.split("#", 2)
    return org_id, schedule_id


def schedules_by_org_pk(org_id: str) -> str:
    return f"SCHEDULES#{org_id}"


def run_sk(at_ms: int, run_id: str) -> str:
    return f"{RUN_PREFIX}{at_ms:0{TIMER_DIGITS}d}#{run_id}"


def run_key(org_id: str, schedule_id: str, at_ms: int, run_id: str) -> dict[str, Any]:
    return {"pk": {"S": schedule_pk(org_id, schedule_id)}, "sk": {"S": run_sk(at_ms, run_id)}}


def index_keys(org_id: str, schedule_id: str, created_ms: int) -> dict[str, str]:
    return {"org_pk": schedules_by_org_pk(org_id), "created_sk": created_sk(created_ms, schedule_id)}


def due_entry(schedule_id: str, next_run_ms: int | None) -> dict[str, str | None]:
    """The timers-index key of a schedule: present exactly while it has a next fire."""
    if next_run_ms is None:
        return {TIMERS.partition_key.name: None, TIMERS.sort_key.name: None}
    return {
        TIMERS.partition_key.name: DUE_SCHEDULES_PARTITION,
        TIMERS.sort_key.name: timer_sk(next_run_ms, schedule_id),
    }


# --- create and delete ---------------------------------------------------------------------


def put_new_schedule(table: str, item: dict[str, Any]) -> dict[str, Any]:
    # A UUID collision is astronomically unlikely, but an overwrite would hand one schedule's
    # history and fires to another.
    return {
        "TableName": table,
        "Item": dynamo_codec.encode_item(item),
        "ConditionExpression": "attribute_not_exists(pk)",
    }


def count_schedules(
    table: str, org_id: str, delta: int, max_schedules: int | None, now_ms: int
) -> dict[str, Any]:
    return count_in_organization(table, org_id, "schedule_count", delta, max_schedules, now_ms)


def delete_schedule(table: str, org_id: str, schedule_id: str) -> dict[str, Any]:
    # Two deletes at once: only the one that still finds the item decrements the count.
    return {
        "TableName": table,
        "Key": schedule_key(org_id, schedule_id),
        "ConditionExpression": "attribute_exists(pk)",
    }


# --- user edits ----------------------------------------------------------------------------


def edit_schedule(
    table: str,
    org_id: str,
    schedule_id: str,
    *,
    sets: dict[str, Any],
    seen_version: int,
    now_ms: int,
    require_active: bool | None = None,
) -> dict[str, Any]:
    """PUT, pause and resume: fields computed from the item as read at `seen_version`. Two edits
    at once (say a PUT of the cron and a pause) each recompute next_run from what they read; the
    version condition lets only the first through, and the second reads again. `require_active`
    asserts the state a transition starts from (pause only from active, resume only from paused).
    A None value in `sets` removes the attribute (a paused schedule has no next run, and so no
    timers-index entry)."""
    u = Update()
    for name, value in sets.items():
        u.set(name, value)
    u.set("updated_at", now_ms).bump_version()
    u.condition(f"attribute_exists({u.n('pk')})")
    u.condition(f"{u.n('version')} = {u.v('seen_version', seen_version)}")
    if require_active is not None:
        u.condition(f"{u.n('is_active')} = {u.v('was_active', require_active)}")
    args = u.build(table, schedule_key(org_id, schedule_id))
    args["ReturnValues"] = "ALL_NEW"
    return args


# --- fires and runs ------------------------------------------------------------------------


def advance_after_fire(
    table: str,
    org_id: str,
    schedule_id: str,
    *,
    fire_ms: int,
    next_run_ms: int | None,
    seen_version: int,
    now_ms: int,
) -> dict[str, Any]:
    """The fire at fire_ms happened: move on to next_run_ms, computed from the schedule as read
    at `seen_version`. Guards three races: a second delivery of the same fire (next_run_ms has
    already moved on); a pause or delete since the fire was read (inactive, or gone); and a PUT
    of the cron or time zone whose own next run is this very fire (next_run_ms unchanged, but the
    run after it must come from the new cron, so the version condition sends the fire back to
    read it)."""
    u = Update()
    for name, value in due_entry(schedule_id, next_run_ms).items():
        u.set(name, value)
    u.set("next_run_ms", next_run_ms).set("last_run_at", now_ms).set("updated_at", now_ms)
    u.adds.append(f"{u.n('run_count')} {u.v('one', 1)}")
    u.condition(f"{u.n('next_run_ms')} = {u.v('fire', fire_ms)}")
    u.condition(f"{u.n('is_active')} = {u.v('active', True)}")
    u.condition(f"{u.n('version')} = {u.v('seen_version', seen_version)}")
    return u.build(table, schedule_key(org_id, schedule_id))


def count_run(table: str, org_id: str, schedule_id: str, now_ms: int) -> dict[str, Any]:
    """A run that does not move next_run: a manual trigger, or a cron fire whose job was made just
    as a PUT or pause changed the schedule. attribute_exists: a run racing the schedule's deletion
    must not leave a half item behind."""
    u = Update()
    u.set("last_run_at", now_ms).set("updated_at", now_ms)
    u.adds.append(f"{u.n('run_count')} {u.v('one', 1)}")
    u.condition(f"attribute_exists({u.n('pk')})")
    return u.build(table, schedule_key(org_id, schedule_id))


def put_run(table: str, item: dict[str, Any]) -> dict[str, Any]:
    # A cron run's key is derived from (schedule, fire time): a redelivered fire that got this far
    # finds its run already written, and the transaction it is part of changes nothing.
    return {
        "TableName": table,
        "Item": dynamo_codec.encode_item(item),
        "ConditionExpression": "attribute_not_exists(pk)",
    }


# --- queries -------------------------------------------------------------------------------


def query_runs(table: str, org_id: str, schedule_id: str, limit: int) -> dict[str, Any]:
    # Newest first: run sort keys start with the run's time.
    return {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeValues": {
            ":pk": {"S": schedule_pk(org_id, schedule_id)},
            ":prefix": {"S": RUN_PREFIX},
        },
        "ScanIndexForward": False,
        "Limit": limit,
        "ConsistentRead": True,
    }


def query_overdue(
    table: str, due_before_ms: int, limit: int, start_key: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Active schedules whose next fire is at or before due_before_ms, oldest first."""
    return query_timer_partition(
        table, DUE_SCHEDULES_PARTITION, due_by_ms=due_before_ms, limit=limit, start_key=start_key
    )
