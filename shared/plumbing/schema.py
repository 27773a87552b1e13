"""The one definition of every table, index, queue and bucket the product uses.

The CDK stack (`stacks/`) and the local stack (`local_stack/`) both build their resources from
these values, and the store code takes its index and attribute names from here, so the three
cannot drift apart. A drift test compares the synthesized template with what `make dev` creates.

Plain data only: importing this module must stay cheap because every Lambda imports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class KeyAttribute:
    name: str
    type: str = "S"  # DynamoDB scalar type: S, N or B


@dataclass(frozen=True)
class GlobalIndex:
    name: str
    partition_key: KeyAttribute
    sort_key: KeyAttribute
    projection: str = "KEYS_ONLY"  # KEYS_ONLY | INCLUDE | ALL
    non_key_attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableDefinition:
    logical_id: str
    env_var: str  # the functions find the physical name in this environment variable
    local_name: str  # the name the local stack gives it
    partition_key: KeyAttribute
    sort_key: KeyAttribute
    indexes: tuple[GlobalIndex, ...] = ()
    stream_view: str | None = None  # NEW_AND_OLD_IMAGES etc.; None = no stream
    ttl_attribute: str | None = None


@dataclass(frozen=True)
class QueueDefinition:
    logical_id: str
    env_var: str  # holds the queue URL
    local_name: str
    visibility_timeout_seconds: int
    max_receive_count: int  # deliveries before SQS moves a message to the dead-letter queue
    dead_letter_local_name: str
    dead_letter_logical_id: str
    retention_days: int = 14


@dataclass(frozen=True)
class FailureQueueDefinition:
    """A queue that only receives what failed for good (an event source's on-failure destination)."""

    logical_id: str
    local_name: str
    retention_days: int = 14  # SQS's maximum: time to inspect and replay


@dataclass(frozen=True)
class StreamReaderDefinition:
    """One reader of the table's stream: its Lambda event-source mapping on AWS, and the local
    stream poller in make dev, read the same batch size, retries and filter from here.

    `filters` are Lambda event filter patterns (OR between patterns, AND inside one). They are
    positive lists: Lambda filters have no "anything but this prefix", so each names the key
    prefixes its reader handles, and every other item (counters, activity buckets, stream marks,
    live connections) never reaches it."""

    name: str
    batch_size: int
    retry_attempts: int  # of a failing record, before it goes to the failure queue
    filters: tuple[dict[str, Any], ...]


def key_prefix_pattern(pk_prefixes: tuple[str, ...], sk_prefixes: tuple[str, ...] = ()) -> dict[str, Any]:
    """A filter pattern on the record's key: pk starts with one of pk_prefixes (and sk with one of
    sk_prefixes, when given)."""
    keys: dict[str, Any] = {"pk": {"S": [{"prefix": p} for p in pk_prefixes]}}
    if sk_prefixes:
        keys["sk"] = {"S": [{"prefix": p} for p in sk_prefixes]}
    return {"dynamodb": {"Keys": keys}}


@dataclass(frozen=True)
class BucketDefinition:
    logical_id: str
    env_var: str
    local_name: str
    # Objects under this prefix are job payloads/results too large for a DynamoDB item.
    prefixes: tuple[str, ...] = field(default=("payloads/",))
    # Orphans: an object is written before the item that points at it, carrying this tag, and is
    # re-tagged `committed_tag` once that item is written. An object whose item never got written
    # (a cancelled transaction, a lost lease, a crash in between) keeps the first tag, and the
    # bucket's lifecycle rule expires it after `orphan_expiry_days`: no table read tells them apart.
    uncommitted_tag: tuple[str, str] = ("spooled-state", "uncommitted")
    committed_tag: tuple[str, str] = ("spooled-state", "committed")
    orphan_expiry_days: int = 1
    # Parts of a multipart upload nobody completed are billed and invisible in listings.
    abort_incomplete_upload_days: int = 1


# --- the job table -------------------------------------------------------------------------
# One table holds every item of the service (jobs, idempotency claims, organizations, API keys,
# workers, queue configs, counters); items are told apart by their key prefixes (see
# shared/dynamo_keys.py). Sparse indexes hold an item only while it has the index's key
# attributes, so an update that removes them takes the item out of the index.

READY_INDEX = GlobalIndex(
    # Claimable jobs: partition {org}#{queue}#{shard}, sort by priority desc then age.
    # timeout_seconds is projected so a claim can cap each lease at the job's timeout in the same
    # conditional write (it never changes after create, so a stale index entry cannot mislead).
    name="ready",
    partition_key=KeyAttribute("ready_pk"),
    sort_key=KeyAttribute("ready_sk"),
    projection="INCLUDE",
    non_key_attributes=("timeout_seconds",),
)
TIMER_INDEX = GlobalIndex(
    # Jobs waiting for a moment: scheduled (due at scheduled_at), pending in retry backoff, pending
    # with an expires_at (due then), processing (due at lease end). Partition {org}#{queue}.
    # Partition LIVE_WORKERS lists every worker not yet offline, for the stale-worker sweep.
    name="timers",
    partition_key=KeyAttribute("timer_pk"),
    sort_key=KeyAttribute("timer_sk"),
    projection="INCLUDE",
    non_key_attributes=("status",),
)
BY_ORG_INDEX = GlobalIndex(
    # An organization's items of one kind, newest first: partition {kind}#{org} (workers, API
    # keys; jobs are listed from their own table partitions, JOB#{org}#{shard}). Keys only, and
    # the keys never change, so it is written once per item.
    name="by_org",
    partition_key=KeyAttribute("org_pk"),
    sort_key=KeyAttribute("created_sk"),
)
DEAD_LETTER_INDEX = GlobalIndex(
    # Dead-lettered jobs of an organization (sparse); queue_name projected for the queue filter.
    name="dead_letter",
    partition_key=KeyAttribute("dlq_pk"),
    sort_key=KeyAttribute("created_at", "N"),
    projection="INCLUDE",
    non_key_attributes=("queue_name",),
)

JOBS_TABLE = TableDefinition(
    logical_id="JobsTable",
    env_var="SPOOLED_TABLE",
    local_name="spooled-jobs",
    partition_key=KeyAttribute("pk"),
    sort_key=KeyAttribute("sk"),
    indexes=(READY_INDEX, TIMER_INDEX, BY_ORG_INDEX, DEAD_LETTER_INDEX),
    # The stream feeds per-queue counters and, later, live updates and outgoing webhooks.
    stream_view="NEW_AND_OLD_IMAGES",
    ttl_attribute="expires_ttl",
)

# --- queues --------------------------------------------------------------------------------

DISPATCH_QUEUE = QueueDefinition(
    # Timers with second precision: delayed messages that wake the dispatcher. Visibility is six
    # times the dispatcher's 120 s timeout (AWS's advice for a Lambda consumer), which the stream
    # batches and the sweep it also runs need; a failed timer is retried after it, and the minute
    # sweep covers a due timer sooner.
    logical_id="DispatchQueue",
    env_var="SPOOLED_DISPATCH_QUEUE_URL",
    local_name="spooled-dispatch",
    visibility_timeout_seconds=720,
    max_receive_count=5,
    dead_letter_local_name="spooled-dispatch-dlq",
    dead_letter_logical_id="DispatchDeadLetterQueue",
)

# --- the stream's readers -------------------------------------------------------------------

STREAM_FAILURE_QUEUE = FailureQueueDefinition(
    # Where a stream record that failed every retry goes (on AWS: the batch's shard and sequence
    # range, from Lambda; in make dev: the record itself), so that it blocks its shard for a few
    # retries, not for the stream's 24 h, and is never silently lost. An alarm watches it.
    logical_id="StreamFailureQueue",
    local_name="spooled-stream-failures",
)

DISPATCHER_STREAM = StreamReaderDefinition(
    # The dispatcher acts on jobs (counters, activity, timers, releases, pumps, webhooks), workers,
    # schedules and their runs, workflows, and queue configs (queue.paused/resumed webhooks). It
    # writes counters and activity buckets (each queue's partition QSTAT#…), stream marks (SMARK#)
    # and Lambda-worker slots (LAMBDA#), nothing it reads back: no pattern below names them.
    name="dispatcher",
    # Up to 1,000 records per invocation (no batching window: a quiet stream is handled at once).
    # Counters, activity and marks cost a fixed few writes per queue and batch, so a busy stream's
    # larger batches are what keeps a queue's QSTAT# partition far below 1,000 writes/s: at 100
    # records a batch it capped one queue near 4,000 jobs/s (make bench, part 6).
    batch_size=1000,
    # Partial batch responses restart at the failing record, so a poison record holds its shard
    # back for this many invocations and then goes to STREAM_FAILURE_QUEUE.
    retry_attempts=5,
    filters=(
        key_prefix_pattern(("JOB#", "WORKER#", "SCHEDULE#", "WORKFLOW#")),
        key_prefix_pattern(("ORG#",), ("QUEUE#",)),
    ),
)

LIVE_STREAM = StreamReaderDefinition(
    # Live updates turn the same kinds of change into frames, plus the queue counters (QueueStats
    # frames: the QSTAT item of each queue's partition, not its activity buckets beside it) and
    # credential changes (API keys, login families) that close sockets. They write
    # connections (LIVE#, LIVECONN#) and the server-sent-events log, which are left out; an API
    # key's last-use touch still comes back (the key is needed for revocations).
    name="live-updates",
    batch_size=100,
    retry_attempts=2,  # news only while fresh (stacks/live_updates.py also caps the record age)
    filters=(
        key_prefix_pattern(("JOB#", "WORKER#", "SCHEDULE#", "WORKFLOW#", "RFAM#", "APIKEY#")),
        key_prefix_pattern(("ORG#",), ("QUEUE#",)),
        key_prefix_pattern(("QSTAT#",), ("QSTAT",)),
    ),
)

# --- buckets -------------------------------------------------------------------------------

PAYLOAD_BUCKET = BucketDefinition(
    logical_id="PayloadBucket",
    env_var="SPOOLED_PAYLOAD_BUCKET",
    local_name="spooled-payloads",
)

LAMBDA_WORKER_QUEUE = QueueDefinition(
    # One message per job pushed to a queue's Lambda worker. Its consumer waits for the worker
    # function (up to Lambda's 900 s), so visibility covers that six times over, as AWS advises for
    # a Lambda consumer; a redelivery after that finds the lease gone and does nothing.
    logical_id="LambdaWorkerQueue",
    env_var="SPOOLED_LAMBDA_WORKER_QUEUE_URL",
    local_name="spooled-lambda-workers",
    visibility_timeout_seconds=5400,
    max_receive_count=3,
    dead_letter_local_name="spooled-lambda-workers-dlq",
    dead_letter_logical_id="LambdaWorkerDeadLetterQueue",
)

SCHEDULE_FIRE_QUEUE = QueueDefinition(
    # Cron fires with second precision: {org_id, schedule_id, fire_ms} messages, delayed to the
    # exact second (re-sent while more than 900 s away). EventBridge Scheduler one-time schedules
    # send the first message of a far fire straight to this queue; the scheduler function consumes it.
    logical_id="ScheduleFireQueue",
    env_var="SPOOLED_SCHEDULE_QUEUE_URL",
    local_name="spooled-schedule-fires",
    visibility_timeout_seconds=60,
    max_receive_count=5,
    dead_letter_local_name="spooled-schedule-fires-dlq",
    dead_letter_logical_id="ScheduleFireDeadLetterQueue",
)

WEBHOOK_DELIVERY_QUEUE = QueueDefinition(
    # One message per (outgoing webhook, event) and per completion webhook; a failed attempt is
    # re-sent with the backoff as its delay. The webhooks function consumes it.
    logical_id="WebhookDeliveryQueue",
    env_var="SPOOLED_WEBHOOK_QUEUE_URL",
    local_name="spooled-webhook-deliveries",
    # Six times the function's 30 s timeout (a delivery may take 5 s to connect + 10 s to answer),
    # as AWS advises for a Lambda consumer, so a slow batch is not delivered twice meanwhile.
    visibility_timeout_seconds=180,
    max_receive_count=5,
    dead_letter_local_name="spooled-webhook-deliveries-dlq",
    dead_letter_logical_id="WebhookDeliveryDeadLetterQueue",
)

# EventBridge Scheduler: the group that holds one one-time schedule per far cron fire, and the
# environment variables that name it and the role it assumes to send to SCHEDULE_FIRE_QUEUE.
SCHEDULE_GROUP_ENV = "SPOOLED_SCHEDULE_GROUP"
SCHEDULE_GROUP_LOCAL_NAME = "spooled-schedules"
SCHEDULE_ROLE_ARN_ENV = "SPOOLED_SCHEDULE_ROLE_ARN"
SCHEDULE_QUEUE_ARN_ENV = "SPOOLED_SCHEDULE_QUEUE_ARN"
# The WebSocket API's management endpoint (https://{api}.execute-api.{region}.amazonaws.com/{stage});
# in make dev the local gateway answers the same @connections calls.
WS_CALLBACK_URL_ENV = "SPOOLED_WS_CALLBACK_URL"

TABLES: tuple[TableDefinition, ...] = (JOBS_TABLE,)
QUEUES: tuple[QueueDefinition, ...] = (
    DISPATCH_QUEUE,
    LAMBDA_WORKER_QUEUE,
    SCHEDULE_FIRE_QUEUE,
    WEBHOOK_DELIVERY_QUEUE,
)
BUCKETS: tuple[BucketDefinition, ...] = (PAYLOAD_BUCKET,)
