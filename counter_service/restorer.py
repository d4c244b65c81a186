"""Start-up restore (bounded by one snapshot) and the periodic snapshot that bounds it.

Restore, in this order (exactness of each step: changelog.py, snapshot.py):

1. produce a fence on every changelog partition; their acknowledged offsets
   are the log's true ends (``ends``), whatever the broker's marks say;
2. find the newest complete snapshot of this changelog (by topic id);
3. decide with :func:`recovery.plan`: replay from the folder's position, load
   the snapshot, rebuild a folder whose changelog is gone (moved aside, never
   deleted), or refuse;
4. start the follower at the resulting positions and wait until it has read
   the fences of step 1: the state then holds everything written before.

The snapshot writer (one instance at a time: the owner of source partition 0)
writes a snapshot every ``CD_COUNTER_SNAPSHOT_SECONDS``. Once a snapshot is
complete it deletes, where the broker supports DeleteRecords, what the
*previous* complete snapshot covers (changelog records below its positions,
snapshot records below its first chunk): two complete snapshots are always
kept, so an instance that lags by up to one period, or a restore that has just
chosen the previous snapshot, still finds everything it needs. The changelog
then stops growing with uptime. Tansu cannot delete records: there the log
grows in the broker's memory while restores stay bounded (logged once).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka.admin import AdminClient

from counter_service import recovery, topics
from counter_service.restore import ChangelogFollower, ChangelogGapError, Fence
from counter_service.snapshot import Footer, Snapshot, SnapshotStore
from counter_service.state import CounterState, StateDamagedError
from services.errors import UpstreamError
from services.timebuckets import floor_to

log = logging.getLogger(__name__)

FENCE_FLUSH_SECONDS = 30.0


@dataclass(frozen=True)
class RestoreReport:
    records_read: int  # snapshot records plus changelog records read before ready
    seconds: float
    from_snapshot: bool

    def to_json(self) -> dict[str, object]:
        return {
            "records_read": self.records_read,
            "seconds": round(self.seconds, 3),
            "from_snapshot": self.from_snapshot,
        }


def restore(
    follower: ChangelogFollower,
    snapshots: SnapshotStore,
    changelog_id: str,
    reopen: Callable[[str], CounterState],
    *,
    timeout: float,
    aborted: Callable[[], bool] = lambda: False,
) -> RestoreReport:
    """Bring ``follower.state`` to the changelog's end as of now; start the follower."""
    began = time.monotonic()
    cparts = set(range(follower.partitions))
    waiter = follower.fence(cparts, check_end=False)
    follower.producer.flush(FENCE_FLUSH_SECONDS)
    if set(waiter.offsets) != cparts:
        raise UpstreamError(f"kafka: fences to {follower.topic} not acknowledged")
    latest = snapshots.latest(changelog_id)
    lows = follower.lows()
    decision = _plan(follower, lows, waiter.offsets, latest)
    if decision.action == "rebuild":
        log.error(
            "%s: moving the local state aside and rebuilding from the broker", decision.reason
        )
        follower.state = reopen(decision.reason)
        decision = _plan(follower, lows, waiter.offsets, latest)
    if decision.action == "refuse":
        raise StateDamagedError(decision.reason)
    read = latest.records if latest is not None else 0
    if decision.action == "snapshot" and latest is not None:
        _load(follower.state, latest, snapshots.topic, decision.reason)
    follower.start()
    _read_through(follower, waiter, began, timeout, aborted)
    report = RestoreReport(
        read + follower.records_read, time.monotonic() - began, decision.action == "snapshot"
    )
    log.info(
        "restored: %d records read in %.2fs%s",
        report.records_read,
        report.seconds,
        " (from a snapshot)" if report.from_snapshot else "",
    )
    return report


def _load(state: CounterState, latest: Snapshot, topic: str, reason: str) -> None:
    state.load(latest.footer, latest.counts)
    log.info(
        "loaded snapshot %s (%d counts, taken %s ms) from %s: %s",
        latest.footer.snapshot,
        len(latest.counts),
        latest.footer.taken_ms,
        topic,
        reason,
    )


def _read_through(
    follower: ChangelogFollower,
    waiter: Fence,
    began: float,
    timeout: float,
    aborted: Callable[[], bool],
) -> None:
    """Wait until the follower has read every start-up fence: the state is then the
    changelog as of the moment the fences were produced."""
    while not waiter.wait(0.5):
        if isinstance(follower.failure, ChangelogGapError):
            raise follower.failure
        if follower.failure is not None or aborted():
            raise UpstreamError("restore aborted") from follower.failure
        if time.monotonic() - began > timeout:
            raise UpstreamError(f"changelog not read to its end in {timeout}s")


def _plan(
    follower: ChangelogFollower, lows: dict[int, int], ends: dict[int, int], latest: Snapshot | None
) -> recovery.Plan:
    positions = {c: follower.state.positions.get(c, 0) for c in range(follower.partitions)}
    snap = dict(latest.footer.positions) if latest is not None else None
    return recovery.plan(follower.topic, positions, lows, ends, snap)


class Snapshotter:
    """Writes a snapshot of ``state`` and trims what the previous one covers."""

    def __init__(
        self,
        state: Callable[[], CounterState],
        store: SnapshotStore,
        admin: AdminClient,
        changelog: topics.TopicInfo,
        *,
        retention_seconds: int,
        bucket_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state, self.store, self.admin, self.changelog = state, store, admin, changelog
        self.retention_seconds, self.bucket_seconds, self.clock = (
            retention_seconds,
            bucket_seconds,
            clock,
        )
        self.previous: tuple[Footer, int] | None = None
        self.can_delete = True
        self.taken = 0
        self.writing = False  # in /v1/status: the chaos soak kills instances mid-snapshot

    def take(self) -> Footer:
        cutoff = floor_to(int(self.clock()) - self.retention_seconds, self.bucket_seconds)
        self.writing = True
        try:
            footer, offset = self.store.write(
                self.state().contents(cutoff), self.changelog.topic_id, self.changelog.partitions
            )
        finally:
            self.writing = False
        self.taken += 1
        log.info(
            "snapshot %s written to %s@%d (%d chunks, changelog positions %s)",
            footer.snapshot,
            self.store.topic,
            offset,
            footer.chunks,
            footer.positions,
        )
        if self.previous is not None:
            self._trim(self.previous[0])
        self.previous = (footer, offset)
        return footer

    def _trim(self, covered: Footer) -> None:
        if not self.can_delete:
            return
        done = topics.delete_below(self.admin, self.changelog.name, covered.positions)
        done = done and topics.delete_below(self.admin, self.store.topic, {0: covered.first_offset})
        if not done:
            self.can_delete = False
            log.warning(
                "the broker cannot delete records (DeleteRecords unsupported, e.g. Tansu): "
                "%s keeps growing on the broker; restores stay bounded by the snapshots",
                self.changelog.name,
            )
