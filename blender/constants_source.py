"""Where the blender's constants come from: ZooKeeper, else the local cache, else none.

The request path never waits on ZooKeeper: it reads one immutable
:class:`Snapshot` attribute, and the kazoo DataWatch callback replaces that
attribute when a new valid document arrives. Parsing a small document is the
only work done on kazoo's event thread; the cache write goes to a one-thread
executor, so neither ZooKeeper's callbacks nor the event loop serving requests
ever block on disk.

A document that fails validation (from ZooKeeper or from the cache) never
replaces good constants: it is logged and reported as ``last_error`` while the
last good snapshot stays in use. That is the fail-safe direction: stale but
sane constants are better than none or garbage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from kazoo.protocol.states import KazooState, ZnodeStat
from kazoo.recipe.watchers import DataWatch

from blender.cache import CacheError, ConstantsCache
from services import ledger
from services.documents import ConstantsDocument, PausedDocument, parse_stored
from services.errors import CDError, InvalidInputError
from services.intervals import Interval
from services.names import policy_for_group
from services.zk import ZkStore

log = logging.getLogger(__name__)
HISTORY_WINDOWS = 48  # two days of hourly windows on the status page

Source = Literal["zookeeper", "cache", "none"]
Clock = Callable[[], float]
EMPTY: Mapping[str, float] = {}


def parse_timestamp(value: str | None) -> float | None:
    """Epoch seconds of an ISO-8601 time with zone (``Z`` included), None if unusable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


@dataclass(frozen=True)
class HistoryPoint:
    """One type's measured share and target in one past window (for the status page)."""

    generation: int
    window_end: str
    policy: str
    type: str
    share: float
    target: Interval


@dataclass(frozen=True)
class Snapshot:
    """Everything a request needs about the constants, swapped as one object."""

    doc: ConstantsDocument | None = None
    source: Source = "none"
    # Ready: constants are known, or ZooKeeper answered (possibly "there are none").
    ready: bool = False
    computed_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    history: tuple[HistoryPoint, ...] = ()
    # <root>/paused as last seen: operators froze the controller (constants stay as they are).
    paused: PausedDocument | None = None

    @property
    def generation(self) -> int | None:
        return None if self.doc is None else self.doc.generation

    def policy_for(self, group: str | None) -> str:
        return policy_for_group(group, self.doc.policies if self.doc is not None else EMPTY)

    def constants_for(self, policy: str) -> Mapping[str, float]:
        return EMPTY if self.doc is None else self.doc.constants_for(policy)

    def age_seconds(self, now: float) -> float | None:
        return None if self.computed_at is None else now - self.computed_at

    def with_doc(self, doc: ConstantsDocument, source: Source) -> Snapshot:
        # A good document resolves whatever went wrong before, so the error goes.
        return replace(
            self,
            doc=doc,
            source=source,
            ready=True,
            computed_at=parse_timestamp(doc.computed_at),
            last_error=None,
            last_error_at=None,
        )

    def with_error(self, message: str, at: float) -> Snapshot:
        return replace(self, last_error=message, last_error_at=at)


class ConstantsProvider(Protocol):
    """What the app needs from a constants source (ZooKeeper-backed or fixed)."""

    def snapshot(self) -> Snapshot: ...

    @property
    def zookeeper_connected(self) -> bool | None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


class StaticConstants:
    """A fixed snapshot: for tools and tests that need no ZooKeeper."""

    def __init__(self, doc: ConstantsDocument | None, source: Source = "zookeeper") -> None:
        base = Snapshot(ready=True)
        self._snapshot = base if doc is None else base.with_doc(doc, source)

    def snapshot(self) -> Snapshot:
        return self._snapshot

    @property
    def zookeeper_connected(self) -> bool | None:
        return None

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None


class ZkConstantsSource:
    """Constants from a DataWatch on ``<root>/constants``, backed by a cache file."""

    def __init__(self, store: ZkStore, cache: ConstantsCache, clock: Clock = time.time) -> None:
        self._store = store
        self._cache = cache
        self._clock = clock
        self._snapshot = Snapshot()
        self._lock = threading.Lock()  # serialises read-modify-write of the snapshot
        self._writer: ThreadPoolExecutor | None = None
        self._cached_raw: bytes | None = None
        self._stopped = False
        self._connected = threading.Event()

    def snapshot(self) -> Snapshot:
        return self._snapshot

    @property
    def zookeeper_connected(self) -> bool | None:
        return self._store.connected

    def start(self) -> None:
        """Load the cache, then connect in the background; returns at once."""
        self._load_cache()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="blender-cache")
        self._store.client.add_listener(self._on_state)
        self._store.start_async()
        threading.Thread(target=self._install_watch, name="blender-watch", daemon=True).start()

    def stop(self) -> None:
        self._stopped = True
        self._store.stop()
        if self._writer is not None:
            self._writer.shutdown(wait=True)

    def _install_watch(self) -> None:
        """Set the DataWatch once connected; kazoo then keeps it armed.

        DataWatch reads the node synchronously, retrying with a backoff that grows
        to a minute. Started during an outage it would hold its lock through those
        sleeps and notice ZooKeeper's return up to a minute late, so it waits for
        the first connection instead. Afterwards kazoo re-reads the node on every
        reconnect, onto a fresh session after an expiry too, which re-arms the watch.
        """
        while not self._connected.wait(timeout=0.5):
            if self._stopped:
                return
        DataWatch(self._store.client, self._store.paths.constants, self._on_data)
        DataWatch(self._store.client, self._store.paths.paused, self._on_paused)

    def _load_cache(self) -> None:
        try:
            loaded = self._cache.load()
        except CacheError as exc:
            log.error("ignoring constants cache: %s", exc)
            self._record_error(f"cache: {exc}")
            return
        if loaded is None:
            log.info("no constants cache at %s", self._cache.path)
            return
        doc, raw = loaded
        self._cached_raw = raw
        log.info("serving constants generation %d from cache", doc.generation)
        self._update(lambda s: s.with_doc(doc, "cache"))

    def _update(self, change: Callable[[Snapshot], Snapshot]) -> None:
        with self._lock:
            self._snapshot = change(self._snapshot)

    def _record_error(self, message: str) -> None:
        at = self._clock()
        self._update(lambda s: s.with_error(message, at))

    def _on_state(self, state: str) -> None:
        # Listener on kazoo's thread: must not block. LOST also follows our own stop().
        if state == KazooState.CONNECTED:
            self._connected.set()
        elif state == KazooState.LOST and not self._stopped:
            log.warning("zookeeper session lost; serving the last constants until it is back")

    def _on_data(self, data: bytes | None, stat: ZnodeStat | None, *_: Any) -> bool | None:
        """DataWatch callback on kazoo's thread: validate, swap, hand the write off."""
        if self._stopped:
            return False  # tells kazoo to drop the watch
        if stat is None:
            self._on_absent()
            return None
        try:
            doc = parse_stored(ConstantsDocument, self._store.paths.constants, data)
        except InvalidInputError as exc:
            log.error("ignoring invalid constants document from zookeeper: %s", exc)
            message = f"zookeeper: {exc}"
            self._update(lambda s: replace(s.with_error(message, self._clock()), ready=True))
            return None
        assert data is not None  # parse_document refuses None
        log.info("constants generation %d in use", doc.generation)
        self._update(lambda s: s.with_doc(doc, "zookeeper"))
        self._write_cache(data)
        self._submit(self._load_history)
        return None

    def _on_paused(self, data: bytes | None, stat: ZnodeStat | None, *_: Any) -> bool | None:
        """DataWatch callback on kazoo's thread for ``<root>/paused``: parse and swap."""
        if self._stopped:
            return False
        if stat is None:
            self._update(lambda s: replace(s, paused=None))
            return None
        try:
            paused = parse_stored(PausedDocument, self._store.paths.paused, data)
        except InvalidInputError as exc:
            # Present but unreadable: the controller refuses to run on it, so say paused.
            log.error("unreadable pause document: %s", exc)
            paused = PausedDocument(reason=f"unreadable pause document: {exc}", since="unknown")
        self._update(lambda s: replace(s, paused=paused))
        return None

    def _on_absent(self) -> None:
        # Keep any constants we have: a missing node is far more likely a fresh or
        # misconfigured root than a deliberate "no control", and stale beats none.
        if self._snapshot.doc is not None:
            message = "zookeeper: constants znode absent; keeping the last good constants"
            log.warning("%s (generation %s)", message, self._snapshot.generation)
            self._record_error(message)
        self._update(lambda s: replace(s, ready=True))

    def _submit(self, job: Callable[..., None], *args: Any) -> None:
        """Run on the background thread: kazoo's thread must never block on I/O."""
        if self._writer is None:
            return
        try:
            self._writer.submit(job, *args)
        except RuntimeError:  # executor already shut down: we are stopping
            log.debug("background job skipped during shutdown")

    def _write_cache(self, raw: bytes) -> None:
        if raw == self._cached_raw:
            return
        self._cached_raw = raw
        self._submit(self._store_cache, raw)

    def _load_history(self) -> None:
        """The recent windows' shares for the status page's charts (best effort)."""
        try:
            entries = ledger.history(self._store, HISTORY_WINDOWS)
        except CDError as exc:
            log.warning("controller history not loaded: %s", exc)
            return
        points = tuple(
            HistoryPoint(
                e.generation, e.constants.window_end or "", policy, t, d.share, d.interval()
            )
            for e in reversed(entries)
            if e.kind == "step"
            for policy, types in e.constants.diagnostics.items()
            for t, d in types.items()
            if d.share is not None
        )
        self._update(lambda s: replace(s, history=points))

    def _store_cache(self, raw: bytes) -> None:
        try:
            # A document replaced meanwhile is not written: the newer one is queued.
            self._cache.store(raw, still_current=lambda: self._cached_raw == raw)
        except CacheError as exc:
            log.error("constants cache not updated: %s", exc)
            self._record_error(f"cache: {exc}")
            if self._cached_raw == raw:  # not on disk: the same document again must retry
                self._cached_raw = None
