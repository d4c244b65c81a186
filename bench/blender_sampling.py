"""Candidate sampling's cost in ``bench.blender``: the blender sampling against itself not.

``python -m bench.blender --sample-rate 0.01 [--samples-per-second 20]`` drives the
blender sampling at that rate (to a real Tansu broker) in place of the blender, and
the same blender with sampling off in place of the baseline, so the ratio is the
throughput kept; then prints what was sampled and the sampling call's own cost.
"""

from __future__ import annotations

import random
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.blender import ROOT, Server, constants_document, request_body
from services.local.process import blender_process, free_port
from services.local.zookeeper import ZooKeeperServer


@dataclass(frozen=True)
class Sampling:
    """Compare the blender sampling at ``rate`` (to ``bootstrap``) with itself not sampling."""

    rate: float
    per_second: float
    bootstrap: str


def start_sampling_pair(
    workdir: Path, zk: ZooKeeperServer, sampling: Sampling
) -> dict[str, Server]:
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
    return {"blender": servers[0], "baseline": servers[1]}


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
    from blender.app import create_app
    from blender.constants_source import StaticConstants
    from blender.request import parse_blend_request
    from blender.sampling import BlendSampler

    body = request_body(n, random.Random(7), 50)
    endpoint = create_app(StaticConstants(constants_document())).blend_endpoint
    assert endpoint is not None
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

    blend_us = per_call(lambda: endpoint.process(body))
    common = {"sink_factory": None, "policy_of": lambda g: "default", "queue_size": repeat}
    never = BlendSampler(rate=1e-9, per_second=1e9, **common)  # type: ignore[arg-type]
    never.enabled = True  # no sink: nothing is sent, only the call is timed
    always = BlendSampler(rate=1.0, per_second=1e9, **common)  # type: ignore[arg-type]
    always.enabled = True
    skip_us = per_call(lambda: never.offer(parsed))
    take_us = per_call(lambda: always.offer(parsed))
    return (
        f"sampling call at {n} candidates: {skip_us:.2f} us unsampled, {take_us:.2f} us sampled "
        f"(copy + queue), against {blend_us:.0f} us to parse, blend and encode"
    )
