"""The schedule-fire and webhook-delivery metrics (docs/operations.md), as the EMF a flush prints."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.plumbing import observability as obs


def _emitted(out: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    for line in out.splitlines():
        document = json.loads(line)
        if "_aws" not in document:
            continue  # a log line
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(document[metric["Name"]])
    return totals


@pytest.fixture
def emitted(capsys: pytest.CaptureFixture[str]) -> Any:
    obs.flush()
    capsys.readouterr()

    def read() -> dict[str, float]:
        obs.flush()
        return _emitted(capsys.readouterr().out)

    return read


MINUTE_MS = 60_000
FIRE_MS = 1_800_000_000_000 // MINUTE_MS * MINUTE_MS  # a whole minute


def _firer() -> Any:
    from shared.schedules.fires import ScheduleFirer

    return ScheduleFirer(store=object())  # counting reads nothing from the store


EVERY_MINUTE = {"cron_expression": "* * * * *", "timezone": "UTC"}


def test_a_fire_within_ten_seconds_is_on_time(emitted: Any) -> None:
    _firer()._count_fire(EVERY_MINUTE, FIRE_MS, FIRE_MS + 9_000)
    assert emitted() == {obs.SCHEDULE_FIRES_ON_TIME: 1}


def test_a_late_fire_counts_the_fires_catch_up_skips(emitted: Any) -> None:
    # Acted on 5½ minutes late: the fires at +1 … +5 minutes are skipped by the catch-up rule.
    _firer()._count_fire(EVERY_MINUTE, FIRE_MS, FIRE_MS + 5 * MINUTE_MS + 30_000)
    assert emitted() == {obs.SCHEDULE_FIRES_LATE: 1, obs.SCHEDULE_FIRES_MISSED: 5}


def test_a_late_fire_with_nothing_skipped_counts_no_miss(emitted: Any) -> None:
    _firer()._count_fire(EVERY_MINUTE, FIRE_MS, FIRE_MS + 30_000)
    assert emitted() == {obs.SCHEDULE_FIRES_LATE: 1}


class _Deliverer:
    def __init__(self, outcomes: list[str]) -> None:
        self.outcomes = outcomes

    def handle(self, message: Any) -> str:
        return self.outcomes.pop(0)


def test_webhook_deliveries_are_counted_by_outcome(emitted: Any) -> None:
    from functions.webhooks.handler import handle
    from shared.webhooks.outgoing.messages import DeliveryMessage

    body = DeliveryMessage("org", "delivery", "job.completed", 0, "{}", webhook_id="hook").to_json()
    outcomes = ["delivered", "delivered", "retrying", "failed", "duplicate"]
    records = [{"messageId": str(i), "body": body} for i in range(len(outcomes))]
    result = handle({"Records": records}, _Deliverer(outcomes), parallel=1)
    assert result == {"batchItemFailures": []}
    assert emitted() == {
        obs.WEBHOOK_DELIVERED: 2,
        obs.WEBHOOK_RETRYING: 1,
        obs.WEBHOOK_GAVE_UP: 1,
    }
