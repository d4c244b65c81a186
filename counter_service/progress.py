"""Progress figures derived from the materialised state: ``complete_through`` and lag.

See restore.py for the definition of ``complete_through``; it is computed here
from per-partition figures that every instance holds for every partition.
"""

from __future__ import annotations

from collections.abc import Mapping

from counter_service.state import PartitionState


def complete_through(
    partitions: Mapping[int, PartitionState], count: int, lateness_seconds: int, now_ms: int
) -> int | None:
    """Event time (epoch s) through which all ``count`` source partitions are read.

    Capped at ``now_ms``: an accepted event may be stamped up to 10 minutes ahead,
    and must not make windows that have not even started look complete.
    """
    if count <= 0:
        return None
    marks = []
    for number in range(count):
        part = partitions.get(number)
        mark = max(part.max_ts, part.idle_ms) if part is not None else -1
        if mark < 0:
            return None
        marks.append(min(mark, now_ms))
    return max(0, (min(marks) // 1000) - lateness_seconds)


def lag(high: int | None, offset: int) -> int:
    """Events not yet counted; 0 when the broker's (possibly trailing) mark is behind us."""
    if high is None:
        return 0
    return max(0, high - offset)
