"""Part 4, a cold-start proxy: how long importing each Lambda's handler module takes in a fresh
Python process, as a ratio to `import boto3` timed the same way in the same run.

Every target is imported once first (so each has its byte-code cache, as boto3 has), then the
targets are timed in turn, round after round; each round's handler time is divided by that round's
boto3 time, and the ratio reported is the median over the rounds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from statistics import median
from typing import Any

from bench.sandbox import offline_environment

REPO_ROOT = Path(__file__).resolve().parent.parent
BASELINE = "boto3"
_TIMER = "import sys, time; t = time.perf_counter(); __import__(sys.argv[1]); print(time.perf_counter() - t)"


def handler_modules(root: Path = REPO_ROOT) -> list[str]:
    """Every function's handler module (functions/<name>/handler.py), so new functions are timed too."""
    return sorted(f"functions.{path.parent.name}.handler" for path in root.glob("functions/*/handler.py"))


def time_import(module: str) -> float:
    env = {**offline_environment(), "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _TIMER, module],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"importing {module} failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def heaviest_imports(module: str, top: int = 6) -> list[dict[str, Any]]:
    """The modules whose own import time (python -X importtime, "self" column) is largest when
    `module` is imported: where a slow import spends its time."""
    env = {**offline_environment(), "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    own: list[tuple[int, str]] = []
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")  # self [us] | cumulative | module
        if line.startswith("import time:") and len(parts) == 3 and parts[0].strip().isdigit():
            own.append((int(parts[0]), parts[2].strip()))
    own.sort(reverse=True)
    return [{"module": name, "self_ms": round(us / 1000, 1)} for us, name in own[:top]]


def measure(repeats: int, ratio_goal: float) -> dict[str, Any]:
    handlers = handler_modules()
    targets = [BASELINE, *handlers]
    for target in targets:
        time_import(target)
    samples: dict[str, list[float]] = {target: [] for target in targets}
    for _ in range(repeats):
        for target in targets:
            samples[target].append(time_import(target))
    baseline = samples[BASELINE]
    # The load on a shared machine changes within seconds: compare each handler with the boto3 import
    # timed right before it, round by round, and take the median of those ratios.
    results = {
        module: {
            "median_ms": round(median(samples[module]) * 1000, 1),
            "ratio": round(median(h / b for h, b in zip(samples[module], baseline, strict=True)), 3),
            "ratio_of_fastest": round(min(samples[module]) / min(baseline), 3),
            "samples_ms": [round(s * 1000, 1) for s in samples[module]],
        }
        for module in handlers
    }
    worst = max(results, key=lambda module: results[module]["ratio"])
    if results[worst]["ratio"] > ratio_goal:  # a missed goal gets the diagnosis with it
        results[worst]["heaviest_imports"] = heaviest_imports(worst)
    return {
        "baseline": BASELINE,
        "baseline_median_ms": round(median(baseline) * 1000, 1),
        "baseline_samples_ms": [round(s * 1000, 1) for s in baseline],
        "repeats": repeats,
        "handlers": results,
        "ratio_max": results[worst]["ratio"],
        "slowest_handler": worst,
    }
