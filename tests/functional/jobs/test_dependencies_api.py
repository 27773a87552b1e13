"""parent_job_id on POST /jobs (contract §3.6) and GET/POST /jobs/{id}/dependencies (§2.8, §3.8)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.jobs_api import JOBS, assert_error, claim, create_job, get_job
from tests.functional.workflows.test_workflows_harness import Stream, run, scoped_api


@pytest.fixture
def stream(api: Any) -> Stream:
    return Stream()


def test_a_child_waits_for_its_parent_to_complete(api: Any, stream: Stream) -> None:
    parent = create_job(api, "reports")
    child = create_job(api, "reports", parent_job_id=parent)
    job = get_job(api, child)
    assert (job["parent_job_id"], job["dependencies_met"], job["status"]) == (parent, False, "pending")
    leased = claim(api, "reports", limit=10)
    assert [j["id"] for j in leased] == [parent]

    response = api.post(
        f"{JOBS}/{parent}/complete", {"worker_id": "worker-1", "lease_id": leased[0]["lease_id"]}
    )
    assert response.status == 200
    stream.drain()
    assert get_job(api, child)["dependencies_met"] is True
    assert [j["id"] for j in claim(api, "reports")] == [child]
    events = [row["event_type"] for row in api.get(f"{JOBS}/{child}/history").json]
    assert events == ["created", "dependencies_met", "processing"]


def test_a_child_of_a_parent_that_dead_letters_is_cancelled(api: Any, stream: Stream) -> None:
    parent = create_job(api, "reports", max_retries=0)
    child = create_job(api, "reports", parent_job_id=parent)
    grandchild = create_job(api, "reports", parent_job_id=child)
    run(api, parent, error="boom")
    stream.drain()
    assert get_job(api, child)["status"] == "cancelled"
    assert get_job(api, child)["last_error"] == f"Parent job {parent} ended deadletter"
    assert get_job(api, grandchild)["status"] == "cancelled"


def test_a_parent_that_already_finished_decides_at_create(api: Any, stream: Stream) -> None:
    done = create_job(api, "reports")
    run(api, done)
    stream.drain()
    child = create_job(api, "reports", parent_job_id=done)
    assert get_job(api, child)["dependencies_met"] is True
    assert [j["id"] for j in claim(api, "reports")] == [child]

    cancelled = create_job(api, "reports")
    assert api.delete(f"{JOBS}/{cancelled}").status == 204
    orphan = create_job(api, "reports", parent_job_id=cancelled)
    assert get_job(api, orphan)["status"] == "cancelled"


@pytest.mark.parametrize("where", ["other queue", "unknown", "other org"])
def test_a_parent_must_exist_in_the_same_org_and_queue(api: Any, other_api: Any, where: str) -> None:
    if where == "other queue":
        parent = create_job(api, "emails")
    elif where == "unknown":
        parent = "00000000-0000-4000-8000-000000000000"
    else:
        parent = create_job(other_api, "reports")
    assert_error(api.post(JOBS, {"queue_name": "reports", "payload": {}, "parent_job_id": parent}), 400)
    assert api.get(JOBS, params={"queue_name": "reports"}).json == []


def test_adding_dependencies_gates_a_waiting_job_until_they_complete(api: Any, stream: Stream) -> None:
    first, second = create_job(api, "a"), create_job(api, "b")
    target = create_job(api, "target")
    response = api.post(f"{JOBS}/{target}/dependencies", {"depends_on": [first, second, target, first]})
    assert response.status == 200, response
    assert response.json == {
        "job_id": target,
        "dependencies_added": 2,
        "added_count": 2,
        "dependencies_met": False,
    }
    assert claim(api, "target") == []
    document = api.get(f"{JOBS}/{target}/dependencies").json
    assert document["dependency_mode"] == "all" and document["dependencies_met"] is False
    assert document["dependencies"] == [
        {"job_id": first, "status": "pending", "queue_name": "a"},
        {"job_id": second, "status": "pending", "queue_name": "b"},
    ]
    assert api.get(f"{JOBS}/{first}/dependencies").json["dependents"][0]["job_id"] == target

    run(api, first)
    stream.drain()
    assert claim(api, "target") == []
    run(api, second)
    stream.drain()
    assert api.get(f"{JOBS}/{target}/dependencies").json["dependencies_met"] is True
    assert [j["id"] for j in claim(api, "target")] == [target]


def test_any_mode_and_already_completed_dependencies_release_at_once(api: Any, stream: Stream) -> None:
    done, waiting = create_job(api, "a"), create_job(api, "b")
    run(api, done)
    stream.drain()
    target = create_job(api, "target")
    response = api.post(
        f"{JOBS}/{target}/dependencies", {"depends_on": [done, waiting], "dependency_mode": "any"}
    )
    assert response.json["dependencies_met"] is True
    assert [j["id"] for j in claim(api, "target")] == [target]


def test_an_edge_that_would_close_a_cycle_is_skipped(api: Any) -> None:
    upstream, downstream = create_job(api, "a"), create_job(api, "b")
    api.post(f"{JOBS}/{downstream}/dependencies", {"depends_on": [upstream]})
    further = create_job(api, "c")
    api.post(f"{JOBS}/{further}/dependencies", {"depends_on": [downstream]})

    response = api.post(f"{JOBS}/{upstream}/dependencies", {"depends_on": [further]})
    assert response.status == 200
    assert (response.json["dependencies_added"], response.json["dependencies_met"]) == (0, True)
    assert api.get(f"{JOBS}/{upstream}/dependencies").json["dependencies"] == []
    assert [j["id"] for j in claim(api, "a")] == [upstream]


def test_dependency_refusals(api: Any) -> None:
    target, other = create_job(api, "target"), create_job(api, "other")
    missing = "00000000-0000-4000-8000-000000000000"
    assert_error(api.post(f"{JOBS}/{target}/dependencies", {"depends_on": [missing]}), 404)
    assert_error(api.post(f"{JOBS}/{missing}/dependencies", {"depends_on": [other]}), 404)
    assert_error(api.post(f"{JOBS}/{target}/dependencies", {"depends_on": []}), 400)
    assert_error(
        api.post(f"{JOBS}/{target}/dependencies", {"depends_on": [other], "dependency_mode": "x"}), 400
    )
    assert_error(api.post(f"{JOBS}/{target}/dependencies", {}), 422)
    run(api, target)
    assert_error(api.post(f"{JOBS}/{target}/dependencies", {"depends_on": [other]}), 409)
    assert get_job(api, other)["status"] == "pending"
    assert api.get(f"{JOBS}/{other}/dependencies").json["dependents"] == []


def test_a_scoped_key_sees_only_dependencies_inside_its_queues(api: Any) -> None:
    hidden = create_job(api, "billing")
    target = create_job(api, "etl")
    scoped = scoped_api(api, ["etl"])
    assert_error(scoped.post(f"{JOBS}/{target}/dependencies", {"depends_on": [hidden]}), 404)
    api.post(f"{JOBS}/{target}/dependencies", {"depends_on": [hidden]})
    assert scoped.get(f"{JOBS}/{target}/dependencies").json["dependencies"] == []
    assert_error(scoped.get(f"{JOBS}/{hidden}/dependencies"), 404)


def test_a_release_decided_on_a_stale_read_loses_to_a_cancel(api: Any) -> None:
    from shared.jobs.dependencies import Decision, Dependencies

    parent = create_job(api, "reports")
    child = create_job(api, "reports", parent_job_id=parent)
    run(api, parent)  # completed; the stream has not delivered it yet
    org_id = get_job(api, child)["organization_id"]
    dependencies = Dependencies()
    seen = dependencies.gate_item(org_id, child)
    assert seen is not None

    assert api.delete(f"{JOBS}/{child}").status == 204  # the user cancels in between
    stale_release = dependencies._transition(org_id, seen, Decision.RELEASE, {parent: "completed"})
    assert dependencies.store.conditional_update(stale_release) is False
    assert get_job(api, child)["status"] == "cancelled"
    assert claim(api, "reports") == []
