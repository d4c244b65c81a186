"""Gain search: a coarse grid over (kp, ki, kd), then a local refinement.

Every candidate runs every shipped scenario with the traffic scaled down by
``TRAFFIC_FACTOR`` for speed, each with the scenario's own fixed seed (so all
candidates see the same requests and differences come from the gains alone).
Less traffic means more noise, so the band that counts as "settled" is widened
by ``1 / sqrt(TRAFFIC_FACTOR)``: the same number of noise standard deviations
as the 5 % band at full traffic.

Cost of one run, summed over every policy/type and every segment between
events (start, shocks, target changes):

* hours to settle in that segment, or ``NEVER_PENALTY`` if it never settles;
* ``OVERSHOOT_WEIGHT`` x overshoot (percent) in that segment;
* ``SSE_WEIGHT`` x steady-state error (percent, last 24 hours), once per type.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from pid_controller.simulator import metrics
from pid_controller.simulator.engine import RunResult, simulate
from pid_controller.simulator.report import segments
from pid_controller.simulator.scenario import Scenario
from pid_controller.step import Gains

TRAFFIC_FACTOR = 0.5
NEVER_PENALTY = 100.0
OVERSHOOT_WEIGHT = 0.5
SSE_WEIGHT = 2.0
GRID_KP = (0.0, 0.1, 0.2, 0.4)
GRID_KI = (0.2, 0.35, 0.5, 0.7)
GRID_KD = (0.0, 0.1)
REFINE_ROUNDS = 2


@dataclass(frozen=True)
class Scored:
    gains: Gains
    cost: float
    per_scenario: dict[str, float]


def run_cost(result: RunResult, band: float) -> float:
    """The cost of one run (see the module docstring)."""
    total = 0.0
    for s in result.series:
        for span in segments(s, result.events, result.hours):
            shares, targets = s.share[span], s.target[span]
            settle = metrics.settle_hours(shares, targets, band)
            total += NEVER_PENALTY if settle is None else settle
            total += OVERSHOOT_WEIGHT * metrics.overshoot_pct(shares, targets)
        sse = metrics.steady_state_error_pct(s.share, s.target)
        total += SSE_WEIGHT * (NEVER_PENALTY if sse is None else sse)
    return total


def reduced(scenario: Scenario) -> Scenario:
    rate = max(1, round(scenario.requests_per_hour * TRAFFIC_FACTOR))
    return scenario.model_copy(update={"requests_per_hour": rate})


def _evaluate(job: tuple[Scenario, Gains]) -> float:
    scenario, gains = job
    band = metrics.BAND / math.sqrt(TRAFFIC_FACTOR)
    return run_cost(simulate(scenario, "pid", gains=gains), band)


def score_all(
    candidates: Sequence[Gains],
    scenarios: Sequence[Scenario],
    executor: Executor | None,
    on_done: Callable[[], None] | None = None,
) -> list[Scored]:
    """Cost of every candidate over every scenario, fanned out over ``executor``."""
    jobs = [(reduced(s), g) for g in candidates for s in scenarios]
    results = executor.map(_evaluate, jobs) if executor else map(_evaluate, jobs)
    costs = []
    for cost in results:
        costs.append(cost)
        if on_done:
            on_done()
    out = []
    for i, g in enumerate(candidates):
        mine = costs[i * len(scenarios) : (i + 1) * len(scenarios)]
        per = {s.name: c for s, c in zip(scenarios, mine, strict=True)}
        out.append(Scored(g, math.fsum(mine), per))
    return out


def coarse_grid() -> list[Gains]:
    return [Gains(kp, ki, kd) for kp, ki, kd in itertools.product(GRID_KP, GRID_KI, GRID_KD)]


def neighbours(g: Gains, step: float) -> list[Gains]:
    """One step up and down in each gain, staying non-negative (ki kept positive)."""
    out = []
    for name in ("kp", "ki", "kd"):
        for sign in (-1.0, 1.0):
            value = round(getattr(g, name) + sign * step, 4)
            if value < 0 or (name == "ki" and value <= 0):
                continue
            out.append(Gains(**{**vars(g), name: value}))
    return out


def tune(
    scenarios: Sequence[Scenario],
    executor: Executor | None,
    on_done: Callable[[], None] | None = None,
) -> tuple[Scored, list[Scored]]:
    """Best gains and every candidate tried (cheapest first)."""
    seen: dict[Gains, Scored] = {}

    def add(candidates: Iterable[Gains]) -> None:
        fresh = [g for g in dict.fromkeys(candidates) if g not in seen]
        for s in score_all(fresh, scenarios, executor, on_done):
            seen[s.gains] = s

    add(coarse_grid())
    step = 0.05
    for _ in range(REFINE_ROUNDS):
        best = min(seen.values(), key=lambda s: s.cost)
        add(neighbours(best.gains, step))
        step /= 2
    ranked = sorted(seen.values(), key=lambda s: s.cost)
    return ranked[0], ranked


def job_count() -> int:
    """Candidates the search evaluates (for a progress bar): grid plus refinements."""
    return len(coarse_grid()) + 6 * REFINE_ROUNDS
