"""How `make test` deals the tests out to its pytest-xdist workers (tests/conftest.py's hooks).

What must stay on one worker is what a module or the session shares, built once per worker:
- a test module's tests: its module-scoped fixtures (the small bench's one run of `python -m bench`,
  the account tests' `account_aws`, the drift tests' moto, the WAF synth) and the package-scoped
  local stacks of tests/e2e and tests/browser, which each worker that runs such a module starts;
- every CDK test: one synth per session (tests/cdk/conftest.py) and one build of
  build/lambda_bundle, a folder in the repository that two workers must not fill at once.

xdist's own `--dist loadgroup` cannot do this with pytest 9.2: it groups by a suffix it writes into
`item._nodeid`, an attribute pytest 9 no longer reads (node ids live in `item._id`), so every test
was scheduled alone and each worker built the modules' fixtures again (two runs of the small bench,
two browsers, two sets of synths). `GroupScheduling` below groups by node id instead.

Groups are dealt out longest first (the classic longest-processing-time rule), so that the last
groups to start are short and the workers finish together instead of one running a long module
alone. A group's length is what it took in the last run (pytest's cache, written by the controller
at the end of each run); groups with no such figure fall back to a per-layer estimate.
"""

from __future__ import annotations

from typing import Any

import pytest

# Seconds per test of a group the last run did not time (a fresh clone): rough, from 2-core runs.
# What matters is the order of magnitude: the layers that wait on a local stack or on jsii go first.
_PER_TEST_GUESS = {"e2e": 5.0, "bench": 2.0, "browser": 10.0, "cdk": 0.6, "fuzz": 30.0, "functional": 0.4}
_DEFAULT_PER_TEST_GUESS = 0.05  # unit tests
# Groups whose length is one slow fixture or test rather than their test count (2-core runs).
_GROUP_GUESS = {
    "tests/bench/test_bench_small.py": 90.0,
    "tests/functional/jobs/test_flow_control.py": 120.0,
    "tests/functional/jobs/test_lifecycle_state_machine.py": 50.0,
    "tests/functional/jobs/test_timers_delay.py": 30.0,
    "tests/functional/jobs/test_fault_injection.py": 25.0,
}
CACHE_KEY = "spooled/xdist-group-seconds"
# Layers whose modules share a package-scoped local stack per worker: dealt out first, together.
_STACK_FIRST = ("e2e",)
# The --dist modes this scheduling replaces (`make test` asks for loadgroup).
GROUPED_MODES = ("load", "loadgroup", "loadscope", "loadfile")
# Layers kept whole on one worker (see the module docstring).
_ONE_GROUP = ("cdk",)


def layer_of(nodeid: str) -> str:
    parts = nodeid.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "tests" else ""


def group_of(nodeid: str) -> str:
    """The unit of scheduling: the CDK layer as a whole, otherwise the test module."""
    layer = layer_of(nodeid)
    if layer in _ONE_GROUP:
        return f"tests/{layer}"
    return nodeid.split("::", 1)[0]


def estimated_seconds(items: list[pytest.Item], timed: dict[str, Any]) -> dict[str, float]:
    """Each group's expected length: the last run's figure, scaled to the tests collected now."""
    counts: dict[str, int] = {}
    guesses: dict[str, float] = {}
    for item in items:
        group = group_of(item.nodeid)
        counts[group] = counts.get(group, 0) + 1
        guess = _PER_TEST_GUESS.get(layer_of(item.nodeid), _DEFAULT_PER_TEST_GUESS)
        guesses[group] = guesses.get(group, 0.0) + guess
    estimates = {}
    for group, count in counts.items():
        last = timed.get(group)
        if isinstance(last, dict) and last.get("tests"):
            estimates[group] = float(last["seconds"]) * max(1.0, count / int(last["tests"]))
        else:
            estimates[group] = _GROUP_GUESS.get(group, guesses[group])
    return estimates


def order_longest_first(items: list[pytest.Item], timed: dict[str, Any]) -> None:
    """Sort `items` in place so that groups come longest first; within a group, as written.

    The e2e modules come before all others, longest first among them: they share a local stack
    per worker (package scope), which pytest stops when a worker's next test is from elsewhere, so
    an e2e module dealt out later would start a second stack on that worker.

    Every worker runs this on its own collection with the same cache, so the collections stay
    identical (xdist checks); the scheduler deals the groups out in this order.
    """
    estimates = estimated_seconds(items, timed)
    first_seen: dict[str, int] = {}
    for index, item in enumerate(items):
        first_seen.setdefault(group_of(item.nodeid), index)

    def key(item: pytest.Item) -> tuple[bool, float, int]:
        group = group_of(item.nodeid)
        return (layer_of(item.nodeid) not in _STACK_FIRST, -estimates[group], first_seen[group])

    items.sort(key=key)


class GroupTimes:
    """Collects each group's seconds (setup + call + teardown of its tests) on the controller."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.tests: dict[str, set[str]] = {}

    def add(self, report: pytest.TestReport) -> None:
        group = group_of(report.nodeid)
        self.seconds[group] = self.seconds.get(group, 0.0) + report.duration
        self.tests.setdefault(group, set()).add(report.nodeid)

    def merged_into(self, timed: dict[str, Any]) -> dict[str, Any]:
        merged = dict(timed)
        for group, seconds in self.seconds.items():
            merged[group] = {"seconds": round(seconds, 2), "tests": len(self.tests[group])}
        return merged


def make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
        """xdist's scope scheduling (a whole group to one worker, the groups in collection order,
        which order_longest_first set) with our groups as the scopes."""

        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    config.option.loadscopereorder = False  # xdist would deal the groups with the most tests first
    return GroupScheduling(config, log)
