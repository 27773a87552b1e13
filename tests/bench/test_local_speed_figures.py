"""The make dev throughput figures: the median of the 16-worker runs of each mode."""

from __future__ import annotations

from bench import local_speed

SPEED = {"latency": {"health": {"p50_ms": 1.0}, "get_job": {"p50_ms": 2.0}}, "idle": {"cpu_percent": 0.3}}


def _run(workers: int, mode: str, rate: float) -> dict:
    return {"workers": workers, "mode": mode, "jobs_per_second": rate}


def test_the_16_worker_figures_are_the_medians_of_their_runs() -> None:
    runs = [
        _run(4, "batched", 500.0),  # other worker counts do not count
        _run(16, "batched", 120.0),
        _run(16, "batched", 80.0),
        _run(16, "batched", 95.0),
        _run(16, "single", 40.0),
    ]
    figures = local_speed.figures(SPEED, runs)
    assert figures["local_jobs_per_second_16_workers"] == 95.0
    assert figures["local_jobs_per_second_16_workers_single"] == 40.0
    assert local_speed.figures(SPEED, runs[:1])["local_jobs_per_second_16_workers"] is None
