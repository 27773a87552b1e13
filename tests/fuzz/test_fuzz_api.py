"""The fuzzer's short form inside `make test`: schemathesis from the OpenAPI document against `make
dev`'s stack, phases examples, coverage, fuzzing and stateful, with and without keys, on the
job operations (the full run, `make fuzz`, takes all 79): 0 responses >= 500, with no exception:
methods the API does not know (TRACE, QUERY, made-up ones) get the contract's JSON 405 from the
local gateway, as from API Gateway, so a 501 fails here like any other 5xx.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.run_fuzz import fuzz

pytestmark = pytest.mark.e2e

SHORT_PATHS = r"^/api/v1/jobs"  # the 14 job operations: about a minute on a quiet machine


def test_fuzzing_the_api_finds_no_server_error(tmp_path: Path) -> None:
    result = fuzz(max_examples=1, workdir=tmp_path, paths=SHORT_PATHS)
    assert result.server_errors == [], result.server_errors
    assert result.by_run["with-keys"] > 0 and result.by_run["without-keys"] > 0
    assert result.statuses[0] == 0, "a request got no answer (the connection dropped)"
    print(f"\nFUZZ-SHORT requests={result.requests} statuses={dict(sorted(result.statuses.items()))}")
