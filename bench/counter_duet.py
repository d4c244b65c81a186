"""Duet runs of the counter (``python -m bench.counter --duet``): the clean stream and the
one with bad events consumed at the same time, by two services pinned to one core.

Runs one after the other, as ``--against-clean`` does, compare two machines: this
host's speed drifts in phases of seconds, as long as a run (twelve pairs of
``--against-clean`` spread from 0.54 to 1.11, with the bad stream faster than the
clean one in four). Run together on one core, both services see the same machine
at every moment; the broker, ZooKeeper and this script get the other cores. The
ratio of the two rates over the time both run is then the cost ratio of the two
streams (duet benchmarking). librdkafka's threads and the changelog follower are
the services' own and stay on their core; the broker's work for each dead letter
does not count: in a deployment the broker runs elsewhere.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.counter_load import (
    PARTITIONS,
    Stall,
    Stream,
    clean_and_bad,
    dead_letters,
    deployment_for,
    verify,
)
from bench.pinning import pin, split_cpus
from tests.integration.counter_service.harness import CounterProcess, Deployment

SAMPLE_SECONDS = 0.05
# The window opens once both have read this share: the service started second is
# still warming up (caches, its first fetches) for a moment after it is ready.
WARM_UP = 0.05
NAMES = ("clean", "bad")


@dataclass
class Round:
    window: float = 0.0  # seconds both services ran
    rates: dict[str, float] = field(default_factory=dict)  # events/s in that window
    problems: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.rates["bad"] / self.rates["clean"]


def run(
    args: argparse.Namespace,
    bootstrap: str,
    zk_hosts: str,
    work: Path,
    helper_pids: list[int],
) -> list[Round]:
    services_cpu, other_cpus = split_cpus()
    for pid in [*helper_pids, os.getpid()]:
        pin(pid, other_cpus)
    streams = clean_and_bad(args.events, args.bad_fraction, bootstrap)
    rounds = []
    for number in range(args.runs):
        # Which one starts first alternates: the first one up consumes alone for a
        # moment, which the window leaves out, but its start-up load does not.
        order = NAMES if number % 2 == 0 else NAMES[::-1]
        deployments = {
            name: deployment_for(
                args, bootstrap, zk_hosts, work, f"bench.{name}", f"d{number}{name}"
            )
            for name in order
        }
        result = one_round(deployments, streams, services_cpu, f"duet{number}")
        print(
            f"duet {number} ({' then '.join(order)}): {result.window:.2f}s together, clean "
            f"{result.rates['clean']:,.0f}/s, bad {result.rates['bad']:,.0f}/s, ratio "
            f"{result.ratio:.2f}  {'exact' if not result.problems else result.problems}",
            flush=True,
        )
        rounds.append(result)
    return rounds


def one_round(
    deployments: dict[str, Deployment], streams: dict[str, Stream], cpus: set[int], label: str
) -> Round:
    """Both services from the moment both are ready to the moment one has read all."""
    total = len(streams["clean"].values)
    services = {name: CounterProcess(d, f"{label}{name}") for name, d in deployments.items()}
    try:
        for service in services.values():
            service.start(ready=False)
            pin(service_pid(service), cpus)
        for service in services.values():
            service.wait_ready()
            pin(service_pid(service), cpus)  # threads started before the first pin
        result = Round()
        stall = Stall("a duet round", services)
        first = last = (time.perf_counter(), stall.processed())
        while min(first[1].values()) < total * WARM_UP:  # the later one's start-up left out
            time.sleep(SAMPLE_SECONDS)
            first = last = (time.perf_counter(), stall.processed())
        while True:
            sample = (time.perf_counter(), stall.processed())
            if max(sample[1].values()) >= total:
                break
            last = sample
            time.sleep(SAMPLE_SECONDS)
        result.window = last[0] - first[0]
        if result.window <= 0:
            raise SystemExit(
                f"one service read all {total} events before the other had read "
                f"{WARM_UP:.0%} of its own: too few --events for a duet"
            )
        result.rates = {n: (last[1][n] - first[1][n]) / result.window for n in services}
        while min(stall.processed().values()) < total:
            time.sleep(SAMPLE_SECONDS)
        for name, service in services.items():
            deployment = deployments[name]
            dlq = dead_letters(deployment)
            result.problems += verify(service, deployment.bootstrap, dlq, streams[name])
        return result
    finally:
        for service in services.values():
            service.stop()


def service_pid(service: CounterProcess) -> int:
    assert service.server.proc is not None, "started"
    return service.server.proc.pid


def report(events: int, bad_fraction: float, rounds: list[Round]) -> None:
    ratios = [r.ratio for r in rounds]
    clean = statistics.median(r.rates["clean"] for r in rounds)
    bad = statistics.median(r.rates["bad"] for r in rounds)
    print(
        f"\n{events} events each, {PARTITIONS} partitions, {len(rounds)} duet rounds "
        "on one core, medians"
    )
    print("| stream | events/s (sharing the core) |")
    print("|---|---|")
    print(f"| clean | {clean:,.0f} |")
    print(f"| {bad_fraction:.0%} bad | {bad:,.0f} |")
    kept = statistics.median(ratios)
    print(f"rate kept with bad events (median of the rounds' bad / clean): {kept:.2f}")
    print(f"each round's ratio, in run order: {', '.join(f'{r:.2f}' for r in ratios)}")
