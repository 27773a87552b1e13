"""Counts what the service's own code asks of AWS, by hooking the botocore clients it uses.

`Meter.installed()` wraps shared.plumbing.aws_clients.client, so every client the handlers and stores get
carries botocore event hooks; the store is not changed to be counted. Around each DynamoDB write the
meter reads the item before and after through a separate, unhooked client (ImageReader) and prices
the call with bench/capacity.py. Those extra reads make unit counting single-threaded only: with
several threads the images could belong to another thread's write.

Time: an invocation's wall time minus the time spent waiting for the AWS endpoint (moto here) and
in the meter's own reads is the handler's own time; bench/cost_model.py turns that into Lambda
duration with real-AWS latencies added back.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench import capacity
from shared.plumbing import aws_clients

Key = dict[str, dict[str, Any]]
UNSEEN_ITEM_BYTES = 512  # the size assumed for items a filter dropped when none were returned
WRITE_OPERATIONS = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


@dataclass(frozen=True)
class SentMessage:
    body: str
    visible_at_ms: int  # when SQS will hand it out: sent time plus its DelaySeconds


@dataclass
class CallRecord:
    function: str  # the Lambda function the call was made from
    step: str  # what that invocation was doing (create, claim, ...)
    service: str
    operation: str
    index: str | None = None  # the index a query read
    write_units: float = 0.0
    read_units: float = 0.0
    index_write_units: dict[str, int] = field(default_factory=dict)
    partition_write_units: dict[tuple[str, str], int] = field(default_factory=dict)
    item_bytes: list[int] = field(default_factory=list)  # the larger image of each item written
    conditional_failed: bool = False
    sent_messages: list[SentMessage] = field(default_factory=list)  # to deliver them when due
    # The scale model's inputs: units per (table or index name, partition key value), writes
    # on the base table included, reads by the partition their key (condition) names.
    table_partition_write_units: dict[tuple[str, str], float] = field(default_factory=dict)
    # The base-table units by kind of item (item_kind: the leading word of each key attribute,
    # read off the keys written, e.g. "JOB/{id}"), so a step's table units split into the job's
    # own item and whatever else it writes, whatever the store's layout.
    item_kind_write_units: dict[str, float] = field(default_factory=dict)
    partition_read_units: dict[tuple[str, str], float] = field(default_factory=dict)
    # Round trips: which invocation made the call, and when it was on the wire (perf_counter).
    invocation_id: int = 0
    started: float = 0.0
    ended: float = 0.0


@dataclass
class InvocationRecord:
    function: str
    step: str
    wall_seconds: float = 0.0
    excluded_seconds: float = 0.0  # waiting on the AWS endpoint, and the meter's own reads
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def own_seconds(self) -> float:
        return max(0.0, self.wall_seconds - self.excluded_seconds)


class ImageReader:
    """Consistent reads of whole items through a client the meter does not count."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._shapes: dict[str, capacity.TableShape] = {}

    def shape(self, table: str) -> capacity.TableShape:
        if table not in self._shapes:
            description = self._client.describe_table(TableName=table)["Table"]
            self._shapes[table] = capacity.shape_from_description(description)
        return self._shapes[table]

    def get(self, table: str, key: Key) -> capacity.Item | None:
        found = self._client.get_item(TableName=table, Key=key, ConsistentRead=True)
        item: capacity.Item | None = found.get("Item")
        return item


def _write_targets(operation: str, params: dict[str, Any], images: ImageReader) -> list[tuple[str, Key, str]]:
    """(table, key, kind) of every item a write operation touches."""
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        table = params["TableName"]
        key = params["Key"] if "Key" in params else images.shape(table).key_of(params["Item"])
        return [(table, key, operation)]
    targets = []
    if operation == "BatchWriteItem":
        for table, requests in params["RequestItems"].items():
            for request in requests:
                if "PutRequest" in request:
                    targets.append((table, images.shape(table).key_of(request["PutRequest"]["Item"]), "Put"))
                else:
                    targets.append((table, request["DeleteRequest"]["Key"], "Delete"))
    elif operation == "TransactWriteItems":
        for entry in params["TransactItems"]:
            ((kind, body),) = entry.items()
            table = body["TableName"]
            key = body["Key"] if "Key" in body else images.shape(table).key_of(body["Item"])
            targets.append((table, key, kind))
    return targets


class Meter:
    def __init__(self, images: ImageReader | None = None) -> None:
        self.images = images
        self.calls: list[CallRecord] = []
        self.invocations: list[InvocationRecord] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        # The invocation open on the driving thread. A store may fan calls out to helper threads
        # (a parallel fetch); those threads have no invocation of their own, and the meter is
        # driven by one thread at a time, so their calls belong to this one.
        self._open: InvocationRecord | None = None
        self._paused = False
        self._hooked: list[tuple[Any, str, str]] = []

    # --- what the bench calls ------------------------------------------------------------

    @contextmanager
    def installed(self) -> Iterator[Meter]:
        """Hook every client shared.plumbing.aws_clients hands out while the block runs."""
        original = aws_clients.client

        def metered_client(service: str) -> Any:
            return self.attach(original(service))

        aws_clients.client = metered_client  # type: ignore[assignment]
        try:
            yield self
        finally:
            aws_clients.client = original  # type: ignore[assignment]
            for client, event, unique_id in self._hooked:
                client.meta.events.unregister(event, unique_id=unique_id)
                client._bench_meter_marker = None
            self._hooked.clear()

    def attach(self, client: Any) -> Any:
        marker = f"bench-meter-{id(self)}"
        if getattr(client, "_bench_meter_marker", None) == marker:
            return client
        events = client.meta.events
        hooks = (
            ("before-parameter-build", self._before_build, False),
            ("before-send", self._before_send, True),  # ahead of moto's in-process stub
            ("before-parse", self._before_parse, False),
            ("after-call", self._after_call, False),
        )
        for event, handler, first in hooks:
            unique_id = f"{marker}-{event}"
            register = events.register_first if first else events.register
            register(event, handler, unique_id=unique_id)
            self._hooked.append((client, event, unique_id))
        client._bench_meter_marker = marker
        return client

    @contextmanager
    def invocation(self, function: str, step: str) -> Iterator[InvocationRecord]:
        """One Lambda invocation: AWS calls made inside are attributed to it."""
        record = InvocationRecord(function, step)
        previous = getattr(self._local, "invocation", None)
        self._local.invocation = record
        shared_previous, self._open = self._open, record
        started = time.perf_counter()
        try:
            yield record
        finally:
            record.wall_seconds = time.perf_counter() - started
            self._local.invocation = previous
            self._open = shared_previous
            with self._lock:
                self.invocations.append(record)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Calls made inside are not counted (set-up, draining the stream)."""
        self._paused = True
        try:
            yield
        finally:
            self._paused = False

    # --- botocore hooks ------------------------------------------------------------------

    def _current(self) -> InvocationRecord | None:
        current: InvocationRecord | None = getattr(self._local, "invocation", None)
        return current if current is not None else self._open

    def _exclude(self, seconds: float) -> None:
        current = self._current()
        if current is not None:
            current.excluded_seconds += seconds

    def _before_build(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if self._paused:
            return
        started = time.perf_counter()
        state: dict[str, Any] = {"params": params, "before": {}}
        service = model.service_model.service_name
        if service == "dynamodb" and self.images is not None and model.name in WRITE_OPERATIONS:
            for table, key, kind in _write_targets(model.name, params, self.images):
                state["before"][_key_id(table, key)] = (table, key, kind, self.images.get(table, key))
        context["bench_meter"] = state
        self._exclude(time.perf_counter() - started)
        state["started"] = time.perf_counter()

    def _before_send(self, **_: Any) -> None:
        self._local.sent_at = time.perf_counter()

    def _before_parse(self, **_: Any) -> None:
        sent_at = getattr(self._local, "sent_at", None)
        if sent_at is not None:
            self._exclude(time.perf_counter() - sent_at)
            self._local.sent_at = None

    def _after_call(
        self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        state = context.pop("bench_meter", None)
        if state is None:
            return
        started = time.perf_counter()
        current = self._current()
        service = model.service_model.service_name
        record = CallRecord(
            function=current.function if current else "-",
            step=current.step if current else "-",
            service=service,
            operation=model.name,
            invocation_id=id(current) if current else 0,
            started=state["started"],
            ended=started,
        )
        failed = http_response.status_code >= 300
        if service == "dynamodb" and self.images is not None:
            error_code = parsed.get("Error", {}).get("Code", "") if failed else ""
            self._price_dynamodb(record, state, parsed, failed, error_code)
        elif service == "sqs" and not failed:
            params, now_ms = state["params"], int(time.time() * 1000)
            if model.name == "SendMessage":
                entries = [params]
            elif model.name == "SendMessageBatch":
                refused = {f["Id"] for f in parsed.get("Failed", [])}
                entries = [e for e in params["Entries"] if e["Id"] not in refused]
            else:
                entries = []
            record.sent_messages.extend(
                SentMessage(e["MessageBody"], now_ms + 1000 * e.get("DelaySeconds", 0)) for e in entries
            )
        if current is not None:
            current.calls[(service, model.name)] += 1
        with self._lock:
            self.calls.append(record)
        self._exclude(time.perf_counter() - started)

    # --- DynamoDB units ------------------------------------------------------------------

    def _price_dynamodb(
        self, record: CallRecord, state: dict[str, Any], parsed: dict[str, Any], failed: bool, error_code: str
    ) -> None:
        assert self.images is not None
        params, operation = state["params"], record.operation
        if operation in WRITE_OPERATIONS:
            self._price_writes(record, state["before"], parsed, failed, error_code)
        elif failed:
            return
        elif operation == "GetItem":
            size = capacity.item_size(self.images.get(params["TableName"], params["Key"]))
            record.read_units = capacity.read_units(size, params.get("ConsistentRead", False))
            self._read_partition(record, params["TableName"], None, params["Key"], record.read_units)
        elif operation == "BatchGetItem":
            for table, request in params["RequestItems"].items():
                for key in request["Keys"]:
                    size = capacity.item_size(self.images.get(table, key))
                    units = capacity.read_units(size, request.get("ConsistentRead", False))
                    record.read_units += units
                    self._read_partition(record, table, None, key, units)
        elif operation in ("Query", "Scan"):
            record.index = params.get("IndexName")
            returned = self._evaluated_items(params, parsed.get("Items", []))
            record.read_units = capacity.query_read_units(returned, params.get("ConsistentRead", False))
            scanned, count = parsed.get("ScannedCount", 0), parsed.get("Count", 0)
            if scanned > count:
                # A filter is applied after the read: the filtered-out items were billed too. Their
                # sizes are not returned, so they are taken to be the size of those that were.
                known = sum(map(capacity.item_size, returned))
                mean_size = known / len(returned) if returned else UNSEEN_ITEM_BYTES
                record.read_units = capacity.read_units(
                    round(mean_size * scanned), params.get("ConsistentRead", False)
                )
            if operation == "Query":
                partition = _query_partition(params, self.images.shape(params["TableName"]))
                if partition is not None:
                    _add(record.partition_read_units, {partition: record.read_units})
            else:  # a scan reads every partition: attributed to one name so it shows
                _add(record.partition_read_units, {("scan", params["TableName"]): record.read_units})
        elif operation == "TransactGetItems":
            for entry in params["TransactItems"]:
                body = entry["Get"]
                size = capacity.item_size(self.images.get(body["TableName"], body["Key"]))
                units = 2 * capacity.read_units(size, True)
                record.read_units += units
                self._read_partition(record, body["TableName"], None, body["Key"], units)

    def _read_partition(
        self, record: CallRecord, table: str, index: str | None, key: Key, units: float
    ) -> None:
        assert self.images is not None
        hash_key = self.images.shape(table).key_attributes[0]
        if hash_key in key:
            ((_, value),) = key[hash_key].items()
            _add(record.partition_read_units, {(index or "table", str(value)): units})

    def _evaluated_items(self, params: dict[str, Any], returned: list[capacity.Item]) -> list[capacity.Item]:
        """What a query is billed on: whole items (or whole index entries), even when projected."""
        assert self.images is not None
        if "ProjectionExpression" not in params and "AttributesToGet" not in params:
            return returned
        shape = self.images.shape(params["TableName"])
        index = next((i for i in shape.indexes if i.name == params.get("IndexName")), None)
        evaluated = []
        for item in returned:
            if not all(name in item for name in shape.key_attributes):
                evaluated.append(item)  # the projection dropped the key: the returned size is all we know
                continue
            full = self.images.get(shape.name, shape.key_of(item))
            evaluated.append((capacity.index_entry(full, index, shape) if index else full) or item)
        return evaluated

    def _price_writes(
        self,
        record: CallRecord,
        before: dict[str, tuple[str, Key, str, capacity.Item | None]],
        parsed: dict[str, Any],
        failed: bool,
        error_code: str,
    ) -> None:
        assert self.images is not None
        transactional = record.operation == "TransactWriteItems"
        lost = error_code in ("ConditionalCheckFailedException", "TransactionCanceledException")
        if failed and not lost:
            return  # rejected before any item was evaluated (validation, throttling): not billed
        record.conditional_failed = lost
        unprocessed = set()  # a batch write's leftovers are billed when the caller re-sends them
        for table, requests in (parsed.get("UnprocessedItems") or {}).items():
            for request in requests:
                if "PutRequest" in request:
                    key = self.images.shape(table).key_of(request["PutRequest"]["Item"])
                else:
                    key = request["DeleteRequest"]["Key"]
                unprocessed.add(_key_id(table, key))
        for key_id, (table, key, kind, old) in before.items():
            if key_id in unprocessed:
                continue
            if lost or kind == "ConditionCheck":
                cost = capacity.failed_write_cost(old, transactional)
            else:
                new = None if kind in ("Delete", "DeleteItem") else self.images.get(table, key)
                cost = capacity.item_write_cost(old, new, self.images.shape(table), transactional)
                record.item_bytes.append(max(capacity.item_size(old), capacity.item_size(new)))
            hash_key = self.images.shape(table).key_attributes[0]
            ((_, partition),) = key[hash_key].items()
            _add(record.table_partition_write_units, {("table", str(partition)): cost.base})
            _add(record.item_kind_write_units, {item_kind(key, self.images.shape(table)): cost.base})
            record.write_units += cost.total
            _add(record.index_write_units, cost.indexes)
            _add(record.partition_write_units, cost.partitions)


def _add(totals: dict[Any, int], more: dict[Any, int]) -> None:
    for name, units in more.items():
        totals[name] = totals.get(name, 0) + units


# A sort key that is an item's own id (a job's: JOB#{org}#{shard} / {job id}) names no kind.
_ID_VALUE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def item_kind(key: Key, shape: capacity.TableShape) -> str:
    """What sort of item a key names, from the key itself: the first word (up to '#' or '|') of
    each key attribute's value, a UUID as "{id}": "JOB#org#3"/"{job id}" -> "JOB/{id}",
    "JOBP#org#id#n"/"P" -> "JOBP/P"."""
    words = []
    for name in shape.key_attributes:
        ((_, value),) = key[name].items()
        text = str(value)
        words.append("{id}" if _ID_VALUE.fullmatch(text) else re.split(r"[#|]", text, maxsplit=1)[0])
    return "/".join(words)


def _query_partition(params: dict[str, Any], shape: capacity.TableShape) -> tuple[str, str] | None:
    """(table or index name, partition key value) a query reads, from its key condition."""
    index_name = params.get("IndexName")
    index = next((i for i in shape.indexes if i.name == index_name), None)
    hash_key = index.hash_key if index else shape.key_attributes[0]
    names = params.get("ExpressionAttributeNames", {})
    values = params.get("ExpressionAttributeValues", {})
    for left, right in re.findall(r"([#\w.]+)\s*=\s*(:\w+)", params.get("KeyConditionExpression", "")):
        if names.get(left, left) == hash_key and right in values:
            ((_, value),) = values[right].items()
            return (index_name or "table", str(value))
    return None


def _key_id(table: str, key: Key) -> str:
    return table + "|" + "|".join(f"{name}={value}" for name, value in sorted(key.items()))
