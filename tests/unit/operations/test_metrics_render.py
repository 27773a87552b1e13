"""The Prometheus text of GET /metrics (shared/operations/metrics.py render)."""

from __future__ import annotations

import re

from shared.jobs.queues.activity import TOTAL_NAMES
from shared.operations.metrics import COUNTERS, escape, render

LINE = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?\d+$')


def test_every_total_the_stream_keeps_is_exported() -> None:
    assert set(COUNTERS) == set(TOTAL_NAMES.values())


def test_render_is_valid_exposition_text() -> None:
    items = [
        {"org_id": "o1", "queue_name": "emails", "pending": 3, "processing": -1, "claims_total": 7},
        {"org_id": "o2", "queue_name": 'we"ird\\q', "completed": 2},
    ]
    text = render(items, now_ms=10**13)
    assert text.endswith("\n")
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert all(LINE.match(line) for line in samples), [line for line in samples if not LINE.match(line)]
    assert 'spooled_jobs{organization_id="o1",queue="emails",status="pending"} 3' in samples
    # a counter that went negative (an at-least-once replay in reverse) is never exported below 0
    assert 'spooled_jobs{organization_id="o1",queue="emails",status="processing"} 0' in samples
    assert 'spooled_job_claims_total{organization_id="o1",queue="emails"} 7' in samples
    assert 'spooled_jobs{organization_id="o2",queue="we\\"ird\\\\q",status="completed"} 2' in samples
    assert "spooled_queues 2" in samples
    for metric, _ in COUNTERS.values():
        assert f"# TYPE {metric} counter" in text


def test_escape() -> None:
    assert escape('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
