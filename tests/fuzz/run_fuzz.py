"""Fuzz `make dev`'s API with schemathesis from the Spooled OpenAPI document: 0 responses >= 500.

    python -m tests.fuzz.run_fuzz [--max-examples N] [--min-requests N]

Starts the local stack (what `make dev` runs) as a subprocess, then runs schemathesis with the
phases examples, coverage, fuzzing and stateful, twice: with keys (the organization's API key
and the admin key) and without any. Every request and its status is read back from schemathesis'
HAR report, so the figures are what went over the wire. Nothing is excluded.

The document is ../shared/spooled-api/openapi.yaml when it is there (the shared contract), else the
committed copy beside this file. `make fuzz` runs the full size; tests/fuzz/test_fuzz_api.py a short
one inside `make test`. Exit status 1 on any 5xx or fewer requests than --min-requests.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from local_stack.subprocess_runner import LocalStackProcess, tail

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
SHARED_SCHEMA = REPO_ROOT.parent / "shared" / "spooled-api" / "openapi.yaml"
COMMITTED_SCHEMA = HERE / "openapi.yaml"
API_KEY = "sp_test_fuzz_0123456789abcdefghijklmnopqrstuvwxyzABCD"
ADMIN_KEY = "admin_fuzz_0123456789abcdef"
PHASES = "examples,coverage,fuzzing,stateful"


def schema_path() -> Path:
    return SHARED_SCHEMA if SHARED_SCHEMA.is_file() else COMMITTED_SCHEMA


@dataclass
class FuzzResult:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)  # "METHOD url -> status"
    by_run: dict[str, int] = field(default_factory=dict)

    def add_har(self, label: str, har_path: Path) -> None:
        entries = json.loads(har_path.read_text())["log"]["entries"] if har_path.exists() else []
        self.by_run[label] = len(entries)
        for entry in entries:
            status = int(entry["response"]["status"])
            self.requests += 1
            self.statuses[status] += 1
            if status >= 500:
                request = entry["request"]
                self.server_errors.append(f"{request['method']} {request['url']} -> {status}")


def run_schemathesis(
    base_url: str,
    headers: list[str],
    har_path: Path,
    max_examples: int,
    seed: int,
    log: Path,
    paths: str | None = None,
) -> int:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        str(schema_path()),
        "--url",
        base_url,
        "--phases",
        PHASES,
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(max_examples),
        "--seed",
        str(seed),
        "--continue-on-failure",
        "--no-shrink",
        "--request-timeout",
        "30",
        "--workers",
        "1",
        "--report",
        "har",
        "--report-har-path",
        str(har_path),
        "--warnings",
        "off",
        "--no-color",
    ]
    for header in headers:
        command += ["-H", header]
    if paths:
        command += ["--include-path-regex", paths]
    with log.open("ab") as out:
        # In the report folder: schemathesis keeps a cache (.schemathesis/) where it runs.
        return subprocess.run(
            command, cwd=har_path.parent, stdout=out, stderr=subprocess.STDOUT, check=False
        ).returncode


def fuzz(
    max_examples: int, seed: int = 12, workdir: Path | None = None, paths: str | None = None
) -> FuzzResult:
    """paths: a regular expression of the operations to fuzz (all of them when None)."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="spooled-fuzz-"))
    stack = LocalStackProcess(
        workdir / "local_stack.log", {"SPOOLED_DEV_API_KEY": API_KEY, "SPOOLED_ADMIN_KEY": ADMIN_KEY}
    )
    stack.start()
    result = FuzzResult()
    try:
        runs = {
            "with-keys": [f"Authorization: Bearer {API_KEY}", f"X-Admin-Key: {ADMIN_KEY}"],
            "without-keys": [],
        }
        for label, headers in runs.items():
            har = workdir / f"{label}.har"
            log = workdir / "schemathesis.log"
            run_schemathesis(stack.base_url, headers, har, max_examples, seed, log, paths)
            result.add_har(label, har)
    finally:
        stack.stop(timeout=10)
    if not result.requests:
        raise RuntimeError(f"schemathesis sent nothing:\n{tail(workdir / 'schemathesis.log')}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=5)
    parser.add_argument("--min-requests", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="spooled-fuzz-"))
    result = fuzz(args.max_examples, args.seed, workdir)
    print(
        f"FUZZ schema={schema_path()} phases={PHASES} requests={result.requests} by_run={result.by_run} "
        f"statuses={dict(sorted(result.statuses.items()))} 5xx={len(result.server_errors)} "
        f"(reports in {workdir})"
    )
    for line in result.server_errors[:50]:
        print("  5xx:", line)
    if result.server_errors or result.requests < args.min_requests:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
