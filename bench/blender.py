"""Benchmark: the real blender against a minimal parse-and-echo baseline.

Usage: ``python -m bench.blender [--seconds 10] [--concurrency 16] [--sizes 50,500,5000]
[--limit 50|none] [--rounds 5]``

Load run (64 clients for 60 s without a pause, 500 candidates, then the baseline
for 60 s): ``python -m bench.blender --seconds 60 --concurrency 64 --sizes 500 --rounds 1``.

Cost of candidate sampling: ``python -m bench.blender --sample-rate 0.01 [--samples-per-second
20]`` drives the blender sampling at that rate (to a real Tansu broker) against the same
blender with sampling off in place of the baseline, so the ratio is the throughput kept.

Starts a real ZooKeeper (Debian's package) with a constants document, the real
``blender`` command (uvicorn, one worker) and a baseline server (uvicorn and a
bare Starlette route that decodes the same body with orjson and returns it), then
drives each with the same keep-alive connections and prints latency percentiles,
requests per second, the blender/baseline ratio, and the blender's server-side
p99 taken from its ``Server-Timing`` header. Every answer other than 200 and
every connection failure is counted, and any makes the exit status non-zero: a
figure measured while failing is no figure.

The load generator is a minimal HTTP/1.1 client on raw asyncio streams rather
than httpx: on a small machine it shares the cores with the server, and a heavy
client would mostly measure itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import orjson

# Runs as ``python bench/blender.py`` too, where the repository is not on the path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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
    """Same HTTP stack, no blender logic: decode the body with orjson and return it."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def echo(request: Request) -> Response:
        return Response(
            orjson.dumps(orjson.loads(await request.body())), media_type="application/json"
        )

    app = Starlette(routes=[Route("/v1/blend", echo, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning")


# --- the load generator ----------------------------------------------------------


@dataclass
class Result:
    latencies: list[float]
    server_ms: list[float]
    seconds: float
    errors: int  # answers other than 200
    failures: int = 0  # connection errors, broken or unanswered exchanges

    def pct(self, values: list[float], p: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")

    def add(self, other: Result) -> None:
        self.latencies += other.latencies
        self.server_ms += other.server_ms
        self.seconds += other.seconds
        self.errors += other.errors
        self.failures += other.failures

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds


async def _one_connection(
    port: int, request: bytes, stop_at: float, out: Result, record: bool
) -> None:
    """Keep one connection busy until ``stop_at``; a failed exchange is counted and the
    connection reopened, so that a load run reports every failure instead of dying at
    the first one."""
    while time.perf_counter() < stop_at:
        writer = None
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await _exchanges(reader, writer, request, stop_at, out, record)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            out.failures += 1
            await asyncio.sleep(0.01)  # a refused connection must not spin
        finally:
            if writer is not None:
                writer.close()


async def _exchanges(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    request: bytes,
    stop_at: float,
    out: Result,
    record: bool,
) -> None:
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length, status, timing = parse_head(head)
        await reader.readexactly(length)
        if status != 200:
            out.errors += 1
        if not record:
            continue
        out.latencies.append(time.perf_counter() - started)
        if timing is not None:
            out.server_ms.append(timing)


def parse_head(head: bytes) -> tuple[int, int, float | None]:
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, timing = 0, None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"server-timing":
            timing = float(value.split(b"blend;dur=")[1].split(b",")[0])
    return length, status, timing


async def drive(port: int, body: bytes, seconds: float, concurrency: int) -> Result:
    request = (
        b"POST /v1/blend HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    result = Result([], [], seconds, 0)
    await _connections(port, request, 0.3, concurrency, result, False)  # warm-up
    start = time.perf_counter()
    ticker = asyncio.create_task(_progress(result, start)) if seconds >= 20 else None
    await _connections(port, request, seconds, concurrency, result, True)
    result.seconds = time.perf_counter() - start
    if ticker is not None:
        ticker.cancel()
    return result


async def _connections(
    port: int, request: bytes, seconds: float, concurrency: int, out: Result, record: bool
) -> None:
    """Run ``concurrency`` connections for ``seconds``; one still waiting for an answer
    long after the end is a hung exchange: cancelled and counted as a failure."""
    stop_at = time.perf_counter() + seconds
    tasks = [
        asyncio.create_task(_one_connection(port, request, stop_at, out, record))
        for _ in range(concurrency)
    ]
    _, hung = await asyncio.wait(tasks, timeout=seconds + 30)
    for task in hung:
        task.cancel()
    out.failures += len(hung)


async def _progress(result: Result, start: float) -> None:
    """A line every 10 s: a long load run must show it is alive and whether it fails."""
    while True:
        await asyncio.sleep(10)
        elapsed = time.perf_counter() - start
        print(
            f"  {elapsed:5.0f} s: {len(result.latencies)} answers "
            f"({len(result.latencies) / elapsed:.0f}/s), {result.errors} non-200, "
            f"{result.failures} connection failures",
            file=sys.stderr,
            flush=True,
        )


# --- orchestration ---------------------------------------------------------------


@dataclass
class Server:
    process: ServerProcess
    port: int


@dataclass(frozen=True)
class Sampling:
    """Compare the blender sampling at ``rate`` (to ``bootstrap``) with itself not sampling."""

    rate: float
    per_second: float
    bootstrap: str


def start_servers(
    workdir: Path, zk: ZooKeeperServer, sampling: Sampling | None = None
) -> tuple[Server, Server]:
    if sampling is not None:
        return _start_sampling_pair(workdir, zk, sampling)
    blender_port, baseline_port = free_port(), free_port()
    blender = blender_process(blender_port, zk.hosts, ROOT, workdir, CD_LOG_LEVEL="WARNING")
    baseline = ServerProcess(
        "baseline",
        [sys.executable, "-m", "bench.blender", "--baseline-server", str(baseline_port)],
        workdir / "baseline.log",
        lambda: port_open("127.0.0.1", baseline_port),
    )
    cwd = Path(__file__).resolve().parent.parent
    blender.cwd = baseline.cwd = cwd
    blender.start()
    baseline.start()
    return Server(blender, blender_port), Server(baseline, baseline_port)


def _start_sampling_pair(
    workdir: Path, zk: ZooKeeperServer, sampling: Sampling
) -> tuple[Server, Server]:
    servers = []
    for name, rate in (("sampling", sampling.rate), ("plain", 0.0)):
        port = free_port()
        (workdir / name).mkdir()
        process = blender_process(
            port,
            zk.hosts,
            ROOT,
            workdir / name,
            CD_LOG_LEVEL="WARNING",
            CD_KAFKA_BOOTSTRAP=sampling.bootstrap,
            CD_BLENDER_SAMPLE_RATE=str(rate),
            CD_BLENDER_SAMPLES_PER_SECOND=str(sampling.per_second),
        )
        process.cwd = Path(__file__).resolve().parent.parent
        process.start()
        servers.append(Server(process, port))
    return servers[0], servers[1]


def samples_sent(port: int) -> str:
    """The sampling blender's ``cd_blender_samples_total`` lines (proof it sampled)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text: str = response.read().decode()
    return ", ".join(
        line.split("{", 1)[1]
        for line in text.splitlines()
        if line.startswith("cd_blender_samples_total")
    )


def hook_cost(n: int, repeat: int = 2000) -> str:
    """The sampling call's own cost on the blend path, in process (no network, no noise
    from a shared machine's HTTP load): per unsampled and per sampled request, against
    parsing and blending the same request."""
    from blender.constants_source import StaticConstants
    from blender.request import parse_blend_request
    from blender.response import blend_response
    from blender.sampling import BlendSampler

    body = request_body(n, random.Random(7), 50)
    provider = StaticConstants(constants_document())
    parsed = parse_blend_request(body, max_candidates=10_000, default_space="log")

    def per_call(action: object, times: int = repeat // 5) -> float:
        """Best of five runs (timeit's rule: the others measured the machine's other load)."""
        assert callable(action)
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(times):
                action()
            runs.append((time.perf_counter() - started) / times * 1e6)
        return min(runs)

    blend_us = per_call(
        lambda: blend_response(
            parse_blend_request(body, max_candidates=10_000, default_space="log"),
            provider.snapshot(),
        )
    )
    common = {"sink_factory": None, "policy_of": lambda g: "default", "queue_size": repeat}
    never = BlendSampler(rate=1e-9, per_second=1e9, **common)  # type: ignore[arg-type]
    never.enabled = True  # no sink: nothing is sent, only the call is timed
    always = BlendSampler(rate=1.0, per_second=1e9, **common)  # type: ignore[arg-type]
    always.enabled = True
    skip_us = per_call(lambda: never.offer(parsed))
    take_us = per_call(lambda: always.offer(parsed))
    return (
        f"sampling call at {n} candidates: {skip_us:.2f} us unsampled, {take_us:.2f} us sampled "
        f"(copy + queue), against {blend_us:.0f} us to parse and blend"
    )


def check_blender(port: int, body: bytes, expected_results: int) -> None:
    """Fail loudly if the blender is not using the constants (a benchmark of errors is void)."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/blend", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=10) as response:
        answer = orjson.loads(response.read())
    if answer["constants_generation"] != 42 or len(answer["results"]) != expected_results:
        raise SystemExit(f"blender answered unexpectedly: {str(answer)[:200]}")


def run(
    seconds: float,
    concurrency: int,
    sizes: list[int],
    limit: int | None,
    rounds: int,
    sample_rate: tuple[float, float] | None = None,
) -> list[tuple[int, Result, Result]]:
    with tempfile.TemporaryDirectory(prefix="bench-blender-") as tmp:
        workdir = Path(tmp)
        zk = ZooKeeperServer(workdir / "zookeeper")
        zk.start()
        broker = TansuBroker(workdir / "tansu") if sample_rate else None
        try:
            with ZkStore(zk.hosts, ROOT) as store:
                store.create(store.paths.constants, dump_document(constants_document()))
            sampling = None
            if broker is not None and sample_rate is not None:
                broker.start()
                sampling = Sampling(*sample_rate, broker.bootstrap)
            blender, baseline = start_servers(workdir, zk, sampling)
            try:
                rows = measure(blender, baseline, seconds, concurrency, sizes, limit, rounds)
                if sampling is not None:
                    print(f"samples: {samples_sent(blender.port)}", file=sys.stderr)
                    for n in sizes:
                        print(hook_cost(n))
            finally:
                blender.process.stop()
                baseline.process.stop()
        finally:
            if broker is not None:
                broker.stop()
            zk.stop()
    print_table(rows, seconds, concurrency, limit)
    if sample_rate:
        print(
            f"blender: sampling at rate {sample_rate[0]:g}, at most {sample_rate[1]:g}/s; "
            "baseline: the same blender with sampling off"
        )
    return rows


def measure(
    blender: Server,
    baseline: Server,
    seconds: float,
    concurrency: int,
    sizes: list[int],
    limit: int | None,
    rounds: int,
) -> list[tuple[int, Result, Result]]:
    """Alternate short rounds of blender and baseline, so that load from anything
    else on the machine falls on both alike instead of on whichever ran second."""
    rng = random.Random(7)
    rows = []
    for n in sizes:
        body = request_body(n, rng, limit)
        check_blender(blender.port, body, min(n, limit or n))
        print(f"{n} candidates ({len(body)} bytes)...", file=sys.stderr, flush=True)
        totals = {"blender": Result([], [], 0.0, 0), "baseline": Result([], [], 0.0, 0)}
        for _ in range(rounds):
            for name, server in (("blender", blender), ("baseline", baseline)):
                totals[name].add(
                    asyncio.run(drive(server.port, body, seconds / rounds, concurrency))
                )
        rows.append((n, totals["blender"], totals["baseline"]))
    return rows


def print_table(
    rows: list[tuple[int, Result, Result]], seconds: float, concurrency: int, limit: int | None
) -> None:
    print(
        f"\n{concurrency} connections, {seconds:g} s per server and size (alternating rounds), "
        f"limit {limit if limit is not None else 'none'}, one uvicorn worker each, "
        f"{os.cpu_count()} CPUs shared with the load generator\n"
    )
    header = (
        f"{'cands':>6} | {'server':>8} | {'p50 ms':>7} | {'p99 ms':>7} | {'req/s':>8} | "
        f"{'errors':>6} | {'failed':>6} | {'srv p50':>7} | {'srv p99':>7} | {'rps ratio':>9}"
    )
    print(header)
    print("-" * len(header))
    for n, blended, base in rows:
        for name, res in (("blender", blended), ("baseline", base)):
            ratio = f"{blended.rps / base.rps:9.2f}" if name == "blender" else " " * 9
            srv50 = f"{res.pct(res.server_ms, 0.50):7.3f}" if res.server_ms else f"{'-':>7}"
            srv99 = f"{res.pct(res.server_ms, 0.99):7.3f}" if res.server_ms else f"{'-':>7}"
            print(
                f"{n:>6} | {name:>8} | {res.pct(res.latencies, 0.5) * 1000:7.2f} | "
                f"{res.pct(res.latencies, 0.99) * 1000:7.2f} | {res.rps:8.0f} | "
                f"{res.errors:>6} | {res.failures:>6} | {srv50} | {srv99} | {ratio}"
            )
    print(
        "\np50/p99: client-side latency; srv p50/p99: the blender's own time from the "
        "whole body received to the response ready (Server-Timing 'blend'), in ms; errors: "
        "answers other than 200; failed: connection errors and broken or hung exchanges."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--sizes", default="50,500,5000")
    parser.add_argument("--limit", default="50", help="request limit, or 'none' for all")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--sample-rate",
        type=float,
        help="measure candidate sampling at this rate against the blender not sampling",
    )
    parser.add_argument("--samples-per-second", type=float, default=20.0)
    parser.add_argument("--baseline-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.baseline_server:
        run_baseline(args.baseline_server)
        return
    limit = None if args.limit == "none" else int(args.limit)
    sizes = [int(s) for s in args.sizes.split(",")]
    sampling = (args.sample_rate, args.samples_per_second) if args.sample_rate else None
    rows = run(args.seconds, args.concurrency, sizes, limit, args.rounds, sampling)
    failed = sum(r.errors + r.failures for _, *results in rows for r in results)
    if failed:
        raise SystemExit(f"FAILED: {failed} non-200 answers or connection failures")


if __name__ == "__main__":
    main()
