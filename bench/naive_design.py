"""The design the cost figures are compared with: what a first, straightforward attempt looks like.

- One status index over every job: partition `{org}#{queue}#{status}`, sort priority then age,
  with CDK's default projection (ALL). Every status change moves the whole item in the index: a
  delete from one partition and a put into another, each as large as the item.
- Claim: query the head of the pending partition, update it on `status = pending`; a lost race
  reads the head again. No batching beyond what the request asks for, no spreading.
- Same API surface, authentication and request validation as the service, so only the storage
  design differs. No per-queue counters, no history: the baseline does less, not more.

This is a baseline, not the service: its table and expressions stay in bench/ and out of
shared/plumbing/schema.py and shared/jobs/expressions/.
"""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any

from functions.api.http import ApiResponse, error_response, request_from_event, to_lambda_response
from shared.identity.authentication import authenticate
from shared.jobs import requests as m
from shared.plumbing import aws_clients, dynamo_codec, request_models, schema
from shared.plumbing.clock import Clock, SystemClock
from shared.plumbing.errors import NotFound, SpooledError
from shared.plumbing.payload_store import encode_json

STATUS_INDEX = schema.GlobalIndex(
    name="by_status",
    partition_key=schema.KeyAttribute("status_pk"),
    sort_key=schema.KeyAttribute("status_sk"),
    projection="ALL",
)
NAIVE_TABLE = schema.TableDefinition(
    logical_id="NaiveJobs",
    env_var="BENCH_NAIVE_TABLE",
    local_name="bench-naive-jobs",
    partition_key=schema.KeyAttribute("pk"),
    sort_key=schema.KeyAttribute("sk"),
    indexes=(STATUS_INDEX,),
)


def _is_conditional_failure(error: Exception) -> bool:
    return bool(
        getattr(error, "response", {}).get("Error", {}).get("Code") == "ConditionalCheckFailedException"
    )


def _status_pk(org_id: str, queue: str, status: str) -> str:
    return f"{org_id}#{queue}#{status}"


class NaiveStore:
    def __init__(self, table: str = NAIVE_TABLE.local_name, clock: Clock | None = None) -> None:
        self.table = table
        self.clock = clock or SystemClock()
        self.lost_races = 0

    @property
    def _db(self) -> Any:
        return aws_clients.client("dynamodb")

    def _item(self, org_id: str, queue: str, payload_text: str, priority: int) -> dict[str, Any]:
        job_id, now_ms = str(uuid.uuid4()), self.clock.now_ms()
        return {
            "pk": f"JOB#{org_id}#{job_id}",
            "sk": "JOB",
            "id": job_id,
            "org_id": org_id,
            "queue_name": queue,
            "status": "pending",
            "priority": priority,
            "payload": payload_text,
            "retry_count": 0,
            "max_retries": 3,
            "timeout_seconds": 300,
            "created_at": now_ms,
            "updated_at": now_ms,
            "status_pk": _status_pk(org_id, queue, "pending"),
            "status_sk": f"{100 - priority:03d}#{now_ms:013d}#{job_id}",
        }

    def create(self, org_id: str, queue: str, payload_text: str, priority: int) -> str:
        item = self._item(org_id, queue, payload_text, priority)
        self._db.put_item(
            TableName=self.table,
            Item=dynamo_codec.encode_item(item),
            ConditionExpression="attribute_not_exists(pk)",  # a UUID collision must not overwrite a job
        )
        return str(item["id"])

    def create_many(self, org_id: str, queue: str, jobs: list[tuple[str, int]]) -> list[str]:
        items = [self._item(org_id, queue, text, priority) for text, priority in jobs]
        for start in range(0, len(items), 25):
            pending: dict[str, Any] = {
                self.table: [
                    {"PutRequest": {"Item": dynamo_codec.encode_item(item)}}
                    for item in items[start : start + 25]
                ]
            }
            while pending:
                pending = self._db.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        return [str(item["id"]) for item in items]

    def claim(
        self, org_id: str, queue: str, worker_id: str, limit: int, lease_seconds: int
    ) -> list[dict[str, Any]]:
        claimed: list[dict[str, Any]] = []
        while len(claimed) < limit:
            head = self._db.query(
                TableName=self.table,
                IndexName=STATUS_INDEX.name,
                KeyConditionExpression="status_pk = :pk",
                ExpressionAttributeValues={":pk": {"S": _status_pk(org_id, queue, "pending")}},
                Limit=limit - len(claimed),
            ).get("Items", [])
            if not head:
                break
            for raw in head:
                now_ms = self.clock.now_ms()
                lease_id = uuid.uuid4().hex
                try:
                    response = self._db.update_item(
                        TableName=self.table,
                        Key={"pk": raw["pk"], "sk": raw["sk"]},
                        UpdateExpression=(
                            "SET #status = :processing, status_pk = :pk, assigned_worker_id = :worker, "
                            "lease_id = :lease, lease_expires_at = :expires, started_at = :now, "
                            "updated_at = :now"
                        ),
                        # Every claimer read the same head: only the first write still finds it pending.
                        ConditionExpression="#status = :pending",
                        ExpressionAttributeNames={"#status": "status"},
                        ExpressionAttributeValues=dynamo_codec.encode_values(
                            {
                                ":processing": "processing",
                                ":pending": "pending",
                                ":pk": _status_pk(org_id, queue, "processing"),
                                ":worker": worker_id,
                                ":lease": lease_id,
                                ":expires": now_ms + lease_seconds * 1000,
                                ":now": now_ms,
                            }
                        ),
                        ReturnValues="ALL_NEW",
                    )
                except Exception as error:
                    if not _is_conditional_failure(error):
                        raise
                    self.lost_races += 1
                    continue
                claimed.append(dynamo_codec.decode_item(response["Attributes"]))
        return claimed

    def complete(self, org_id: str, job_id: str, worker_id: str, lease_id: str, result_text: str) -> None:
        key = {"pk": {"S": f"JOB#{org_id}#{job_id}"}, "sk": {"S": "JOB"}}
        # The status partition names the queue, which the request does not carry: read the job.
        found = self._db.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
        if found is None:
            raise NotFound()
        queue = found["queue_name"]["S"]
        now_ms = self.clock.now_ms()
        try:
            self._db.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression=(
                    "SET #status = :completed, status_pk = :pk, #result = :result, completed_at = :now, "
                    "updated_at = :now REMOVE lease_expires_at"
                ),
                # Only the worker holding the current, unexpired lease may settle the job.
                ConditionExpression=(
                    "#status = :processing AND assigned_worker_id = :worker AND lease_id = :lease "
                    "AND lease_expires_at > :now"
                ),
                ExpressionAttributeNames={"#status": "status", "#result": "result"},
                ExpressionAttributeValues=dynamo_codec.encode_values(
                    {
                        ":completed": "completed",
                        ":processing": "processing",
                        ":pk": _status_pk(org_id, queue, "completed"),
                        ":result": result_text,
                        ":worker": worker_id,
                        ":lease": lease_id,
                        ":now": now_ms,
                    }
                ),
            )
        except Exception as error:
            if _is_conditional_failure(error):
                raise NotFound() from error
            raise


@lru_cache(maxsize=1)
def store() -> NaiveStore:
    return NaiveStore()


def _route(method: str, path: str, body: bytes, org_id: str) -> ApiResponse:
    parts = path.strip("/").split("/")  # api, v1, jobs, ...
    if method == "POST" and parts[2:] == ["jobs"]:
        req = request_models.parse_body(m.CreateJob, body)
        job_id = store().create(org_id, req.queue_name, encode_json(req.payload), req.priority)
        return ApiResponse(201, {"id": job_id, "created": True})
    if method == "POST" and parts[2:] == ["jobs", "bulk"]:
        bulk = request_models.parse_body(m.BulkCreate, body)
        jobs = [
            (encode_json(j.payload), j.priority if j.priority is not None else bulk.default_priority)
            for j in bulk.jobs
        ]
        ids = store().create_many(org_id, bulk.queue_name, jobs)
        succeeded = [{"index": i, "job_id": job_id, "created": True} for i, job_id in enumerate(ids)]
        document = {"succeeded": succeeded, "failed": [], "total": len(ids)}
        return ApiResponse(200, {**document, "success_count": len(ids), "failure_count": 0})
    if method == "POST" and parts[2:] == ["jobs", "claim"]:
        claim = request_models.parse_body(m.Claim, body)
        jobs = store().claim(
            org_id, claim.queue_name, claim.worker_id, claim.limit, claim.lease_duration_secs
        )
        return ApiResponse(200, {"jobs": [{"id": j["id"], "lease_id": j["lease_id"]} for j in jobs]})
    if method == "POST" and len(parts) == 5 and parts[4] == "complete":
        done = request_models.parse_body(m.Complete, body)
        store().complete(org_id, parts[3], done.worker_id, done.lease_id or "", encode_json(done.result))
        return ApiResponse(200, {"success": True})
    raise NotFound()


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """The naive design's API Lambda: the four routes a job lifecycle uses."""
    request = request_from_event(event)
    try:
        ctx = authenticate(request.headers)
        response = _route(request.method, request.path, request.body, ctx.org_id)
    except SpooledError as error:
        response = error_response(error)
    return to_lambda_response(response, request.request_id)
