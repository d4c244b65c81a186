"""The instance's ephemeral znode ``<root>/counters/<instance>`` (contract section 3).

Registered once the instance is ready, so a reader that finds a znode finds a
usable instance; re-created if a session loss removed it. A node left by this
instance's previous process (killed before its session expired) is replaced.
"""

from __future__ import annotations

import logging

from services.documents import CounterRegistration, dump_document
from services.errors import StoreError, VersionConflictError
from services.zk import ZkStore

log = logging.getLogger(__name__)


class Registration:
    def __init__(self, store: ZkStore, instance: str, url: str) -> None:
        self.store = store
        self.path = store.paths.counter(instance)
        self.data = dump_document(CounterRegistration(url=url))
        self.registered = False

    def ensure(self) -> None:
        """Create the znode if it is missing; errors are logged, retried on the next call."""
        if not self.store.connected:
            return
        try:
            current = self.store.read(self.path)
            if current is not None and self.registered and current.data == self.data:
                return
            if current is not None:
                self.store.delete(self.path, current.version)  # a dead session's leftover
            self.store.ensure(self.store.paths.counters)
            self.store.create(self.path, self.data, ephemeral=True)
            self.registered = True
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
            if current is not None:
                self.store.delete(self.path, current.version)
            log.info("deregistered %s", self.path)
        except StoreError as exc:
            log.warning("cannot deregister %s: %s", self.path, exc)
        self.registered = False
