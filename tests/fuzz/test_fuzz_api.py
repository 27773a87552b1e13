"""The fuzzer's short form inside `make test`: schemathesis from the OpenAPI document against `make
dev`'s stack, phases examples, coverage, fuzzing and stateful, with and without keys, on the
job operations (the full run, `make fuzz`, takes all 79): 0 responses >= 500.

The local gateway still answers methods it does not know (TRACE, QUERY) with http.server's 501;
issue 14 makes them a 405 JSON as API Gateway answers. Until then those, and only those, are
counted apart here (and reported in docs/reliability.md); any other 5xx fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.run_fuzz import fuzz

pytestmark = pytest.mark.e2e

UNKNOWN_METHODS = ("TRACE", "QUERY")
SHORT_PATHS = r"^/api/v1/jobs"  # the 14 job operations: about a minute on a quiet machine


def test_fuzzing_the_api_finds_no_server_error(tmp_path: Path) -> None:
    result = fuzz(max_examples=1, workdir=tmp_path, paths=SHORT_PATHS)
    other = [line for line in result.server_errors if line.split()[0] not in UNKNOWN_METHODS]
    assert other == [], other
    assert result.by_run["with-keys"] > 0 and result.by_run["without-keys"] > 0
    assert result.statuses[0] == 0, "a request got no answer (the connection dropped)"
    print(f"\nFUZZ-SHORT requests={result.requests} statuses={dict(sorted(result.statuses.items()))}")
