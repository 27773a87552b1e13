"""Log context and metrics of shared/plumbing/observability.py: correlation ids, keys that stay on
their own thread, JSON lines at the configured level, and the EMF document a flush prints."""

from __future__ import annotations

import io
import json
import logging
import threading

import pytest

from shared.plumbing import observability as obs


def test_the_callers_request_id_is_kept_only_when_it_looks_like_one() -> None:
    assert obs.correlation_id("abc-123_X.y:z=", "gw-id") == "abc-123_X.y:z="
    assert obs.correlation_id("has space", "gw-id") == "gw-id"
    assert obs.correlation_id('{"injected":1}', "gw-id") == "gw-id"
    assert obs.correlation_id("x" * 129, "gw-id") == "gw-id"
    assert obs.correlation_id(None, "gw-id") == "gw-id"
    assert len(obs.correlation_id(None, None)) == 36  # a fresh uuid


@pytest.fixture
def captured() -> io.StringIO:
    """The JSON handler's output, for this test."""
    obs.configure_logging()
    handler = logging.getLogger(obs.LOGGER_NAME).handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)
    obs.begin()


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_spooled_logger_writes_json_with_the_bound_keys(captured: io.StringIO) -> None:
    obs.begin(None, "req-1", org_id="org-1", queue="emails")
    obs.bind(job_id="job-1", worker_id=None)
    logging.getLogger("spooled.some.module").info("claimed %d", 3)
    (line,) = _lines(captured)
    assert line["message"] == "claimed 3" and line["level"] == "INFO"
    assert (line["correlation_id"], line["org_id"], line["queue"], line["job_id"]) == (
        "req-1",
        "org-1",
        "emails",
        "job-1",
    )
    assert "worker_id" not in line
    obs.begin(None, "req-2")  # the next invocation starts clean
    logging.getLogger("spooled.x").warning("next")
    assert "org_id" not in _lines(captured)[-1]


def test_keys_stay_on_the_thread_that_bound_them(captured: io.StringIO) -> None:
    obs.begin(None, "main-request", org_id="main-org")
    bound = threading.Event()
    logged = threading.Event()

    def other() -> None:
        obs.begin(None, "other-request", org_id="other-org")
        bound.set()
        logged.wait(5)
        logging.getLogger("spooled.other").info("other")

    thread = threading.Thread(target=other)
    thread.start()
    bound.wait(5)
    logging.getLogger("spooled.main").info("main")
    logged.set()
    thread.join(5)
    by_message = {line["message"]: line for line in _lines(captured)}
    assert by_message["main"]["correlation_id"] == "main-request"
    assert by_message["main"]["org_id"] == "main-org"
    assert by_message["other"]["correlation_id"] == "other-request"


def test_a_flush_prints_one_emf_document_with_the_deployment_dimension(
    capsys: pytest.CaptureFixture[str],
) -> None:
    obs.flush()
    capsys.readouterr()
    obs.count(obs.JOBS_CREATED)
    obs.count(obs.JOBS_CREATED, 2)
    obs.count(obs.CLAIM_RACES_LOST, 0)  # nothing to count: not emitted
    obs.gauge(obs.OLDEST_PENDING_AGE, 12.5, unit="Seconds")
    obs.flush()
    obs.flush()  # nothing left: prints nothing
    (document,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == obs.DEFAULT_NAMESPACE
    assert directive["Dimensions"] == [[obs.DEPLOYMENT_DIMENSION]]
    assert {m["Name"] for m in directive["Metrics"]} == {obs.JOBS_CREATED, obs.OLDEST_PENDING_AGE}
    assert document[obs.JOBS_CREATED] == [3.0]  # counters are summed until the flush
    assert document[obs.OLDEST_PENDING_AGE] == [12.5]


def test_per_queue_series_only_on_request(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    obs.flush()
    capsys.readouterr()
    obs.count(obs.JOBS_CLAIMED, 2, org_id="org", queue="emails")
    obs.flush()
    (only,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert only["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [[obs.DEPLOYMENT_DIMENSION]]

    monkeypatch.setenv(obs.PER_QUEUE_ENV, "true")
    obs.count(obs.JOBS_CLAIMED, 2, org_id="org", queue="emails")
    obs.flush()
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    dimensions = sorted(tuple(d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) for d in documents)
    assert dimensions == [(obs.DEPLOYMENT_DIMENSION,), (obs.DEPLOYMENT_DIMENSION, obs.QUEUE_DIMENSION)]
    per_queue = next(d for d in documents if obs.QUEUE_DIMENSION in d)
    assert per_queue[obs.QUEUE_DIMENSION] == "org/emails" and per_queue[obs.JOBS_CLAIMED] == [2.0]
