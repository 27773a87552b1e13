"""Retry backoff: a pure policy, with randomness passed in."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class BackoffPolicy:
    """delay = min(base * factor^retries_so_far, cap) + jitter.

    The default matches the reference server: 1 s, 2 s, 4 s, ... capped at 60 s, plus 0-499 ms.
    """

    base_seconds: float = 1.0
    factor: float = 2.0
    cap_seconds: float = 60.0
    jitter_ms: int = 500

    def delay_ms(self, retries_so_far: int, rng: random.Random) -> int:
        # The exponent is capped so a job with retry_count 100 cannot overflow a float.
        exponent = min(max(retries_so_far, 0), 64)
        seconds = min(self.base_seconds * self.factor**exponent, self.cap_seconds)
        jitter = rng.randrange(self.jitter_ms) if self.jitter_ms > 0 else 0
        return int(seconds * 1000) + jitter


DEFAULT_BACKOFF = BackoffPolicy()
