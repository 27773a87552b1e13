"""POST /workflows and the reads (contract §2.8): what is written, every refusal with nothing
written, the 100-job limit of a DynamoDB transaction, large payloads, listing, other tenants."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.jobs_api import JOBS, V1, assert_error, claim, detail_codes, get_job
from tests.functional.workflows.test_workflows_harness import (
    WORKFLOWS,
    create_workflow,
    job_spec,
    scoped_api,
    set_custom_limits,
    workflow,
)


def _nothing_written(api: Any) -> None:
    assert api.get(WORKFLOWS).json == []
    assert api.get(JOBS).json == []


def test_create_writes_the_workflow_and_gates_every_job_with_parents(api: Any) -> None:
    ids = create_workflow(
        api,
        [
            job_spec("extract", queue="etl", priority=5, max_retries=1, timeout_seconds=60),
            job_spec("load", queue="etl", depends_on=["extract", "extract"], tags={"team": "data"}),
        ],
        description="nightly load",
        metadata={"owner": "data-team", "ratio": 0.5},
    )
    assert [job["id"] for job in claim(api, "etl", limit=10)] == [ids["extract"]]

    load = get_job(api, ids["load"])
    assert (load["workflow_id"], load["dependency_mode"], load["dependencies_met"]) == (
        ids["_id"],
        "all",
        False,
    )
    extract = get_job(api, ids["extract"])
    assert (extract["priority"], extract["max_retries"], extract["timeout_seconds"]) == (5, 1, 60)
    assert extract["workflow_id"] == ids["_id"] and extract["dependencies_met"] is None

    detail = workflow(api, ids["_id"])
    assert (detail["name"], detail["description"], detail["metadata"]) == (
        "nightly etl",
        "nightly load",
        {"owner": "data-team", "ratio": 0.5},
    )
    assert detail["status"] == "pending" and detail["total_jobs"] == 2
    assert detail["progress"]["processing"] == 1 and detail["progress"]["pending"] == 1
    rows = {row["key"]: row for row in detail["jobs"]}
    assert rows["load"]["queue"] == "etl" and rows["load"]["payload"] == {"step": "load"}
    assert rows["load"]["metadata"] == {"team": "data"} and rows["extract"]["timeout_ms"] == 60_000
    # a repeated dependency is one edge
    assert detail["dependencies"] == [
        {"parent_job_id": ids["extract"], "child_job_id": ids["load"], "dependency_type": "all"}
    ]
    deps = api.get(f"{JOBS}/{ids['extract']}/dependencies").json
    assert [row["job_id"] for row in deps["dependents"]] == [ids["load"]]


@pytest.mark.parametrize(
    ("jobs", "code", "words"),
    [
        ([job_spec("a"), job_spec("a")], "duplicate_key", "Duplicate job key 'a'"),
        ([job_spec("a", depends_on=["ghost"])], "unknown_dependency", "unknown key 'ghost'"),
        ([job_spec("a", depends_on=["a"])], "cycle", "a -> a"),
        (
            [
                job_spec("a", depends_on=["c"]),
                job_spec("b", depends_on=["a"]),
                job_spec("c", depends_on=["b"]),
            ],
            "cycle",
            "a -> c -> b -> a",
        ),
        ([job_spec("bad key!")], "string_pattern_mismatch", "jobs.0.key"),
        ([job_spec("a", dependency_mode="most")], "literal_error", "jobs.0.dependency_mode"),
        ([job_spec("a", priority=101)], "less_than_equal", "jobs.0.priority"),
        ([], "too_short", "jobs"),
        ([job_spec(f"j{i}") for i in range(101)], "too_long", "jobs"),
    ],
    ids=["duplicate", "unknown", "self", "cycle", "key", "mode", "priority", "empty", "too-many"],
)
def test_an_invalid_graph_is_refused_whole(
    api: Any, jobs: list[dict[str, Any]], code: str, words: str
) -> None:
    body = assert_error(api.post(WORKFLOWS, {"name": "broken", "jobs": jobs}), 400, "VALIDATION_ERROR")
    assert code in detail_codes(api.post(WORKFLOWS, {"name": "broken", "jobs": jobs}))
    assert words in body["message"] or any(words in d["field"] for d in body["details"])
    _nothing_written(api)


def test_a_bad_name_is_400_and_a_missing_field_422(api: Any) -> None:
    assert_error(api.post(WORKFLOWS, {"name": "etl: nightly", "jobs": [job_spec("a")]}), 400)
    assert_error(api.post(WORKFLOWS, {"name": "etl"}), 422)
    assert_error(api.post(WORKFLOWS, {"name": "etl", "jobs": [{"key": "a", "queue_name": "q"}]}), 422)
    _nothing_written(api)


def test_a_queue_outside_the_keys_scope_is_403_and_nothing_is_written(api: Any) -> None:
    scoped = scoped_api(api, ["etl"])
    jobs = [job_spec("a", queue="etl"), job_spec("b", queue="billing", depends_on=["a"])]
    assert_error(scoped.post(WORKFLOWS, {"name": "mixed", "jobs": jobs}), 403, "ACCESS_DENIED")
    _nothing_written(api)


def test_an_oversized_payload_is_413_and_nothing_is_written(api: Any) -> None:
    huge = {"blob": "x" * (1024 * 1024)}
    jobs = [job_spec("a"), job_spec("b", depends_on=["a"]) | {"payload": huge}]
    body = assert_error(api.post(WORKFLOWS, {"name": "big", "jobs": jobs}), 413, "PAYLOAD_TOO_LARGE")
    assert body["limit"] == 1024 * 1024
    _nothing_written(api)


def test_workflows_can_be_disabled_or_capped_per_organization(api: Any, org: Any) -> None:
    set_custom_limits(org.id, {"max_workflows": 0})
    assert_error(api.post(WORKFLOWS, {"name": "w", "jobs": [job_spec("a")]}), 403, "FEATURE_DISABLED")
    _nothing_written(api)

    set_custom_limits(org.id, {"max_workflows": 1})
    first = create_workflow(api, [job_spec("a")])
    body = assert_error(api.post(WORKFLOWS, {"name": "w", "jobs": [job_spec("b")]}), 429, "QUOTA_EXCEEDED")
    assert (body["resource"], body["current"], body["limit"]) == ("workflows", 1, 1)
    assert api.post(f"{WORKFLOWS}/{first['_id']}/cancel").status == 200  # a finished one no longer counts
    create_workflow(api, [job_spec("b")])


def test_a_hundred_job_workflow_is_written_whole(api: Any) -> None:
    jobs = [job_spec("j0", queue="chain")] + [
        job_spec(f"j{i}", queue="chain", depends_on=[f"j{i - 1}"]) for i in range(1, 100)
    ]
    ids = create_workflow(api, jobs)
    detail = workflow(api, ids["_id"])
    assert [row["key"] for row in detail["jobs"]] == [f"j{i}" for i in range(100)]
    assert len(detail["dependencies"]) == 99
    last = get_job(api, ids["j99"])
    assert (last["status"], last["dependencies_met"], last["workflow_id"]) == ("pending", False, ids["_id"])
    assert [job["id"] for job in claim(api, "chain", limit=100)] == [ids["j0"]]


def test_the_last_job_of_a_hundred_is_written_by_the_sweep_if_create_stopped_short(
    api: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.dispatcher.handler import handler as dispatcher
    from shared.workflows import service as workflows

    def crash(self: Any, org_id: str, workflow: dict[str, Any]) -> None:
        raise RuntimeError("the API Lambda timed out here")

    real = workflows.WorkflowService._write_deferred
    monkeypatch.setattr(workflows.WorkflowService, "_write_deferred", crash)
    ids = create_workflow(api, [job_spec(f"j{i}", queue="wide") for i in range(100)])
    assert api.get(f"{JOBS}/{ids['j99']}").status == 404

    monkeypatch.setattr(workflows.WorkflowService, "_write_deferred", real)
    clock.advance(workflows.CHECK_EVERY_MS / 1000 + 1)
    assert dispatcher({"sweep": True})["workflows_checked"] == 1
    assert get_job(api, ids["j99"])["workflow_id"] == ids["_id"]
    assert len(claim(api, "wide", limit=100)) == 100


def test_large_payloads_beyond_one_transaction_go_to_s3_and_come_back_whole(api: Any) -> None:
    # 20 x 250 KB is 5 MB of payload: more than one DynamoDB transaction may carry (4 MB).
    jobs = [job_spec(f"p{i}", queue="bulk") | {"payload": {"i": i, "blob": "é" * 125_000}} for i in range(20)]
    ids = create_workflow(api, jobs)
    rows = {row["key"]: row for row in workflow(api, ids["_id"])["jobs"]}
    assert all(rows[f"p{i}"]["payload"] == jobs[i]["payload"] for i in range(20))


def test_list_is_newest_first_with_status_filter_and_paging(api: Any, clock: Any) -> None:
    created = []
    for n in range(3):
        created.append(create_workflow(api, [job_spec("a")], name=f"wf {n}")["_id"])
        clock.advance(1)
    assert api.post(f"{WORKFLOWS}/{created[1]}/cancel").status == 200

    listed = api.get(WORKFLOWS).json
    assert [row["id"] for row in listed] == created[::-1]
    assert {row["name"] for row in listed} == {"wf 0", "wf 1", "wf 2"}
    assert [row["id"] for row in api.get(WORKFLOWS, params={"status": "cancelled"}).json] == [created[1]]
    assert len(api.get(WORKFLOWS, params={"status": "sideways"}).json) == 3  # invalid filter ignored
    page = api.get(WORKFLOWS, params={"limit": 1, "offset": 1}).json
    assert [row["id"] for row in page] == [created[1]]


def test_another_tenants_workflows_and_jobs_are_not_found(api: Any, other_api: Any) -> None:
    ids = create_workflow(api, [job_spec("a"), job_spec("b", depends_on=["a"])])
    for path in (f"{WORKFLOWS}/{ids['_id']}", f"{JOBS}/{ids['b']}/dependencies"):
        assert_error(other_api.get(path), 404, "NOT_FOUND")
    for action in ("cancel", "retry"):
        assert_error(other_api.post(f"{WORKFLOWS}/{ids['_id']}/{action}"), 404, "NOT_FOUND")
    assert other_api.get(WORKFLOWS).json == []
    mine = other_api.post(JOBS, {"queue_name": "q-b", "payload": {}}).json["id"]
    assert_error(other_api.post(f"{JOBS}/{mine}/dependencies", {"depends_on": [ids["a"]]}), 404)
    assert_error(api.get(f"{WORKFLOWS}/not-a-workflow"), 404)
    assert workflow(api, ids["_id"])["status"] == "pending"


def test_a_scoped_key_sees_only_workflows_wholly_inside_its_queues(api: Any) -> None:
    inside = create_workflow(api, [job_spec("a", queue="etl")])
    outside = create_workflow(api, [job_spec("a", queue="etl"), job_spec("b", queue="billing")])
    scoped = scoped_api(api, ["etl"])
    assert [row["id"] for row in scoped.get(WORKFLOWS).json] == [inside["_id"]]
    assert_error(scoped.get(f"{WORKFLOWS}/{outside['_id']}"), 404)
    assert scoped.get(f"{WORKFLOWS}/{inside['_id']}").status == 200


def test_the_usage_document_counts_workflows(api: Any) -> None:
    create_workflow(api, [job_spec("a")])
    usage = api.get(f"{V1}/organizations/usage").json
    assert usage["usage"]["workflows"]["current"] == 1
