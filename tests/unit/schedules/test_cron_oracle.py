"""shared/schedules/cron.py against croniter, a widely used cron library, where their grammars agree: plain
UTC expressions without a day-of-month/day-of-week clash (croniter's OR rule differs in corner cases
with steps). Hundreds of consecutive fires must be the same instants."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from croniter import croniter

from shared.schedules import cron

EXPRESSIONS = [
    "* * * * * *",
    "*/7 * * * * *",
    "0 */5 * * * *",
    "30 15 10 * * *",
    "0 0 0 1 * *",
    "0 0 12 * * 1-5",
    "0 0 9 * * 0",
    "0 30 2 29 2 *",
    "15,45 0 */6 * 1,7 *",
    "0 0 0 31 * *",
    "0 0 0 * * 7",
    "0 0 0 1-7 * *",
    "0 */15 8-18 * * 1-5",
]
START = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_the_same_fires_as_croniter_in_utc(expression: str) -> None:
    ours = cron.parse(expression)
    # croniter puts seconds last unless told the first field is seconds.
    reference = croniter(expression, START, second_at_beginning=True)
    after = START
    for _ in range(300):
        mine = ours.next_after(after)
        theirs = reference.get_next(datetime)
        assert mine == theirs.astimezone(UTC), (expression, after)
        after = mine
