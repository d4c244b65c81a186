"""Wiring: topics, state (rebuilt when damaged), follower, processor, HTTP, registration.

Start-up order matters for exactness: the state is opened (or moved aside and
rebuilt when it cannot be trusted), the internal topics are checked
(topics.py), the state is restored (restorer.py: from a snapshot when that
saves work, rebuilt when its changelog is gone) and read through a fence on
every changelog partition, and only then does the instance join the consumer
group. ``/v1/counts`` answers 503 until that first fence is read, so a
restoring instance never serves low counts. The owner of source partition 0
writes a snapshot every ``CD_COUNTER_SNAPSHOT_SECONDS`` in a thread of its own.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from counter_service import topics
from counter_service.api import create_app
from counter_service.events import Validator
from counter_service.fetch_evidence import STATS_INTERVAL_MS, FetchEvidence
from counter_service.http_thread import HttpThread
from counter_service.processor import Processor, Topics
from counter_service.progress import complete_through, lag
from counter_service.registry import Registration
from counter_service.restore import ChangelogFollower, ChangelogGapError
from counter_service.restorer import RestoreReport, Snapshotter, restore
from counter_service.snapshot import SnapshotStore
from counter_service.state import CounterState, StateDamagedError
from services import kafka
from services.errors import UpstreamError
from services.settings import CounterSettings
from services.zk import ZkStore

log = logging.getLogger(__name__)

RESTORE_TIMEOUT = 600.0
# Allocations between young collections (Python's default is 700); see settle_heap.
GC_YOUNG_THRESHOLD = 10_000


def settle_heap() -> None:
    """Keep the collector off the consume loop's back.

    The loop allocates a batch of messages and results at a time and frees them
    by reference counting: they hold no cycles. With Python's defaults, batches
    still alive at a young collection were promoted and set off full
    collections, each walking every object left from start-up and restore and
    finding nothing; on the benchmark these took a fifth of the run, more with
    bad events. Freezing what exists once running, and collecting the young
    generation less often, leaves cycles collected but walks far less.
    """
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)


def open_state(path: Path, meta: dict[str, Any], clock: Callable[[], float]) -> CounterState:
    """Open the local state; a damaged folder is moved aside and rebuilt from scratch."""
    try:
        return CounterState.open(path, meta)
    except StateDamagedError as exc:
        return move_aside(path, meta, clock, str(exc))


def move_aside(
    path: Path, meta: dict[str, Any], clock: Callable[[], float], reason: str
) -> CounterState:
    """Keep an unusable folder for the operator (never delete counts) and start a fresh one."""
    aside = path.with_name(f"{path.name}.damaged-{int(clock())}")
    log.error("local state unusable (%s); moving it to %s and rebuilding", reason, aside)
    path.rename(aside)
    return CounterState.open(path, meta)


class CounterService:
    def __init__(self, settings: CounterSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.bucket_seconds = settings.counter_bucket_seconds
        self.writer = f"{settings.counter_instance}/{uuid.uuid4().hex[:12]}"
        self.stopping = threading.Event()
        self._restored = threading.Event()
        self._complete: int | None = None
        self.topics = Topics(
            settings.kafka_topic,
            settings.dlq_topic,
            settings.changelog_topic,
            settings.counter_changelog_partitions,
        )
        self.state: CounterState | None = None
        self.follower: ChangelogFollower | None = None
        self.processor: Processor | None = None
        self.http: HttpThread | None = None
        self.registration: Registration | None = None
        self.restore_report: RestoreReport | None = None
        self.snapshotter: Snapshotter | None = None
        self._snapshotting: threading.Thread | None = None
        self._last_snapshot = time.monotonic()

    # -- start-up -----------------------------------------------------------------
    def _ensure_topics(self, admin: AdminClient) -> topics.TopicInfo:
        """Create what is missing, then check what exists: refuse what exactness cannot use."""
        s = self.settings
        admin_parts = kafka.partitions_of(s.kafka_bootstrap, s.kafka_topic)
        kafka.ensure_topics(
            s.kafka_bootstrap,
            [
                kafka.TopicSpec(s.dlq_topic, admin_parts or 1, s.counter_topic_replication),
                *topics.specs(
                    s.changelog_topic,
                    s.snapshot_topic,
                    s.counter_changelog_partitions,
                    s.counter_topic_replication,
                ),
            ],
        )
        for name in (s.changelog_topic, s.snapshot_topic):
            topics.check_configs(name, topics.configs(admin, name))
        snapshots = topics.describe(admin, s.snapshot_topic)
        topics.check_partitions(s.snapshot_topic, snapshots.partitions, 1, "the counter")
        self.topics.dlq_partitions = topics.describe(admin, s.dlq_topic).partitions
        info = topics.describe(admin, s.changelog_topic)
        self.topics.changelog_partitions = info.partitions
        return info

    def start(self) -> None:
        s = self.settings
        admin = AdminClient({"bootstrap.servers": s.kafka_bootstrap})
        changelog = self._ensure_topics(admin)
        self.state = open_state(s.counter_data_dir, self._meta(), self.clock)
        topics.check_partitions(
            s.changelog_topic,
            changelog.partitions,
            self.state.changelog_partitions(),
            f"the local state in {s.counter_data_dir}",
        )
        producer = kafka.make_producer(kafka.producer_config(s.kafka_bootstrap))
        self.follower = self._make_follower(self.state, producer)
        self.processor = self._make_processor(self.follower, producer)
        store = SnapshotStore(s.kafka_bootstrap, s.snapshot_topic, producer, self.writer)
        self._start_http()
        self._start_registration()  # refuses a name clash before restoring or joining
        self._restore(store, changelog)
        self.state = self.follower.state  # replaced if its changelog was gone
        self.state.set_changelog_partitions(changelog.partitions)
        self.snapshotter = Snapshotter(
            lambda: self.follower.state,  # type: ignore[union-attr]
            store,
            admin,
            changelog,
            retention_seconds=s.counter_retention_hours * 3600,
            bucket_seconds=s.counter_bucket_seconds,
            clock=self.clock,
        )
        self.processor.subscribe()

    def _meta(self) -> dict[str, Any]:
        s = self.settings
        return {
            "source": s.kafka_topic,
            "changelog": s.changelog_topic,
            "bucket_seconds": s.counter_bucket_seconds,
        }

    def _consumer(self, group: str, extra: dict[str, Any]) -> Consumer:
        s = self.settings
        fetch = {"fetch.queue.backoff.ms": s.counter_fetch_backoff_ms}
        return kafka.make_consumer(
            kafka.consumer_config(s.kafka_bootstrap, group, {**fetch, **extra})
        )

    def _make_follower(self, state: CounterState, producer: Producer) -> ChangelogFollower:
        s = self.settings
        follower = ChangelogFollower(
            state,
            self._consumer(f"{s.counter_group_id}.follower", {}),  # assign() only, never joins
            producer,
            s.changelog_topic,
            self.topics.changelog_partitions,
            self.writer,
            retention_seconds=s.counter_retention_hours * 3600,
            bucket_seconds=s.counter_bucket_seconds,
            clock=self.clock,
        )
        follower.source = s.kafka_topic
        return follower

    def _make_processor(self, follower: ChangelogFollower, producer: Producer) -> Processor:
        s = self.settings
        evidence = FetchEvidence(s.kafka_topic, self.clock)
        stats = {"statistics.interval.ms": STATS_INTERVAL_MS, "stats_cb": evidence.on_stats}
        return Processor(
            self._consumer(s.counter_group_id, {"client.id": s.counter_instance, **stats}),
            producer,
            follower,
            Validator(s.counter_bucket_seconds, s.counter_retention_hours * 3600 * 1000),
            self.topics,
            self.writer,
            s.counter_batch_size,
            clock=self.clock,
            stopping=self.stopping,
            evidence=evidence,
        )

    def _restore(self, store: SnapshotStore, changelog: topics.TopicInfo) -> None:
        assert self.follower is not None and self.state is not None
        path, meta = self.settings.counter_data_dir, self._meta()

        def reopen(reason: str) -> CounterState:
            assert self.state is not None
            self.state.close()
            self.state = move_aside(path, meta, self.clock, reason)
            return self.state

        self.restore_report = restore(
            self.follower,
            store,
            changelog.topic_id,
            reopen,
            timeout=RESTORE_TIMEOUT,
            aborted=self.stopping.is_set,
        )
        self._restored.set()

    def _maybe_snapshot(self) -> None:
        """The owner of source partition 0 snapshots every period, off the consume loop."""
        assert self.processor is not None
        period = self.settings.counter_snapshot_seconds
        busy = self._snapshotting is not None and self._snapshotting.is_alive()
        if busy or time.monotonic() - self._last_snapshot < period:
            return
        self._last_snapshot = time.monotonic()
        if 0 not in self.processor.owned or not self.ready()[0] or self.snapshotter is None:
            return
        self._snapshotting = threading.Thread(
            target=self._snapshot, args=(self.snapshotter,), name="snapshot", daemon=True
        )
        self._snapshotting.start()

    @staticmethod
    def _snapshot(snapshotter: Snapshotter) -> None:
        try:
            snapshotter.take()
        except Exception:  # the next period tries again; a half-written snapshot is ignored
            log.exception("writing a snapshot failed")

    def _start_http(self) -> None:
        s = self.settings
        self.http = HttpThread(create_app(self), s.counter_host, s.counter_port)
        self.http.start()

    def _start_registration(self) -> None:
        s = self.settings
        store = ZkStore.from_settings(s)
        store.start_async()
        self.registration = Registration(store, s.counter_instance, s.url)
        self.registration.check_clash(s.zk_timeout_seconds)

    # -- running ------------------------------------------------------------------
    def run(self) -> None:
        assert self.processor is not None and self.registration is not None
        settle_heap()
        last_check = 0.0
        while not self.stopping.is_set():
            self.processor.step()
            if time.monotonic() - last_check >= 0.5:
                last_check = time.monotonic()
                if self.ready()[0]:
                    self.registration.ensure()
                self._maybe_snapshot()
                failure = self.follower.failure if self.follower is not None else None
                if isinstance(failure, ChangelogGapError):
                    raise failure
                if failure is not None:
                    raise UpstreamError("changelog follower failed") from failure

    def stop(self) -> None:
        """Finish the batch, make our records applied, commit, leave the group, deregister."""
        if self.processor is not None:
            self.processor.finish()
        if self.registration is not None:
            self.registration.remove()
            self.registration.store.stop()
        if self.follower is not None:
            self.follower.stop()
        if self._snapshotting is not None:
            self._snapshotting.join(10.0)  # it reads the state we are about to close
        if self.http is not None:
            self.http.stop()
        if self.state is not None:
            self.state.close()

    # -- CounterView --------------------------------------------------------------
    def restored(self) -> bool:
        return self._restored.is_set()

    def healthy(self) -> tuple[bool, str]:
        if self.follower is not None and self.follower.failure is not None:
            return False, f"changelog follower failed: {self.follower.failure}"
        return True, ""

    def ready(self) -> tuple[bool, str]:
        ok, reason = self.healthy()
        if not ok:
            return ok, reason
        if not self.restored():
            return False, "restoring state from the changelog"
        if self.processor is None or not self.processor.assigned:
            return False, "waiting for a partition assignment"
        if self.stopping.is_set():
            return False, "stopping"
        return True, ""

    def complete_through(self) -> int | None:
        assert self.state is not None and self.follower is not None
        value = complete_through(
            dict(self.state.partitions),
            len(self.follower.source_highs),
            self.settings.counter_allowed_lateness_seconds,
            int(self.clock() * 1000),
        )
        if value is not None and (self._complete is None or value > self._complete):
            self._complete = value
        return self._complete

    def groups(self) -> list[str]:
        assert self.state is not None
        return self.state.groups()

    def counts(
        self, groups: list[str], start: int, end: int
    ) -> dict[str, list[tuple[int, str, int]]]:
        assert self.state is not None
        return self.state.counts(groups, start, end)

    def status(self) -> dict[str, Any]:
        assert self.state is not None and self.follower is not None and self.processor is not None
        state, highs = self.state, dict(self.follower.source_highs)
        parts = [
            {
                "topic": self.topics.source,
                "partition": p,
                "offset": state.next_offset(p),
                "lag": lag(high, state.next_offset(p)),
                "owned": p in self.processor.owned,
            }
            for p, high in sorted(highs.items())
        ]
        last = max((part.max_ts for part in dict(state.partitions).values()), default=-1)
        return {
            "instance": self.settings.counter_instance,
            "ready": self.ready()[0],
            "events_counted": state.counted,
            "events_rejected": state.rejected,
            "lag": sum(p["lag"] for p in parts),
            "partitions": parts,
            "last_event_ts": last if last >= 0 else None,
            "complete_through": self.complete_through(),
            "changelog_records_read": self.follower.records_read,
            "changelog_records_skipped": self.follower.records_skipped,
            "changelog_gaps": self.follower.gaps,
            "restore": self.restore_report.to_json() if self.restore_report else None,
            "snapshots_written": self.snapshotter.taken if self.snapshotter else 0,
            "snapshot_in_progress": bool(self.snapshotter and self.snapshotter.writing),
        }
