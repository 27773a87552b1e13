"""The job metrics as CloudWatch would read them: the EMF documents the functions print, captured
from stdout over a job's life (create → claim → fail → retry → complete), a dead letter, an
expired lease and the sweep's backlog gauges (shared/plumbing/observability.py)."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pytest

from shared.plumbing import observability as obs
from tests.functional.jobs_api import JOBS, claim, claim_one, create_job, dead_letter


def emitted(out: str) -> dict[str, float]:
    """Sum of every metric value in the deployment-wide EMF documents of `out`."""
    totals: dict[str, float] = defaultdict(float)
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        document = json.loads(line)
        directives = document.get("_aws", {}).get("CloudWatchMetrics", [])
        for directive in directives:
            assert directive["Namespace"] == obs.DEFAULT_NAMESPACE
            if directive["Dimensions"] != [[obs.DEPLOYMENT_DIMENSION]]:
                continue  # a per-queue series (off here)
            assert document[obs.DEPLOYMENT_DIMENSION] == obs.DEFAULT_DEPLOYMENT
            for metric in directive["Metrics"]:
                values = document[metric["Name"]]
                totals[metric["Name"]] += sum(values) if isinstance(values, list) else values
    return dict(totals)


def job_counts(totals: dict[str, float]) -> dict[str, float]:
    return {name: totals.get(name, 0) for name in obs.JOB_METRICS}


@pytest.fixture
def metrics(capsys: pytest.CaptureFixture[str], drain_stream: Any) -> Any:
    """Drain the stream, flush the metrics and return what was emitted since the last call."""

    def read() -> dict[str, float]:
        drain_stream()
        obs.flush()
        return emitted(capsys.readouterr().out)

    obs.flush()
    capsys.readouterr()
    return read


def test_a_jobs_life_counts_each_step_once(api, clock, metrics, org):
    job_id = create_job(api, "life", max_retries=2)
    assert job_counts(metrics()) == {**dict.fromkeys(obs.JOB_METRICS, 0), obs.JOBS_CREATED: 1}

    clock.advance(0.01)
    leased = claim_one(api, "life")
    assert leased["id"] == job_id
    assert job_counts(metrics())[obs.JOBS_CLAIMED] == 1

    failed = api.post(
        f"{JOBS}/{job_id}/fail", {"worker_id": "worker-1", "lease_id": leased["lease_id"], "error": "boom"}
    )
    assert failed.status == 200, failed
    assert job_counts(metrics()) == {
        **dict.fromkeys(obs.JOB_METRICS, 0),
        obs.JOBS_FAILED: 1,
        obs.JOBS_RETRIED: 1,
    }

    from shared.jobs.store import JobStore

    clock.advance(3600)  # past any backoff: its timer (here the sweep's look at the index) promotes it
    JobStore(clock=clock).promote_due(org.id, "life")
    again = claim_one(api, "life")
    assert again["id"] == job_id
    done = api.post(f"{JOBS}/{job_id}/complete", {"worker_id": "worker-1", "lease_id": again["lease_id"]})
    assert done.status == 200, done
    assert job_counts(metrics()) == {
        **dict.fromkeys(obs.JOB_METRICS, 0),
        obs.JOBS_CLAIMED: 1,
        obs.JOBS_COMPLETED: 1,
    }


def test_a_dead_letter_counts_created_claimed_failed_and_dead_lettered(api, clock, metrics):
    dead_letter(api, clock, "dead")
    assert job_counts(metrics()) == {
        **dict.fromkeys(obs.JOB_METRICS, 0),
        obs.JOBS_CREATED: 1,
        obs.JOBS_CLAIMED: 1,
        obs.JOBS_FAILED: 1,
        obs.JOBS_DEAD_LETTERED: 1,
    }


def test_an_expired_lease_counts_as_such_not_as_a_worker_failure(api, clock, metrics, org):
    from datetime import datetime

    from shared.jobs.store import JobStore
    from shared.plumbing.clock import from_datetime

    job_id = create_job(api, "lease", max_retries=0)
    clock.advance(0.01)
    [leased] = claim(api, "lease", lease=5)
    metrics()
    clock.advance(10)
    # What the lease check armed by the claim does when it comes due (shared/jobs/timers.py).
    lease_end = from_datetime(datetime.fromisoformat(leased["lease_expires_at"].replace("Z", "+00:00")))
    JobStore(clock=clock).recover_lease(org.id, "lease", job_id, leased["lease_id"], lease_end)
    counts = job_counts(metrics())
    assert counts[obs.LEASES_EXPIRED] == 1
    assert counts[obs.JOBS_DEAD_LETTERED] == 1
    assert counts[obs.JOBS_FAILED] == 0


def test_the_sweep_reports_pending_depth_and_the_oldest_claimable_age(api, clock, metrics, monkeypatch):
    from functions.dispatcher import handler as dispatcher
    from functions.dispatcher import sweep

    monkeypatch.setattr(sweep, "_last_backlog_ms", None)  # reported at most once a minute

    create_job(api, "backlog")
    clock.advance(30)
    create_job(api, "backlog")
    create_job(api, "other", scheduled_at=None)
    metrics()  # the stream keeps the counters the sweep reads
    clock.advance(60)
    dispatcher.handler({"sweep": True})
    totals = metrics()
    assert totals[obs.PENDING_JOBS] == 3
    assert totals[obs.OLDEST_PENDING_AGE] == 90
    clock.advance(30)
    dispatcher.handler({"sweep": True})  # within the minute: not measured again
    assert obs.PENDING_JOBS not in metrics()


def test_lost_claim_races_are_counted(api, clock, metrics, monkeypatch):
    from functions.api import routes_jobs
    from shared.jobs.store import JobStore

    for _ in range(3):
        create_job(api, "race")
        clock.advance(0.01)
    metrics()
    store = routes_jobs.service().store
    real_candidates = store._ready_candidates
    raced: list[bool] = []

    def stale_head(org_id: str, queue: str, shards: int, fetch: int) -> list[dict[str, Any]]:
        # As on AWS, where the index lags the table: another worker, served by another container
        # (a store of its own), claims the head between our read of it and our conditional write.
        candidates = real_candidates(org_id, queue, shards, fetch)
        if not raced:
            raced.append(True)
            assert len(JobStore(clock=store.clock).claim(org_id, queue, "worker-2", 1, 30)) == 1
        return candidates

    monkeypatch.setattr(store, "_ready_candidates", stale_head)
    jobs = claim(api, "race", limit=1)
    assert len(jobs) == 1
    assert metrics().get(obs.CLAIM_RACES_LOST) == 1
