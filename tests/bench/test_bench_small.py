"""`python -m bench` end to end at toy sizes, so the benchmark cannot rot: every part runs against
the current code, and the report has the keys and the internal consistency the issue asks for.
The figures themselves are too rough at these sizes to assert anything but their sanity."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
REQUIRED_KEYS = (
    "wru_per_job_single",
    "wru_per_job_batched",
    "wasted_writes_per_claim_16",
    "naive_wasted_writes_per_claim_16",
    "import_ratio_max",
    "usd_per_million_single",
    "usd_per_million_batched",
    "local_jobs_per_second_16_workers",
    # issue 11's
    "wru_per_job_tiny",
    "wru_per_job_realistic_1kb",
    "wru_per_job_incompressible_1kb",
    "heartbeat_wru",
    "claim_round_trips",
    "rru_per_claim",
    "queue_ceiling_jobs_per_second",
    "org_ceiling_jobs_per_second",
)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--profile", "small", "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,  # a hang guard, not a speed requirement
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    document: dict[str, Any] = json.loads((out / "latest.json").read_text())
    document["_markdown"] = (out / "latest.md").read_text()
    return document


pytestmark = pytest.mark.e2e  # it starts the local stack and drives it with the official SDK


def test_the_required_figures_are_numbers(report: dict[str, Any]) -> None:
    for key in REQUIRED_KEYS:
        assert isinstance(report[key], int | float) and not isinstance(report[key], bool), key


def test_the_figures_are_sane(report: dict[str, Any]) -> None:
    assert report["wru_per_job_single"] >= 3  # at least the job's own create, claim and complete writes
    assert report["wru_per_job_batched"] >= 3
    assert report["wru_per_job_realistic_1kb"] == report["wru_per_job_single"]
    assert report["claim_round_trips"] >= 1 and report["rru_per_claim"] > 0
    assert report["heartbeat_wru"] >= 1
    assert report["wasted_writes_per_claim_16"] >= 0
    assert report["naive_wasted_writes_per_claim_16"] >= 0
    assert report["import_ratio_max"] > 0
    assert report["local_jobs_per_second_16_workers"] > 0
    # Batching cuts requests, never adds them; the same per-job writes cost at least their price.
    assert report["usd_per_million_batched"] <= report["usd_per_million_single"]
    assert report["usd_per_million_batched"] >= report["wru_per_job_batched"] * 0.625


def test_request_counts_per_job_follow_the_workload(report: dict[str, Any]) -> None:
    single, batched = report["lifecycle"]["spooled_single"], report["lifecycle"]["spooled_batched"]
    assert single["api_requests_per_job"] == pytest.approx(3.0)  # create, claim, complete
    assert 1.0 < batched["api_requests_per_job"] < 3.0  # bulk create and limit-10 claims, one complete each
    assert single["lambda_requests_per_job"] >= single["api_requests_per_job"]
    for life in report["lifecycle"].values():
        assert life["write_units_per_job"] == pytest.approx(
            sum(step["write_units"] for step in life["by_step"].values()), abs=0.01
        )


def test_contention_runs_account_for_every_claim(report: dict[str, Any]) -> None:
    for run in report["contention"]:
        assert 0 < run["claimed"] <= run["jobs"]
        assert run["deep_claimed"] <= run["claimed"]
        assert run["deep_wasted_writes"] <= run["wasted_writes"]


def test_goals_agree_with_the_figures(report: dict[str, Any]) -> None:
    for goal in report["goals"]:
        assert goal["measured"] == report[goal["key"]]
        if goal.get("at_least") is not None:
            assert goal["met"] is (goal["measured"] >= goal["at_least"])
        else:
            assert goal["met"] is (goal["measured"] <= goal["at_most"])
        assert (goal["why"] is None) is goal["met"]  # a missed goal says why, and what would meet it
        assert (goal["what_would_meet_it"] is None) is goal["met"]


def test_the_report_carries_prices_shard_check_and_every_section(report: dict[str, Any]) -> None:
    assert report["prices"]["as_of"] and report["prices"]["dynamodb_write_request_unit"] > 0
    assert report["throughput"]["shard_spread"]["claims_by_shard"]
    assert report["scale"]["modes"]["batched"]
    for heading in ("## Goals", "## 1a.", "## 1-2.", "## 3.", "## 4.", "## 5.", "## 6a.", "## 6b."):
        assert heading in report["_markdown"]


def test_github_is_measured_or_said_missing(report: dict[str, Any]) -> None:
    if report.get("github_corpus_missing"):
        assert report["wru_per_job_github"] is None
        assert "Not measured: wru_per_job_github" in report["_markdown"]
    else:
        life = report["lifecycle"]["spooled_github"]
        assert life["payload_bytes_mean"] > 1024
        # every payload byte is written at least once, in whatever item the store keeps it
        assert report["wru_per_job_github"] >= report["github_payload_own_wru_mean"] * 0.1


def test_the_measured_scale_model_names_a_partition_within_its_own_figures(report: dict[str, Any]) -> None:
    measured = report["scale"]["measured"]
    for name, run in measured["runs"].items():
        assert run["jobs"] > 0 and run["hottest"], name
        limiting = run["hottest"][0]
        assert (
            run["jobs_per_second"]
            == limiting["jobs_per_second"]
            == min(row["jobs_per_second"] for row in run["hottest"])
        )
        assert run["limiting_key"].startswith(f"{limiting['where']} {limiting['partition']}")
        units = limiting["write_units_per_job"] if limiting["limited_by"] == "writes" else None
        if units:
            assert limiting["jobs_per_second"] == pytest.approx(1000 / units, rel=1e-3)
    assert report["queue_ceiling_jobs_per_second"] == measured["runs"]["queue"]["jobs_per_second"]
