"""Counter-service throughput against a stateless baseline, and restore time.

    .venv/bin/python -m bench.counter [--events 1000000] [--runs 3]

Starts its own Tansu broker and ZooKeeper, loads ``--events`` events into a
4-partition topic once, then measures, ``--runs`` times each:

(a) baseline: one consumer with the service's fetch settings that only parses
    each value (orjson) and counts ``(group, bucket, type)`` in a dict;
(b) the counter service end to end, as a real process: from its first event
    to the last one counted, read from ``/v1/status``;
(c) restore: a fresh instance with an empty folder, from start to holding
    every count (one replay of the changelog written by (b)).

Prints medians, events/s and the ratio (b)/(a).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import orjson
from confluent_kafka import Consumer, TopicPartition

from services.kafka import TopicSpec, consumer_config, ensure_topics
from services.local.tansu import TansuBroker
from services.local.zookeeper import ZooKeeperServer
from tests.integration.counter_service.harness import (
    CounterProcess,
    Deployment,
    encode,
    make_events,
    produce,
)

PARTITIONS = 4


def baseline(bootstrap: str, topic: str, total: int, batch: int) -> float:
    """Seconds to read and count ``total`` events with no state and no changelog."""
    config = consumer_config(bootstrap, f"bench-{uuid.uuid4().hex[:8]}")  # the service's
    consumer = Consumer(config)
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    counts: Counter[tuple[str, int, str]] = Counter()
    seen = 0
    started = 0.0
    loads = orjson.loads
    while seen < total:
        messages = consumer.consume(batch, 1.0)
        if messages and not started:
            started = time.perf_counter()
        for msg in messages:
            if msg.error() is not None:
                continue
            event = loads(msg.value() or b"")
            key = (
                event.get("experiment_group") or "default",
                event["ts"] // 60_000 * 60,
                event["content_type"],
            )
            counts[key] += 1
            seen += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    return elapsed


def service_run(deployment: Deployment, instance: str, total: int) -> tuple[float, float]:
    """(seconds from first event to last counted, seconds to restore in a fresh instance)."""
    counter = CounterProcess(deployment, instance)
    counter.start()
    first = time.perf_counter()
    while counter.status()["events_counted"] == 0:
        time.sleep(0.01)
    # The instance was ready before its first event: started counting at ``first``.
    while counter.status()["events_counted"] < total:
        time.sleep(0.02)
    counted = time.perf_counter() - first
    fresh = CounterProcess(deployment, f"{instance}-restore")
    began = time.perf_counter()
    fresh.server.start(60)
    while True:
        try:
            if fresh.status()["events_counted"] >= total:
                break
        except Exception:
            pass
        time.sleep(0.02)
    restore = time.perf_counter() - began
    fresh.stop()
    counter.stop()
    return counted, restore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=10_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-counter-"))
    broker, zk = TansuBroker(work / "tansu"), ZooKeeperServer(work / "zk")
    broker.start()
    zk.start()
    try:
        topic = "bench.impressions"
        ensure_topics(broker.bootstrap, [TopicSpec(topic, PARTITIONS)])
        events = make_events(args.events, int(time.time() * 1000))
        began = time.perf_counter()
        produce(broker.bootstrap, topic, encode(events))
        print(f"loaded {args.events} events in {time.perf_counter() - began:.1f}s")
        base, svc, restore = [], [], []
        for run in range(args.runs):
            base.append(baseline(broker.bootstrap, topic, args.events, args.batch))
            deployment = Deployment(
                broker.bootstrap,
                topic,
                zk.hosts,
                "/bench",
                work / f"run{run}",
                group_id=f"bench-{run}",
                extra={
                    "CD_COUNTER_CHANGELOG_TOPIC": f"{topic}.changelog-{run}",
                    "CD_COUNTER_BATCH_SIZE": str(args.batch),
                    "CD_LOG_LEVEL": "WARNING",
                },
            )
            counted, restored = service_run(deployment, f"bench{run}", args.events)
            svc.append(counted)
            restore.append(restored)
            print(
                f"run {run}: baseline {base[-1]:.2f}s  service {counted:.2f}s  "
                f"restore {restored:.2f}s"
            )
        report(args.events, base, svc, restore)
    finally:
        broker.stop()
        zk.stop()


def report(events: int, base: list[float], svc: list[float], restore: list[float]) -> None:
    b, s, r = statistics.median(base), statistics.median(svc), statistics.median(restore)
    print()
    print(f"| measure ({events} events, {PARTITIONS} partitions) | median s | events/s |")
    print("|---|---|---|")
    print(f"| (a) baseline: parse + count in a dict | {b:.2f} | {events / b:,.0f} |")
    print(f"| (b) counter-service end to end | {s:.2f} | {events / s:,.0f} |")
    print(f"| restore a fresh instance (changelog replay) | {r:.2f} | {events / r:,.0f} |")
    print(f"ratio (b)/(a): {b / s:.2f}")


if __name__ == "__main__":
    main()
