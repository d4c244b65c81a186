"""The soak's parameters and its result: what was injected, what was measured, what passed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ChaosConfig:
    """Defaults are the full soak (a few minutes); the CI test passes small numbers."""

    events: int = 1_000_000
    windows: int = 6
    rate: float = 10_000.0  # events/s: throttled so faults land while events flow
    kills: int = 24  # kill -9 of a random counter instance
    wipe_once: bool = True  # one of the kills also deletes the instance's data folder
    snapshot_kills: int = 3  # of the kills, aimed at an instance while it writes a snapshot
    zk_restarts: int = 1
    zk_down_seconds: float = 5.0
    racing_controllers: int = 3
    blender_rate: float = 100.0  # requests/s
    blender_candidates: int = 500
    partitions: int = 4
    seed: int = 8
    workdir: Path | None = None  # a fresh temporary folder when None
    keep_workdir: bool = False
    progress_seconds: float = 5.0

    @property
    def produce_seconds(self) -> float:
        return self.events / self.rate


@dataclass(frozen=True)
class Criterion:
    name: str
    passed: bool
    detail: str


@dataclass
class Figures:
    """Everything the table prints; filled in as the soak runs."""

    events: int = 0
    counter_kills: int = 0
    counter_wipes: int = 0
    zk_restarts: int = 0
    controllers_started: int = 0
    controllers_killed: int = 0
    controllers_killed_mid_step: int = 0  # holding the lock, counts read, not yet written
    controller_retries: int = 0
    windows: int = 0
    generations: int = 0
    blender_requests: int = 0
    blender_errors: int = 0
    blender_status: dict[str, int] = field(default_factory=dict)
    blender_p50_ms: float = 0.0
    blender_p99_ms: float = 0.0
    requests_zk_down: int = 0
    errors_zk_down: int = 0
    snapshots_complete: int = 0
    snapshots_cut: int = 0  # chunks without a footer: a writer killed mid-snapshot
    kills_during_snapshot: int = 0
    restores_from_snapshot: int = 0
    wall_seconds: float = 0.0


@dataclass
class ChaosResult:
    figures: Figures
    criteria: list[Criterion]
    workdir: str

    @property
    def passed(self) -> bool:
        return bool(self.criteria) and all(c.passed for c in self.criteria)

    def failures(self) -> list[Criterion]:
        return [c for c in self.criteria if not c.passed]

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "figures": asdict(self.figures),
            "criteria": [asdict(c) for c in self.criteria],
            "workdir": self.workdir,
        }
