"""The instance's ephemeral znode ``<root>/counters/<instance>`` (contract section 3).

Registered once the instance is ready, so a reader that finds a znode finds a
usable instance; re-created if a session loss removed it.

A znode is only ever deleted by the session that owns it (``ephemeralOwner``).
One owned by another session is either a live instance with the same name (a
clash: this one refuses to run, naming it) or, when it advertises this
instance's own address, which only this process can serve now, the leftover of
this instance's previous process killed before its session expired: it goes
when that session expires, and this instance registers then.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from services.documents import CounterRegistration, dump_document
from services.errors import CDError, StoreError, VersionConflictError
from services.zk import Versioned, ZkStore

log = logging.getLogger(__name__)


class RegistrationClashError(CDError):
    """Another live instance is registered under this instance's name."""


class Registration:
    def __init__(self, store: ZkStore, instance: str, url: str) -> None:
        self.store = store
        self.instance = instance
        self.path = store.paths.counter(instance)
        self.data = dump_document(CounterRegistration(url=url))
        self.registered = False
        self._waiting_logged = False

    def _ours(self, node: Versioned) -> bool:
        return node.owner != 0 and node.owner == self.store.session_id

    def _check(self, node: Versioned) -> None:
        if node.data != self.data:
            raise RegistrationClashError(
                f"another instance is registered as {self.instance!r} ({self.path} holds "
                f"{node.data.decode(errors='replace')[:200]}, ZooKeeper session "
                f"{node.owner:#x}): give each instance its own CD_COUNTER_INSTANCE"
            )

    def check_clash(self, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        """At start-up, before joining the group: refuse if the name is taken by another instance.

        Skipped (logged) when ZooKeeper is not reachable within ``timeout``;
        :meth:`ensure` checks again before registering.
        """
        deadline = clock() + timeout
        while not self.store.connected:
            if clock() >= deadline:
                log.warning("ZooKeeper not reachable: %s not checked for a clash yet", self.path)
                return
            time.sleep(0.05)
        try:
            current = self.store.read(self.path)
        except StoreError as exc:
            log.warning("cannot check %s for a clash: %s", self.path, exc)
            return
        if current is not None and not self._ours(current):
            self._check(current)

    def ensure(self) -> None:
        """Create the znode if it is missing; store errors are logged, retried on the next call.

        Raises :class:`RegistrationClashError` when another instance holds the name.
        """
        if not self.store.connected:
            return
        try:
            current = self.store.read(self.path)
            if current is not None and self._ours(current):
                self.registered = True
                return
            self.registered = False
            if current is not None:
                self._check(current)
                if not self._waiting_logged:
                    self._waiting_logged = True
                    log.info(
                        "%s was left by this instance's previous process (session %#x): "
                        "registering once that session expires",
                        self.path,
                        current.owner,
                    )
                return
            self.store.ensure(self.store.paths.counters)
            self.store.create(self.path, self.data, ephemeral=True)
            self.registered = True
            self._waiting_logged = False
            log.info("registered %s", self.path)
        except VersionConflictError:
            log.warning("registration race on %s; retrying", self.path)
        except StoreError as exc:
            log.warning("cannot register %s: %s", self.path, exc)

    def remove(self) -> None:
        if not self.registered:
            return
        try:
            current = self.store.read(self.path)
            if current is not None and self._ours(current):
                self.store.delete(self.path, current.version)
            log.info("deregistered %s", self.path)
        except StoreError as exc:
            log.warning("cannot deregister %s: %s", self.path, exc)
        self.registered = False
