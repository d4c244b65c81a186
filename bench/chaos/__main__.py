"""``python -m bench.chaos``: the full soak by default; exit 1 if any criterion failed."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.chaos.config import ChaosConfig
from bench.chaos.report import print_report, write_json
from bench.chaos.soak import run


def parse(argv: Sequence[str] | None) -> tuple[ChaosConfig, Path | None]:
    d = ChaosConfig()
    p = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    p.add_argument("--events", type=int, default=d.events)
    p.add_argument("--windows", type=int, default=d.windows, help="hourly windows")
    p.add_argument("--rate", type=float, default=d.rate, help="events/s produced")
    p.add_argument("--kills", type=int, default=d.kills, help="counter kill -9, at least")
    p.add_argument("--no-wipe", action="store_true", help="never delete a data folder")
    p.add_argument(
        "--snapshot-kills", type=int, default=d.snapshot_kills, help="kills mid-snapshot"
    )
    p.add_argument("--zk-restarts", type=int, default=d.zk_restarts)
    p.add_argument("--zk-down-seconds", type=float, default=d.zk_down_seconds)
    p.add_argument("--racers", type=int, default=d.racing_controllers)
    p.add_argument("--blender-rate", type=float, default=d.blender_rate, help="requests/s")
    p.add_argument("--candidates", type=int, default=d.blender_candidates)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--workdir", type=Path, help="keep state and logs here")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    p.add_argument("--json", type=Path, help="write the figures and criteria here")
    a = p.parse_args(argv)
    config = ChaosConfig(
        events=a.events,
        windows=a.windows,
        rate=a.rate,
        kills=a.kills,
        wipe_once=not a.no_wipe,
        snapshot_kills=a.snapshot_kills,
        zk_restarts=a.zk_restarts,
        zk_down_seconds=a.zk_down_seconds,
        racing_controllers=a.racers,
        blender_rate=a.blender_rate,
        blender_candidates=a.candidates,
        seed=a.seed,
        workdir=a.workdir,
        keep_workdir=a.keep,
    )
    return config, a.json


def main(argv: Sequence[str] | None = None) -> int:
    config, json_path = parse(argv)
    print(
        f"chaos soak: {config.events:,} events over {config.windows} windows at "
        f"{config.rate:,.0f}/s, >= {config.kills} counter kills, {config.zk_restarts} "
        f"zookeeper restarts, {config.racing_controllers} racing controllers per window",
        flush=True,
    )
    result = run(config, lambda line: print(line, flush=True))
    print_report(result)
    if json_path is not None:
        write_json(result, json_path)
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
