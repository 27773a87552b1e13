"""Retry backoff: a pure policy, with randomness passed in.

A job's policy is the default, overridden field by field by its queue's settings ("retry_backoff"
in the queue config) and then by the job's own `retry_backoff` (given at create, stored on the job).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

# The bounds a configured policy must stay in; the API validates against the same numbers.
MAX_BASE_SECONDS = 3600.0
MIN_FACTOR, MAX_FACTOR = 1.0, 10.0
MAX_CAP_SECONDS = 86400.0
MAX_JITTER_MS = 60_000
FIELDS = ("base_seconds", "factor", "cap_seconds", "jitter_ms")


@dataclass(frozen=True)
class BackoffPolicy:
    """delay = min(base * factor^retries_so_far, cap) + a random 0..jitter_ms-1 milliseconds.

    The default matches the reference server: 1 s, 2 s, 4 s, ... capped at 60 s, plus 0-499 ms.
    """

    base_seconds: float = 1.0
    factor: float = 2.0
    cap_seconds: float = 60.0
    jitter_ms: int = 500

    def __post_init__(self) -> None:
        if not 0 <= self.base_seconds <= MAX_BASE_SECONDS:
            raise ValueError(f"base_seconds must be within 0..{MAX_BASE_SECONDS:g}")
        if not MIN_FACTOR <= self.factor <= MAX_FACTOR:
            raise ValueError(f"factor must be within {MIN_FACTOR:g}..{MAX_FACTOR:g}")
        if not 0 <= self.cap_seconds <= MAX_CAP_SECONDS:
            raise ValueError(f"cap_seconds must be within 0..{MAX_CAP_SECONDS:g}")
        if not 0 <= self.jitter_ms <= MAX_JITTER_MS:
            raise ValueError(f"jitter_ms must be within 0..{MAX_JITTER_MS}")

    def delay_ms(self, retries_so_far: int, rng: random.Random) -> int:
        """The wait before the retry that follows `retries_so_far` earlier retries."""
        exponential = self.base_seconds * self.factor ** _safe_exponent(self.factor, retries_so_far)
        seconds = min(exponential, self.cap_seconds)
        jitter = rng.randrange(self.jitter_ms) if self.jitter_ms > 0 else 0
        return int(seconds * 1000) + jitter

    def overridden_by(self, document: Mapping[str, Any] | None) -> BackoffPolicy:
        """This policy with the fields `document` sets (unknown keys ignored, bad values rejected)."""
        if not document:
            return self
        if not isinstance(document, Mapping):
            raise ValueError("a backoff policy is an object")
        changes: dict[str, Any] = {}
        for name in FIELDS:
            value = document.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number")
            changes[name] = int(value) if name == "jitter_ms" else float(value)
        return replace(self, **changes) if changes else self

    def to_document(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}


def _safe_exponent(factor: float, retries_so_far: int) -> int:
    # factor^n overflows a float long before n reaches max_retries' 100 for factor 10; once the
    # product passes any cap (a day) more retries change nothing, so the exponent stops there.
    retries = max(retries_so_far, 0)
    if factor <= 1.0:
        return 0
    return min(retries, math.ceil(math.log(MAX_CAP_SECONDS * 1000, factor)) + 1)


DEFAULT_BACKOFF = BackoffPolicy()


def resolve(
    job_document: Mapping[str, Any] | None,
    queue_document: Mapping[str, Any] | None,
    default: BackoffPolicy = DEFAULT_BACKOFF,
) -> BackoffPolicy:
    """The policy a retry uses: the job's own settings over its queue's over the default.

    A stored document that no longer validates (say, written before a bound was tightened) must not
    stop the retry: the level that is broken is skipped.
    """
    policy = default
    for document in (queue_document, job_document):
        try:
            policy = policy.overridden_by(document)
        except ValueError:
            continue
    return policy
