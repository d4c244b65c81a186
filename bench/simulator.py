"""Benchmark: the contract's 96-hour simulator example (section 8), in-process.

Usage: ``python -m bench.simulator [--hours 96] [--workers 1,2]``

20,000 requests an hour, 400 candidates and 25 slots each: 768 million
candidates drawn, blended and ranked over 96 hours. The budget is one minute
on a 2-core machine. Prints wall time per worker count and the hourly rate,
and checks that every worker count gives the same report (chunks are seeded
by position, not by which process ran them).
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

# Runs as ``python bench/simulator.py`` too, where the repository is not on the path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pid_controller.simulator.engine import simulate
from pid_controller.simulator.report import report_dict
from pid_controller.simulator.scenario import CONTRACT_EXAMPLE, Scenario, parse_scenario

BUDGET_SECONDS = 60.0


def timed(scenario: Scenario, workers: int) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    if workers <= 1:
        result = simulate(scenario)
    else:
        with ProcessPoolExecutor(workers) as ex:
            result = simulate(scenario, executor=ex)
    took = time.perf_counter() - started
    report = report_dict(result)
    report.pop("runtime_seconds")
    return took, report


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hours", type=int, default=96)
    p.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    args = p.parse_args()
    scenario = parse_scenario({**CONTRACT_EXAMPLE, "hours": args.hours}, "contract-example")
    reports = []
    for workers in (int(w) for w in args.workers.split(",")):
        took, report = timed(scenario, workers)
        reports.append(report)
        verdict = "within" if took <= BUDGET_SECONDS * args.hours / 96 else "OVER"
        print(
            f"workers={workers}: {took:.1f} s for {args.hours} h "
            f"({took / args.hours:.2f} s/h; {verdict} the {BUDGET_SECONDS:.0f} s/96 h budget)"
        )
    same = all(r == reports[0] for r in reports)
    print("reports identical across worker counts:", same)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
