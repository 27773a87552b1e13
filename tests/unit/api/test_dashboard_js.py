"""The dashboard's pure browser modules (reducer, frame parser, URL and filter building, backoff,
formatting), tested by `node --test dashboard_ui/tests`; this runs them as part of the suite."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
TEST_DIR = REPO_ROOT / "dashboard_ui" / "tests"


def test_dashboard_modules_pass_their_node_tests() -> None:
    node = shutil.which("node")
    assert node, "node (20+) is needed: `make test` installs the CDK CLI with it"
    result = subprocess.run(
        [node, "--test", "--test-reporter=tap", str(TEST_DIR)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-4000:]
    summary = re.findall(r"^# (pass|fail|cancelled|skipped|todo) (\d+)$", report, re.M)
    counts = {name: int(n) for name, n in summary}
    assert counts.get("fail") == 0 and counts.get("cancelled") == 0, report[-4000:]
    assert counts.get("skipped") == 0 and counts.get("todo") == 0, report[-4000:]
    # Every test file ran: a module that failed to import would leave its tests out.
    files = sorted(TEST_DIR.glob("*.test.mjs"))
    assert len(files) >= 5
    assert counts.get("pass", 0) >= 50, report[-4000:]
