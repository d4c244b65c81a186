"""Run a step at every window boundary (plus a delay for late events) until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from pid_controller.decide import RunResult
from services.errors import CDError
from services.timebuckets import floor_to, iso

log = logging.getLogger(__name__)


def next_run(now: float, interval: int, delay: float) -> float:
    """The next boundary plus ``delay`` strictly after ``now`` (epoch seconds)."""
    boundary = floor_to(int(now), interval)
    due = boundary + delay
    return due if due > now else boundary + interval + delay


def schedule(
    step: Callable[[datetime], RunResult],
    interval: int,
    delay: float,
    stop: threading.Event,
    clock: Callable[[], float],
) -> int:
    """Loop until ``stop`` is set; a failed step is logged and the loop goes on."""
    runs = 0
    while not stop.is_set():
        due = next_run(clock(), interval, delay)
        log.info("next step at %s", iso(due))
        # Until the wall clock says so: run_once refuses a window that has not
        # ended, and a monotonic wait may end a hair early by the wall clock.
        stopped = stop.wait(max(0.0, due - clock()))
        while not stopped and clock() < due:
            stopped = stop.wait(due - clock())
        if stopped:
            break
        window_moment = datetime.fromtimestamp(due - delay, UTC)
        try:
            result = step(window_moment)
            log.info("step %s: %s", result.status, result.message)
        except CDError as exc:
            log.error("step for window ending %s failed: %s", iso(due - delay), exc)
        runs += 1
    return runs
