"""Workflows run by the stream: release in dependency order, `any` mode, the failure cascade,
replayed batches, cancel and retry (contract §3.8). The dispatcher's stream handler is driven the
way the event source mapping drives it (tests/functional/workflows/test_workflows_harness.py: Stream)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.jobs_api import JOBS, assert_error, claim, get_job
from tests.functional.workflows.test_workflows_harness import (
    WORKFLOWS,
    Stream,
    create_workflow,
    finish,
    job_spec,
    run,
    status,
    workflow,
)

DIAMOND = [
    job_spec("extract"),
    job_spec("clean", depends_on=["extract"]),
    job_spec("enrich", depends_on=["extract"]),
    job_spec("load", depends_on=["clean", "enrich"]),
]


@pytest.fixture
def stream(api: Any) -> Stream:
    return Stream()


def _statuses(api: Any, ids: dict[str, str]) -> dict[str, str]:
    return {key: status(api, job_id) for key, job_id in ids.items() if key != "_id"}


def _claimed_ids(api: Any, queue: str = "etl") -> list[dict[str, Any]]:
    return claim(api, queue, limit=100)


def test_a_diamond_is_released_in_dependency_order(api: Any, clock: Any, stream: Stream) -> None:
    ids = create_workflow(api, [{**job, "queue_name": "etl"} for job in DIAMOND])
    stream.drain()
    first = _claimed_ids(api)
    assert [job["id"] for job in first] == [ids["extract"]]  # only the root is claimable
    clock.advance(1)
    finish(api, first[0], result={"rows": 10})
    stream.drain()

    middle = _claimed_ids(api)
    assert {job["id"] for job in middle} == {ids["clean"], ids["enrich"]}
    assert workflow(api, ids["_id"])["status"] == "running"
    clean = next(job for job in middle if job["id"] == ids["clean"])
    enrich = next(job for job in middle if job["id"] == ids["enrich"])
    finish(api, clean)
    stream.drain()
    assert _claimed_ids(api) == []  # load still waits for enrich
    assert get_job(api, ids["load"])["dependencies_met"] is False

    finish(api, enrich)
    stream.drain()
    assert get_job(api, ids["load"])["dependencies_met"] is True
    clock.advance(1)
    run(api, ids["load"])
    stream.drain()
    assert _claimed_ids(api) == []

    done = workflow(api, ids["_id"])
    assert done["status"] == "completed"
    assert done["progress"] == {
        "total": 4,
        "completed": 4,
        "failed": 0,
        "pending": 0,
        "processing": 0,
        "cancelled": 0,
    }
    assert done["completed_at"] is not None and done["started_at"] is not None
    assert done["started_at"] <= done["completed_at"]
    listed = api.get(WORKFLOWS).json
    assert [(row["id"], row["status"], row["completed_jobs"], row["progress_percent"]) for row in listed] == [
        (ids["_id"], "completed", 4, 100.0)
    ]


def test_any_mode_releases_on_the_first_parent_that_completes(api: Any, stream: Stream) -> None:
    ids = create_workflow(
        api,
        [
            job_spec("primary", max_retries=0),
            job_spec("mirror"),
            job_spec("publish", depends_on=["primary", "mirror"], dependency_mode="any"),
        ],
    )
    run(api, ids["primary"], error="primary source down")
    stream.drain()
    assert status(api, ids["publish"]) == "pending"
    assert get_job(api, ids["publish"])["dependencies_met"] is False  # mirror may still complete

    run(api, ids["mirror"])
    stream.drain()
    run(api, ids["publish"])
    stream.drain()
    # Nothing runnable is left and one job dead-lettered: the workflow failed (contract §3.8).
    assert workflow(api, ids["_id"])["status"] == "failed"


def test_any_mode_is_cancelled_when_no_parent_can_complete(api: Any, stream: Stream) -> None:
    ids = create_workflow(
        api,
        [
            job_spec("a", max_retries=0),
            job_spec("b", max_retries=0),
            job_spec("either", depends_on=["a", "b"], dependency_mode="any"),
        ],
    )
    run(api, ids["a"], error="no")
    stream.drain()
    assert status(api, ids["either"]) == "pending"
    run(api, ids["b"], error="no")
    stream.drain()
    job = get_job(api, ids["either"])
    assert job["status"] == "cancelled"
    assert "every one failed" in job["last_error"]


def test_a_failure_cascades_through_two_levels(api: Any, stream: Stream) -> None:
    ids = create_workflow(
        api,
        [
            job_spec("fetch", max_retries=0),
            job_spec("parse", depends_on=["fetch"]),
            job_spec("index", depends_on=["parse"]),
            job_spec("audit"),
        ],
    )
    run(api, ids["fetch"], error="HTTP 503")
    stream.drain()
    assert _statuses(api, ids) == {
        "fetch": "deadletter",
        "parse": "cancelled",
        "index": "cancelled",
        "audit": "pending",
    }
    assert get_job(api, ids["parse"])["last_error"] == f"Parent job {ids['fetch']} ended deadletter"
    assert get_job(api, ids["index"])["last_error"] == f"Parent job {ids['parse']} ended cancelled"
    assert workflow(api, ids["_id"])["status"] == "running"  # audit can still run

    run(api, ids["audit"])
    stream.drain()
    failed = workflow(api, ids["_id"])
    assert failed["status"] == "failed" and failed["completed_at"] is not None
    assert (failed["completed_jobs"], failed["failed_jobs"]) == (1, 1)


def test_replaying_every_stream_batch_changes_nothing(api: Any, stream: Stream) -> None:
    ids = create_workflow(
        api, [*DIAMOND, job_spec("notify", max_retries=0), job_spec("report", depends_on=["notify"])]
    )
    run(api, ids["extract"])
    stream.drain()
    run(api, ids["clean"])
    run(api, ids["notify"], error="smtp down")
    stream.drain()
    before = {key: get_job(api, job_id) for key, job_id in ids.items() if key != "_id"}
    before_workflow = workflow(api, ids["_id"])

    stream.replay()
    stream.drain()

    after = {key: get_job(api, job_id) for key, job_id in ids.items() if key != "_id"}
    assert after == before  # statuses, gates, history and updated_at all untouched
    assert workflow(api, ids["_id"]) == before_workflow
    assert {key: job["status"] for key, job in after.items()} == {
        "extract": "completed",
        "clean": "completed",
        "enrich": "pending",
        "load": "pending",
        "notify": "deadletter",
        "report": "cancelled",
    }


def test_cancel_stops_waiting_jobs_and_lets_running_ones_finish(api: Any, stream: Stream) -> None:
    ids = create_workflow(api, DIAMOND)
    run(api, ids["extract"])
    stream.drain()
    (leased,) = claim(api, "q-clean")
    running, waiting = "clean", "enrich"

    response = api.post(f"{WORKFLOWS}/{ids['_id']}/cancel")
    assert response.status == 200, response
    assert response.json["status"] == "cancelled" and response.json["completed_at"] is not None
    assert status(api, ids[waiting]) == "cancelled"
    assert status(api, ids["load"]) == "cancelled"
    assert status(api, ids[running]) == "processing"

    finish(api, leased)  # the running job completes normally
    stream.drain()
    assert status(api, ids[running]) == "completed"
    assert workflow(api, ids["_id"])["status"] == "cancelled"  # cancel is final
    again = api.post(f"{WORKFLOWS}/{ids['_id']}/cancel")
    assert again.status == 200 and again.json["status"] == "cancelled"


def test_a_completed_workflow_cannot_be_cancelled(api: Any, stream: Stream) -> None:
    ids = create_workflow(api, [job_spec("only")])
    run(api, ids["only"])
    stream.drain()
    assert_error(api.post(f"{WORKFLOWS}/{ids['_id']}/cancel"), 409, "CONFLICT")
    assert workflow(api, ids["_id"])["status"] == "completed"


def test_retry_brings_a_failed_workflow_back_and_it_completes(api: Any, clock: Any, stream: Stream) -> None:
    ids = create_workflow(
        api,
        [job_spec("download", max_retries=0), job_spec("unzip", depends_on=["download"]), job_spec("log")],
    )
    run(api, ids["log"])
    run(api, ids["download"], error="disk full")
    stream.drain()
    assert workflow(api, ids["_id"])["status"] == "failed"

    clock.advance(1)
    response = api.post(f"{WORKFLOWS}/{ids['_id']}/retry")
    assert response.status == 200, response
    assert response.json["status"] == "running" and response.json["completed_at"] is None
    download, unzip = get_job(api, ids["download"]), get_job(api, ids["unzip"])
    assert (download["status"], download["retry_count"], download["last_error"]) == ("pending", 0, None)
    assert (unzip["status"], unzip["dependencies_met"]) == ("pending", False)
    assert status(api, ids["log"]) == "completed"  # what succeeded is not run again

    run(api, ids["download"])
    stream.drain()
    run(api, ids["unzip"])
    stream.drain()
    assert workflow(api, ids["_id"])["status"] == "completed"


def test_only_a_failed_workflow_can_be_retried(api: Any, stream: Stream) -> None:
    ids = create_workflow(api, [job_spec("a")])
    body = assert_error(api.post(f"{WORKFLOWS}/{ids['_id']}/retry"), 400)
    assert "pending" in body["message"]
    run(api, ids["a"])
    stream.drain()
    assert_error(api.post(f"{WORKFLOWS}/{ids['_id']}/retry"), 400)


def _sweep() -> None:
    """The dispatcher's minute sweep: every queue's due timers (here: a delay that came due)."""
    from functions.dispatcher import handler as dispatcher

    dispatcher.handler({"sweep": True})


def test_a_delayed_child_waits_for_both_its_parent_and_its_time(api: Any, clock: Any, stream: Stream) -> None:
    later = clock.now_ms() + 60_000
    from shared.plumbing.clock import to_rfc3339

    ids = create_workflow(
        api,
        [job_spec("parent"), job_spec("child", depends_on=["parent"], scheduled_at=to_rfc3339(later))],
    )
    run(api, ids["parent"])
    stream.drain()
    child = get_job(api, ids["child"])
    assert (child["status"], child["dependencies_met"]) == ("scheduled", True)
    assert claim(api, "q-child") == []  # released, but not due yet

    clock.advance(61)
    _sweep()  # what its timer does when due (a claim does not promote)
    assert [job["id"] for job in claim(api, "q-child")] == [ids["child"]]


def test_a_delayed_child_whose_time_came_still_waits_for_its_parent(
    api: Any, clock: Any, stream: Stream
) -> None:
    from shared.plumbing.clock import to_rfc3339

    ids = create_workflow(
        api,
        [
            job_spec("parent"),
            job_spec("child", depends_on=["parent"], scheduled_at=to_rfc3339(clock.now_ms() + 5_000)),
        ],
    )
    clock.advance(6)
    _sweep()
    assert claim(api, "q-child") == []  # due, promoted to pending, but gated
    child = get_job(api, ids["child"])
    assert (child["status"], child["dependencies_met"]) == ("pending", False)

    run(api, ids["parent"])
    stream.drain()
    assert [job["id"] for job in claim(api, "q-child")] == [ids["child"]]


def test_cancelling_a_gated_job_by_hand_cascades_to_its_dependents(api: Any, stream: Stream) -> None:
    ids = create_workflow(
        api, [job_spec("a"), job_spec("b", depends_on=["a"]), job_spec("c", depends_on=["b"])]
    )
    assert api.delete(f"{JOBS}/{ids['b']}").status == 204
    stream.drain()
    assert status(api, ids["c"]) == "cancelled"
    run(api, ids["a"])
    stream.drain()
    assert workflow(api, ids["_id"])["status"] == "cancelled"  # nothing failed, something cancelled


def test_a_cancel_landing_while_a_retry_walks_its_jobs_leaves_nothing_claimable(
    api: Any, stream: Stream, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = create_workflow(
        api, [job_spec("download", max_retries=0), job_spec("unzip", depends_on=["download"])]
    )
    run(api, ids["download"], error="disk full")
    stream.drain()
    assert workflow(api, ids["_id"])["status"] == "failed"

    from shared.jobs.dependencies import Dependencies

    read_jobs = Dependencies.read_jobs

    def read_then_cancel(self: Any, *args: Any, **kwargs: Any) -> Any:
        jobs = read_jobs(self, *args, **kwargs)
        monkeypatch.setattr(Dependencies, "read_jobs", read_jobs)  # once
        assert api.post(f"{WORKFLOWS}/{ids['_id']}/cancel").status == 200
        return jobs

    monkeypatch.setattr(Dependencies, "read_jobs", read_then_cancel)
    api.post(f"{WORKFLOWS}/{ids['_id']}/retry")
    stream.drain()
    assert workflow(api, ids["_id"])["status"] == "cancelled"
    assert status(api, ids["download"]) != "pending"
    assert claim(api, "q-download", limit=10) == []
