"""``pid-controller run | schedule | explain`` (contract section 5).

Exit codes: 0 written, unchanged, paused or dry run; 1 the step could not be
done (counts or targets unreadable, ZooKeeper down): nothing was written.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from types import FrameType

import orjson

from pid_controller.runner import ControllerConfig, RunResult, run_once
from pid_controller.schedule import schedule
from pid_controller.step import Bounds, Gains
from services import logs, tables
from services.docstore import read_constants
from services.errors import CDError, InvalidInputError
from services.settings import ControllerSettings, load
from services.timebuckets import parse_time
from services.zk import ZkStore


def config_from(settings: ControllerSettings, interval: int | None = None) -> ControllerConfig:
    return ControllerConfig(
        interval=interval or settings.controller_interval_seconds,
        gains=Gains(settings.controller_kp, settings.controller_ki, settings.controller_kd),
        bounds=Bounds(settings.controller_u_min, settings.controller_u_max),
        min_impressions=settings.controller_min_impressions,
        max_wait=settings.controller_max_wait_seconds,
        counter_urls=settings.counter_url_list,
        writer=f"pid-controller@{socket.gethostname()}:{os.getpid()}",
    )


def _print_result(result: RunResult, dry_run: bool) -> None:
    print(f"pid-controller: {result.message}")
    if dry_run and result.document is not None:
        print(
            orjson.dumps(
                result.document.model_dump(mode="json", by_alias=True), option=orjson.OPT_INDENT_2
            ).decode()
        )


def _run(store: ZkStore, settings: ControllerSettings, args: argparse.Namespace) -> int:
    at = datetime.fromtimestamp(parse_time(args.at, "--at"), UTC) if args.at else None
    result = run_once(store, config_from(settings), at=at, dry_run=args.dry_run)
    _print_result(result, args.dry_run)
    return 0


def _schedule(store: ZkStore, settings: ControllerSettings, args: argparse.Namespace) -> int:
    config = config_from(settings, args.interval)
    stop = threading.Event()

    def on_signal(signum: int, _: FrameType | None) -> None:
        print(f"pid-controller: signal {signum}, stopping after the current step", flush=True)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    schedule(
        lambda moment: run_once(store, config, at=moment, sleep=stop.wait),
        config.interval,
        settings.controller_delay_seconds,
        stop,
        time.time,
    )
    return 0


def _explain(store: ZkStore, _: ControllerSettings, __: argparse.Namespace) -> int:
    read = read_constants(store)
    if read is None:
        print("no constants published yet")
        return 0
    tables.print_table(tables.constants_table(read.doc, datetime.now(UTC)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pid-controller", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="one step for one window")
    run.add_argument("--at", help="ISO time; the window ending at it (default: last full window)")
    run.add_argument("--dry-run", action="store_true", help="print, write nothing")
    run.set_defaults(handler=_run)
    sched = sub.add_parser("schedule", help="run at every interval boundary until stopped")
    sched.add_argument(
        "--interval", type=int, help="seconds (default CD_CONTROLLER_INTERVAL_SECONDS)"
    )
    sched.set_defaults(handler=_schedule)
    sub.add_parser("explain", help="table of the constants and why").set_defaults(handler=_explain)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load(ControllerSettings)
        logs.configure(settings.log_level, json=settings.log_json)
        if getattr(args, "interval", None) is not None and args.interval <= 0:
            raise InvalidInputError("--interval", "must be a positive number of seconds")
        store = ZkStore.from_settings(settings)
        with store.start():
            return int(args.handler(store, settings, args))
    except CDError as exc:
        print(f"pid-controller: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
