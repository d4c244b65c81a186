"""When a partition was last seen fully read: the evidence behind an idle claim.

``complete_through`` counts an idle partition as read up to the moment it was
last seen at its high mark. librdkafka caches each partition's high mark from
fetch responses, but the cache says nothing about *when*: it keeps its value
across a reassignment (before the first fetch of the new assignment), through
a broker outage and through fetch back-off. Stamping a claim with the clock
would then let ``complete_through`` run ahead of the data.

So the claim is stamped with the time of the last answer actually received
from the partition's leader while the partition was being fetched, taken from
librdkafka's statistics (per broker ``rxidle``: microseconds since its socket
last received; per partition ``fetch_state`` and ``leader``). Statistics give
the emission time in whole seconds; flooring it makes the stamp earlier, never
later, than the answer.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

STATS_INTERVAL_MS = 1000


@dataclass
class FetchEvidence:
    """Fed by the consumer's ``stats_cb`` (which runs inside ``consume()``, on its thread)."""

    topic: str
    clock: Callable[[], float] = time.time  # the service's clock (injected in tests)
    wall: Callable[[], float] = time.time  # librdkafka's clock
    last_answer_ms: dict[int, int] = field(default_factory=dict)

    def on_stats(self, raw: str) -> None:
        try:
            self._update(json.loads(raw))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("unreadable librdkafka statistics (idle marks wait): %s", exc)

    def _update(self, stats: dict[str, Any]) -> None:
        # librdkafka stamps with the wall clock; move the stamp onto ours.
        emitted_ms = int(stats["time"]) * 1000 + int((self.clock() - self.wall()) * 1000)
        brokers = {b["nodeid"]: b for b in stats["brokers"].values()}
        partitions = stats["topics"].get(self.topic, {}).get("partitions", {})
        answers: dict[int, int] = {}
        for key, part in partitions.items():
            number = int(key)
            broker = brokers.get(part.get("leader"))
            if number < 0 or broker is None or part.get("fetch_state") != "active":
                continue
            rxidle_us = broker.get("rxidle", -1)
            if broker.get("state") == "UP" and rxidle_us >= 0:
                answers[number] = emitted_ms - rxidle_us // 1000
        self.last_answer_ms = answers

    def idle_since(self, partition: int, high: int, position: int, taken_ms: int) -> int:
        """The time (epoch ms) ``partition`` is known fully read at ``position``, or -1."""
        return idle_mark(high, position, self.last_answer_ms.get(partition), taken_ms)


def idle_mark(high: int, position: int, answered_ms: int | None, taken_ms: int) -> int:
    """Idle at the last answer, if the cached high mark says nothing is left to read.

    The answer must postdate taking the partition (an older one may describe
    another owner's time); the cached mark may be newer than that answer, which
    only strengthens the claim (marks never decrease).
    """
    if answered_ms is None or answered_ms <= taken_ms or not 0 <= high <= position:
        return -1
    return answered_ms
