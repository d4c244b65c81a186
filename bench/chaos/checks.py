"""The pass criteria, each returning a :class:`Criterion` with a one-line reason.

(1) counts exact on both instances; (2) one generation per window, equal to
the clean run's; (3) the blender never failed, also while ZooKeeper was down,
and serves the final generation; (4) everything recovered by itself; plus a
check that the faults were really injected (a soak that killed nothing proves
nothing).
"""

from __future__ import annotations

import time
from collections import Counter

import httpx

from bench.chaos.blender_load import LoadRecord
from bench.chaos.cluster import Cluster
from bench.chaos.config import ChaosConfig, Criterion, Figures
from bench.chaos.controllers import one_per_window, read_history, same_as_clean
from bench.chaos.faults import CounterKiller, ZooKeeperChaos, recover
from bench.chaos.traffic import EventProducer
from counter_service import snapshot
from services.kafka import consumer_config, make_consumer, make_producer, producer_config
from services.local.process import http_ok
from tests.integration.counter_service.harness import Key


def recovery(cluster: Cluster, killer: CounterKiller, zk_chaos: ZooKeeperChaos) -> Criterion:
    """Nobody starts anything by hand: killed counters were restarted by the soak's own
    restart-after-kill, ZooKeeper by its restart; here we only wait and look."""
    problems = [*killer.errors, *zk_chaos.errors]
    try:
        recover(cluster.counters, 300)
    except AssertionError as exc:
        problems.append(str(exc).splitlines()[0])
    if not cluster.zk.running:
        problems.append("zookeeper is not running")
    if not http_ok(f"{cluster.blender_url}/readyz"):
        problems.append("blender not ready")
    detail = "; ".join(problems) or f"{len(cluster.counters)} counters, blender, zookeeper ready"
    return Criterion("4 recovers without a hand", not problems, detail)


def _diff(found: Counter[Key], expected: Counter[Key]) -> str:
    keys = {k for k in found.keys() | expected.keys() if found[k] != expected[k]}
    sample = sorted(keys)[:3]
    return f"{len(keys)} keys differ, e.g. " + ", ".join(
        f"{k}: {found[k]} != {expected[k]}" for k in sample
    )


def counts(cluster: Cluster, producer: EventProducer) -> Criterion:
    total, problems = producer.produced, []
    if producer.error is not None:
        problems.append(f"producer failed: {producer.error!r}")
    for counter in cluster.counters:
        try:
            counter.wait_counted(total, timeout=300)
            status, found = counter.status(), counter.counts()
        except (AssertionError, httpx.HTTPError) as exc:
            problems.append(f"{counter.instance}: {str(exc).splitlines()[0]}")
            continue
        if (status["events_counted"], status["events_rejected"]) != (total, 0):
            problems.append(
                f"{counter.instance}: counted {status['events_counted']}, "
                f"rejected {status['events_rejected']}, produced {total}"
            )
        if found != producer.expected:
            problems.append(f"{counter.instance}: {_diff(found, producer.expected)}")
    detail = "; ".join(problems) or (
        f"{total:,} events, {len(producer.expected):,} (group, minute, type) keys exact on "
        + ", ".join(c.instance for c in cluster.counters)
    )
    return Criterion("1 counts exact on every instance", not problems, detail)


def generations(cluster: Cluster, ends: list[int], figures: Figures) -> Criterion:
    d = cluster.deployment
    chaos = read_history(d.zk_hosts, d.zk_root)
    clean = read_history(d.zk_hosts, cluster.clean_root)
    figures.generations = len(chaos)
    problems = one_per_window(chaos, ends) + [
        f"clean run: {p}" for p in one_per_window(clean, ends)
    ]
    problems += same_as_clean(chaos, clean)
    last = chaos[-1].constants.policies if chaos else {}
    moved = {p: {t: round(u, 3) for t, u in c.items()} for p, c in last.items()}
    detail = "; ".join(problems) or (
        f"{len(chaos)} generations for {len(ends)} windows, each equal to the clean run's; "
        f"last constants {moved}"
    )
    return Criterion("2 one generation per window = clean run", not problems, detail)


def blender_generation(url: str) -> tuple[int | None, str | None]:
    try:
        doc = httpx.get(f"{url}/v1/constants", timeout=2.0).json()
    except (httpx.HTTPError, ValueError):
        return None, None
    return doc.get("generation"), doc.get("source")


def final_generation(
    url: str, expected: int, timeout: float = 30.0
) -> tuple[int | None, str | None]:
    """What the blender serves once it has had time (the contract says 1 s) to catch up."""
    deadline = time.monotonic() + timeout
    served = blender_generation(url)
    while served != (expected, "zookeeper") and time.monotonic() < deadline:
        time.sleep(0.2)
        served = blender_generation(url)
    return served


def _blender_figures(
    record: LoadRecord, downtimes: list[tuple[float, float]], figures: Figures
) -> list[int]:
    """Fill the figures; return the status codes of the requests sent while ZooKeeper was down."""
    statuses = record.statuses()
    figures.blender_requests = len(record.samples)
    figures.blender_errors = sum(n for code, n in statuses.items() if code != 200)
    figures.blender_status = {str(code or "conn-error"): n for code, n in sorted(statuses.items())}
    figures.blender_p50_ms = round(record.percentile_ms(0.50), 2)
    figures.blender_p99_ms = round(record.percentile_ms(0.99), 2)
    down = [s.status for start, end in downtimes for s in record.during(start, end)]
    figures.requests_zk_down = len(down)
    figures.errors_zk_down = sum(code != 200 for code in down)
    return down


def blender(
    record: LoadRecord,
    downtimes: list[tuple[float, float]],
    served: tuple[int | None, str | None],
    figures: Figures,
) -> Criterion:
    down = _blender_figures(record, downtimes, figures)
    problems = []
    if not record.samples or figures.blender_errors:
        problems.append(f"{figures.blender_requests} requests, statuses {figures.blender_status}")
    if record.errors:
        problems.append(f"connection errors {dict(record.errors)}")
    if downtimes and not down:
        problems.append("no request was answered while zookeeper was down")
    if served[0] != figures.generations or served[1] != "zookeeper":
        problems.append(f"serves generation {served[0]} from {served[1]}")
    detail = "; ".join(problems) or (
        f"{figures.blender_requests:,} requests all 200 ({len(down)} while zookeeper was down), "
        f"serves generation {served[0]} from zookeeper"
    )
    return Criterion("3 blender never failed", not problems, detail)


def snapshots(cluster: Cluster, config: ChaosConfig, figures: Figures) -> Criterion:
    """The snapshot path was in play: snapshots written (some cut short by a kill, which
    criterion 1 shows cost nothing), and a restart restored from one."""
    topic = f"{cluster.deployment.topic}.counter-changelog.snapshots"
    chunks: set[str] = set()
    footers: set[str] = set()
    bootstrap = cluster.deployment.bootstrap
    # Up to a probe's offset: the counters keep writing snapshots while we read.
    end = snapshot.SnapshotStore(
        bootstrap, topic, make_producer(producer_config(bootstrap)), "chaos"
    ).end()
    consumer = make_consumer(consumer_config(bootstrap, "chaos-snapshots"))
    try:
        records = snapshot.read_range(consumer, topic, 0, end, timeout=120)
    finally:
        consumer.close()
    for _, record in records:
        if isinstance(record, snapshot.Chunk):
            chunks.add(record.snapshot)
        elif isinstance(record, snapshot.Footer):
            footers.add(record.snapshot)
    figures.snapshots_complete, figures.snapshots_cut = len(footers), len(chunks - footers)
    figures.restores_from_snapshot = sum(
        c.server.log_path.read_text().count("loaded snapshot") for c in cluster.counters
    )
    problems = []
    if not footers:
        problems.append("no complete snapshot")
    if figures.kills_during_snapshot < config.snapshot_kills:
        problems.append(
            f"{figures.kills_during_snapshot} kills during a snapshot < {config.snapshot_kills}"
        )
    if figures.counter_wipes and not figures.restores_from_snapshot:
        problems.append("no restart restored from a snapshot")
    detail = "; ".join(problems) or (
        f"{len(footers)} complete, {figures.kills_during_snapshot} kills while one was "
        f"written, {len(chunks - footers)} left without a footer, "
        f"{figures.restores_from_snapshot} restores from a snapshot"
    )
    return Criterion("snapshot path in play", not problems, detail)


def faults(config: ChaosConfig, figures: Figures) -> Criterion:
    problems = []
    if figures.counter_kills < config.kills:
        problems.append(f"{figures.counter_kills} counter kills < {config.kills} planned")
    if config.wipe_once and figures.counter_wipes < 1:
        problems.append("no kill deleted a data folder")
    if figures.zk_restarts < config.zk_restarts:
        problems.append(f"{figures.zk_restarts} zookeeper restarts < {config.zk_restarts}")
    if config.racing_controllers > 1 and figures.controllers_killed < 1:
        problems.append("no controller run was killed")
    detail = "; ".join(problems) or (
        f"{figures.counter_kills} counter kills ({figures.counter_wipes} wiped), "
        f"{figures.zk_restarts} zookeeper restarts, {figures.controllers_killed} controllers killed"
    )
    return Criterion("faults injected as planned", not problems, detail)
