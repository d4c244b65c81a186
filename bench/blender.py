"""Benchmark: the real blender against a parse-only baseline on the same server stack.

Usage: ``python -m bench.blender [--seconds 2] [--rounds 9] [--connections 16]
[--sizes 50,500,5000] [--limits 50,none] [--worker-sizes 500] [--duet]``

Starts a real ZooKeeper (Debian's package) with a constants document, the real
``blender`` command (one worker, and a second one with ``CD_BLENDER_WORKERS=2``)
and the baseline (:mod:`bench.baseline`: parse with orjson, return the first
``limit`` candidates in the blend response's shape) under the same uvicorn,
uvloop and httptools. For every candidate count and limit, ``wrk`` (Debian's
load generator: nothing of ours on the client side) drives blender and baseline
in alternating rounds (which goes first alternates too, after an uncounted
warm-up of each), so load from anything else on the machine falls on both
alike; the table quotes the median req/s of each and the median of the rounds' ratios. Our own
client then reads the blender's server-side latency (its ``Server-Timing``
header, which it asks for with ``Cd-Server-Timing``; wrk does not ask: from the
whole body received to the response ready). Last, 1 against 2
blender workers, also with ``wrk``. With ``--sample-rate`` the pair is the blender
sampling against itself not sampling (:mod:`bench.blender_sampling`).

Before its tables it prints each blender's peak resident memory (what
``deploy/k8s`` sizes the blender from).

Every answer other than 200 and every socket error is counted, and any makes the
exit status non-zero: a figure measured while failing is no figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from starlette.types import ASGIApp

# Runs as ``python bench/blender.py`` too, where the repository is not on the path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import blender_duet
from bench.http_client import Result, drive
from bench.memory import peak_mib
from bench.wrk import WrkRun, wrk, wrk_script
from services.documents import ConstantsDocument, dump_document, validate_document
from services.local.process import ServerProcess, blender_process, free_port, port_open
from services.local.tansu import TansuBroker
from services.local.zookeeper import ZooKeeperServer
from services.zk import ZkStore

TYPES = ("video", "image", "fresh", "product", "idea", "story")
ROOT = "/bench-blender"


def constants_document() -> ConstantsDocument:
    return validate_document(
        ConstantsDocument,
        {
            "schema": 1,
            "generation": 42,
            "computed_at": "2026-11-22T15:00:04Z",
            "policies": {
                "default": {"video": 0.31, "fresh": -0.12, "product": 0.05},
                "video_heavy": {"video": 0.9},
            },
        },
    )


def request_body(n: int, rng: random.Random, limit: int | None) -> bytes:
    candidates = [
        {"id": f"pin-{i:06d}", "content_type": rng.choice(TYPES), "score": rng.gauss(-2.0, 1.0)}
        for i in range(n)
    ]
    return orjson.dumps({"experiment_group": "control", "limit": limit, "candidates": candidates})


# --- the baseline server ---------------------------------------------------------


def run_baseline(port: int) -> None:
    """The baseline app on the blender's stack (see :mod:`blender.cli`)."""
    run_on_stack("bench.baseline:app", port)


def run_on_stack(app: str | ASGIApp, port: int) -> None:
    """Serve ``app`` on loopback as the blender serves (see :mod:`blender.cli`)."""
    import uvicorn

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        ws="none",
        access_log=False,
        log_level="warning",
    )


# --- orchestration ---------------------------------------------------------------


@dataclass
class Server:
    process: ServerProcess
    port: int


@dataclass
class Cell:
    """One candidate count and limit: rounds of each server, and the server-side times."""

    n: int
    limit: int | None
    blender: list[WrkRun] = field(default_factory=list)
    baseline: list[WrkRun] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    client_errors: int = 0

    @staticmethod
    def median_rps(runs: list[WrkRun]) -> float:
        return statistics.median(r.rps for r in runs)

    @property
    def ratio(self) -> float:
        """The median of each round's ratio: the two runs of a round are seconds apart,
        so they share the machine's other load far more than any two medians do."""
        return statistics.median(
            b.rps / s.rps for b, s in zip(self.blender, self.baseline, strict=True)
        )

    @property
    def inverse_ratio(self) -> float:
        return statistics.median(
            s.rps / b.rps for b, s in zip(self.blender, self.baseline, strict=True)
        )

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.blender + self.baseline) + self.client_errors


def start_servers(workdir: Path, zk: ZooKeeperServer) -> dict[str, Server]:
    ports = {name: free_port() for name in ("blender", "baseline", "blender x2")}
    blender = blender_process(
        ports["blender"], zk.hosts, ROOT, workdir / "one", CD_LOG_LEVEL="WARNING"
    )
    two = blender_process(
        ports["blender x2"],
        zk.hosts,
        ROOT,
        workdir / "two",
        CD_LOG_LEVEL="WARNING",
        CD_BLENDER_WORKERS="2",
    )
    port = ports["baseline"]
    baseline = ServerProcess(
        "baseline",
        [sys.executable, "-m", "bench.blender", "--baseline-server", str(port)],
        workdir / "baseline.log",
        lambda: port_open("127.0.0.1", port),
    )
    servers = {"blender": blender, "baseline": baseline, "blender x2": two}
    started: dict[str, Server] = {}
    try:
        for name, process in servers.items():
            process.cwd = Path(__file__).resolve().parent.parent
            process.start()
            started[name] = Server(process, ports[name])
    except BaseException:
        for server in started.values():
            server.process.stop()
        raise
    return started


def check_blender(port: int, body: bytes, expected_results: int) -> None:
    """Fail loudly if the blender is not using the constants (a benchmark of errors is void)."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/blend", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=10) as response:
        answer = orjson.loads(response.read())
    if answer["constants_generation"] != 42 or len(answer["results"]) != expected_results:
        raise SystemExit(f"blender answered unexpectedly: {str(answer)[:200]}")


@dataclass
class Options:
    seconds: float
    rounds: int
    connections: int
    sizes: list[int]
    limits: list[int | None]
    worker_sizes: list[int]
    sampling: tuple[float, float] | None = None  # rate, per second: see bench.blender_sampling
    duet: bool = False  # both servers at once on one core: see bench.blender_duet


def run(options: Options) -> tuple[list[Cell], list[Cell]]:
    from bench import blender_sampling  # imports this module: not at the top

    with tempfile.TemporaryDirectory(prefix="bench-blender-") as tmp:
        workdir = Path(tmp)
        zk = ZooKeeperServer(workdir / "zookeeper")
        zk.start()
        broker = TansuBroker(workdir / "tansu") if options.sampling else None
        try:
            with ZkStore(zk.hosts, ROOT) as store:
                store.create(store.paths.constants, dump_document(constants_document()))
            if broker is not None and options.sampling is not None:
                broker.start()
                sampling = blender_sampling.Sampling(*options.sampling, broker.bootstrap)
                servers = blender_sampling.start_sampling_pair(workdir, zk, sampling)
            else:
                servers = start_servers(workdir, zk)
            try:
                if options.duet:
                    pin_duet(servers, zk)
                cells = [
                    measure_cell(servers, workdir, options, n, limit)
                    for n in options.sizes
                    for limit in options.limits
                ]
                workers = [
                    measure_workers(servers, workdir, options, n)
                    for n in options.worker_sizes
                    if "blender x2" in servers and not options.duet
                ]
                _print_peak_memory(servers)
                if options.sampling is not None:
                    sent = blender_sampling.samples_sent(servers["blender"].port)
                    print(f"samples: {sent}", file=sys.stderr)
                    for n in options.sizes:
                        print(blender_sampling.hook_cost(n))
            finally:
                for server in servers.values():
                    server.process.stop()
        finally:
            if broker is not None:
                broker.stop()
            zk.stop()
    return cells, workers


def _print_peak_memory(servers: dict[str, Server]) -> None:
    """Each blender's peak resident memory after its load (``deploy/k8s`` sizes from it)."""
    peaks = [
        f"{name} {peak_mib(server.process.proc.pid):.0f} MiB"
        for name, server in servers.items()
        if name.startswith("blender") and server.process.proc is not None
    ]
    print(f"peak resident memory (VmHWM): {', '.join(peaks)}", flush=True)


def pin_duet(servers: dict[str, Server], zk: ZooKeeperServer) -> None:
    """The compared pair onto one core, everything else of ours off it."""

    def pid(server: ServerProcess) -> int:
        assert server.proc is not None, "started"
        return server.proc.pid

    pair = [pid(servers[name].process) for name in ("blender", "baseline")]
    others = [pid(s.process) for name, s in servers.items() if name not in ("blender", "baseline")]
    blender_duet.pin_pair(pair, [pid(zk.server), *others])


def alternating_rounds(
    ports: tuple[int, int], script: Path, options: Options, cell: Cell
) -> list[WrkRun]:
    """Blender and baseline one after the other; returns the uncounted warm-up runs.

    Both servers take this body under load once before anything counts, and the
    order alternates (blender first in even rounds, baseline first in odd ones),
    so that going first, right after the other server's run, favours neither."""
    warm_up = [wrk(port, script, min(1.0, options.seconds), options.connections) for port in ports]
    for number in range(options.rounds):
        pair = [(ports[0], cell.blender), (ports[1], cell.baseline)]
        for port, runs in pair if number % 2 == 0 else reversed(pair):
            runs.append(wrk(port, script, options.seconds, options.connections))
    return warm_up


def measure_cell(
    servers: dict[str, Server], workdir: Path, options: Options, n: int, limit: int | None
) -> Cell:
    body = request_body(n, random.Random(7), limit)
    blender, baseline = servers["blender"], servers["baseline"]
    check_blender(blender.port, body, min(n, n if limit is None else limit))
    print(f"{n} candidates, limit {limit} ({len(body)} bytes)...", file=sys.stderr, flush=True)
    script = wrk_script(workdir, f"body-{n}-{limit}", body)
    cell = Cell(n, limit)
    rounds = blender_duet.duet_rounds if options.duet else alternating_rounds
    warm_up = rounds((blender.port, baseline.port), script, options, cell)
    own = asyncio.run(drive(blender.port, body, options.seconds, options.connections))
    cell.server_ms = own.server_ms
    cell.client_errors = own.errors + own.failures + sum(w.errors for w in warm_up)
    return cell


def measure_workers(servers: dict[str, Server], workdir: Path, options: Options, n: int) -> Cell:
    """1 against 2 blender workers (in the table's baseline column: the 2-worker one)."""
    body = request_body(n, random.Random(7), 50)
    print(f"1 vs 2 workers, {n} candidates...", file=sys.stderr, flush=True)
    script = wrk_script(workdir, f"workers-{n}", body)
    cell = Cell(n, 50)
    for number in range(options.rounds):
        pair = [("blender", cell.blender), ("blender x2", cell.baseline)]
        for name, runs in pair if number % 2 == 0 else reversed(pair):
            runs.append(wrk(servers[name].port, script, options.seconds, options.connections))
    return cell


def print_tables(cells: list[Cell], workers: list[Cell], options: Options) -> None:
    how = (
        "duet rounds (both servers at once, pinned to one core; wrk, ZooKeeper and the "
        "bench on the others)"
        if options.duet
        else f"alternating rounds; {os.cpu_count()} CPUs shared with wrk"
    )
    print(
        f"\nwrk, {options.connections} connections per server, {options.rounds} rounds of "
        f"{options.seconds:g} s per server and cell, medians; uvicorn + uvloop + httptools, "
        f"one worker each; {how}\n"
    )
    print(
        "| candidates | limit | blender req/s | baseline req/s | ratio | blender p99 ms "
        "| srv p50 ms | srv p99 ms | errors |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for c in cells:
        pct = Result(c.server_ms, c.server_ms, 1.0, 0).pct
        print(
            f"| {c.n} | {c.limit if c.limit is not None else 'all'} "
            f"| {c.median_rps(c.blender):,.0f} | {c.median_rps(c.baseline):,.0f} "
            f"| {c.ratio:.2f} | {statistics.median(r.p99_ms for r in c.blender):.2f} "
            f"| {pct(c.server_ms, 0.5):.3f} | {pct(c.server_ms, 0.99):.3f} | {c.errors} |"
        )
    print(
        "\nreq/s: medians of the rounds; ratio: median of the rounds' blender / baseline; "
        "blender p99: wrk's; srv: "
        "the blender's own time from the whole body received to the response ready "
        "(Server-Timing, our client, same connections)\n"
    )
    if not workers:
        return
    print("| candidates | limit | 1 worker req/s | 2 workers req/s | 2 / 1 | errors |")
    print("| --- | --- | --- | --- | --- | --- |")
    for c in workers:
        print(
            f"| {c.n} | {c.limit} | {c.median_rps(c.blender):,.0f} "
            f"| {c.median_rps(c.baseline):,.0f} | {c.inverse_ratio:.2f} | {c.errors} |"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--seconds", type=float, default=2.0, help="per round and server")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--connections", "--concurrency", type=int, default=16)
    parser.add_argument("--sizes", default="50,500,5000")
    parser.add_argument("--limits", default="50,none", help="request limits; 'none' for all")
    parser.add_argument("--worker-sizes", default="500", help="sizes of the 1 vs 2 workers runs")
    parser.add_argument(
        "--sample-rate",
        type=float,
        help="measure candidate sampling at this rate against the blender not sampling",
    )
    parser.add_argument("--samples-per-second", type=float, default=20.0)
    parser.add_argument(
        "--duet",
        action="store_true",
        help="run blender and baseline at the same time on one core, wrk on the other: "
        "the ratio then does not move with the host's speed (no 1 vs 2 workers table)",
    )
    parser.add_argument("--baseline-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.baseline_server:
        run_baseline(args.baseline_server)
        return
    options = Options(
        args.seconds,
        args.rounds,
        args.connections,
        [int(s) for s in args.sizes.split(",")],
        [None if x == "none" else int(x) for x in args.limits.split(",")],
        [int(s) for s in args.worker_sizes.split(",") if s],
        (args.sample_rate, args.samples_per_second) if args.sample_rate else None,
        args.duet,
    )
    cells, workers = run(options)
    print_tables(cells, workers, options)
    failed = sum(c.errors for c in cells + workers)
    if failed:
        raise SystemExit(f"FAILED: {failed} non-200 answers or connection failures")


if __name__ == "__main__":
    main()
