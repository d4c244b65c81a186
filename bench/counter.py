"""Counter-service throughput against a stateless baseline, restore time, and the
service under load with its dead-letter path busy.

    .venv/bin/python -m bench.counter [--events 1000000] [--runs 3]
        [--bad-fraction 0.1] [--live] [--against-clean | --duet]

Starts its own Tansu broker and ZooKeeper, loads ``--events`` events into a
4-partition topic once, then measures, ``--runs`` times each:

(a) baseline: one consumer with the service's fetch settings that only parses
    each value (orjson) and counts ``(group, bucket, type)`` in a dict;
(b) the counter service end to end, as a real process: from its first event
    to the last one counted or rejected, read from ``/v1/status``, sampling its
    lag meanwhile; then checks the result exactly: counts per (group, bucket,
    type), ``events_rejected``, and the dead-letter topic (every bad event, by
    distinct ``cd-source``, with the reason it was given);
(c) restore: a fresh instance with an empty folder, from start to holding
    every count (one replay of the changelog written by (b)).

``--bad-fraction`` mixes bad events in (every reason of counter_service/events.py
in equal shares), so that the dead-letter path is part of the rate. ``--live``
produces into a fresh topic per run while the service consumes, instead of
loading once beforehand: the rate is then that of producer and service together,
and the lag shows whether the service keeps up.

``--duet`` runs both streams at the same time instead, two services pinned to one
core (bench/counter_duet.py says why that is steadier), and reports the median of
the rounds' rate ratios.

``--against-clean`` instead alternates runs of (b) on a clean stream and on one
with ``--bad-fraction`` bad events (clean first in even pairs, bad first in odd
ones), and reports the rate the dead-letter path keeps (the median of each
pair's ratio: a pair shares the machine's load).

Prints medians, events/s and the ratio (b)/(a), and the largest peak resident
memory of (b) or (c) (what ``deploy/k8s`` sizes the counter from); exits
non-zero unless every run was exact.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
import orjson
from confluent_kafka import Consumer, TopicPartition

from bench import counter_duet
from bench.counter_load import (
    PARTITIONS,
    LagSampler,
    Stall,
    Stream,
    clean_and_bad,
    dead_letters,
    deployment_for,
    load,
    make_stream,
    processed,
    verify,
)
from bench.memory import peak_mib
from services.kafka import TopicSpec, consumer_config, ensure_topics
from services.local.tansu import TansuBroker
from services.local.zookeeper import ZooKeeperServer
from tests.integration.counter_service.harness import (
    CounterProcess,
    Deployment,
)


def baseline(bootstrap: str, topic: str, total: int, batch: int) -> float:
    """Seconds to read and count ``total`` events with no state and no changelog.

    A value that does not parse or lacks a field is skipped: the baseline does the
    least any consumer must, so the ratio prices validation, dead letters and state."""
    config = consumer_config(bootstrap, f"bench-{uuid.uuid4().hex[:8]}")  # the service's
    consumer = Consumer(config)
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    counts: Counter[tuple[str, int, str]] = Counter()
    seen = skipped = 0
    started = 0.0
    loads = orjson.loads
    while seen < total:
        messages = consumer.consume(batch, 1.0)
        if messages and not started:
            started = time.perf_counter()
        for msg in messages:
            if msg.error() is not None:
                continue
            seen += 1
            try:
                event = loads(msg.value() or b"")
                key = (
                    event.get("experiment_group") or "default",
                    event["ts"] // 60_000 * 60,
                    event["content_type"],
                )
            except (ValueError, KeyError, TypeError, AttributeError):
                skipped += 1
                continue
            counts[key] += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    return elapsed


@dataclass
class Run:
    baseline: float = 0.0
    service: float = 0.0
    restore: float = 0.0
    max_lag: int = 0
    final_lag: int = 0
    peak_mib: float = 0.0  # the counting instance's or the restored one's, the larger
    problems: list[str] = field(default_factory=list)


def service_run(
    deployment: Deployment, instance: str, stream: Stream, feed: Callable[[], object] | None
) -> Run:
    """The service from its first event to the last one counted or rejected, its lag
    meanwhile, the exactness of its result, then a restore in a fresh instance.

    Without ``feed`` the events wait in the topic and the clock starts when the
    instance is ready; with it the clock starts when ``feed`` starts producing."""
    total, run = len(stream.values), Run()
    counter = CounterProcess(deployment, instance)
    try:
        counter.start()
        with LagSampler(counter) as sampler:
            first = time.perf_counter()
            if feed is not None:
                feed()
            stall = Stall(f"counting in {instance}", {instance: counter})
            while stall.processed()[instance] < total:
                time.sleep(0.02)
            run.service = time.perf_counter() - first
        run.problems = verify(counter, deployment.bootstrap, dead_letters(deployment), stream)
        run.max_lag, run.final_lag = sampler.max_lag, counter.status()["lag"]
        print(f"  lag (elapsed s: events): {sampler.trace()}  final {run.final_lag}", flush=True)
        counted_peak = _peak(counter)
        run.restore, restored_peak = restore_time(deployment, f"{instance}-restore", total)
        run.peak_mib = max(counted_peak, restored_peak)
    finally:
        counter.stop()
    return run


def _peak(counter: CounterProcess) -> float:
    proc = counter.server.proc
    return peak_mib(proc.pid) if proc is not None and proc.poll() is None else 0.0


def restore_time(deployment: Deployment, instance: str, total: int) -> tuple[float, float]:
    """Seconds for a fresh instance, empty folder, to hold every count again, and its
    peak resident memory (MiB) by then."""
    fresh = CounterProcess(deployment, instance)
    began = time.perf_counter()
    try:
        fresh.server.start(60)
        stall = Stall(f"restoring {instance}", {instance: fresh})
        while True:
            stall.check()
            try:
                if processed(fresh) >= total:
                    return time.perf_counter() - began, _peak(fresh)
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
    finally:
        fresh.stop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="events per stream (default 1,000,000)"
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="runs of each measurement, or duet rounds (default 3)"
    )
    parser.add_argument(
        "--batch", type=int, default=10_000, help="messages per poll of the baseline consumer"
    )
    parser.add_argument(
        "--bad-fraction",
        type=float,
        default=0.0,
        help="share of bad events, every reason in equal parts (the README measures 0.1)",
    )
    parser.add_argument("--live", action="store_true", help="produce while the service runs")
    parser.add_argument(
        "--against-clean",
        action="store_true",
        help="alternate runs on a clean stream and one with --bad-fraction; report the rate kept",
    )
    parser.add_argument(
        "--duet",
        action="store_true",
        help="run the clean and the bad stream at the same time on one core (steadier than "
        "--against-clean on a host whose speed drifts); report the rate kept",
    )
    return parser


def main() -> None:
    args = _parser().parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-counter-"))
    broker, zk = TansuBroker(work / "tansu"), ZooKeeperServer(work / "zk")
    broker.start()
    zk.start()
    try:
        if args.duet:
            helpers = [server.server.proc.pid for server in (broker, zk) if server.server.proc]
            rounds = counter_duet.run(args, broker.bootstrap, zk.hosts, work, helpers)
        elif args.against_clean:
            pairs = against_clean(args, broker.bootstrap, zk.hosts, work)
        else:
            runs = measure(args, broker.bootstrap, zk.hosts, work)
    finally:
        broker.stop()
        zk.stop()
    if args.duet:
        counter_duet.report(args.events, args.bad_fraction, rounds)
        problems = [p for r in rounds for p in r.problems]
        if problems:
            raise SystemExit("FAILED: " + "; ".join(problems))
        return
    if args.against_clean:
        report_against_clean(args.events, args.bad_fraction, pairs)
        runs = [run for pair in pairs for run in pair]
    else:
        report(args.events, args.bad_fraction, args.live, runs)
    problems = [p for run in runs for p in run.problems]
    if problems:
        raise SystemExit("FAILED: " + "; ".join(problems))


def measure(args: argparse.Namespace, bootstrap: str, zk_hosts: str, work: Path) -> list[Run]:
    stream = make_stream(args.events, int(time.time() * 1000), args.bad_fraction)
    print(f"{args.events} events, {stream.rejected} bad: {dict(stream.bad)}", flush=True)
    runs = []
    for number in range(args.runs):
        topic = f"bench.impressions-{number}" if args.live else "bench.impressions"
        if number == 0 or args.live:
            ensure_topics(bootstrap, [TopicSpec(topic, PARTITIONS)])
        if number == 0 and not args.live:
            load(bootstrap, topic, stream)
        deployment = deployment_for(args, bootstrap, zk_hosts, work, topic, str(number))
        feed = partial(load, bootstrap, topic, stream) if args.live else None
        run = service_run(deployment, f"bench{number}", stream, feed)
        run.baseline = baseline(bootstrap, topic, args.events, args.batch)
        runs.append(run)
        print(
            f"run {number}: baseline {run.baseline:.2f}s  service {run.service:.2f}s  "
            f"restore {run.restore:.2f}s  max lag {run.max_lag}  "
            f"{'exact' if not run.problems else run.problems}",
            flush=True,
        )
    return runs


def against_clean(
    args: argparse.Namespace, bootstrap: str, zk_hosts: str, work: Path
) -> list[tuple[Run, Run]]:
    """The same number of events without and with bad ones, in alternating runs, so
    that the machine's other load falls on both alike: the rate the dead-letter path
    keeps, as a ratio of paired runs."""
    streams = clean_and_bad(args.events, args.bad_fraction, bootstrap)
    pairs = []
    for number in range(args.runs):
        runs = {}
        # Clean first in even pairs, bad first in odd ones: a drift over the run
        # (the broker keeps every earlier run's topics in memory) or an
        # advantage of going first then falls on both streams alike.
        order = list(streams) if number % 2 == 0 else list(reversed(streams))
        for name in order:
            topic, label = f"bench.{name}", f"{number}-{name}"
            deployment = deployment_for(args, bootstrap, zk_hosts, work, topic, label)
            runs[name] = service_run(deployment, f"bench{number}{name}", streams[name], None)
        clean, bad = runs["clean"], runs["bad"]
        print(
            f"run {number} ({' then '.join(order)}): clean {clean.service:.2f}s  "
            f"bad {bad.service:.2f}s  "
            f"{'exact' if not clean.problems + bad.problems else clean.problems + bad.problems}",
            flush=True,
        )
        pairs.append((clean, bad))
    return pairs


def report_against_clean(events: int, bad_fraction: float, pairs: list[tuple[Run, Run]]) -> None:
    clean = statistics.median(c.service for c, _ in pairs)
    bad = statistics.median(b.service for _, b in pairs)
    kept = statistics.median(c.service / b.service for c, b in pairs)
    print(f"\n{events} events, {PARTITIONS} partitions, {len(pairs)} alternating pairs, medians")
    print("| stream | median s | events/s |")
    print("|---|---|---|")
    print(f"| clean | {clean:.2f} | {events / clean:,.0f} |")
    print(f"| {bad_fraction:.0%} bad | {bad:.2f} | {events / bad:,.0f} |")
    ratios = ", ".join(f"{c.service / b.service:.2f}" for c, b in pairs)
    print(f"rate kept with bad events (median of the pairs' clean s / bad s): {kept:.2f}")
    print(f"each pair's ratio, in run order: {ratios}")
    print(f"ratio of the medians (clean s / bad s): {clean / bad:.2f}")


def report(events: int, bad_fraction: float, live: bool, runs: list[Run]) -> None:
    def median(values: list[float]) -> float:
        return statistics.median(values)

    b, s = median([r.baseline for r in runs]), median([r.service for r in runs])
    r = median([run.restore for run in runs])
    mode = "produced during the run" if live else "waiting in the topic"
    print()
    print(
        f"{events} events ({bad_fraction:.0%} bad), {PARTITIONS} partitions, {mode}, "
        f"{len(runs)} runs, medians"
    )
    print("| measure | median s | events/s |")
    print("|---|---|---|")
    print(f"| (a) baseline: parse + count in a dict | {b:.2f} | {events / b:,.0f} |")
    print(f"| (b) counter-service end to end | {s:.2f} | {events / s:,.0f} |")
    print(f"| restore a fresh instance (changelog replay) | {r:.2f} | {events / r:,.0f} |")
    print(f"ratio (b)/(a): {b / s:.2f}")
    print(
        f"lag: max {max(run.max_lag for run in runs)}, final "
        f"{max(run.final_lag for run in runs)} (worst run); exact in "
        f"{sum(not run.problems for run in runs)} of {len(runs)} runs"
    )
    print(
        f"peak resident memory of a counter (VmHWM, counting or restoring): "
        f"max {max(run.peak_mib for run in runs):.0f} MiB"
    )


if __name__ == "__main__":
    main()
