"""Peak memory of the controller's predictive solve at the sample cap, on the real command.

Usage: ``python -m bench.controller_memory [--samples 5000] [--candidates 500]``

The controller keeps at most ``CD_CONTROLLER_SAMPLE_CAP`` (5,000) samples per
experiment group and window, so its memory is bounded by that cap times the
groups, whatever the traffic. This fills a real Tansu broker's samples topic
with ``--samples`` samples of ``--candidates`` candidates in the last full hour,
then runs ``cdctl targets preview``, which reads and solves a window's samples
with the controller's own code (:mod:`pid_controller.samples_source`, the same
prepare and solve), and reports its peak resident memory as the kernel counted
it (``wait4``). The baseline, in the same run: the same command on an empty
samples topic (imports, ZooKeeper and Kafka clients, no samples). The
Kubernetes manifests size the controller from these two (README, "Resources").
On Tansu a consumer of an empty topic still grows with what other topics hold
(README, "What the local broker does"), so there the baseline is high and the
samples' share low by as much; the peak is what the command held either way.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.kafka import TopicSpec, ensure_topics, make_producer, producer_config
from services.local.tansu import TansuBroker
from services.local.zookeeper import ZooKeeperServer
from services.samples import SampledRequest, encode_sample
from services.target_edits import apply_edit, set_targets
from services.zk import ZkStore
from tests.integration.windows import window_start_that_stays_last

CDCTL = str(Path(sys.executable).parent / "cdctl")
ROOT = "/bench-controller-memory"
TYPES = ("video", "image", "fresh", "product", "idea")
HOUR = 3600


def _say_waiting(seconds: float) -> None:
    print(f"waiting {seconds:.0f} s for the hour to turn...", file=sys.stderr, flush=True)


def fill(bootstrap: str, topic: str, samples: int, candidates: int, start: int) -> None:
    """``samples`` requests of group ``control`` stamped inside the window."""
    rng = np.random.default_rng(3)
    producer = make_producer(producer_config(bootstrap))
    for i in range(samples):
        codes = rng.integers(0, len(TYPES), candidates)
        sample = SampledRequest(
            ts_ms=start * 1000 + i,
            experiment_group="control",
            policy="default",
            score_space="log",
            slots=25,
            types=tuple(TYPES[c] for c in codes),
            scores=rng.normal(-2.0, 1.0, candidates),
        )
        producer.produce(topic, encode_sample(sample), b"default", timestamp=sample.ts_ms)
        if i % 500 == 0:
            producer.poll(0)
            print(f"  produced {i}/{samples}", file=sys.stderr, flush=True)
    if producer.flush(120):
        raise SystemExit("samples not all delivered within 120 s")


def preview(env: dict[str, str], topic: str) -> tuple[float, float, dict[str, object]]:
    """Seconds, peak MiB and the JSON answer of one ``cdctl targets preview``."""
    started = time.perf_counter()
    # Files, not pipes: nothing reads a pipe while wait4 waits, so a full one would hang.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [CDCTL, "targets", "preview", "default", "video=0.05", "--json"],
            env={**env, "CD_SAMPLES_TOPIC": topic},
            stdout=out,
            stderr=err,
        )
        # wait4, not Popen.wait: it also returns the child's peak resident memory.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        answer, stderr = out.read(), err.read().decode(errors="replace")
    if code != 0:
        raise SystemExit(f"cdctl targets preview failed ({code}): {stderr}")
    return seconds, usage.ru_maxrss / 1024, orjson.loads(answer)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--samples", type=int, default=5000, help="samples in the window")
    parser.add_argument("--candidates", type=int, default=500, help="candidates per sample")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-controller-memory-") as tmp:
        broker, zk = TansuBroker(Path(tmp) / "tansu"), ZooKeeperServer(Path(tmp) / "zk")
        broker.start()
        zk.start()
        try:
            run(broker.bootstrap, zk.hosts, args.samples, args.candidates)
        finally:
            broker.stop()
            zk.stop()


def run(bootstrap: str, zk_hosts: str, samples: int, candidates: int) -> None:
    suffix = f"{random.getrandbits(32):08x}"
    full, empty = f"bench.samples-{suffix}", f"bench.samples-empty-{suffix}"
    ensure_topics(bootstrap, [TopicSpec(full, 1), TopicSpec(empty, 1)])
    with ZkStore(zk_hosts, ROOT) as store:
        bounds = {"bounds": {"min": -3.0, "max": 3.0}}
        apply_edit(store, set_targets("default", {"video": 0.2}, bounds))
    start = window_start_that_stays_last(HOUR, 300, _say_waiting)
    print(f"filling {samples} samples of {candidates} candidates...", file=sys.stderr)
    fill(bootstrap, full, samples, candidates, start)
    env = {
        **os.environ,
        "CD_ZK_HOSTS": zk_hosts,
        "CD_ZK_ROOT": ROOT,
        "CD_KAFKA_BOOTSTRAP": bootstrap,
        "CD_CONTROLLER_SAMPLES_GRACE_SECONDS": "0",
    }
    base_s, base_mib, _ = preview(env, empty)
    full_s, full_mib, answer = preview(env, full)
    if answer.get("samples") != samples:
        raise SystemExit(f"the preview read {answer.get('samples')} samples, not {samples}")
    print("\n| window | seconds | peak resident memory (MiB) |\n| --- | --- | --- |")
    print(f"| empty (baseline) | {base_s:.1f} | {base_mib:.0f} |")
    print(f"| {samples} samples x {candidates} candidates | {full_s:.1f} | {full_mib:.0f} |")
    per_sample = (full_mib - base_mib) / samples * 1024
    print(f"the samples' share: {full_mib - base_mib:.0f} MiB, {per_sample:.1f} KiB per sample")


if __name__ == "__main__":
    main()
