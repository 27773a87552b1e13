"""Part 3: wasted conditional writes per successful claim, N claimers on one queue.

Every claimer is a thread with its own JobStore (its own contention memory and randomness, as each
Lambda container has), all claiming from one queue of the embedded moto server, whose per-call lock
makes each conditional write atomic as on AWS. They claim until the queue is empty. Wasted = claim
updates that failed their condition, per job claimed. The baseline on the same table and jobs
queries the head (limit 1 per shard, best of the shards) and updates it, again on every lost race.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from bench import payloads
from bench.lifecycle import BenchError
from bench.sandbox import EmbeddedAws
from shared.jobs import expressions as ex
from shared.plumbing import aws_clients, schema
from shared.plumbing.payload_store import encode_json

LEASE_SECONDS = 300  # longer than any run: no lease may expire and hand a job out twice
ORG_ID = "00000000-0000-4000-8000-00000000b0b0"
QUEUE = "contended"


@dataclass
class ContentionRun:
    algorithm: str
    claimers: int
    limit: int
    jobs: int
    claimed: int
    wasted_writes: int
    seconds: float
    drained: bool  # False: the time budget ended the run before the queue was empty
    # Claims made while the queue was deep (at least two claims' worth left per claimer), and
    # the writes they wasted: the queue under load, without the race for the last few jobs.
    deep_claimed: int = 0
    deep_wasted_writes: int = 0

    @property
    def wasted_per_claim(self) -> float:
        return self.wasted_writes / self.claimed if self.claimed else 0.0

    @property
    def deep_wasted_per_claim(self) -> float:
        return self.deep_wasted_writes / self.deep_claimed if self.deep_claimed else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "wasted_per_claim": round(self.wasted_per_claim, 4),
            "deep_wasted_per_claim": round(self.deep_wasted_per_claim, 4),
        }


def _fill(jobs: int) -> None:
    from shared.jobs.store import JobStore, NewJob

    store = JobStore()
    for start in range(0, jobs, 100):
        batch = [
            NewJob(
                ORG_ID,
                QUEUE,
                encode_json(payloads.realistic(start + i)),
                priority=0,
                max_retries=3,
                timeout_seconds=LEASE_SECONDS,
            )
            for i in range(min(100, jobs - start))
        ]
        store.create_many(batch)


class ConditionalFailures:
    """Conditional writes that failed, per thread, seen by a botocore hook on the DynamoDB client
    the store uses: counted on the wire, so the figure does not depend on what the store counts
    itself. A write refused with ConditionalCheckFailedException, or a transaction cancelled
    (a condition or a conflicting write), is one wasted write."""

    CODES = ("ConditionalCheckFailedException", "TransactionCanceledException")

    def __init__(self) -> None:
        self._counts: dict[int, int] = {}
        self._lock = threading.Lock()
        self._client: Any = None

    def attach(self) -> None:
        self._client = aws_clients.client("dynamodb")
        self._client.meta.events.register(
            "after-call.dynamodb", self._after_call, unique_id=f"wasted-{id(self)}"
        )

    def detach(self) -> None:
        if self._client is not None:
            self._client.meta.events.unregister("after-call.dynamodb", unique_id=f"wasted-{id(self)}")
            self._client = None

    def _after_call(self, http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        if http_response.status_code >= 300 and parsed.get("Error", {}).get("Code") in self.CODES:
            with self._lock:
                ident = threading.get_ident()
                self._counts[ident] = self._counts.get(ident, 0) + 1

    def of_this_thread(self) -> int:
        with self._lock:
            return self._counts.get(threading.get_ident(), 0)


FAILURES = ConditionalFailures()


class SpooledClaimer:
    """The service's claim (shared/jobs/store.py), one store per claimer."""

    def __init__(self, seed: int) -> None:
        from shared.jobs.store import JobStore

        self.store = JobStore(rng=random.Random(seed))
        self.wasted = 0

    def claim(self, worker_id: str, limit: int) -> list[str]:
        before = FAILURES.of_this_thread()
        try:
            return [job.id for job in self.store.claim(ORG_ID, QUEUE, worker_id, limit, LEASE_SECONDS)]
        finally:
            self.wasted += FAILURES.of_this_thread() - before


class HeadClaimer:
    """The baseline: read the head of the queue, update it; lost the race? read the head again."""

    def __init__(self, seed: int) -> None:
        from shared.plumbing.config import settings

        self.table = settings().table_name
        self.shards = settings().ready_shards
        self.wasted = 0

    def _head(self, limit: int) -> list[dict[str, Any]]:
        db = aws_clients.client("dynamodb")
        heads: list[dict[str, Any]] = []
        for shard in range(self.shards):
            heads.extend(db.query(**ex.query_ready(self.table, ORG_ID, QUEUE, shard, limit)).get("Items", []))
        heads.sort(key=lambda raw: raw[schema.READY_INDEX.sort_key.name]["S"])
        return heads[:limit]

    def claim(self, worker_id: str, limit: int) -> list[str]:
        """One pass: read the head, try each job of it once. A pass that lost every race returns
        nothing and the caller reads the head again."""
        db = aws_clients.client("dynamodb")
        claimed: list[str] = []
        for raw in self._head(limit):
            job_id = ex.job_id_from_key(raw)
            now_ms = int(time.time() * 1000)
            args = ex.claim(
                self.table,
                {"pk": raw["pk"], "sk": raw["sk"]},
                org_id=ORG_ID,
                queue=QUEUE,
                job_id=job_id,
                worker_id=worker_id,
                lease_id=f"{uuid.uuid4().hex[:12]}-{job_id}",
                lease_expires_ms=now_ms + LEASE_SECONDS * 1000,
                now_ms=now_ms,
            )
            try:
                db.update_item(**args)
            except Exception as error:
                code = getattr(error, "response", {}).get("Error", {}).get("Code")
                if code != "ConditionalCheckFailedException":
                    raise
                self.wasted += 1
                continue
            claimed.append(job_id)
        return claimed


ALGORITHMS: dict[str, Callable[[int], SpooledClaimer | HeadClaimer]] = {
    "spooled": SpooledClaimer,
    "naive": HeadClaimer,
}


def _configure_shards(shards: int) -> None:
    """The queue's ready shards, as PUT /queues/{name}/config {"settings": {"ready_shards": n}}
    sets them: a queue with many claimers spreads them over its shards (docs/architecture.md)."""
    import json

    import boto3

    from shared.plumbing.config import settings

    boto3.client("dynamodb").put_item(
        TableName=settings().table_name,
        Item={
            "pk": {"S": f"ORG#{ORG_ID}"},
            "sk": {"S": f"QUEUE#{QUEUE}"},
            "queue_name": {"S": QUEUE},
            "enabled": {"BOOL": True},
            "settings": {"S": json.dumps({"ready_shards": shards})},
        },
    )


def ready_shards_for(claimers: int) -> int:
    # One shard per claimer (at most 64): each claim starts at a random shard.
    return max(1, min(64, claimers))


def run(
    aws: EmbeddedAws, algorithm: str, claimers: int, jobs: int, limit: int = 1, budget_seconds: float = 60.0
) -> ContentionRun:
    aws.reset()
    if algorithm == "spooled":
        _configure_shards(ready_shards_for(claimers))
    _fill(jobs)
    workers = [ALGORITHMS[algorithm](seed) for seed in range(claimers)]
    claimed: list[str] = []
    deep = [0, 0]  # claims, wasted writes of claim calls that began with a deep queue
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(claimers + 1)
    deep_threshold = 2 * claimers * limit
    deadline = [0.0]

    def claim_until_empty(index: int) -> None:
        worker = workers[index]
        try:
            start.wait()
            while True:
                with lock:
                    remaining = jobs - len(claimed)
                    if remaining <= 0 or errors or time.perf_counter() > deadline[0]:
                        return
                wasted_before = worker.wasted
                got = worker.claim(f"claimer-{index}", limit)
                with lock:
                    claimed.extend(got)
                    if remaining >= deep_threshold:
                        deep[0] += len(got)
                        deep[1] += worker.wasted - wasted_before
        except BaseException as error:
            with lock:
                errors.append(error)

    threads = [threading.Thread(target=claim_until_empty, args=(i,), daemon=True) for i in range(claimers)]
    FAILURES.attach()
    try:
        for thread in threads:
            thread.start()
        deadline[0] = time.perf_counter() + budget_seconds
        start.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - began
    finally:
        FAILURES.detach()
    if errors:
        raise BenchError(f"a {algorithm} claimer failed: {errors[0]!r}") from errors[0]
    if len(set(claimed)) != len(claimed) or len(claimed) > jobs:
        raise BenchError(f"{algorithm}: {len(claimed)} claims of {jobs} jobs, {len(set(claimed))} distinct")
    return ContentionRun(
        algorithm=algorithm,
        claimers=claimers,
        limit=limit,
        jobs=jobs,
        claimed=len(claimed),
        wasted_writes=sum(worker.wasted for worker in workers),
        seconds=round(seconds, 2),
        drained=len(claimed) == jobs,
        deep_claimed=deep[0],
        deep_wasted_writes=deep[1],
    )
