"""POST /jobs/{id}/dependencies under concurrency and repeated calls (contract §2.8, §3.8): two
callers adding edges to the same job both win, and a later call sets the job's mode."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.jobs_api import JOBS, claim, create_job
from tests.functional.workflows.test_workflows_harness import Stream, run


@pytest.fixture
def stream(api: Any) -> Stream:
    return Stream()


def test_two_callers_adding_parents_to_one_job_at_once_both_win(
    api: Any, stream: Stream, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.jobs.dependencies import Dependencies

    first, second = create_job(api, "a"), create_job(api, "b")
    target = create_job(api, "target")
    walk = Dependencies._downstream
    concurrent: list[Any] = []
    started: list[bool] = []

    def walk_while_another_caller_adds(self: Dependencies, org_id: str, job_id: str) -> set[str]:
        # The first caller has read the job; the second adds its edge before the first writes.
        if not started:
            started.append(True)
            concurrent.append(api.post(f"{JOBS}/{target}/dependencies", {"depends_on": [second]}))
        return walk(self, org_id, job_id)

    monkeypatch.setattr(Dependencies, "_downstream", walk_while_another_caller_adds)
    response = api.post(f"{JOBS}/{target}/dependencies", {"depends_on": [first]})

    assert concurrent[0].status == 200, concurrent[0]
    assert response.status == 200, response
    assert (response.json["dependencies_added"], response.json["dependencies_met"]) == (1, False)
    document = api.get(f"{JOBS}/{target}/dependencies").json
    assert sorted(row["job_id"] for row in document["dependencies"]) == sorted([first, second])
    run(api, first)
    stream.drain()
    assert claim(api, "target") == []  # still waits for the second
    run(api, second)
    stream.drain()
    assert [job["id"] for job in claim(api, "target")] == [target]


def test_a_second_call_with_the_same_parents_sets_the_mode(api: Any, stream: Stream) -> None:
    done, waiting = create_job(api, "a"), create_job(api, "b")
    target = create_job(api, "target")
    first = api.post(f"{JOBS}/{target}/dependencies", {"depends_on": [done, waiting]})
    assert (first.json["dependencies_added"], first.json["dependencies_met"]) == (2, False)
    run(api, done)
    stream.drain()
    assert claim(api, "target") == []

    again = api.post(f"{JOBS}/{target}/dependencies", {"depends_on": [done], "dependency_mode": "any"})
    assert again.status == 200, again
    assert (again.json["dependencies_added"], again.json["dependencies_met"]) == (0, True)
    assert api.get(f"{JOBS}/{target}/dependencies").json["dependency_mode"] == "any"
    assert [job["id"] for job in claim(api, "target")] == [target]


def test_two_callers_closing_a_cycle_at_once_cannot_both_win(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.jobs.dependencies import Dependencies

    first, second = create_job(api, "a"), create_job(api, "b")
    walk = Dependencies._downstream
    concurrent: list[Any] = []

    def walk_then_let_the_other_caller_in(self: Dependencies, org_id: str, job_id: str) -> set[str]:
        # "second depends on first" has looked for a cycle and found none; before it writes, another
        # caller adds "first depends on second" whole.
        seen = walk(self, org_id, job_id)
        if not concurrent:
            concurrent.append(None)
            concurrent[0] = api.post(f"{JOBS}/{first}/dependencies", {"depends_on": [second]})
        return seen

    monkeypatch.setattr(Dependencies, "_downstream", walk_then_let_the_other_caller_in)
    response = api.post(f"{JOBS}/{second}/dependencies", {"depends_on": [first]})
    assert response.status == 200 and concurrent[0].status == 200, (response, concurrent[0])

    added = response.json["dependencies_added"] + concurrent[0].json["dependencies_added"]
    assert added == 1  # one edge of the two; both would wait on each other for ever
    claimable = claim(api, "a", limit=10) + claim(api, "b", limit=10)
    assert len(claimable) == 1
    for job in (first, second):
        document = api.get(f"{JOBS}/{job}/dependencies").json
        # Each side lists only real edges: a skipped edge leaves no dependent behind.
        for row in document["dependents"]:
            child = api.get(f"{JOBS}/{row['job_id']}/dependencies").json
            assert job in [parent["job_id"] for parent in child["dependencies"]]


def test_a_claim_in_between_is_a_409_and_leaves_no_link_behind(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.jobs.dependencies import Dependencies

    parent, target = create_job(api, "a"), create_job(api, "target")
    walk = Dependencies._downstream
    claimed: list[Any] = []

    def walk_while_a_worker_claims(self: Dependencies, org_id: str, job_id: str) -> set[str]:
        if not claimed:
            claimed.extend(claim(api, "target"))
        return walk(self, org_id, job_id)

    monkeypatch.setattr(Dependencies, "_downstream", walk_while_a_worker_claims)
    response = api.post(f"{JOBS}/{target}/dependencies", {"depends_on": [parent]})
    assert response.status == 409, response
    assert [job["id"] for job in claimed] == [target]
    assert api.get(f"{JOBS}/{parent}/dependencies").json["dependents"] == []
    assert api.get(f"{JOBS}/{target}/dependencies").json["dependencies"] == []
