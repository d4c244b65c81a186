"""Restore of a fresh counter instance after a short and after a long history.

    .venv/bin/python -m bench.restore [--short-days 9] [--long-days 90] [--runs 3]

Starts its own Tansu broker; for each history length builds the changelog a
deployment would have after that many simulated days (4 source partitions, 2
changelog partitions, 10-minute buckets, the default 192 h retention, a
snapshot every 12 simulated hours, with an injected clock: tests/integration/
counter_service/history.py), then times fresh instances restoring it with the
service's own restore: from the snapshot (what the service does) and, as the
baseline, a full replay of the changelog. Checks every restore against the
writer's counts and the true counts within the retention; exits non-zero if
any differs. Prints records read and seconds (medians over ``--runs``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import uuid
from pathlib import Path

from counter_service.state import CounterState
from services.local.tansu import TansuBroker
from tests.integration.counter_service.history import (
    Shape,
    Simulation,
    live,
    make_topics,
    restore_fresh,
    simulate,
)

DAY = 86_400
SHAPE = Shape(
    bucket_seconds=600, buckets_per_record=6, retention_seconds=192 * 3600, snapshot_hours=12
)


def measure(bootstrap: str, work: Path, days: int, runs: int) -> tuple[list[str], list[str]]:
    log_topic, snap_topic = make_topics(bootstrap, f"bench-{uuid.uuid4().hex[:8]}.cl", SHAPE)
    sim = simulate(
        bootstrap, log_topic, snap_topic, work / f"writer-{days}", days * 24, SHAPE,
        start=20_000 * DAY,
    )  # fmt: skip
    rows, problems = [], []
    try:
        for snapshots in (True, False):
            reads, seconds = [], []
            for run in range(runs):
                name = f"{'snap' if snapshots else 'replay'}-{days}-{run}"
                fresh, report = restore_fresh(
                    bootstrap, sim, snap_topic, work / name, SHAPE, name, snapshots=snapshots
                )
                problems += check(sim, fresh.state, name)
                reads.append(report.records_read)
                seconds.append(report.seconds)
                fresh.stop()
                fresh.state.close()
            how = "from the snapshot" if snapshots else "full replay (baseline)"
            rows.append(
                f"| {days} days | {sim.history.records:,} | {how} | "
                f"{statistics.median(reads):,.0f} | {statistics.median(seconds):.2f} |"
            )
    finally:
        sim.writer.stop()
        sim.writer.state.close()
    return rows, problems


def check(sim: Simulation, state: CounterState, name: str) -> list[str]:
    cutoff = int(sim.clock()) - SHAPE.retention_seconds
    expected = sim.history.live(cutoff - cutoff % SHAPE.bucket_seconds)
    problems = []
    if live(state) != live(sim.writer.state) or live(state) != expected:
        problems.append(f"{name}: counts differ from the writer's or the true ones")
    if state.counted != sum(sim.history.expected.values()):
        problems.append(f"{name}: counted {state.counted}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--short-days", type=int, default=9)
    parser.add_argument("--long-days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-restore-"))
    broker = TansuBroker(work / "tansu")
    broker.start()
    rows, problems = [], []
    try:
        for days in (args.short_days, args.long_days):
            found, wrong = measure(broker.bootstrap, work, days, args.runs)
            rows += found
            problems += wrong
            print("\n".join(found), flush=True)
    finally:
        broker.stop()
    print()
    print(f"restore of a fresh instance, medians of {args.runs} runs")
    print("| history | changelog records | restore | records read | seconds |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    print("counts exact in every restore" if not problems else "FAILED: " + "; ".join(problems))
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
