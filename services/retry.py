"""Retries as objects: exponential backoff with full jitter, bounded by a deadline.

Sleep and clock are injected so tests drive time instead of waiting for it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from services.errors import CDError

T = TypeVar("T")


@dataclass
class Retry:
    attempts: int = 5
    base_delay: float = 0.1
    max_delay: float = 2.0
    deadline: float | None = 30.0
    retry_on: tuple[type[BaseException], ...] = (CDError,)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**attempt)], so retriers spread out."""
        return self.rng.uniform(0.0, min(self.max_delay, self.base_delay * (2**attempt)))

    def __call__(self, fn: Callable[[], T]) -> T:
        start = self.clock()
        attempt = 0
        while True:
            try:
                return fn()
            except self.retry_on:
                attempt += 1
                if attempt >= self.attempts:
                    raise
                pause = self.delay(attempt)
                if self.deadline is not None and self.clock() - start + pause > self.deadline:
                    raise
                self.sleep(pause)
