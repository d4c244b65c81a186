"""The blender's candidate samples on the real broker: published, read back by the
controller's reader; and a dead broker neither slows nor fails a blend."""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx

from blender.app import create_app
from blender.constants_source import StaticConstants
from blender.sampling import BlendSampler
from pid_controller.samples_source import SamplesSource
from services.local.process import free_port
from tests.conftest import TopicFactory
from tests.integration.blender.conftest import kafka_sampler, wait_for
from tests.unit.blender.helpers import cand, constants_doc, serve

PROVIDER = StaticConstants(constants_doc({"default": {"video": 0.5}, "control": {"video": 1.0}}))


def sampler(bootstrap: str, topic: str, rate: float, stop_seconds: float = 5.0) -> BlendSampler:
    return kafka_sampler(bootstrap, topic, rate, PROVIDER.snapshot, stop_seconds)


def body(i: int, candidates: int = 5) -> dict[str, Any]:
    return {
        "experiment_group": "control" if i % 2 else "new_group",
        "limit": 3 if i % 2 else None,
        "candidates": [
            cand(j, "video" if j % 2 else "image", -0.01 * (i * candidates + j))
            for j in range(candidates)
        ],
    }


def test_blender_publishes_samples_the_reader_reads_back(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory("blend-samples")
    start = int(time.time())
    s = sampler(kafka_bootstrap, topic, rate=1.0)
    with serve(create_app(PROVIDER, sampler=s)) as client:
        for i in range(20):
            assert client.post("/v1/blend", json=body(i)).status_code == 200
        wait_for(lambda: s.sent == 20, 30, "20 samples acknowledged")
        metrics = client.get("/metrics").text
    assert 'cd_blender_samples_total{result="sent"} 20.0' in metrics
    got = SamplesSource(kafka_bootstrap, topic, grace_seconds=0.5, timeout=20)(
        start, int(time.time()) + 1
    )
    assert sorted(got.by_group) == ["control", "new_group"]
    control, new = got.by_group["control"], got.by_group["new_group"]
    assert len(control) == len(new) == 10
    assert {x.policy for x in control} == {"control"} and {x.policy for x in new} == {"default"}
    assert {x.slots for x in control} == {3} and {x.slots for x in new} == {None}
    sent_scores = sorted(tuple(c["score"] for c in body(i)["candidates"]) for i in range(20))
    read_scores = sorted(tuple(x.scores.tolist()) for x in control + new)
    assert read_scores == sent_scores  # raw, before the constants
    assert control[0].types == ("image", "video", "image", "video", "image")


def _latencies(client: httpx.Client, rounds: int) -> list[float]:
    payload = body(1, candidates=200)
    out = []
    for _ in range(rounds):
        began = time.perf_counter()
        response = client.post("/v1/blend", json=payload)
        out.append(time.perf_counter() - began)
        assert response.status_code == 200, response.text
    return out


def test_a_dead_broker_neither_slows_nor_fails_a_blend() -> None:
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    off = sampler(dead, "homefeed.blend-samples", rate=0.0)
    on = sampler(dead, "homefeed.blend-samples", rate=1.0, stop_seconds=1.0)
    with (
        serve(create_app(PROVIDER, sampler=off)) as plain,
        serve(create_app(PROVIDER, sampler=on)) as sampling,
    ):
        base, dead_broker = [], []
        for _ in range(5):  # interleaved, so load from elsewhere hits both alike
            base += _latencies(plain, 70)
            dead_broker += _latencies(sampling, 70)
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 8  # the flush on stop is bounded
    # Not one blend waited for the broker (finding it out takes seconds) ...
    assert max(dead_broker) < 1.0, max(dead_broker)
    # ... and sampling every request costs the blend no time beyond noise. Loose on
    # purpose (a loaded CI machine): a blend waiting for the broker would take seconds.
    p50_base, p50_dead = statistics.median(base), statistics.median(dead_broker)
    assert p50_dead < p50_base * 2 + 0.002, (p50_base, p50_dead)
    # Every sample dropped, and counted: a sample the sender thread still held when
    # the bounded stop gave up is counted when that thread lets go of it.
    deadline = time.monotonic() + 10
    while on.dropped < 350 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert on.sent == 0 and on.dropped == 350
    assert off.sent == off.dropped == 0
