"""``pid-controller run | schedule | explain`` (contract section 5).

Exit codes: 0 written, unchanged, paused or dry run; 1 the step could not be
done (counts or targets unreadable, ZooKeeper down): nothing was written;
2 a usage error (a bad flag or value, or ``--at`` naming a window that has not
ended), as for cdctl; 3 the connection to ZooKeeper was lost during the write
and reading back failed: it may or may not be written.
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

from pid_controller.decide import OutcomeUnknownError, RunResult
from pid_controller.law_settings import PredictiveSettings
from pid_controller.recorded import run_recorded
from pid_controller.run_metrics import RunPusher
from pid_controller.runner import ControllerConfig, Samples, WindowNotEndedError
from pid_controller.samples_source import samples_source
from pid_controller.schedule import schedule
from pid_controller.step import Bounds, Gains
from services import display, logs, tables
from services.docstore import read_constants, read_paused
from services.errors import CDError, InvalidInputError
from services.settings import ControllerSettings, load
from services.timebuckets import parse_time
from services.zk import ZkStore

EXIT_CODES: dict[type[CDError], int] = {WindowNotEndedError: 2, OutcomeUnknownError: 3}


def _samples(settings: ControllerSettings) -> Samples | None:
    """The window's candidate samples from Kafka; none in pid mode (nothing is read)."""
    return samples_source(settings) if settings.controller_mode == "predictive" else None


def config_from(settings: ControllerSettings) -> ControllerConfig:
    interval = settings.controller_interval_seconds
    return ControllerConfig(
        interval=interval,
        gains=Gains(settings.controller_kp, settings.controller_ki, settings.controller_kd),
        bounds=Bounds(
            settings.controller_u_min, settings.controller_u_max, settings.controller_max_step
        ),
        min_impressions=settings.controller_min_impressions,
        # A run never waits for counts into the next window's run (60 s windows: 30 s).
        max_wait=min(
            settings.controller_max_wait_seconds,
            max(0.0, interval - settings.controller_delay_seconds),
        ),
        counter_urls=settings.counter_url_list,
        writer=f"pid-controller@{socket.gethostname()}:{os.getpid()}",
        mode=settings.controller_mode,
        predictive=PredictiveSettings(
            min_samples=settings.controller_min_samples,
            default_slots=settings.controller_default_slots,
            sample_cap=settings.controller_sample_cap,
            min_impressions=settings.controller_min_impressions,
        ),
    )


def _print_result(result: RunResult, dry_run: bool) -> None:
    print(f"pid-controller: {result.message}")
    if dry_run and result.document is not None:
        print(
            orjson.dumps(
                result.document.model_dump(mode="json", by_alias=True), option=orjson.OPT_INDENT_2
            ).decode()
        )


def _moment(value: str) -> datetime:
    """``--at``: refused by the parser (exit 2, with the usage line) when unreadable."""
    try:
        return datetime.fromtimestamp(parse_time(value, "--at"), UTC)
    except InvalidInputError as exc:
        raise argparse.ArgumentTypeError(exc.problem) from exc


def _seconds(value: str) -> int:
    try:
        seconds = int(value)
    except ValueError:
        seconds = 0
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number of seconds")
    return seconds


def _run(store: ZkStore, settings: ControllerSettings, args: argparse.Namespace) -> int:
    """Connects by itself: not reaching ZooKeeper is a failed run, pushed as such."""

    def step() -> RunResult:
        with store.start():
            return run_recorded(
                store,
                config_from(settings),
                at=args.at,
                dry_run=args.dry_run,
                samples=_samples(settings),
            )

    result = RunPusher(settings.pushgateway_url).step(step)
    _print_result(result, args.dry_run)
    return 0


def _with_interval(settings: ControllerSettings, interval: int) -> ControllerSettings:
    """``--interval`` checked like the setting it overrides (at least 60 s, whole buckets)."""
    given = settings.model_dump()
    given["controller_interval_seconds"] = interval
    try:
        return load(ControllerSettings, **given)
    except InvalidInputError as exc:
        raise InvalidInputError("--interval", exc.problem) from exc


def _schedule(store: ZkStore, settings: ControllerSettings, args: argparse.Namespace) -> int:
    config = config_from(settings)
    stop = threading.Event()

    def on_signal(signum: int, _: FrameType | None) -> None:
        print(f"pid-controller: signal {signum}, stopping after the current step", flush=True)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    pusher = RunPusher(settings.pushgateway_url)
    schedule(
        lambda moment: pusher.step(
            lambda: run_recorded(
                store, config, at=moment, sleep=stop.wait, samples=_samples(settings)
            )
        ),
        config.interval,
        settings.controller_delay_seconds,
        stop,
        time.time,
    )
    return 0


def _explain(store: ZkStore, _: ControllerSettings, __: argparse.Namespace) -> int:
    paused = read_paused(store)
    if paused is not None:
        print(display.paused_notice(paused.reason, paused.since))
    read = read_constants(store)
    if read is None:
        print("no constants published yet")
        return 0
    tables.print_table(tables.constants_table(read.doc, datetime.now(UTC)))
    return 0


def _verbose_flag(parser: argparse.ArgumentParser, default: object = argparse.SUPPRESS) -> None:
    """``-v`` before or after the command (a command's copy leaves the default alone)."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default,
        help="also show the ZooKeeper and HTTP clients' logs",
    )


DESCRIPTION = """The controller: reads the targets and a window's counts, computes one
constant per policy and content type, and publishes them to ZooKeeper for the blenders."""
EPILOG = """examples:
  pid-controller run                      the last full window (what cron runs)
  pid-controller run --at 2026-11-22T15:00:00Z --dry-run
                                          what that window would publish; writes nothing
  pid-controller schedule                 a step at every window boundary, until stopped
  pid-controller explain                  the constants in use, and why

exit codes: 0 written, unchanged, paused or dry run; 1 the step could not be done
(counts, targets or ZooKeeper unreadable): nothing written; 2 bad command line.
With CD_PUSHGATEWAY_URL set, run and schedule push their run metrics there."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pid-controller",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _verbose_flag(parser, False)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="one step for one window")
    _verbose_flag(run)
    run.add_argument(
        "--at",
        type=_moment,
        metavar="ISO_TIME",
        help="ISO time with zone; the window ending at it (default: last full window)",
    )
    run.add_argument("--dry-run", action="store_true", help="print, write nothing")
    run.set_defaults(handler=_run)
    sched = sub.add_parser("schedule", help="run at every interval boundary until stopped")
    _verbose_flag(sched)
    sched.add_argument(
        "--interval",
        type=_seconds,
        metavar="SECONDS",
        help=(
            "seconds, at least 60 and whole CD_COUNTER_BUCKET_SECONDS "
            "(default CD_CONTROLLER_INTERVAL_SECONDS)"
        ),
    )
    sched.set_defaults(handler=_schedule)
    explain = sub.add_parser("explain", help="table of the constants and why")
    _verbose_flag(explain)
    explain.set_defaults(handler=_explain)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load(ControllerSettings)
        libraries = logs.command_libraries(args.verbose)
        logs.configure(settings.log_level, json=settings.log_json, libraries=libraries)
        if getattr(args, "interval", None) is not None:
            settings = _with_interval(settings, args.interval)
        store = ZkStore.from_settings(settings)
        if args.handler is _run:
            return int(_run(store, settings, args))
        with store.start():
            return int(args.handler(store, settings, args))
    except CDError as exc:
        print(f"pid-controller: {exc}", file=sys.stderr)
        return EXIT_CODES.get(type(exc), 1)


if __name__ == "__main__":
    sys.exit(main())
