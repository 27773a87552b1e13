"""The job lifecycle as a hypothesis state machine against the real store (in-process moto).

Random interleavings of create, claim, heartbeat, complete, fail, cancel, retry, the clock moving
(lease expiry, backoff, delays), a worker dying with its leases (and coming back late as a
zombie), the minute sweep, and duplicate or late deliveries of timer messages and stream batches
(what SQS and the stream's event source mapping may do) keep these invariants after every step:

- one state per job: every job created is listed exactly once, with one of the contract's statuses;
- attempts never go back: a job's retry_count only grows, in every list and every claim;
- at most one accepted completion per attempt (and per job: a completed job is never claimed again);
  a job is completed exactly when one completion was accepted, and stays completed;
- nothing lost: every job created is still there; at the end, with time run on, every job that is
  not cancelled or dead-lettered can be claimed and completed (nothing stuck).

The full size is `make fuzz`'s SPOOLED_PROPERTY_EXAMPLES=200 (see the Makefile); `make test` runs a
short one. Figures: docs/reliability.md.
"""

from __future__ import annotations

import os
import random
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from shared.jobs.states import ALL_STATUSES
from tests.functional import timers_harness as h
from tests.functional.timers_harness import Timers

EXAMPLES = int(os.environ.get("SPOOLED_PROPERTY_EXAMPLES", "15"))
STEPS = int(os.environ.get("SPOOLED_PROPERTY_STEPS", "30"))
WORKERS = ("w1", "w2", "w3")
NO_SHRINK = [Phase.explicit, Phase.reuse, Phase.generate]
# Picks among things recorded at run time (an index, not sampled_from: the choices must not depend
# on state hypothesis cannot replay).
INDEX = st.integers(0, 1 << 16)
STALE_WORKER_SECONDS = 121
# Contract §3.3: an ack under a lease that is no longer the job's is 409 LEASE_EXPIRED while the job
# is still this worker's, 404 once it is not (claimed by another worker).
ACK_REFUSED = {404, 409}  # no heartbeat for 2 minutes: offline at the next sweep


@dataclass
class Lease:
    job_id: str
    worker: str
    lease_id: str
    retry_count: int


class Recorder:
    """Every stream batch and timer message the harness delivered, for replaying them later."""

    def __init__(self, timers: Timers) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.bodies: list[str] = []
        original_deliver = timers.deliver
        original_sink = timers.stream.deliver

        def sink(batch: list[dict[str, Any]]) -> None:
            self.batches.append(batch)
            original_sink(batch)

        timers.stream.deliver = sink

        def deliver(bodies: list[str]) -> dict[str, Any]:
            self.bodies.extend(bodies)
            return original_deliver(bodies)

        timers.deliver = deliver  # type: ignore[method-assign]


class JobLifecycle(RuleBasedStateMachine):
    # Set by the test function (it holds the pytest fixtures): empties the table and returns a fresh
    # (api, timers) on a clock and random sources reset to the same start, so every example is
    # reproducible (hypothesis replays and shrinks a failing one).
    fresh_world: Any = None
    serial = 0

    jobs = Bundle("jobs")
    leases = Bundle("leases")

    def __init__(self) -> None:
        super().__init__()
        self.api: Any = None
        if self.fresh_world is not None:  # None: hypothesis building a machine to print a failure
            self.api, self.timers = self.fresh_world()
            self.recorder = Recorder(self.timers)
        self.queue = "lifecycle"
        self.created: list[str] = []
        self.accepted: Counter[str] = Counter()  # job id -> completions answered 200
        self.accepted_per_lease: Counter[str] = Counter()
        self.max_retry_count: dict[str, int] = {}
        self.results: dict[str, Any] = {}
        self.zombies: list[Lease] = []  # leases of workers that died: they may still come back

    # --- helpers ---------------------------------------------------------------------------

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        response = self.api.post(path, body)
        assert response.status < 500, response
        return response

    def _ack(self, lease: Lease, action: str, **body: Any) -> Any:
        return self._post(
            f"/api/v1/jobs/{lease.job_id}/{action}",
            {"worker_id": lease.worker, "lease_id": lease.lease_id, **body},
        )

    def _listed(self) -> list[dict[str, Any]]:
        response = self.api.get("/api/v1/jobs", params={"queue_name": self.queue, "limit": 100})
        assert response.status == 200, response
        return list(response.json)

    # --- rules -----------------------------------------------------------------------------

    @initialize(target=jobs)
    def first_job(self) -> str:
        return self._create(0, 0)

    def _create(self, priority: int, delay: int) -> str:
        body: dict[str, Any] = {"queue_name": self.queue, "payload": {"n": len(self.created)}}
        body.update(priority=priority, max_retries=3)
        if delay:
            body["scheduled_at"] = h.iso(self.timers.clock.now_ms() + delay * 1000)
        response = self._post("/api/v1/jobs", body)
        assert response.status == 201, response
        job_id = str(response.json["id"])
        self.created.append(job_id)
        return job_id

    @precondition(lambda self: len(self.created) < 12)
    @rule(target=jobs, priority=st.integers(-5, 5), delay=st.sampled_from([0, 0, 0, 3, 40]))
    def create(self, priority: int, delay: int) -> str:
        return self._create(priority, delay)

    @rule(
        target=leases,
        worker=st.sampled_from(WORKERS),
        lease=st.sampled_from([5, 10, 30]),
        limit=st.integers(1, 3),
    )
    def claim(self, worker: str, lease: int, limit: int) -> Any:
        response = self._post(
            "/api/v1/jobs/claim",
            {"queue_name": self.queue, "worker_id": worker, "lease_duration_secs": lease, "limit": limit},
        )
        assert response.status == 200, response
        got = []
        for job in response.json["jobs"]:
            assert job["id"] in self.created, "claimed a job this example never created"
            assert self.accepted[job["id"]] == 0, f"completed job {job['id']} was claimed again"
            assert job["retry_count"] >= self.max_retry_count.get(job["id"], 0), "an attempt went back"
            got.append(Lease(job["id"], worker, job["lease_id"], job["retry_count"]))
        return multiple(*got)

    @rule(lease=leases, seconds=st.sampled_from([5, 30]))
    def heartbeat(self, lease: Lease, seconds: int) -> None:
        response = self._ack(lease, "heartbeat", lease_duration_secs=seconds)
        assert response.status in ACK_REFUSED | {200}, response

    @rule(lease=consumes(leases), twice=st.booleans())
    def complete(self, lease: Lease, twice: bool) -> None:
        result = {"job": lease.job_id, "lease": lease.lease_id}
        outcomes = [self._ack(lease, "complete", result=result).status]
        if twice:  # the worker's retry of the same ack (its first answer was lost)
            outcomes.append(self._ack(lease, "complete", result=result).status)
        assert set(outcomes) <= ACK_REFUSED | {200}, outcomes
        accepted = outcomes.count(200)
        assert accepted <= 1, f"the same completion was accepted {accepted} times"
        if accepted:
            self.accepted[lease.job_id] += 1
            self.accepted_per_lease[lease.lease_id] += 1
            self.results[lease.job_id] = result
            assert self.accepted[lease.job_id] == 1, f"job {lease.job_id} completed twice"

    @rule(lease=consumes(leases))
    def fail(self, lease: Lease) -> None:
        response = self._ack(lease, "fail", error="boom")
        assert response.status in ACK_REFUSED | {200}, response

    @rule(job_id=jobs)
    def cancel(self, job_id: str) -> None:
        response = self.api.delete(f"/api/v1/jobs/{job_id}")
        assert response.status in (200, 204, 409), response

    @rule(job_id=jobs)
    def retry(self, job_id: str) -> None:
        response = self.api.post(f"/api/v1/jobs/{job_id}/retry")
        assert response.status in (200, 409), response

    @rule(seconds=st.sampled_from([1, 4, 11, 31, 65]))
    def time_passes(self, seconds: int) -> None:
        """Leases expire, backoffs and delays end: the timer messages do it, no sweep."""
        self.timers.run_for(seconds)

    @rule(lease=consumes(leases))
    def worker_dies(self, lease: Lease) -> None:
        """The worker holding this lease is gone without a word; it may come back later."""
        self.zombies.append(lease)

    @precondition(lambda self: self.zombies)
    @rule(data=st.data())
    def zombie_acks(self, data: st.DataObject) -> None:
        """A worker thought dead acks late: accepted only if its lease is still the job's."""
        lease = self.zombies[data.draw(INDEX) % len(self.zombies)]
        self.complete(lease, twice=False)

    @rule(seconds=st.sampled_from([0, STALE_WORKER_SECONDS]))
    def sweep(self, seconds: int) -> None:
        """The minute sweep (the timers' safety net and the stale-worker rule)."""
        from functions.dispatcher.handler import handler

        self.timers.run_for(seconds)
        handler({"sweep": True})
        self.timers.settle()

    @precondition(lambda self: self.recorder.bodies)
    @rule(data=st.data(), many=st.integers(1, 5))
    def late_timer_messages(self, data: st.DataObject, many: int) -> None:
        """SQS delivering old timer messages again, late."""
        bodies = [mine[data.draw(INDEX) % len(mine)] for mine in [self.recorder.bodies] * many]
        self.timers.deliver(bodies)
        self.timers.settle()

    @precondition(lambda self: self.recorder.batches)
    @rule(data=st.data())
    def stream_batch_again(self, data: st.DataObject) -> None:
        """The stream's event source mapping retrying a batch the dispatcher already handled."""
        from functions.dispatcher.handler import handle_stream

        handle_stream(self.recorder.batches[data.draw(INDEX) % len(self.recorder.batches)])
        self.timers.settle()

    @rule(on=st.booleans())
    def duplicate_deliveries(self, on: bool) -> None:
        """From now on every stream batch and timer message is delivered twice (or not)."""
        self.timers.duplicate = on

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def every_job_once_in_one_state_attempts_only_grow(self) -> None:
        listed = self._listed()
        ids = [row["id"] for row in listed]
        assert Counter(ids) == Counter(self.created), "a job was lost, duplicated or appeared"
        for row in listed:
            job_id = row["id"]
            assert row["status"] in ALL_STATUSES, row
            assert row["retry_count"] >= self.max_retry_count.get(job_id, 0), "retry_count went back"
            self.max_retry_count[job_id] = row["retry_count"]
            completed = row["status"] == "completed"
            assert completed == (self.accepted[job_id] == 1), (
                f"job {job_id} is {row['status']} with {self.accepted[job_id]} accepted completion(s)"
            )
        assert all(n == 1 for n in self.accepted_per_lease.values())

    def teardown(self) -> None:
        if self.api is None:
            return
        self.timers.duplicate = False
        self._no_job_stuck()

    def _no_job_stuck(self) -> None:
        """Run time on and work the queue dry: every job ends completed, cancelled or dead-lettered,
        each completed one by exactly one accepted completion, with its claims counted only up."""
        for _ in range(40):
            self.timers.run_for(61)
            response = self._post(
                "/api/v1/jobs/claim",
                {"queue_name": self.queue, "worker_id": "closer", "lease_duration_secs": 30, "limit": 10},
            )
            for job in response.json["jobs"]:
                lease = Lease(job["id"], "closer", job["lease_id"], job["retry_count"])
                self.complete(lease, twice=False)
            statuses = {row["status"] for row in self._listed()}
            if statuses <= {"completed", "cancelled", "deadletter"}:
                break
        self.every_job_once_in_one_state_attempts_only_grow()
        for row in self._listed():
            assert row["status"] in ("completed", "cancelled", "deadletter"), f"stuck: {row}"
            history = h.history_types(self.api, row["id"])
            assert history.count("completed") == (1 if row["status"] == "completed" else 0), history
            if row["status"] == "completed":
                document = h.job(self.api, row["id"])
                assert document["result"] == self.results[row["id"]]


def test_job_lifecycle_keeps_its_invariants(aws: Any, clock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from local_stack.resources import create_all
    from tests.conftest import (
        SETUP_CLIENTS,
        SHARED_MOCK,
        ApiClient,
        _seed_org,
        install_clock,
        reset_process_caches,
    )

    start_ms = clock.now_ms()

    def fresh_world() -> tuple[Any, Timers]:
        SHARED_MOCK.empty()
        for name, value in create_all(SETUP_CLIENTS).items():
            monkeypatch.setenv(name, value)
        reset_process_caches(clients=False)
        clock._now_ms = start_ms
        ids = random.Random(12)
        monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=ids.getrandbits(128), version=4))
        install_clock(monkeypatch, clock)
        org = _seed_org("Acme Corporation", "acme")
        return ApiClient(org.api_key), h.install(monkeypatch, clock)

    JobLifecycle.fresh_world = staticmethod(fresh_world)
    try:
        run_state_machine_as_test(
            JobLifecycle,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                derandomize=os.environ.get("SPOOLED_PROPERTY_RANDOM") is None,
                database=None,
                suppress_health_check=list(HealthCheck),
                # Shrinking a long failing run takes many minutes: on demand only. Without it a
                # failure still prints the whole sequence of steps that broke an invariant.
                phases=list(Phase) if os.environ.get("SPOOLED_PROPERTY_SHRINK") else NO_SHRINK,
            ),
        )
    finally:
        JobLifecycle.fresh_world = None
