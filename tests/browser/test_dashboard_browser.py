"""The dashboard and the API reference in headless Chromium, against the local stack: sign in,
see a job appear live, open it, retry a dead letter, see the charts, render /docs.

Screenshots: tests/artifacts/dashboard.png, dashboard-job.png, docs.png (and *-last.png per test).
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from playwright.sync_api import expect

from functions.api.handler import ROUTER
from tests.browser.conftest import ARTIFACTS, Stack

LIVE_TIMEOUT_MS = 15_000  # a frame reaches the page within a second or two; polling within 5 s


def _api(stack: Stack) -> httpx.Client:
    return httpx.Client(
        base_url=stack.base_url, headers={"Authorization": f"Bearer {stack.api_key}"}, timeout=10
    )


def _dead_letter(api: httpx.Client, queue: str) -> str:
    created = api.post("/api/v1/jobs", json={"queue_name": queue, "payload": {"n": 1}, "max_retries": 0})
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    claimed = api.post("/api/v1/jobs/claim", json={"queue_name": queue, "worker_id": "browser-w1"}).json()
    assert [j["id"] for j in claimed["jobs"]] == [job_id]
    failed = api.post(
        f"/api/v1/jobs/{job_id}/fail",
        json={"worker_id": "browser-w1", "lease_id": claimed["jobs"][0]["lease_id"], "error": "boom"},
    )
    assert failed.status_code == 200, failed.text
    return job_id


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_sign_in_watch_a_job_arrive_open_it_retry_a_dead_letter_and_see_the_charts(
    stack: Stack, page: Any
) -> None:
    queue = f"browser-{uuid.uuid4().hex[:8]}"
    page.goto(f"{stack.base_url}/dashboard")
    page.fill("#api-key", stack.api_key)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#board:not([hidden])")
    # The socket through the local gateway: frames, not polling, should bring the job in. (Locator
    # waits, not wait_for_function: the page's CSP forbids the eval that one needs.)
    expect(page.locator("#connection")).to_have_text("live", timeout=15_000)

    with _api(stack) as api:
        created = api.post(
            "/api/v1/jobs",
            json={"queue_name": queue, "payload": {"job_type": "welcome", "to": "ada@example.com"}},
        )
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        page.wait_for_selector(f'#job-rows button[title="{job_id}"]', timeout=LIVE_TIMEOUT_MS)

        page.click(f'#job-rows button[title="{job_id}"]')
        page.wait_for_selector("#job-detail[open]")
        expect(page.locator("#detail-payload")).to_contain_text("ada@example.com")
        assert "welcome" in page.text_content("#detail-payload")
        _shot(page, "dashboard-job.png")
        page.click("#detail-close")

        dead = _dead_letter(api, f"{queue}-dlq")  # its own queue: the claim must get this job
        retry = f'#dlq-rows tr:has(button[title="{dead}"]) button:text("Retry")'
        page.wait_for_selector(retry, timeout=LIVE_TIMEOUT_MS)
        page.click(retry)
        page.wait_for_selector(f'#dlq-rows button[title="{dead}"]', state="detached", timeout=LIVE_TIMEOUT_MS)
        assert api.get(f"/api/v1/jobs/{dead}").json()["status"] == "pending"

    # The charts: uPlot draws into a canvas per chart, with a legend naming each series.
    # The counts come from the stream (a second or so behind); a refresh by hand reloads the charts.
    for _ in range(40):
        page.click("#refresh")
        page.wait_for_timeout(500)
        if not re.match(r"[01] created", page.text_content("#activity-summary") or "0 created"):
            break
    for chart, labels in (
        ("#chart-flows", ["created", "completed", "failed"]),
        ("#chart-depth", ["pending"]),
    ):
        page.wait_for_selector(f"{chart} canvas", timeout=LIVE_TIMEOUT_MS)
        box = page.locator(f"{chart} canvas").bounding_box()
        assert box and box["width"] > 200 and box["height"] > 100, box
        legend = page.text_content(f"{chart} .u-legend")
        assert all(label in legend for label in labels), legend
    summary = page.text_content("#activity-summary")
    assert int(re.match(r"(\d+) created", summary).group(1)) >= 2, summary
    _shot(page, "dashboard.png")
    assert page.problems == []


def test_the_api_reference_renders_the_generated_document(stack: Stack, page: Any) -> None:
    # What `make dev` serves is a valid OpenAPI 3.1 document with every route of the router.
    document = httpx.get(f"{stack.base_url}/api/v1/openapi.json", timeout=10).json()
    validate(document)
    assert document["openapi"] == "3.1.0"
    served = {(r.method.lower(), r.template) for r in ROUTER.routes}
    assert {(m, p) for p, ops in document["paths"].items() for m in ops} == served
    operations = len(served)
    page.goto(f"{stack.base_url}/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    assert page.locator(".swagger-ui .opblock").count() == operations
    assert "Spooled for AWS" in page.text_content(".swagger-ui .info")
    # Expanding one operation shows its responses, from the document's components.
    page.click("#operations-jobs-post_jobs .opblock-summary-control")
    page.wait_for_selector("#operations-jobs-post_jobs .responses-table")
    codes = page.locator(
        "#operations-jobs-post_jobs .responses-table .response-col_status"
    ).all_text_contents()
    assert {"201", "200", "422"} <= {c.strip() for c in codes}, codes
    _shot(page, "docs.png")
    assert page.problems == [], json.dumps(page.problems, indent=1)


@pytest.mark.parametrize("path", ["/dashboard", "/docs"])
def test_the_pages_load_nothing_the_content_security_policy_blocks(
    stack: Stack, page: Any, path: str
) -> None:
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{stack.base_url}{path}")
    page.wait_for_load_state("networkidle")
    assert violations == []
