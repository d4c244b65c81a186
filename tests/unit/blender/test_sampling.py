"""Blender sampling (contract section 10) with an in-memory sink: which requests are
taken, what the record holds, and that nothing on the blend path waits or fails."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from blender.app import create_app
from blender.constants_source import StaticConstants
from blender.request import BlendRequest, parse_blend_request
from blender.sampling import BlendSampler, SampleDroppedError, SampleSink, TokenBucket
from services.errors import InvalidInputError
from services.samples import decode_sample
from tests.unit.blender.helpers import cand, constants_doc, serve


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class MemorySink:
    """Delivers on ``poll``; ``refuse`` makes ``send`` fail, ``hold`` keeps deliveries back."""

    on_delivery: Callable[[bool], None]
    records: list[tuple[bytes, bytes, int]] = field(default_factory=list)
    queued: list[bool] = field(default_factory=list)
    refuse: bool = False
    hold: bool = False
    fail_delivery: bool = False

    def send(self, key: bytes, value: bytes, ts_ms: int) -> None:
        if self.refuse:
            raise SampleDroppedError("refused")
        self.records.append((key, value, ts_ms))
        self.queued.append(not self.fail_delivery)

    def poll(self) -> None:
        if self.hold:
            return
        while self.queued:
            self.on_delivery(self.queued.pop(0))

    def flush(self, timeout: float) -> int:
        self.poll()
        return len(self.queued)


def request(group: str | None = "control", limit: int | None = 2, **extra: Any) -> BlendRequest:
    body = {
        "experiment_group": group,
        "limit": limit,
        "candidates": [cand(1, "video", -1.5), cand(2, "image", -0.25), cand(3, "video", 0.5)],
        **extra,
    }
    if group is None:
        del body["experiment_group"]
    return parse_blend_request(orjson.dumps(body), max_candidates=100, default_space="log")


def make_sampler(
    *,
    rate: float = 1.0,
    per_second: float = 1000.0,
    draws: list[float] | None = None,
    queue_size: int = 100,
    monotonic: Clock | None = None,
    hold: bool = False,
) -> tuple[BlendSampler, list[MemorySink]]:
    sinks: list[MemorySink] = []

    def factory(on_delivery: Callable[[bool], None]) -> SampleSink:
        sinks.append(MemorySink(on_delivery, hold=hold))
        return sinks[-1]

    values = iter(draws) if draws is not None else None
    sampler = BlendSampler(
        rate=rate,
        per_second=per_second,
        sink_factory=factory,
        policy_of=lambda g: "control" if g == "control" else "default",
        queue_size=queue_size,
        stop_seconds=2.0,
        clock=lambda: 1_763_820_000.123,
        monotonic=monotonic or Clock(),
        draw=(lambda: next(values)) if values is not None else (lambda: 0.0),
    )
    return sampler, sinks


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def test_token_bucket_caps_per_second_and_refills() -> None:
    clock = Clock()
    bucket = TokenBucket(20, clock)
    assert sum(bucket.take() for _ in range(100)) == 20  # one second's burst
    clock.now += 0.5
    assert sum(bucket.take() for _ in range(100)) == 10
    clock.now += 10  # idle time does not bank more than one second
    assert sum(bucket.take() for _ in range(100)) == 20


def test_uniform_rate_takes_draws_below_it() -> None:
    sampler, sinks = make_sampler(rate=0.01, draws=[0.5, 0.0099, 0.01, 0.2, 0.0])
    sampler.start()
    for _ in range(5):
        sampler.offer(request())
    sampler.stop()
    assert len(sinks[0].records) == 2
    assert (sampler.sent, sampler.dropped) == (2, 0)


def test_cap_per_second_limits_samples_whatever_the_rate() -> None:
    clock = Clock()
    sampler, sinks = make_sampler(rate=1.0, per_second=20, monotonic=clock)
    sampler.start()
    for _ in range(200):
        sampler.offer(request())
    clock.now += 1.0
    for _ in range(200):
        sampler.offer(request())
    sampler.stop()
    assert len(sinks[0].records) == 40
    assert sampler.dropped == 0  # over the cap is "not sampled", not "dropped"


@pytest.mark.parametrize(("rate", "per_second"), [(0.0, 20.0), (0.5, 0.0)])
def test_zero_turns_sampling_off(rate: float, per_second: float) -> None:
    sampler, sinks = make_sampler(rate=rate, per_second=per_second)
    sampler.start()
    sampler.offer(request())
    sampler.stop()
    assert not sampler.enabled and sinks == []


def test_a_request_may_decide_its_own_sampling_and_time() -> None:
    clock = Clock()
    sampler, sinks = make_sampler(rate=0.5, per_second=1, draws=[0.0] * 10, monotonic=clock)
    sampler.start()
    sampler.offer(request(sample=False))  # a draw of 0 would take it
    for i in range(3):  # past the rate and the cap of 1 per second
        sampler.offer(request(sample=True, ts=1_700_000_000_000 + i))
    sampler.offer(request())  # the blender's own choice: the cap still holds for it
    sampler.offer(request())
    sampler.stop()
    stamps = [decode_sample(v).ts_ms for _, v, _ in sinks[0].records]
    assert stamps == [1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_002, 1_763_820_000_123]


def test_sampling_turned_off_ignores_the_request_flag() -> None:
    sampler, sinks = make_sampler(rate=0.0, queue_size=10)
    sampler.start()
    for _ in range(100):
        sampler.offer(request(sample=True))
    sampler.stop()
    assert sinks == [] and sampler.sent == sampler.dropped == 0  # nothing even queued


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"ts": -1}, "ts"), ({"ts": 1.5}, "ts"), ({"ts": 2**62}, "ts"), ({"sample": "yes"}, "sample")],
)
def test_bad_sample_fields_are_refused_naming_them(extra: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        request(**extra)
    assert info.value.field == field


def test_record_is_raw_scores_per_candidate_keyed_by_policy() -> None:
    sampler, sinks = make_sampler()
    sampler.start()
    sampler.offer(request("control", 2))
    sampler.offer(request(None, None))
    sampler.offer(request(limit=0))  # shows nothing: not a sample of anything shown
    sampler.stop()
    (k1, v1, ts1), (k2, v2, _) = sinks[0].records
    first, second = decode_sample(v1), decode_sample(v2)
    assert k1 == b"control" and first.policy == "control" and first.experiment_group == "control"
    assert ts1 == first.ts_ms == 1_763_820_000_123
    assert first.types == ("video", "image", "video") and first.slots == 2
    assert first.scores.tolist() == [-1.5, -0.25, 0.5] and first.score_space == "log"
    assert k2 == b"default" and second.experiment_group == "default" and second.slots is None


def test_sample_is_a_copy_of_the_scores() -> None:
    sampler, sinks = make_sampler()
    parsed = request()
    sampler.offer(parsed)
    parsed.scores[:] = 99.0  # whatever the blend path does with its arrays afterwards
    sampler.start()
    sampler.stop()
    assert decode_sample(sinks[0].records[0][1]).scores.tolist() == [-1.5, -0.25, 0.5]


def test_full_queue_drops_and_counts_without_waiting() -> None:
    sampler, _ = make_sampler(queue_size=3)  # not started: nobody drains the queue
    started = time.perf_counter()
    for _ in range(1000):
        sampler.offer(request())
    assert time.perf_counter() - started < 1.0
    assert sampler.dropped == 997 and sampler.sent == 0


def test_refused_and_undelivered_samples_are_dropped() -> None:
    sampler, sinks = make_sampler()
    sampler.start()
    sinks[0].refuse = True
    sampler.offer(request())
    wait_for(lambda: sampler.dropped == 1)
    sinks[0].refuse, sinks[0].fail_delivery = False, True
    sampler.offer(request())
    wait_for(lambda: sampler.dropped == 2)
    sampler.stop()
    assert sampler.sent == 0


def test_stop_flushes_what_is_queued_and_counts_the_undelivered() -> None:
    sampler, sinks = make_sampler(hold=True)  # the broker never acknowledges
    for _ in range(5):
        sampler.offer(request())  # queued before the sender runs
    sampler.start()
    sampler.stop()
    assert len(sinks[0].records) == 5
    assert (sampler.sent, sampler.dropped) == (0, 5)


def test_a_sample_the_sender_still_held_when_stop_gave_up_is_counted() -> None:
    """The thread is inside ``send`` (a topic check with the broker away) past the
    stop's bound: that sample is flushed or dropped, never lost uncounted."""
    sampler, sinks = make_sampler(hold=True)
    sampler.start()
    released = threading.Event()
    plain_send = sinks[0].send

    def slow_send(key: bytes, value: bytes, ts_ms: int) -> None:
        released.wait(10)
        plain_send(key, value, ts_ms)

    sinks[0].send = slow_send  # type: ignore[method-assign]
    sampler.offer(request())
    wait_for(sampler._pending.empty)  # the thread took it
    threading.Timer(2.5, released.set).start()  # longer than the stop's 2 s
    sampler.stop()
    assert (sampler.sent, sampler.dropped) == (0, 1)


def test_a_bug_in_encoding_does_not_stop_the_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.samples import encode_sample as real

    sampler, _sinks = make_sampler()
    calls = iter([True, False])
    monkeypatch.setattr(
        "blender.sampling.encode_sample",
        lambda s: (_ for _ in ()).throw(RuntimeError("bug")) if next(calls) else real(s),
    )
    sampler.start()
    sampler.offer(request())
    sampler.offer(request())
    wait_for(lambda: sampler.sent + sampler.dropped == 2)
    sampler.stop()
    assert (sampler.sent, sampler.dropped) == (1, 1)


@pytest.fixture
def sampled_app() -> Iterator[tuple[httpx.Client, BlendSampler, list[MemorySink]]]:
    doc = constants_doc({"default": {"video": 1.0}, "control": {"video": 2.0}})
    provider = StaticConstants(doc)
    sampler, sinks = make_sampler()
    with serve(create_app(provider, sampler=sampler)) as client:
        yield client, sampler, sinks


def test_blend_endpoint_samples_served_requests_and_exports_the_metric(
    sampled_app: tuple[httpx.Client, BlendSampler, list[MemorySink]],
) -> None:
    client, sampler, sinks = sampled_app
    body = {"experiment_group": "control", "candidates": [cand(1, "video", -1.0)]}
    assert client.post("/v1/blend", json=body).status_code == 200
    assert client.post("/v1/blend", json={"candidates": "no"}).status_code == 422
    wait_for(lambda: sampler.sent == 1)
    sample = decode_sample(sinks[0].records[0][1])
    assert sample.policy == "control" and sample.scores.tolist() == [-1.0]  # before constants
    metrics = client.get("/metrics").text
    assert 'cd_blender_samples_total{result="sent"} 1.0' in metrics
    assert 'cd_blender_samples_total{result="dropped"} 0.0' in metrics


def test_sender_runs_off_the_request_thread(
    sampled_app: tuple[httpx.Client, BlendSampler, list[MemorySink]],
) -> None:
    client, _sampler, sinks = sampled_app
    seen: list[str] = []
    original = sinks[0].send

    def slow_send(key: bytes, value: bytes, ts_ms: int) -> None:
        seen.append(threading.current_thread().name)
        time.sleep(0.5)
        original(key, value, ts_ms)

    sinks[0].send = slow_send  # type: ignore[method-assign]
    body = {"candidates": [cand(1, "video", float(x)) for x in np.arange(3)]}
    started = time.perf_counter()
    for _ in range(3):
        assert client.post("/v1/blend", json=body).status_code == 200
    assert time.perf_counter() - started < 0.5
    wait_for(lambda: len(seen) >= 1)
    assert seen[0] == "blend-samples"
