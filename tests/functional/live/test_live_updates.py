"""Live updates against moto (contract §2.11): the real live handler for the WebSocket routes and the
table's stream, with a fake in place of API Gateway's management API (moto's never reports a
connection gone)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from functions.live_updates import handler as live
from tests.conftest import ApiClient, Org
from tests.functional.jobs_api import JOBS, V1, claim_one, create_job


@dataclass
class FakeManagementApi:
    """Records what the fan-out sends; connections in `gone` answer like API Gateway's 410."""

    frames: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    closed: list[str] = field(default_factory=list)

    def post(self, connection_id: str, message: str) -> bool:
        if connection_id in self.gone:
            return False
        self.frames.setdefault(connection_id, []).append(json.loads(message))
        return True

    def close(self, connection_id: str) -> None:
        self.closed.append(connection_id)

    def types(self, connection_id: str) -> list[str]:
        return [f["type"] for f in self.frames.get(connection_id, [])]

    def of_type(self, connection_id: str, variant: str) -> list[dict[str, Any]]:
        return [f["data"] for f in self.frames.get(connection_id, []) if f["type"] == variant]

    def clear(self) -> None:
        self.frames.clear()


@pytest.fixture
def gateway(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> FakeManagementApi:
    fake = FakeManagementApi()
    monkeypatch.setattr(live, "poster", lambda: fake)
    return fake


@pytest.fixture
def drain(api: ApiClient) -> Callable[[], None]:
    """Delivers every new stream record to both readers, as the two event source mappings do: the
    dispatcher (queue counters) and the live handler."""
    from functions.dispatcher.handler import handle_stream as dispatcher
    from local_stack.stream_poller import StreamPoller
    from shared.plumbing.config import settings

    def both(records: list[dict[str, Any]]) -> None:
        dispatcher(records)
        live.handler({"Records": records})

    poller = StreamPoller(settings().table_name, both)

    def run() -> None:
        while poller.poll_once():
            pass

    run()  # the seeded organizations and keys
    return run


def ws_event(route: str, connection_id: str, **fields: Any) -> dict[str, Any]:
    context = {"routeKey": route, "connectionId": connection_id, "requestId": f"req-{connection_id}"}
    return {"requestContext": context, "isBase64Encoded": False, **fields}


def connect(connection_id: str, token: str | None, **query: str) -> dict[str, Any]:
    params = {**query, **({"token": token} if token else {})}
    return live.handler(ws_event("$connect", connection_id, queryStringParameters=params or None, headers={}))


def connected(connection_id: str, token: str, **query: str) -> str:
    answer = connect(connection_id, token, **query)
    assert answer["statusCode"] == 200, answer
    return connection_id


def send(connection_id: str, command: dict[str, Any] | str) -> dict[str, Any]:
    body = command if isinstance(command, str) else json.dumps(command)
    return live.handler(ws_event("$default", connection_id, body=body))


def refused(answer: dict[str, Any], status: int, code: str) -> dict[str, Any]:
    assert answer["statusCode"] == status, answer
    assert answer["headers"]["Content-Type"] == "application/json"
    body = json.loads(answer["body"])
    assert body["code"] == code and body["message"], body
    return body


def connection_ids(org: Org) -> set[str]:
    return {c.connection_id for c in live.registry().for_org(org.id)}


def scoped_key(api: ApiClient, queues: list[str]) -> tuple[str, str]:
    response = api.post(f"{V1}/api-keys", {"name": "scoped", "queues": queues})
    assert response.status == 201, response
    return response.json["key"], response.json["id"]


# --- $connect ---------------------------------------------------------------------------------


def test_connect_with_an_api_key_or_a_jwt_in_the_query_or_the_header(
    api: ApiClient, org: Org, gateway: FakeManagementApi
) -> None:
    login = api.post(f"{V1}/auth/login", {"api_key": org.api_key})
    assert login.status == 200, login
    connected("c-key", org.api_key)
    connected("c-jwt", login.json["access_token"])
    header = ws_event("$connect", "c-header", headers={"Authorization": f"Bearer {org.api_key}"})
    assert live.handler(header)["statusCode"] == 200
    by_param = ws_event("$connect", "c-param", queryStringParameters={"api_key": org.api_key}, headers={})
    assert live.handler(by_param)["statusCode"] == 200
    assert connection_ids(org) == {"c-key", "c-jwt", "c-header", "c-param"}


def test_bad_credentials_are_refused_with_a_json_401_and_store_nothing(
    api: ApiClient, org: Org, gateway: FakeManagementApi
) -> None:
    key, key_id = scoped_key(api, ["emails"])
    assert api.delete(f"{V1}/api-keys/{key_id}").status == 204
    refresh = api.post(f"{V1}/auth/login", {"api_key": org.api_key}).json["refresh_token"]
    malformed = (  # issue 12, finding 4: these were 500s
        "eyJhbGciOiJIUzI1NiJ9.e30.sïgnature",
        "eyJ" + "W1tb" * 2000 + ".e30.c2ln",
        "eyJ" + "A" * 25_000 + ".e30.c2ln",
    )
    for token in (None, "sp_test_not-a-key", key, refresh, "eyJhbGciOiJIUzI1NiJ9.e30.bad", *malformed):
        refused(connect("c-bad", token), 401, "UNAUTHORIZED")
    assert connection_ids(org) == set()


def test_filters_are_checked_at_connect(api: ApiClient, org: Org, gateway: FakeManagementApi) -> None:
    key, _ = scoped_key(api, ["emails"])
    refused(connect("c1", key, queue="reports"), 403, "ACCESS_DENIED")
    refused(connect("c2", org.api_key, queue="no spaces"), 400, "VALIDATION_ERROR")
    refused(connect("c3", org.api_key, events="job.created,job.exploded"), 400, "VALIDATION_ERROR")
    assert connection_ids(org) == set()
    connected("c4", key, queue="emails", events="job.created,job.status_changed")


def test_a_connect_delivered_twice_keeps_what_the_first_one_made(
    api: ApiClient, org: Org, gateway: FakeManagementApi, drain: Callable[[], None]
) -> None:
    watcher = connected("c1", org.api_key, queue="emails")
    send(watcher, {"cmd": "subscribe", "queue": "reports"})
    connected("c1", org.api_key)  # the same $connect again, without the filter
    create_job(api, "emails")
    create_job(api, "reports")
    create_job(api, "other")
    drain()
    assert [d["queue_name"] for d in gateway.of_type(watcher, "JobCreated")] == ["emails", "reports"]


def test_connections_per_organization_are_capped(
    api: ApiClient, org: Org, gateway: FakeManagementApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.live import connections as live_connections

    monkeypatch.setattr(live_connections, "MAX_CONNECTIONS_PER_ORG", 2)
    connected("c1", org.api_key)
    connected("c2", org.api_key)
    body = refused(connect("c3", org.api_key), 429, "QUOTA_EXCEEDED")
    assert body["limit"] == 2
    live.handler(ws_event("$disconnect", "c1"))
    connected("c3", org.api_key)


# --- fan-out -----------------------------------------------------------------------------------


def test_frames_reach_only_the_connections_that_asked_and_never_another_org(
    api: ApiClient,
    other_api: ApiClient,
    org: Org,
    other_org: Org,
    gateway: FakeManagementApi,
    drain: Callable[[], None],
) -> None:
    everything = connected("c-all", org.api_key)
    emails = connected("c-emails", org.api_key, queue="emails")
    later = connected("c-later", org.api_key)
    assert send(later, {"cmd": "subscribe", "queue": "reports"})["statusCode"] == 200
    theirs = connected("c-theirs", other_org.api_key)

    email_job = create_job(api, "emails")
    report_job = create_job(api, "reports")
    their_job = create_job(other_api, "emails")
    drain()

    def created(connection_id: str) -> list[str]:
        return [data["job_id"] for data in gateway.of_type(connection_id, "JobCreated")]

    assert created(everything) == [email_job, report_job]
    assert created(emails) == [email_job]
    assert created(later) == [report_job]
    assert created(theirs) == [their_job]
    assert gateway.of_type(emails, "JobCreated")[0] == {
        "job_id": email_job,
        "queue_name": "emails",
        "priority": 0,
        "status": "pending",
        "timestamp": gateway.of_type(emails, "JobCreated")[0]["timestamp"],
    }


def test_a_job_lifecycle_arrives_in_order(
    api: ApiClient, org: Org, gateway: FakeManagementApi, drain: Callable[[], None], clock: Any
) -> None:
    watcher = connected("c1", org.api_key, queue="emails")
    job_id = create_job(api, "emails")
    clock.advance(1)
    leased = claim_one(api, "emails")
    clock.advance(2.5)
    done = api.post(
        f"{JOBS}/{job_id}/complete",
        {"worker_id": "worker-1", "lease_id": leased["lease_id"], "result": {"n": 3}},
    )
    assert done.status == 200, done
    drain()
    assert gateway.types(watcher) == ["JobCreated", "JobStatusChange", "JobStatusChange", "JobCompleted"]
    changes = [(d["old_status"], d["new_status"]) for d in gateway.of_type(watcher, "JobStatusChange")]
    assert changes == [("pending", "processing"), ("processing", "completed")]
    [completed] = gateway.of_type(watcher, "JobCompleted")
    assert (completed["job_id"], completed["result"], completed["duration_ms"]) == (job_id, {"n": 3}, 2500)


def _sweep() -> None:
    from functions.dispatcher import handler as dispatcher

    dispatcher.handler({"sweep": True})


def test_every_failed_attempt_is_a_job_failed_frame(
    api: ApiClient, org: Org, gateway: FakeManagementApi, drain: Callable[[], None], clock: Any
) -> None:
    watcher = connected("c1", org.api_key, events="job.failed")
    job_id = create_job(api, "emails", max_retries=1)
    for attempt in range(2):
        leased = claim_one(api, "emails")
        failed = api.post(
            f"{JOBS}/{job_id}/fail",
            {"worker_id": "worker-1", "lease_id": leased["lease_id"], "error": f"boom {attempt}"},
        )
        assert failed.status == 200, failed
        clock.advance(120)  # past the backoff
        drain()
        _sweep()  # what the backoff's timer does when due (a claim does not promote)
    assert gateway.types(watcher) == ["JobFailed", "JobFailed"]
    assert [(d["error"], d["retry_count"]) for d in gateway.of_type(watcher, "JobFailed")] == [
        ("boom 0", 1),
        ("boom 1", 1),
    ]


def test_a_job_subscription_and_unsubscribing(
    api: ApiClient, org: Org, gateway: FakeManagementApi, drain: Callable[[], None]
) -> None:
    first = create_job(api, "emails")
    second = create_job(api, "emails")
    drain()
    watcher = connected("c1", org.api_key)
    send(watcher, {"cmd": "subscribe", "job_id": first})
    send(watcher, {"cmd": "Subscribe", "job_id": first})  # again, PascalCase: nothing twice
    for job_id in (first, second):
        assert api.put(f"{JOBS}/{job_id}/priority", {"priority": 5}).status == 200
        assert api.delete(f"{JOBS}/{job_id}").status in (200, 204)
    drain()
    assert {d["job_id"] for d in gateway.of_type(watcher, "JobStatusChange")} == {first}
    assert len(gateway.of_type(watcher, "JobStatusChange")) == 1

    send(watcher, {"cmd": "unsubscribe", "job_id": first})
    gateway.clear()
    third = create_job(api, "reports")
    drain()
    assert [d["job_id"] for d in gateway.of_type(watcher, "JobCreated")] == [third]


def test_a_queue_scoped_key_sees_only_its_queues(
    api: ApiClient, org: Org, gateway: FakeManagementApi, drain: Callable[[], None]
) -> None:
    key, _ = scoped_key(api, ["emails"])
    watcher = connected("c1", key)
    send(watcher, {"cmd": "subscribe", "queue": "reports"})
    [error] = gateway.of_type(watcher, "Error")
    assert "scope" in error["message"]
    registered = api.post(f"{V1}/workers/register", {"queue_name": "reports", "hostname": "h1"})
    assert registered.status == 201, registered
    mine = create_job(api, "emails")
    create_job(api, "reports")
    drain()
    assert [d["job_id"] for d in gateway.of_type(watcher, "JobCreated")] == [mine]
    assert gateway.of_type(watcher, "WorkerRegistered") == []

    unrestricted = connected("c2", org.api_key)
    api.post(f"{V1}/workers/register", {"queue_name": "reports", "hostname": "h2"})
    drain()
    assert [d["queue_name"] for d in gateway.of_type(unrestricted, "WorkerRegistered")] == ["reports"]


def test_events_filter_and_queue_stats_on_request(
    api: ApiClient, org: Org, gateway: FakeManagementApi, drain: Callable[[], None]
) -> None:
    completed_only = connected("c1", org.api_key, events="job.completed")
    stats = connected("c2", org.api_key, events="queue.stats", queue="emails")
    default = connected("c3", org.api_key)
    create_job(api, "emails")
    create_job(api, "emails")
    drain()
    assert gateway.types(completed_only) == []
    assert "QueueStats" not in gateway.types(default)
    latest = gateway.of_type(stats, "QueueStats")[-1]
    assert (latest["queue_name"], latest["pending"], latest["processing"]) == ("emails", 2, 0)
    assert set(gateway.types(stats)) == {"QueueStats"}


def test_ping_and_bad_commands_are_answered(api: ApiClient, org: Org, gateway: FakeManagementApi) -> None:
    watcher = connected("c1", org.api_key)
    send(watcher, {"cmd": "ping"})
    send(watcher, "not json")
    send(watcher, {"cmd": "subscribe"})
    assert gateway.types(watcher) == ["Ping", "Error", "Error"]
    assert gateway.of_type(watcher, "Ping")[0]["timestamp"].endswith("Z")


def test_a_gone_connection_is_deleted(
    api: ApiClient, org: Org, gateway: FakeManagementApi, drain: Callable[[], None]
) -> None:
    alive = connected("c-alive", org.api_key)
    dead = connected("c-dead", org.api_key)
    gateway.gone.add(dead)
    create_job(api, "emails")
    drain()
    assert connection_ids(org) == {alive}
    assert gateway.types(alive) == ["JobCreated"]
    # Its pointer went too: a late command finds no connection and changes nothing.
    send(dead, {"cmd": "subscribe", "queue": "emails"})
    assert connection_ids(org) == {alive}


def test_disconnect_removes_the_connection(
    api: ApiClient, org: Org, gateway: FakeManagementApi, drain: Callable[[], None]
) -> None:
    watcher = connected("c1", org.api_key)
    assert live.handler(ws_event("$disconnect", watcher))["statusCode"] == 200
    assert live.handler(ws_event("$disconnect", watcher))["statusCode"] == 200  # delivered twice
    assert connection_ids(org) == set()
    send(watcher, {"cmd": "subscribe", "queue": "emails"})  # a command racing the disconnect
    assert connection_ids(org) == set()
    create_job(api, "emails")
    drain()
    assert gateway.of_type(watcher, "JobCreated") == []


def test_revoking_a_key_closes_its_connections(
    api: ApiClient, org: Org, gateway: FakeManagementApi, drain: Callable[[], None]
) -> None:
    key, key_id = scoped_key(api, ["emails"])
    doomed = connected("c-doomed", key)
    other = connected("c-other", org.api_key)
    drain()
    assert api.delete(f"{V1}/api-keys/{key_id}").status == 204
    create_job(api, "emails")
    drain()
    assert gateway.closed == [doomed]
    assert connection_ids(org) == {other}
    assert gateway.of_type(doomed, "JobCreated") == []


def test_logging_out_closes_the_sessions_sockets(
    api: ApiClient, org: Org, gateway: FakeManagementApi, drain: Callable[[], None]
) -> None:
    """Issue 12, finding 5: a WebSocket opened with a JWT survived the logout."""
    session = api.post(f"{V1}/auth/login", {"api_key": org.api_key}, api_key=None).json
    other_session = api.post(f"{V1}/auth/login", {"api_key": org.api_key}, api_key=None).json
    doomed = connected("c-session", session["access_token"])
    kept = connected("c-other-session", other_session["access_token"])
    by_key = connected("c-key", org.api_key)
    drain()

    logout = api.post(
        f"{V1}/auth/logout", {"refresh_token": session["refresh_token"]}, api_key=session["access_token"]
    )
    assert logout.status == 204
    drain()  # the stream shows the revoked login: its socket is closed at once

    assert gateway.closed == [doomed]
    assert connection_ids(org) == {kept, by_key}


def test_a_connection_past_its_two_hours_is_closed(
    api: ApiClient, org: Org, gateway: FakeManagementApi, drain: Callable[[], None], clock: Any
) -> None:
    watcher = connected("c1", org.api_key)
    clock.advance(2 * 3600 + 1)
    create_job(api, "emails")
    drain()
    assert gateway.closed == [watcher] and gateway.types(watcher) == []
    assert connection_ids(org) == set()


def test_without_a_websocket_api_the_stream_is_skipped_not_failed(api: ApiClient, org: Org) -> None:
    from local_stack.stream_poller import StreamPoller
    from shared.plumbing.config import settings

    create_job(api, "emails")
    batches: list[list[dict[str, Any]]] = []
    StreamPoller(settings().table_name, batches.append).poll_once()
    assert settings().ws_callback_url == "" and batches
    # A failed batch would be retried by the event source for as long as its records live.
    assert live.handler({"Records": batches[0]}) == {"batchItemFailures": []}
