"""A thin wrapper over kazoo: paths, digest auth and ACLs, version-checked writes.

Every write names the version it expects (``-1`` only where the contract makes
a node write-once by creation), so two writers can never overwrite each other
silently. kazoo's exceptions are translated into :mod:`services.errors` here
and nowhere else.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import (
    BadVersionError,
    ConnectionLoss,
    KazooException,
    LockTimeout,
    NoAuthError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    OperationTimeoutError,
    RolledBackError,
    SessionExpiredError,
)
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.retry import KazooRetry
from kazoo.security import ACL, OPEN_ACL_UNSAFE, make_acl, make_digest_acl

from services.errors import (
    AccessDeniedError,
    NotFoundError,
    StoreError,
    StoreUnavailableError,
    VersionConflictError,
)

if TYPE_CHECKING:
    from services.settings import CommonSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Paths:
    """The contract's znodes under the root, plus our internal ones."""

    root: str

    @property
    def targets(self) -> str:
        return f"{self.root}/targets"

    @property
    def constants(self) -> str:
        return f"{self.root}/constants"

    @property
    def paused(self) -> str:
        return f"{self.root}/paused"

    @property
    def counters(self) -> str:
        return f"{self.root}/counters"

    def counter(self, instance: str) -> str:
        return f"{self.counters}/{instance}"

    # Internal (contract: "anything else under the root is internal").
    @property
    def internal(self) -> str:
        return f"{self.root}/_internal"

    @property
    def controller_state(self) -> str:
        return f"{self.internal}/controller-state"

    @property
    def controller_lock(self) -> str:
        return f"{self.internal}/controller-lock"

    @property
    def last_run(self) -> str:
        return f"{self.internal}/last-run"

    @property
    def history(self) -> str:
        return f"{self.internal}/history"

    def history_entry(self, generation: int) -> str:
        return f"{self.history}/{generation:012d}"


@dataclass(frozen=True)
class Versioned:
    data: bytes
    version: int
    owner: int = 0  # the session owning an ephemeral node (ephemeralOwner), else 0


@dataclass(frozen=True)
class Create:
    path: str
    data: bytes
    ephemeral: bool = False


@dataclass(frozen=True)
class SetData:
    path: str
    data: bytes
    version: int


@dataclass(frozen=True)
class Check:
    path: str
    version: int


@dataclass(frozen=True)
class Delete:
    path: str
    version: int


Op = Create | SetData | Check | Delete


def acl_for(auth: str | None) -> list[ACL]:
    """Readable by all; writable only by the digest identity when one is configured."""
    if not auth:
        return list(OPEN_ACL_UNSAFE)
    user, _, password = auth.partition(":")
    return [make_digest_acl(user, password, all=True), make_acl("world", "anyone", read=True)]


def _translate(exc: Exception, path: str) -> StoreError:
    if isinstance(exc, NoNodeError):
        return NotFoundError(f"znode {path} does not exist")
    if isinstance(exc, NodeExistsError):
        return VersionConflictError(f"znode {path} already exists")
    if isinstance(exc, BadVersionError):
        return VersionConflictError(f"znode {path} changed since it was read")
    if isinstance(exc, NoAuthError):
        return AccessDeniedError(f"not allowed to write {path}: set CD_ZK_AUTH to the writer's")
    if isinstance(exc, NotEmptyError):
        return StoreError(f"znode {path} has children")
    if isinstance(
        exc, ConnectionLoss | SessionExpiredError | OperationTimeoutError | KazooTimeoutError
    ):
        return StoreUnavailableError(f"ZooKeeper unavailable while accessing {path}: {exc!r}")
    return StoreError(f"ZooKeeper error on {path}: {exc!r}")


@contextmanager
def translated(path: str) -> Iterator[None]:
    try:
        yield
    except (KazooException, KazooTimeoutError) as exc:
        raise _translate(exc, path) from exc


class ZkStore:
    """One ZooKeeper session. Construct, :meth:`start`, use, :meth:`stop`."""

    def __init__(
        self,
        hosts: str,
        root: str,
        *,
        auth: str | None = None,
        timeout: float = 10.0,
        client: KazooClient | None = None,
    ) -> None:
        self.paths = Paths(root)
        self.hosts = hosts
        self.timeout = timeout
        self.acl = acl_for(auth)
        auth_data = [("digest", auth)] if auth else None
        self.client = client or KazooClient(
            hosts=hosts,
            timeout=timeout,
            auth_data=auth_data,
            default_acl=self.acl,
            # Reconnect forever in the background; callers bound their own waits.
            connection_retry=KazooRetry(max_tries=-1, delay=0.2, max_delay=2.0),
            command_retry=KazooRetry(max_tries=3, delay=0.1, max_delay=1.0),
        )
        self._stopping = False
        self._was_connected = False
        self._waited_for_connection = False
        self.client.add_listener(self._on_state)

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> ZkStore:
        """The session a service's settings describe (built once at start-up)."""
        return cls(
            settings.zk_hosts,
            settings.zk_root,
            auth=settings.zk_auth,
            timeout=settings.zk_timeout_seconds,
        )

    def _on_state(self, state: str) -> None:
        # Listeners run on kazoo's event thread: log only, never block.
        if self._stopping:
            return
        if state == KazooState.SUSPENDED:
            log.warning("zookeeper connection suspended; session may still recover")
        elif state == KazooState.LOST:
            log.error("zookeeper session lost; ephemeral nodes and watches are gone")
        else:
            # A command's first connection (start() waited for it) is not news; a
            # server's background connection (start_async) and every later one are.
            first, self._was_connected = not self._was_connected, True
            quiet = first and self._waited_for_connection
            log.log(logging.DEBUG if quiet else logging.INFO, "zookeeper connected")

    def start(self, timeout: float | None = None) -> ZkStore:
        """Connect, or StoreUnavailableError naming the hosts and the time waited."""
        wait = timeout or self.timeout
        self._waited_for_connection = True
        try:
            self.client.start(timeout=wait)
        except KazooTimeoutError as exc:  # kazoo has stopped its own retries by now
            raise StoreUnavailableError(
                f"ZooKeeper not reachable at {self.hosts} within {wait:g} s "
                "(CD_ZK_HOSTS, CD_ZK_TIMEOUT_SECONDS)"
            ) from exc
        except KazooException as exc:
            raise _translate(exc, "/") from exc
        return self

    def start_async(self) -> None:
        """Begin connecting without waiting (a blender must serve while ZooKeeper is down)."""
        self.client.start_async()

    def stop(self) -> None:
        self._stopping = True
        try:
            self.client.stop()
            self.client.close()
        except KazooException:  # pragma: no cover - best effort on shutdown
            log.debug("error while closing zookeeper client", exc_info=True)

    def __enter__(self) -> ZkStore:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def connected(self) -> bool:
        return bool(self.client.connected)

    @property
    def session_id(self) -> int | None:
        """This session's id (what ZooKeeper stores as ``ephemeralOwner``), None if none yet."""
        client_id = self.client.client_id
        return int(client_id[0]) if client_id else None

    def read(
        self,
        path: str,
        watch: Callable[[Any], None] | None = None,
        *,
        timeout: float | None = None,
    ) -> Versioned | None:
        """The node's bytes and version, or None when it does not exist.

        With ``timeout``, StoreUnavailableError once it passes: kazoo queues a
        request made while disconnected until it reconnects, however long.
        """
        with translated(path):
            try:
                data, stat = self.client.get_async(path, watch=watch).get(timeout=timeout)
            except NoNodeError:
                return None
        return Versioned(data or b"", stat.version, stat.ephemeralOwner)

    def children(self, path: str) -> list[str]:
        with translated(path):
            try:
                return sorted(self.client.get_children(path))
            except NoNodeError:
                return []

    def ensure(self, path: str) -> None:
        with translated(path):
            self.client.ensure_path(path, acl=self.acl)

    def create(self, path: str, data: bytes, *, ephemeral: bool = False) -> None:
        with translated(path):
            self.client.create(path, data, acl=self.acl, ephemeral=ephemeral, makepath=True)

    def set(self, path: str, data: bytes, version: int) -> int:
        """Write only if the node is still at ``version``; return the new version."""
        with translated(path):
            stat = self.client.set(path, data, version=version)
        return int(stat.version)

    def delete(self, path: str, version: int) -> None:
        with translated(path):
            self.client.delete(path, version=version)

    def put(self, path: str, data: bytes, expected: Versioned | None) -> int:
        """Create when ``expected`` is None, else a version-checked set; the new version."""
        if expected is None:
            self.create(path, data)
            return 0
        return self.set(path, data, expected.version)

    @contextmanager
    def lock(self, path: str, identifier: str, timeout: float) -> Iterator[None]:
        """Hold kazoo's lock recipe at ``path``; StoreError if not acquired in time."""
        lock = self.client.Lock(path, identifier)
        with translated(path):
            try:
                acquired = lock.acquire(timeout=timeout)
            except LockTimeout as exc:
                raise StoreError(f"lock {path} still held after {timeout}s") from exc
        if not acquired:
            raise StoreError(f"lock {path} not acquired")
        try:
            yield
        finally:
            self._release(lock, path)

    def _release(self, lock: Any, path: str) -> None:
        """Release within the session timeout, never hang: kazoo's release waits for a
        connection without limit, and a caller must still be able to report its outcome.
        Left running, the release completes on reconnection, or the session's expiry
        removes the ephemeral lock node."""
        failure: list[Exception] = []

        def release() -> None:
            try:
                lock.release()
            except (KazooException, KazooTimeoutError) as exc:
                failure.append(exc)

        worker = threading.Thread(target=release, name="zk-lock-release", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive():
            log.warning("lock %s not released in %ss (ZooKeeper unreachable?)", path, self.timeout)
        elif failure:
            raise _translate(failure[0], path) from failure[0]

    def commit(self, ops: Sequence[Op]) -> None:
        """Apply all ops or none (a ZooKeeper multi); parents must already exist."""
        with translated(ops[0].path if ops else "/"):
            tx = self.client.transaction()
            for op in ops:
                if isinstance(op, Create):
                    tx.create(op.path, op.data, acl=self.acl, ephemeral=op.ephemeral)
                elif isinstance(op, SetData):
                    tx.set_data(op.path, op.data, version=op.version)
                elif isinstance(op, Check):
                    tx.check(op.path, op.version)
                else:
                    tx.delete(op.path, version=op.version)
            results = tx.commit()
        for op, result in zip(ops, results, strict=True):
            if isinstance(result, Exception) and not isinstance(result, RolledBackError):
                raise _translate(result, op.path) from result
