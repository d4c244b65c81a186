"""``cd-simulate``: run a scenario through the closed loop and report how it held.

Exit codes: 0 done, 1 a dependency failed (``--live``, ``--feed``), 2 bad
input (a scenario file, a flag).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from pid_controller.simulator import tune as tuning
from pid_controller.simulator.engine import (
    CONTROLLERS,
    ControllerName,
    default_gains,
    simulate,
)
from pid_controller.simulator.live_stack import Endpoints
from pid_controller.simulator.plot import plot_convergence
from pid_controller.simulator.report import write_report
from pid_controller.simulator.scenario import Scenario, load_scenario, parse_scenario, shipped
from pid_controller.simulator.tables import events_table, results_table
from services import logs
from services.errors import CDError, InvalidInputError
from services.settings import ControllerSettings, load

# Below this many candidate draws a run takes a few seconds and worker
# processes would cost more to start than they save.
PARALLEL_THRESHOLD = 50_000_000


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cd-simulate",
        description="Closed-loop simulation of the controllable-distribution controller.",
    )
    p.add_argument("--scenario", help="scenario file (JSON/YAML) or shipped name (see --list)")
    p.add_argument("--hours", type=int, help="override the scenario's hours")
    p.add_argument(
        "--window-seconds",
        type=int,
        help="short windows (60 to 3600 s, whole minutes): every scenario hour, and --hours, "
        "becomes one window of this length (the scenario's window_seconds)",
    )
    p.add_argument(
        "--max-step",
        type=float,
        help="most a constant moves per window, log units (default CD_CONTROLLER_MAX_STEP's)",
    )
    p.add_argument(
        "--controller",
        choices=[*CONTROLLERS, "log"],
        default="predictive",
        help="predictive (the services' default: solve on sampled candidate lists, plus "
        "feedback), pid (the log-space PID step; 'log' is its old name and still works), "
        "or linear (the PID on share units, for comparison)",
    )
    p.add_argument("--out", type=Path, help="output directory (default ./sim-out/<scenario>)")
    p.add_argument(
        "--compare", action="store_true", help="run predictive, pid and linear side by side"
    )
    p.add_argument("--tune", action="store_true", help="search gains over the shipped scenarios")
    p.add_argument("--list", action="store_true", help="list the shipped scenarios")
    p.add_argument("--seed", type=int, help="override the scenario's seed")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--workers", type=int, help="worker processes (default: by run size)")
    _add_live_options(p.add_argument_group("the real stack (--live, --feed)"))
    return p


def _add_live_options(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--live", action="store_true", help="drive the real running stack")
    g.add_argument(
        "--replace-targets",
        action="store_true",
        help="--live: replace the stack's targets with the scenario's (refused without it)",
    )
    g.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="--live, --feed: also show the ZooKeeper and HTTP clients' logs",
    )
    g.add_argument(
        "--live-requests-per-hour",
        type=int,
        default=1000,
        help="--live: requests per simulated hour (scaled down from the scenario's)",
    )
    g.add_argument(
        "--feed",
        action="store_true",
        help="real-time traffic through the blender into Kafka until stopped",
    )
    g.add_argument("--blender-url", default="http://127.0.0.1:8080", help="--live: the blender")
    g.add_argument("--counter-url", help="--live: a counter (default: first of CD_COUNTER_URLS)")


class Reporter:
    """Progress on stderr: a bar on a terminal, a line per ~10 % otherwise."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()

    @contextmanager
    def task(self, label: str, total: int) -> Iterator[Callable[[], None]]:
        if self.quiet:
            yield lambda: None
        elif self.tty:
            with Progress(console=Console(stderr=True), transient=True) as bar:
                task = bar.add_task(label, total=total)
                yield lambda: bar.advance(task)
        else:
            done = [0]
            step = max(1, total // 10)

            def tick() -> None:
                done[0] += 1
                if done[0] % step == 0 or done[0] == total:
                    print(f"{label}: {done[0]}/{total}", file=sys.stderr, flush=True)

            yield tick


def _workers(requested: int | None, work: int) -> int:
    if requested is not None:
        return max(1, requested)
    return min(os.cpu_count() or 1, 4) if work >= PARALLEL_THRESHOLD else 1


@contextmanager
def _pool(workers: int) -> Iterator[Executor | None]:
    if workers <= 1:
        yield None
        return
    with ProcessPoolExecutor(workers) as ex:
        yield ex


def _list(console: Console) -> int:
    table = Table(title="shipped scenarios")
    table.add_column("name")
    table.add_column("hours", justify="right")
    table.add_column("description")
    for name in sorted(shipped()):
        s = load_scenario(name)
        table.add_row(name, str(s.hours), s.description)
    console.print(table)
    return 0


def _scenario(args: argparse.Namespace) -> Scenario:
    if not args.scenario:
        raise InvalidInputError("--scenario", "required (a file, or a name from --list)")
    s = load_scenario(args.scenario)
    update: dict[str, int] = {}
    if args.hours is not None:
        if args.hours < 1:
            raise InvalidInputError("--hours", "must be at least 1")
        update["hours"] = args.hours
    if args.seed is not None:
        if args.seed < 0:
            raise InvalidInputError("--seed", "must be >= 0")
        update["seed"] = args.seed
    if args.window_seconds is not None:
        update["window_seconds"] = args.window_seconds
    if args.max_step is not None and not 0 < args.max_step < float("inf"):
        raise InvalidInputError("--max-step", "must be a positive number (log units)")
    if not update:
        return s
    try:  # re-validated: an interval must fit the hour like the file's would
        return parse_scenario({**s.model_dump(exclude={"name"}), **update}, s.name)
    except InvalidInputError as exc:
        flag = {"window_seconds": "--window-seconds"}.get(exc.field, exc.field)
        raise InvalidInputError(flag, exc.problem) from exc


def _simulate(args: argparse.Namespace, reporter: Reporter, console: Console) -> int:
    scenario = _scenario(args)
    out: Path = args.out or Path("sim-out") / scenario.name
    chosen: ControllerName = "pid" if args.controller == "log" else args.controller
    spaces = [chosen, *(c for c in CONTROLLERS if c != chosen)] if args.compare else [chosen]
    work = scenario.hours * scenario.requests_per_hour * scenario.candidates_per_request
    runs = []
    with _pool(_workers(args.workers, work)) as ex:
        for space in spaces:
            with reporter.task(f"{scenario.name} ({space})", scenario.hours) as tick:
                runs.append(
                    simulate(
                        scenario,
                        space,
                        executor=ex,
                        on_hour=lambda _h, _n: tick(),
                        max_step=args.max_step,
                    )
                )
    write_report(runs[0], out / "report.json")
    plot_convergence(runs[:1], out / "convergence.png")
    if args.compare:
        for run in runs:
            write_report(run, out / f"report-{run.controller}.json")
        plot_convergence(runs, out / "comparison.png")
    console.print(results_table(runs))
    if len(runs[0].events) > 1:
        for run in runs:
            console.print(events_table(run))
    took = ", ".join(f"{r.controller} {r.seconds:.1f} s" for r in runs)
    console.print(f"wrote {out}/report.json and {out}/convergence.png ({took})")
    return 0


def _live(args: argparse.Namespace, reporter: Reporter, console: Console) -> int:
    from pid_controller.simulator.live import simulate_live

    if args.live_requests_per_hour < 1:
        raise InvalidInputError("--live-requests-per-hour", "must be at least 1")
    scenario = _scenario(args).model_copy(update={"requests_per_hour": args.live_requests_per_hour})
    endpoints = _endpoints(args)
    out: Path = args.out or Path("sim-out") / f"{scenario.name}-live"
    with reporter.task(f"{scenario.name} (live)", scenario.hours) as tick:
        result = simulate_live(
            scenario,
            endpoints,
            on_hour=lambda _h, _n: tick(),
            replace_targets=args.replace_targets,
            mode=_live_mode(args.controller),
        )
    write_report(result, out / "report.json")
    plot_convergence([result], out / "convergence.png")
    console.print(results_table([result]))
    console.print(f"wrote {out}/report.json and {out}/convergence.png ({result.seconds:.1f} s)")
    return 0


def _live_mode(controller: str) -> Literal["predictive", "pid"]:
    """``--live`` runs the services' controller, which knows predictive and pid only."""
    if controller == "predictive":
        return "predictive"
    if controller in ("pid", "log"):
        return "pid"
    raise InvalidInputError("--controller", f"--live runs predictive or pid, not {controller}")


def _endpoints(args: argparse.Namespace) -> Endpoints:
    settings = load(ControllerSettings)
    counter = args.counter_url or (settings.counter_url_list or ["http://127.0.0.1:8081"])[0]
    return Endpoints(
        blender_url=args.blender_url.rstrip("/"),
        counter_url=counter.rstrip("/"),
        kafka_bootstrap=settings.kafka_bootstrap,
        topic=settings.kafka_topic,
        zk_hosts=settings.zk_hosts,
        zk_root=settings.zk_root,
        zk_auth=settings.zk_auth,
        zk_timeout=settings.zk_timeout_seconds,
    )


def _feed(args: argparse.Namespace) -> int:
    import signal
    import threading

    from pid_controller.simulator.live import feed

    if args.live_requests_per_hour < 1:
        raise InvalidInputError("--live-requests-per-hour", "must be at least 1")
    scenario = _scenario(args).model_copy(update={"requests_per_hour": args.live_requests_per_hour})
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sent = feed(scenario, _endpoints(args), stop)
    print(f"cd-simulate: fed {sent} requests", flush=True)
    return 0


def _tune(args: argparse.Namespace, reporter: Reporter, console: Console) -> int:
    scenarios = [load_scenario(n) for n in sorted(shipped())]
    if args.seed is not None:
        scenarios = [s.model_copy(update={"seed": args.seed}) for s in scenarios]
    total = tuning.job_count() * len(scenarios)
    workers = args.workers or min(os.cpu_count() or 1, 4)
    with _pool(workers) as ex, reporter.task("tuning", total) as tick:
        best, ranked = tuning.tune(scenarios, ex, tick)
    table = Table(title="gain search (lower cost is better; see pid_controller/simulator/tune.py)")
    for head in ("kp", "ki", "kd", "cost", *(s.name for s in scenarios)):
        table.add_column(head, justify="right")
    current = default_gains()
    for s in ranked[:10]:
        mark = " (current default)" if s.gains == current else ""
        per = (f"{s.per_scenario[n.name]:.0f}" for n in scenarios)
        table.add_row(
            f"{s.gains.kp:g}", f"{s.gains.ki:g}", f"{s.gains.kd:g}{mark}", f"{s.cost:.1f}", *per
        )
    console.print(table)
    g = best.gains
    console.print(
        f"best: kp={g.kp:g} ki={g.ki:g} kd={g.kd:g} (cost {best.cost:.1f}, {len(ranked)} tried)"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # A pipe or file gets a wide table rather than rich's 80-column default.
    console = Console() if sys.stdout.isatty() else Console(width=160)
    reporter = Reporter(args.quiet)
    # --feed reports each slice at INFO; the clients' own lines only with -v.
    logs.configure(
        "INFO" if args.feed else "WARNING", libraries=logs.command_libraries(args.verbose)
    )
    try:
        if args.feed:
            return _feed(args)
        if args.live:
            return _live(args, reporter, console)
        if args.list:
            return _list(console)
        if args.tune:
            return _tune(args, reporter, console)
        return _simulate(args, reporter, console)
    except InvalidInputError as exc:
        print(f"cd-simulate: {exc}", file=sys.stderr)
        return 2
    except CDError as exc:
        print(f"cd-simulate: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # python -m pid_controller.simulator.cli, as cd-simulate
    sys.exit(main())
