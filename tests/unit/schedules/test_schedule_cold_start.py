"""The API Lambda's cold start does not pay for cron schedules: the schedule modules load on the
first schedule request only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
SCHEDULE_MODULES = {
    "shared.schedules.cron",
    "shared.schedules.service",
    "shared.schedules.requests",
    "shared.schedules.policy",
    "shared.schedules.fires",
    "shared.schedules.store",
    "shared.schedules.arming",
    "shared.schedules.expressions",
}


def test_importing_the_api_handler_loads_no_schedule_module() -> None:
    # A fresh interpreter: this test process has long imported everything.
    probe = "import sys, json, functions.api.handler; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    loaded = set(json.loads(out.splitlines()[-1]))
    assert "functions.api.routes_schedules" in loaded  # the routes are registered...
    assert loaded & SCHEDULE_MODULES == set()  # ...but nothing behind them is loaded yet
