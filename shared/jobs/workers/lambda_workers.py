"""Lambda workers: a queue whose jobs are pushed to a function instead of pulled by workers.

A queue names its function in its config: settings.lambda_worker = {"function_name": ...,
"max_concurrency": n} (PUT /queues/{name}/config). Then (docs/timers.md):

1. Pump (dispatcher; on stream records that make a job of the queue claimable or free a slot,
   after each invocation, and on every sweep): claim up to the free slots' worth of jobs with the
   ordinary claim (worker id "lambda:<function>", lease capped by timeout_seconds), take a
   concurrency slot per job, send one invoke message per job to the Lambda-worker queue.
2. Invoke (a consumer of that queue): mark the job invoked under its lease (the first delivery of
   a message wins; a duplicate or a Lambda retry of the same event finds the mark and stops), call
   the function synchronously, complete the job with its return value or fail it with its error
   through the normal fenced transitions (retries, backoff, DLQ), free the slot, pump again.

Concurrency slots are one map per queue, {job_id: lease end}: taking one is a conditional write on
the map's size, so racing pumps never exceed the limit; a slot whose lease ended frees itself at
the next pump, so a crashed invoker leaks nothing for longer than the lease.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from shared.identity import lambda_functions
from shared.jobs import expressions as ex
from shared.jobs.model import JobRecord, claimed_job
from shared.jobs.queues.settings import QueueSettings
from shared.jobs.store import JobStore
from shared.plumbing import aws_clients, dynamo_codec
from shared.plumbing.aws_clients import is_conditional_failure
from shared.plumbing.config import settings
from shared.plumbing.errors import LeaseExpired, NotFound
from shared.plumbing.payload_store import encode_json, encoded_size
from shared.plumbing.timer_queue import MessageSender, OutgoingMessage

logger = logging.getLogger("spooled.lambda_workers")

SETTINGS_KEY = "lambda_worker"
DEFAULT_MAX_CONCURRENCY = 10
# The slot map is one item: 100 entries keep it ~6 KB, i.e. a few write units per slot change.
MAX_CONCURRENCY = 100
# Lambda runs a function for at most 900 s; the lease also covers a minute in the invoke queue.
# claim() caps it at the job's timeout_seconds, which is what a Lambda job normally runs under.
LEASE_SECONDS = 960
MAX_ERROR_CHARS = 2048


@dataclass(frozen=True)
class LambdaWorkerConfig:
    function_name: str
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY

    @property
    def worker_id(self) -> str:
        return f"lambda:{self.function_name}"

    @classmethod
    def from_settings(cls, queue_settings: dict[str, Any]) -> LambdaWorkerConfig | None:
        """The queue's Lambda worker, or None (not set, or not usable: logged, never raised)."""
        document = queue_settings.get(SETTINGS_KEY)
        if not isinstance(document, dict):
            return None
        name = document.get("function_name")
        limit = document.get("max_concurrency", DEFAULT_MAX_CONCURRENCY)
        if not isinstance(name, str) or not name or len(name) > 200:
            logger.warning("lambda_worker.function_name must be a non-empty string: %r", name)
            return None
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_CONCURRENCY:
            logger.warning("lambda_worker.max_concurrency must be 1..%d: %r", MAX_CONCURRENCY, limit)
            return None
        return cls(function_name=name, max_concurrency=limit)


@dataclass(frozen=True)
class InvokeRequest:
    """The invoke message: one job, the lease it was claimed under, and the function."""

    org_id: str
    queue: str
    job_id: str
    lease_id: str
    lease_end_ms: int
    function_name: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": "invoke",
                "org": self.org_id,
                "queue": self.queue,
                "job": self.job_id,
                "lease": self.lease_id,
                "lease_end": self.lease_end_ms,
                "function": self.function_name,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> InvokeRequest:
        document = json.loads(text)
        if not isinstance(document, dict) or document.get("kind") != "invoke":
            raise ValueError("not an invoke message")
        return cls(
            org_id=str(document["org"]),
            queue=str(document["queue"]),
            job_id=str(document["job"]),
            lease_id=str(document["lease"]),
            lease_end_ms=int(document["lease_end"]),
            function_name=str(document["function"]),
        )


@dataclass(frozen=True)
class Outcome:
    """What a function invocation came to: a result (success) or an error text."""

    succeeded: bool
    result: Any = None
    error: str | None = None


class FunctionInvoker(Protocol):
    def invoke(self, function_name: str, event: dict[str, Any]) -> Outcome: ...


class AwsLambdaInvoker:
    """Synchronous invoke (RequestResponse). No SDK retries: a retried invoke could run the
    function twice; a failed call fails the job's attempt and the job's own retries take over."""

    def __init__(self) -> None:
        self._client: Any = None

    def _lambda(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.session.Session().client(
                "lambda",
                config=Config(
                    read_timeout=LEASE_SECONDS, connect_timeout=5, retries={"total_max_attempts": 1}
                ),
            )
        return self._client

    def invoke(self, function_name: str, event: dict[str, Any]) -> Outcome:
        response = self._lambda().invoke(
            FunctionName=function_name,
            InvocationType="RequestResponse",
            Payload=json.dumps(event, separators=(",", ":")).encode("utf-8"),
        )
        raw = response["Payload"].read()
        document = json.loads(raw) if raw else None
        if response.get("FunctionError"):
            return Outcome(False, error=function_error_text(document))
        return Outcome(True, result=document)


def function_error_text(document: Any) -> str:
    """Lambda's error document ({"errorType", "errorMessage", ...}) as the job's last_error."""
    if isinstance(document, dict):
        kind = document.get("errorType") or "Error"
        message = document.get("errorMessage") or ""
        return f"{kind}: {message}" if message else str(kind)
    return str(document)


def invocation_event(job: JobRecord) -> dict[str, Any]:
    """What the function receives: the job as a pull worker would claim it, plus its organization."""
    return {**claimed_job(job), "organization_id": job.org_id}


class LambdaWorkers:
    def __init__(
        self,
        store: JobStore,
        invoke_queue: MessageSender,
        queue_settings: QueueSettings | None = None,
    ) -> None:
        self.store = store
        self.invoke_queue = invoke_queue
        self.queue_settings = queue_settings or store.queue_settings

    @property
    def _db(self) -> Any:
        return aws_clients.client("dynamodb")

    def config_for(self, org_id: str, queue: str) -> LambdaWorkerConfig | None:
        """The queue's Lambda worker while its organization may use that function: a setting
        written before the allowlist, a function taken off it, or a soft-deleted organization
        pushes nothing (issue 12, findings 1 and 9)."""
        config = LambdaWorkerConfig.from_settings(self.queue_settings.get(org_id, queue))
        if config is None:
            return None
        if not lambda_functions.is_allowed(self.store.table, org_id, config.function_name):
            logger.warning("queue %s of %s names a function it may not use; nothing pushed", queue, org_id)
            return None
        return config

    # --- slots ---------------------------------------------------------------------------

    def slots(self, org_id: str, queue: str) -> dict[str, int]:
        """{job_id: lease end ms} of the queue's taken slots (creating the empty map if need be)."""
        table = self.store.table
        found = self._db.get_item(
            TableName=table, Key=ex.lambda_slots_key(org_id, queue), ConsistentRead=True
        )
        if "Item" in found:
            return {k: int(v) for k, v in dynamo_codec.decode_item(found["Item"]).get("slots", {}).items()}
        _conditional(
            self._db, "put_item", ex.create_lambda_slots(table, org_id, queue, self.store.clock.now_ms())
        )
        return {}

    def _take_slot(self, org_id: str, queue: str, job_id: str, lease_end_ms: int, limit: int) -> bool:
        args = ex.take_lambda_slot(
            self.store.table, org_id, queue, job_id=job_id, lease_end_ms=lease_end_ms, limit=limit
        )
        return _conditional(self._db, "update_item", args)

    def free_slot(self, org_id: str, queue: str, job_id: str, lease_end_ms: int) -> bool:
        args = ex.free_lambda_slot(self.store.table, org_id, queue, job_id=job_id, lease_end_ms=lease_end_ms)
        return _conditional(self._db, "update_item", args)

    # --- pumping -------------------------------------------------------------------------

    def pump(self, org_id: str, queue: str) -> int:
        """Start as many of the queue's jobs as its free slots allow; returns how many."""
        config = self.config_for(org_id, queue)
        if config is None or not self.queue_settings.enabled(org_id, queue):
            return 0
        now_ms = self.store.clock.now_ms()
        taken = self.slots(org_id, queue)
        for job_id, lease_end_ms in taken.items():
            if lease_end_ms <= now_ms:  # its invoker died or never ran: the lease recovery has the job
                self.free_slot(org_id, queue, job_id, lease_end_ms)
        free = config.max_concurrency - sum(1 for end in taken.values() if end > now_ms)
        if free <= 0:
            return 0
        jobs = self.store.claim(org_id, queue, config.worker_id, free, LEASE_SECONDS)
        requests: list[InvokeRequest] = []
        for job in jobs:
            lease_id, lease_end = str(job.lease_id), int(job.lease_expires_at or now_ms)
            if self._take_slot(org_id, queue, job.id, lease_end, config.max_concurrency):
                requests.append(
                    InvokeRequest(org_id, queue, job.id, lease_id, lease_end, config.function_name)
                )
            else:  # another pump filled the slots first: the job never started
                self.store.release_unstarted(org_id, job.id, config.worker_id, lease_id)
        try:
            self.invoke_queue.send([OutgoingMessage(request.to_json()) for request in requests])
        except Exception:
            for request in requests:
                self.store.release_unstarted(org_id, request.job_id, config.worker_id, request.lease_id)
                self.free_slot(org_id, queue, request.job_id, request.lease_end_ms)
            raise
        return len(requests)

    # --- invoking ------------------------------------------------------------------------

    def run(self, request: InvokeRequest, invoker: FunctionInvoker) -> str:
        """Handle one invoke message; returns what happened: completed | failed | late | skipped."""
        worker_id = f"lambda:{request.function_name}"
        if not lambda_functions.is_allowed(self.store.table, request.org_id, request.function_name):
            # Allowed when pumped, since taken off the list (or the organization deleted): the job
            # goes back to its queue untouched, never to a function the organization may not use.
            self.store.release_unstarted(request.org_id, request.job_id, worker_id, request.lease_id)
            self.free_slot(request.org_id, request.queue, request.job_id, request.lease_end_ms)
            return "skipped"
        job = self.store.mark_invoked(request.org_id, request.job_id, request.lease_id)
        if job is None:
            return "skipped"  # a duplicate delivery, a retried event, or a lease that ran out
        try:
            try:
                outcome = invoker.invoke(request.function_name, invocation_event(job))
            except Exception as error:  # the call itself failed: throttled, missing function, ...
                outcome = Outcome(False, error=f"Lambda invoke failed: {type(error).__name__}: {error}")
            return self._settle(request, worker_id, outcome)
        finally:
            # The job is settled; a slot not freed here frees itself when the lease ends, and the
            # sweep pumps every minute, so neither failure may turn the settled job into an error.
            try:
                self.free_slot(request.org_id, request.queue, request.job_id, request.lease_end_ms)
                self.pump(request.org_id, request.queue)
            except Exception:
                logger.exception("freeing the slot of job %s or pumping its queue failed", request.job_id)

    def _settle(self, request: InvokeRequest, worker_id: str, outcome: Outcome) -> str:
        org_id, job_id, lease_id = request.org_id, request.job_id, request.lease_id
        try:
            if outcome.succeeded:
                size, limit = encoded_size(encode_json(outcome.result)), settings().max_payload_bytes
                if size <= limit:
                    self.store.complete(org_id, job_id, worker_id, lease_id, outcome.result)
                    return "completed"
                outcome = Outcome(
                    False, error=f"The function returned {size} bytes; a result may have {limit}"
                )
            error = (outcome.error or "Lambda worker failed")[:MAX_ERROR_CHARS]
            self.store.fail(org_id, job_id, worker_id, lease_id, error)
            return "failed"
        except (LeaseExpired, NotFound):
            # The lease ran out while the function ran (timeout_seconds): the timers already
            # retried or dead-lettered the job, and this late answer changes nothing.
            return "late"


def _conditional(db: Any, operation: str, args: dict[str, Any]) -> bool:
    try:
        getattr(db, operation)(**args)
        return True
    except Exception as error:
        if not is_conditional_failure(error):
            raise
        return False
