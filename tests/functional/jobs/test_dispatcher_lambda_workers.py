"""Lambda workers: a queue pushes its jobs to a function, within its concurrency limit.

The dispatcher's Lambda-worker queue is in memory; the functions are Python callables in a
LocalFunctions registry (what `make dev` uses), called through the real invoker handler.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from local_stack.lambda_workers import LocalFunctions
from shared.jobs import expressions as ex
from shared.jobs.workers.lambda_workers import (
    AwsLambdaInvoker,
    InvokeRequest,
    LambdaWorkerConfig,
    LambdaWorkers,
)
from shared.plumbing import dynamo_codec
from shared.plumbing.timer_queue import InMemorySender
from tests.conftest import ADMIN_KEY
from tests.functional import timers_harness as h
from tests.functional.timers_harness import Timers

QUEUE = "pushed"


@dataclass
class Pushed:
    timers: Timers
    invocations: InMemorySender
    workers: LambdaWorkers
    functions: LocalFunctions
    org_id: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    limit: int = 0  # the queue's max_concurrency, once configured

    def deliver(self, bodies: list[str], twice: bool = False) -> list[dict[str, Any]]:
        from functions.dispatcher import lambda_invoker

        event = h.sqs_event(bodies)
        results = [lambda_invoker.handle(event, None, self.workers, self.functions)]
        if twice:
            results.append(lambda_invoker.handle(event, None, self.workers, self.functions))
        return results

    def run_all(self, max_rounds: int = 100) -> None:
        """Invoke whatever is queued, one message at a time, until the queue stays empty."""
        for _ in range(max_rounds):
            self.timers.settle()
            bodies = self.invocations.receive()
            if not bodies:
                return
            for body in bodies:
                assert len(self.slots()) <= self.limit
                self.deliver([body])
        raise AssertionError("the Lambda-worker queue never emptied")

    def slots(self) -> dict[str, int]:
        from shared.plumbing import aws_clients
        from shared.plumbing.config import settings

        found = aws_clients.client("dynamodb").get_item(
            TableName=settings().table_name, Key=ex.lambda_slots_key(self.org_id, QUEUE)
        )
        return dict(dynamo_codec.decode_item(found.get("Item", {})).get("slots", {}))


@pytest.fixture
def pushed(api: Any, org: Any, clock: Any, monkeypatch: pytest.MonkeyPatch) -> Pushed:
    from functions.dispatcher import handler

    timers = h.install(monkeypatch, clock)
    invocations = InMemorySender(clock)
    workers = LambdaWorkers(handler.store(), invocations)
    monkeypatch.setattr(handler, "lambda_workers", lambda: workers)
    state = Pushed(timers, invocations, workers, LocalFunctions(), org.id)

    def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
        state.calls.append(event)
        return {"doubled": event["payload"]["n"] * 2, "by": context.function_name}

    def broken(event: dict[str, Any], context: Any) -> None:
        state.calls.append(event)
        raise ValueError(f"bad input {event['payload']['n']}")

    state.functions.register("echo", echo)
    state.functions.register("broken", broken)
    return state


def _allow(api: Any, org_id: str, *functions: str) -> Any:
    """The operator allows the organization's queues to push to these functions (admin API)."""
    return api.request(
        "PATCH",
        f"/api/v1/admin/organizations/{org_id}",
        json_body={"lambda_functions": list(functions)},
        headers={"X-Admin-Key": ADMIN_KEY},
        api_key=None,
    )


def _configure(pushed: Pushed, api: Any, function: str, max_concurrency: int = 2) -> None:
    assert _allow(api, pushed.org_id, function).status == 200
    settings = {"lambda_worker": {"function_name": function, "max_concurrency": max_concurrency}}
    response = api.put(f"/api/v1/queues/{QUEUE}/config", {"settings": settings})
    assert response.status == 200, response
    pushed.limit = max_concurrency


def test_jobs_are_pushed_completed_with_the_return_value_and_never_beyond_the_limit(
    api: Any, pushed: Pushed
) -> None:
    _configure(pushed, api, "echo", max_concurrency=2)
    ids = [h.create(api, queue_name=QUEUE, payload={"n": n}) for n in range(5)]
    pushed.timers.settle()  # the stream sees the new jobs and pumps the queue
    assert len(pushed.invocations.pending) == 2  # two slots, two invocations in flight
    assert len(pushed.slots()) == 2
    assert {h.job(api, job_id)["status"] for job_id in ids}.issuperset({"processing", "pending"})

    pushed.run_all()

    for n, job_id in enumerate(ids):
        document = h.job(api, job_id)
        assert document["status"] == "completed"
        assert document["result"] == {"doubled": n * 2, "by": "echo"}
        assert document["assigned_worker_id"] == "lambda:echo"
    assert sorted(call["id"] for call in pushed.calls) == sorted(ids)  # each job ran once
    assert {call["organization_id"] for call in pushed.calls} == {h.job(api, ids[0])["organization_id"]}
    assert pushed.invocations.pending == []


def test_a_failing_function_retries_with_backoff_then_dead_letters(api: Any, pushed: Pushed) -> None:
    _configure(pushed, api, "broken")
    job_id = h.create(api, queue_name=QUEUE, payload={"n": 7}, max_retries=2)
    for attempt in range(3):
        pushed.run_all()
        document = h.job(api, job_id)
        assert document["last_error"] == "ValueError: bad input 7"
        assert document["retry_count"] == min(attempt + 1, 2)
        pushed.timers.run_for(10)  # the backoff; its timer makes the job claimable and pumps it
    pushed.run_all()
    document = h.job(api, job_id)
    assert document["status"] == "deadletter"
    assert len(pushed.calls) == 3  # max_retries + 1 executions, no more
    assert [call["retry_count"] for call in pushed.calls] == [0, 1, 2]
    assert [row["id"] for row in api.get("/api/v1/jobs/dlq").json] == [job_id]


def test_a_redelivered_or_retried_invoke_runs_the_function_once(api: Any, pushed: Pushed) -> None:
    _configure(pushed, api, "echo")
    job_id = h.create(api, queue_name=QUEUE, payload={"n": 3})
    pushed.timers.settle()
    (body,) = pushed.invocations.receive()
    # SQS delivering the message twice in one batch, then Lambda retrying the whole event.
    results = pushed.deliver([body, body], twice=True)
    assert all(result == {"batchItemFailures": []} for result in results)
    assert [call["id"] for call in pushed.calls] == [job_id]
    document = h.job(api, job_id)
    assert document["status"] == "completed" and document["retry_count"] == 0
    assert h.history_types(api, job_id).count("completed") == 1


def test_pumps_racing_for_the_last_slot_release_what_they_cannot_start(api: Any, pushed: Pushed) -> None:
    _configure(pushed, api, "echo", max_concurrency=1)
    ids = [h.create(api, queue_name=QUEUE, payload={"n": n}) for n in range(3)]
    pushed.timers.settle()
    assert len(pushed.invocations.pending) == 1
    # A second pump that read the slots before the first one took its slot (a stale read).
    pushed.workers.slots = lambda org_id, queue: {}  # type: ignore[method-assign]
    assert pushed.workers.pump(pushed.org_id, QUEUE) == 0
    assert len(pushed.invocations.pending) == 1  # still one function running
    released = [job_id for job_id in ids if "released" in h.history_types(api, job_id)]
    assert released and all(h.job(api, job_id)["status"] == "pending" for job_id in released)
    assert all(h.job(api, job_id)["retry_count"] == 0 for job_id in released)
    del pushed.workers.slots
    pushed.run_all()
    assert {h.job(api, job_id)["status"] for job_id in ids} == {"completed"}


def test_a_function_that_outruns_the_timeout_is_retried_and_its_late_result_ignored(
    api: Any, clock: Any, pushed: Pushed
) -> None:
    runs: list[int] = []

    def slow(event: dict[str, Any], context: Any) -> str:
        runs.append(event["retry_count"])
        if len(runs) == 1:
            pushed.timers.run_for(12)  # longer than the job's timeout_seconds: the lease ends meanwhile
        return "done"

    pushed.functions.register("slow", slow)
    _configure(pushed, api, "slow")
    job_id = h.create(api, queue_name=QUEUE, timeout_seconds=10, max_retries=1)
    pushed.timers.settle()
    pushed.run_all()
    pushed.timers.run_for(5)
    pushed.run_all()
    document = h.job(api, job_id)
    assert runs == [0, 1]
    assert document["status"] == "completed" and document["retry_count"] == 1
    assert "Job exceeded its timeout_seconds (10 s)" in json.dumps(
        api.get(f"/api/v1/jobs/{job_id}/history").json
    )


def test_unknown_function_fails_the_attempt(api: Any, pushed: Pushed) -> None:
    _configure(pushed, api, "no-such-function")
    job_id = h.create(api, queue_name=QUEUE, max_retries=0)
    pushed.run_all()
    document = h.job(api, job_id)
    assert document["status"] == "deadletter"
    assert document["last_error"].startswith("Lambda invoke failed: LookupError: ResourceNotFoundException")


def test_a_paused_queue_pushes_nothing_until_resumed(api: Any, pushed: Pushed) -> None:
    _configure(pushed, api, "echo")
    assert api.post(f"/api/v1/queues/{QUEUE}/pause", {}).status == 200
    pushed.workers.queue_settings.forget()
    job_id = h.create(api, queue_name=QUEUE)
    pushed.run_all()
    assert h.job(api, job_id)["status"] == "pending" and pushed.calls == []
    assert api.post(f"/api/v1/queues/{QUEUE}/resume", {}).status == 200
    pushed.workers.queue_settings.forget()
    from functions.dispatcher.handler import handler

    handler({"sweep": True})  # the sweep pumps every queue
    pushed.run_all()
    assert h.job(api, job_id)["status"] == "completed"


def test_an_organization_cannot_name_a_function_it_was_not_allowed(
    api: Any, other_api: Any, other_org: Any, pushed: Pushed
) -> None:
    """Finding 1: a second organization naming the first one's worker got 200 and its jobs ran there."""
    _configure(pushed, api, "echo")
    settings = {"settings": {"lambda_worker": {"function_name": "echo"}}}

    refused = other_api.put(f"/api/v1/queues/{QUEUE}/config", settings)
    assert refused.status == 403, refused
    assert refused.json["code"] == "ACCESS_DENIED" and "not allowed" in refused.json["message"]
    # Nor can the operator hand the same function to a second organization, in any spelling.
    taken = _allow(api, other_org.id, "arn:aws:lambda:us-east-1:123456789012:function:echo:live")
    assert taken.status == 409, taken
    assert _allow(api, other_org.id, "not a function!").status == 400


def test_a_function_taken_off_the_list_stops_receiving_jobs(api: Any, pushed: Pushed) -> None:
    _configure(pushed, api, "echo", max_concurrency=1)
    first, second = (h.create(api, queue_name=QUEUE, payload={"n": n}) for n in range(2))
    pushed.timers.settle()
    assert len(pushed.invocations.pending) == 1  # one job pumped, its message not yet delivered

    assert _allow(api, pushed.org_id).status == 200  # the operator withdraws the function
    pushed.run_all()

    assert pushed.calls == []  # the message in flight was not delivered to the function
    assert {h.job(api, job_id)["status"] for job_id in (first, second)} == {"pending"}
    assert pushed.slots() == {}


def test_a_queue_without_a_lambda_worker_is_left_to_pull_workers(api: Any, pushed: Pushed) -> None:
    job_id = h.create(api, queue_name="pulled")
    pushed.run_all()
    assert pushed.invocations.pending == [] and h.job(api, job_id)["status"] == "pending"


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, None),
        ({"lambda_worker": "fn"}, None),
        ({"lambda_worker": {"function_name": ""}}, None),
        ({"lambda_worker": {"function_name": "fn", "max_concurrency": 0}}, None),
        ({"lambda_worker": {"function_name": "fn", "max_concurrency": 101}}, None),
        ({"lambda_worker": {"function_name": "fn", "max_concurrency": True}}, None),
        ({"lambda_worker": {"function_name": "fn"}}, LambdaWorkerConfig("fn", 10)),
        (
            {
                "lambda_worker": {
                    "function_name": "arn:aws:lambda:us-east-1:1:function:fn",
                    "max_concurrency": 3,
                }
            },
            LambdaWorkerConfig("arn:aws:lambda:us-east-1:1:function:fn", 3),
        ),
    ],
)
def test_queue_settings_name_the_worker(
    settings: dict[str, Any], expected: LambdaWorkerConfig | None
) -> None:
    assert LambdaWorkerConfig.from_settings(settings) == expected


@dataclass
class _LambdaClient:
    """What boto3's Lambda client returns for a synchronous invoke (moto needs Docker for it)."""

    answer: Callable[[dict[str, Any]], tuple[Any, str | None]]
    requests: list[dict[str, Any]] = field(default_factory=list)

    def invoke(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        document, function_error = self.answer(json.loads(request["Payload"]))
        response: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(document).encode())}
        if function_error:
            response["FunctionError"] = function_error
        return response


def test_the_aws_invoker_reads_results_and_errors() -> None:
    invoker = AwsLambdaInvoker()
    client = _LambdaClient(lambda event: ({"ok": event["id"]}, None))
    invoker._client = client
    outcome = invoker.invoke("fn", {"id": "j1"})
    assert outcome.succeeded and outcome.result == {"ok": "j1"}
    assert client.requests[0]["InvocationType"] == "RequestResponse"
    assert client.requests[0]["FunctionName"] == "fn"

    invoker._client = _LambdaClient(
        lambda event: ({"errorType": "KeyError", "errorMessage": "'x'", "stackTrace": []}, "Unhandled")
    )
    failed = invoker.invoke("fn", {"id": "j2"})
    assert not failed.succeeded and failed.error == "KeyError: 'x'"


def test_invoke_messages_round_trip() -> None:
    request = InvokeRequest("o", "q", "j", "lease-1", 123, "fn")
    assert InvokeRequest.from_json(request.to_json()) == request
    with pytest.raises(ValueError):
        InvokeRequest.from_json('{"kind": "wake"}')


def test_a_soft_deleted_organization_invokes_no_more_functions(api: Any, pushed: Pushed) -> None:
    """Issue 12, finding 9: a soft-deleted organization's Lambda workers kept being invoked."""
    _configure(pushed, api, "echo", max_concurrency=1)
    for n in range(2):
        h.create(api, queue_name=QUEUE, payload={"n": n})
    pushed.timers.settle()
    assert len(pushed.invocations.pending) == 1
    deleted = api.request(
        "DELETE",
        f"/api/v1/admin/organizations/{pushed.org_id}",
        headers={"X-Admin-Key": ADMIN_KEY},
        api_key=None,
    )
    assert deleted.status == 204, deleted

    pushed.run_all()

    assert pushed.calls == []
    assert pushed.workers.pump(pushed.org_id, QUEUE) == 0
