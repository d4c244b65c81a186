"""How an instance gets its state at start: replay, load a snapshot, rebuild, or refuse.

A pure decision (no I/O) over what the broker holds and what the folder needs:

- ``ends[c]``: the offset our start-up fence got in changelog partition ``c``
  (acknowledged by the broker, so the log holds exactly ``[0, ends[c]]``);
  Tansu's ListOffsets answer may trail the data, a produce answer does not.
- ``lows[c]``: the first offset the broker still holds (DeleteRecords or
  retention move it; Tansu never does).
- ``positions[c]``: the next changelog offset the local folder needs.
- ``snapshot``: the newest complete snapshot's positions, if any.

A folder that has read past a partition's end belongs to a changelog that no
longer exists (a recreated topic, a broker that forgot everything, as the
local stack's memory broker does after ``make down``): its counts cannot be
continued, so the folder is moved aside and the state is rebuilt from what
the broker has (issue 17). A folder that needs offsets below the log's start
can only continue from a snapshot at or past the start; without one the
counts cannot be rebuilt exactly and the instance refuses, naming the topic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

# A folder that is not fresh loads a snapshot only when that saves replaying at least
# this many records (a restart after a short stop replays a few records instead).
SNAPSHOT_GAIN: Final = 1_000

Action = Literal["replay", "snapshot", "rebuild", "refuse"]


@dataclass(frozen=True)
class Plan:
    action: Action
    reason: str


def _describe(topic: str, items: list[str]) -> str:
    return f"{topic}: " + "; ".join(items)


def plan(
    topic: str,
    positions: Mapping[int, int],
    lows: Mapping[int, int],
    ends: Mapping[int, int],
    snapshot: Mapping[int, int] | None,
) -> Plan:
    """What to do with a folder at ``positions`` (see the module docstring)."""
    cparts = sorted(ends)
    lost = [
        f"partition {c} ends at offset {ends[c]} but the local state has read to {positions[c]}"
        for c in cparts
        if positions.get(c, 0) > ends[c]
    ]
    if lost:
        return Plan("rebuild", _describe(topic, lost) + " (topic recreated or broker data lost)")
    usable = snapshot is not None and all(lows[c] <= snapshot.get(c, 0) <= ends[c] for c in cparts)
    truncated = [c for c in cparts if lows[c] > positions.get(c, 0)]
    if truncated:
        if usable and snapshot is not None:
            return Plan(
                "snapshot", f"{topic} starts past the local state: continuing from a snapshot"
            )
        missing = [
            f"partition {c} starts at offset {lows[c]} but the state needs {positions.get(c, 0)}"
            for c in truncated
        ]
        return Plan(
            "refuse",
            _describe(topic, missing) + " and no snapshot covers the gap: the counts cannot be "
            "rebuilt exactly",
        )
    if usable and snapshot is not None:
        ahead = all(snapshot.get(c, 0) >= positions.get(c, 0) for c in cparts)
        gain = sum(snapshot.get(c, 0) - positions.get(c, 0) for c in cparts)
        fresh = not any(positions.get(c, 0) for c in cparts)  # bounded, whatever the uptime
        if ahead and gain > 0 and (fresh or gain >= SNAPSHOT_GAIN):
            return Plan("snapshot", f"a snapshot saves replaying {gain} records")
    return Plan("replay", "replaying the changelog from the local state's position")
