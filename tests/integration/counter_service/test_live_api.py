"""One real counter-service process: exact counts from two clients, the API, dead letters."""

from __future__ import annotations

import time

import httpx
import orjson

from counter_service import events
from services.kafka import TopicSpec, ensure_topics
from services.zk import ZkStore
from tests.integration.counter_service.conftest import PARTITIONS, CounterFactory
from tests.integration.counter_service.harness import (
    Deployment,
    encode,
    expected_counts,
    kcat_produce,
    make_events,
    produce,
    read_topic,
)


def test_counts_from_kcat_and_confluent_are_exact(
    deployment: Deployment, counters: CounterFactory, store: ZkStore
) -> None:
    counter = counters("a")
    counter.start()
    now = int(time.time() * 1000)
    by_kcat, by_confluent = make_events(1500, now, seed=1), make_events(2500, now, seed=2)
    kcat_produce(deployment.bootstrap, deployment.topic, encode(by_kcat))
    produce(deployment.bootstrap, deployment.topic, encode(by_confluent))
    counter.wait_counted(4000)
    expected = expected_counts(by_kcat + by_confluent)
    assert counter.counts() == expected
    assert counter.counts(["control"]) == {k: v for k, v in expected.items() if k[0] == "control"}

    groups = counter.get("/v1/groups").json()["groups"]
    assert groups == sorted({k[0] for k in expected})

    # Hourly buckets are sums of the stored minutes, aligned to the hour, ascending.
    start, end = (now // 3_600_000 - 2) * 3600, (now // 3_600_000 + 1) * 3600
    hourly = counter.get("/v1/counts", start=start, end=end, group="video_heavy").json()
    assert hourly["bucket_seconds"] == 3600
    rows = hourly["groups"]["video_heavy"]
    assert [r["start"] % 3600 for r in rows] == [0] * len(rows)
    assert [r["start"] for r in rows] == sorted(r["start"] for r in rows)
    assert sum(r["total"] for r in rows) == sum(
        n for k, n in expected.items() if k[0] == "video_heavy"
    )

    status = counter.status()
    assert status["events_counted"] == 4000 and status["events_rejected"] == 0
    assert len(status["partitions"]) == PARTITIONS
    assert sum(p["offset"] for p in status["partitions"]) == 4000
    assert status["last_event_ts"] == max(e["ts"] for e in by_kcat + by_confluent)
    assert status["complete_through"] is not None
    metrics = counter.get("/metrics").text
    assert 'cd_counter_events_total{result="counted"} 4000.0' in metrics
    assert "cd_counter_lag " in metrics
    assert counter.get("/healthz").status_code == 200

    # Registered with its URL once ready.
    deadline = time.monotonic() + 5
    while (node := store.read(store.paths.counter("a"))) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert node is not None and orjson.loads(node.data) == {"url": counter.url}


def test_complete_through_reaches_now_when_idle(
    deployment: Deployment, counters: CounterFactory
) -> None:
    counter = counters("a")
    counter.start()
    produce(
        deployment.bootstrap, deployment.topic, encode(make_events(100, int(time.time() * 1000)))
    )
    counter.wait_counted(100)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        through = counter.get("/v1/counts", start=0, end=60).json()["complete_through"]
        if through is not None and through >= time.time() - 15:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"complete_through stuck at {through}")
    assert through <= time.time()


BAD = {
    events.BAD_JSON: b"{oops",
    events.NOT_OBJECT: b"[1, 2, 3]",
    events.MISSING_FIELD: b'{"content_type": "video"}',
    events.MISTYPED_FIELD: b'{"ts": "yesterday", "content_type": "video"}',
    events.BAD_NAME: b'{"ts": %d, "content_type": "Video!"}',
    events.TOO_OLD: b'{"ts": 1000, "content_type": "video"}',
    events.TOO_FAR_IN_FUTURE: b'{"ts": %d, "content_type": "video"}',
}


DLQ_PARTITIONS = 3


def test_each_bad_message_goes_unchanged_to_the_dead_letter_topic(
    deployment: Deployment, counters: CounterFactory
) -> None:
    # Fewer dead-letter partitions than source ones: letters cannot land where a
    # key would put them in the source topic by chance.
    ensure_topics(deployment.bootstrap, [TopicSpec(deployment.dlq, DLQ_PARTITIONS)])
    counter = counters("a")
    counter.start()
    now = int(time.time() * 1000)
    values = {
        reason: value % (now + 3_600_000 if reason == events.TOO_FAR_IN_FUTURE else now)
        if b"%d" in value
        else value
        for reason, value in BAD.items()
    }
    good = make_events(50, now)
    produce(deployment.bootstrap, deployment.topic, [*values.values(), *encode(good)])
    counter.wait_counted(50, rejected=len(values))
    status = counter.status()
    assert (status["events_counted"], status["events_rejected"]) == (50, len(values))
    assert counter.counts() == expected_counts(good)

    letters = read_topic(deployment.bootstrap, deployment.dlq, DLQ_PARTITIONS)
    stamped = {
        (m.partition(), m.offset()): m.timestamp()[1]
        for m in read_topic(deployment.bootstrap, deployment.topic, PARTITIONS)
    }
    by_reason = {dict(m.headers())["cd-error"].decode(): m for m in letters}
    assert set(by_reason) == set(values)
    for reason, msg in by_reason.items():
        headers = dict(msg.headers())
        assert msg.value() == values[reason]
        assert msg.key() is not None  # the original key is kept
        topic, partition, offset = headers["cd-source"].decode().rsplit("/", 2)
        assert topic == deployment.topic and 0 <= int(partition) < PARTITIONS
        # a source partition's letters share one dead-letter partition, in source order
        assert msg.partition() == int(partition) % DLQ_PARTITIONS
        assert int(offset) >= 0
        assert msg.timestamp()[1] == stamped[(int(partition), int(offset))]  # unchanged too
        assert headers["cd-error-detail"]
    sources = [dict(m.headers())["cd-source"] for m in letters]
    assert len(set(sources)) == len(values)


def test_registration_follows_the_process(
    deployment: Deployment, counters: CounterFactory, store: ZkStore
) -> None:
    deployment.extra["CD_ZK_TIMEOUT_SECONDS"] = "3"
    counter = counters("reg")
    path = store.paths.counter("reg")
    counter.start()
    deadline = time.monotonic() + 10
    while store.read(path) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert store.read(path) is not None
    counter.stop()  # SIGTERM: deregisters
    assert counter.server.proc is not None and counter.server.proc.returncode == 0
    assert store.read(path) is None

    counter.start()
    while store.read(path) is None and time.monotonic() < deadline + 20:
        time.sleep(0.1)
    assert store.read(path) is not None
    counter.kill()  # kill -9: the ephemeral node goes with the session
    deadline = time.monotonic() + 15
    while store.read(path) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert store.read(path) is None
    try:
        httpx.get(f"{counter.url}/healthz", timeout=1)
        raise AssertionError("still serving after kill -9")
    except httpx.HTTPError:
        pass
