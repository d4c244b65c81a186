"""Wiring: topics, state (rebuilt when damaged), follower, processor, HTTP, registration.

Start-up order matters for exactness: the state is opened (or moved aside and
rebuilt when it cannot be trusted), the changelog is read through a fence on
every changelog partition, and only then does the instance join the consumer
group. ``/v1/counts`` answers 503 until that first fence is read, so a
restoring instance never serves low counts.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from confluent_kafka import Consumer, Producer

from counter_service.api import create_app
from counter_service.events import Validator
from counter_service.fetch_evidence import STATS_INTERVAL_MS, FetchEvidence
from counter_service.processor import Processor, Topics
from counter_service.progress import complete_through, lag
from counter_service.registry import Registration
from counter_service.restore import ChangelogFollower
from counter_service.state import CounterState, StateDamagedError
from services import kafka
from services.errors import UpstreamError
from services.settings import CounterSettings
from services.zk import ZkStore

log = logging.getLogger(__name__)

RESTORE_TIMEOUT = 600.0


def open_state(path: Path, meta: dict[str, Any], clock: Callable[[], float]) -> CounterState:
    """Open the local state; a damaged folder is moved aside and rebuilt from scratch."""
    try:
        return CounterState.open(path, meta)
    except StateDamagedError as exc:
        aside = path.with_name(f"{path.name}.damaged-{int(clock())}")
        log.error("local state unusable (%s); moving it to %s and rebuilding", exc, aside)
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
        self.http: uvicorn.Server | None = None
        self.registration: Registration | None = None

    # -- start-up -----------------------------------------------------------------
    def _ensure_topics(self) -> None:
        s = self.settings
        admin_parts = kafka.partitions_of(s.kafka_bootstrap, s.kafka_topic)
        kafka.ensure_topics(
            s.kafka_bootstrap,
            [
                kafka.TopicSpec(s.dlq_topic, admin_parts or 1, s.counter_topic_replication),
                kafka.TopicSpec(
                    s.changelog_topic,
                    s.counter_changelog_partitions,
                    s.counter_topic_replication,
                    {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"},
                ),
            ],
        )
        actual = kafka.partitions_of(s.kafka_bootstrap, s.changelog_topic)
        self.topics.changelog_partitions = actual or s.counter_changelog_partitions

    def start(self) -> None:
        s = self.settings
        self._ensure_topics()
        meta = {
            "source": s.kafka_topic,
            "changelog": s.changelog_topic,
            "bucket_seconds": s.counter_bucket_seconds,
        }
        self.state = open_state(s.counter_data_dir, meta, self.clock)
        producer = kafka.make_producer(kafka.producer_config(s.kafka_bootstrap))
        self.follower = self._make_follower(self.state, producer)
        self.processor = self._make_processor(self.follower, producer)
        self._start_http()
        self._start_registration()  # refuses a name clash before restoring or joining
        self.follower.start()
        self._restore()
        self.processor.subscribe()

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

    def _restore(self) -> None:
        assert self.follower is not None
        began = time.monotonic()
        waiter = self.follower.fence(set(range(self.topics.changelog_partitions)))
        self.follower.producer.flush(30.0)
        while not waiter.wait(1.0):
            if self.follower.failure is not None or self.stopping.is_set():
                raise UpstreamError("restore aborted") from self.follower.failure
            if time.monotonic() - began > RESTORE_TIMEOUT:
                raise UpstreamError(f"changelog not read to its end in {RESTORE_TIMEOUT}s")
        self._restored.set()
        log.info(
            "restored %d changelog records in %.2fs",
            self.follower.records_read,
            time.monotonic() - began,
        )

    def _start_http(self) -> None:
        s = self.settings
        config = uvicorn.Config(
            create_app(self),
            host=s.counter_host,
            port=s.counter_port,
            log_level="warning",
            ws="none",
            lifespan="off",
            access_log=False,
        )
        self.http = uvicorn.Server(config)
        # Not the main thread: uvicorn installs no signal handlers; SIGTERM stays ours.
        threading.Thread(target=self.http.run, name="http", daemon=True).start()

    def _start_registration(self) -> None:
        s = self.settings
        store = ZkStore.from_settings(s)
        store.start_async()
        self.registration = Registration(store, s.counter_instance, s.url)
        self.registration.check_clash(s.zk_timeout_seconds)

    # -- running ------------------------------------------------------------------
    def run(self) -> None:
        assert self.processor is not None and self.registration is not None
        last_check = 0.0
        while not self.stopping.is_set():
            self.processor.step()
            if time.monotonic() - last_check >= 0.5:
                last_check = time.monotonic()
                if self.ready()[0]:
                    self.registration.ensure()
                if self.follower is not None and self.follower.failure is not None:
                    raise UpstreamError("changelog follower failed") from self.follower.failure

    def stop(self) -> None:
        """Finish the batch, make our records applied, commit, leave the group, deregister."""
        if self.processor is not None:
            self.processor.finish()
        if self.registration is not None:
            self.registration.remove()
            self.registration.store.stop()
        if self.follower is not None:
            self.follower.stop()
        if self.http is not None:
            self.http.should_exit = True
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
        }
