"""Impression events, window by window, produced at a throttled rate.

Windows are whole hours in the recent past (ending at the last full hour), so
every event is inside the counter's retention and none is in the future. A
window's events are all produced before the next window's, and the offsets
reached at each window's end are handed on: once both counters have counted
through them, that window's counts are final while later windows still flow.
The type mix is uneven and drifts from window to window, so the constants move.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections import Counter
from typing import Any

from pid_controller.simulator.live_stack import EventSink
from services.timebuckets import last_full_window_end
from tests.integration.counter_service.harness import GROUPS, TYPES, Key, expected_counts

INTERVAL = 3600
WindowDone = tuple[int, dict[int, int]]  # (window end, next offset per partition)


def window_ends(windows: int, now: float) -> list[int]:
    """``windows`` whole hours ending at the last full hour before ``now``."""
    last = last_full_window_end(int(now), INTERVAL)
    return [last - (windows - 1 - k) * INTERVAL for k in range(windows)]


def type_weights(window: int) -> list[float]:
    """Per ``TYPES`` (video, image, fresh, product): video grows a little every window."""
    video = 0.06 + 0.01 * window
    return [video, 0.64 - video, 0.22, 0.14]


def window_events(n: int, end: int, window: int, seed: int) -> list[dict[str, Any]]:
    """Like ``harness.make_events`` (same groups, "default" explicit or absent), uneven types."""
    rng = random.Random(seed * 1_000 + window)
    start_ms, weights = (end - INTERVAL) * 1000, type_weights(window)
    kinds = rng.choices(TYPES, weights, k=n)
    events = []
    for i, kind in enumerate(kinds):
        event: dict[str, Any] = {
            "ts": start_ms + rng.randrange(INTERVAL * 1000),
            "content_type": kind,
            "event_id": f"e-{window}-{i}",
        }
        group = rng.choice(GROUPS)
        if group != "default" or rng.random() < 0.5:
            event["experiment_group"] = group
        events.append(event)
    return events


class EventProducer(threading.Thread):
    """Produces ``total`` events over ``ends`` at ``rate`` per second; remembers what it sent."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        ends: list[int],
        total: int,
        rate: float,
        seed: int,
        last_window_gate: threading.Event | None = None,
    ) -> None:
        super().__init__(name="producer", daemon=True)
        self.sink = EventSink(bootstrap, topic)
        self.ends, self.total, self.rate, self.seed = ends, total, rate, seed
        self.produced = 0
        self.expected: Counter[Key] = Counter()
        self.windows_done: queue.Queue[WindowDone] = queue.Queue()
        self.error: BaseException | None = None
        self.gate = last_window_gate

    def run(self) -> None:
        try:
            began = time.monotonic()
            per_window = -(-self.total // len(self.ends))
            for k, end in enumerate(self.ends):
                if k == len(self.ends) - 1 and k and self.gate is not None:
                    began += self._hold()
                n = min(per_window, self.total - k * per_window)
                events = window_events(n, end, k, self.seed)
                self._send(events, began)
                self.expected.update(expected_counts(events))
                self.windows_done.put((end, self.sink.flush()))
        except BaseException as exc:  # surfaced by the soak's checks
            self.error = exc

    def _hold(self) -> float:
        """Seconds waited for the gate before the last window, so that a fault planned
        after an earlier window's step (a ZooKeeper restart) lands while events flow."""
        assert self.gate is not None
        waited = time.monotonic()
        self.gate.wait(600)
        return time.monotonic() - waited

    def _send(self, events: list[dict[str, Any]], began: float) -> None:
        for event in events:
            self.sink.send(f"u-{self.produced % 977}".encode(), event)
            self.produced += 1
            if self.produced % 200 == 0:
                ahead = began + self.produced / self.rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
