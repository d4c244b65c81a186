"""How the default rate limit (``CD_CONTROLLER_MAX_STEP``) was chosen, reproducibly.

Usage: ``python -m bench.max_step [--limits inf,default,0.5] [--controllers predictive,pid]``

Runs every shipped scenario (in-process, its own seed) once per controller and
limit and prints, per scenario and type, the largest move of the constant between two
hours, the hours the limit bound, and the contract's figures (settle hours,
overshoot, steady-state error). ``inf`` is the loop without a limit; a limit
that leaves every scenario's figures identical to ``inf`` slows nothing. The
last lines say, per limit, which scenarios it changed.
"""

from __future__ import annotations

import argparse
import math
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pid_controller.simulator.engine import ControllerName, default_bounds, simulate
from pid_controller.simulator.report import report_dict
from pid_controller.simulator.scenario import load_scenario, shipped

FIGURES = ("settle_hours", "overshoot_pct", "steady_state_error_pct", "saturated_hours")


Job = tuple[str, ControllerName, float]


def one(job: Job) -> tuple[Job, dict[str, Any]]:
    name, controller, limit = job
    return job, report_dict(simulate(load_scenario(name), controller, max_step=limit))


def _limits(text: str) -> list[float]:
    default = default_bounds().max_step
    assert default is not None
    values = {"inf": math.inf, "default": default}
    return [values[t] if t in values else float(t) for t in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.max_step")
    parser.add_argument("--limits", default="inf,default,0.5")
    parser.add_argument("--controllers", default="predictive,pid")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scenarios", default=",".join(sorted(shipped())))
    args = parser.parse_args(argv)
    limits = _limits(args.limits)
    controllers: list[ControllerName] = args.controllers.split(",")
    jobs: list[Job] = [
        (n, c, limit) for n in args.scenarios.split(",") for c in controllers for limit in limits
    ]
    with ProcessPoolExecutor(args.workers) as ex:
        results = dict(ex.map(one, jobs))
    head = "| scenario | controller | policy/type | max_step | largest step | limited h | "
    print(head + " | ".join(FIGURES))
    changed: dict[tuple[ControllerName, float], list[str]] = {
        (c, x): [] for c in controllers for x in limits
    }
    for (name, controller, limit), report in sorted(results.items()):
        free = results[(name, controller, limits[0])]
        for row, steps in zip(report["rows"], report["steps"], strict=True):
            figures = [row[f] for f in FIGURES]
            print(
                f"| {name} | {controller} | {row['policy']}/{row['type']} | {limit:g} | "
                f"{steps['largest_step']:.3f} | {steps['rate_limited_hours']} | "
                + " | ".join("never" if v is None else f"{v:.4g}" for v in figures)
            )
        if [[r[f] for f in FIGURES] for r in report["rows"]] != [
            [r[f] for f in FIGURES] for r in free["rows"]
        ]:
            changed[(controller, limit)].append(name)
    for (law, limit), names in changed.items():
        print(f"{law}, max_step {limit:g}: figures differ from {limits[0]:g} in: {names or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
