"""The controller's write, decided once (issue 13).

A step waits for counts, possibly for minutes; what it writes must still be
what an operator would expect at the moment of writing:

* targets are read at one version, and the write is checked against that
  version in the same multi-op: targets changed while the run waited make it
  recompute from the new ones, never publish a mix;
* the pause is checked in the same multi-op (a create-then-delete of the pause
  znode, which fails if the pause exists), so a pause issued while the run
  waited stops its write;
* a connection loss during the multi-op leaves the outcome unknown to the
  client: it is resolved by reading back the history entry named by the new
  generation, and the result (or :class:`OutcomeUnknownError`) says which.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from services.docstore import Read, read_paused, read_targets
from services.documents import ConstantsDocument, TargetsDocument, dump_document, parse_stored
from services.errors import (
    InvalidInputError,
    StoreError,
    StoreUnavailableError,
    VersionConflictError,
)
from services.ledger import HistoryEntry, Ledger, publish, read_ledger
from services.retry import Retry
from services.timebuckets import iso, parse_time
from services.zk import Check, Create, Delete, Op, ZkStore

log = logging.getLogger(__name__)

# Targets edited again and again while one run recomputes: give up rather than loop.
RECOMPUTE_ATTEMPTS = 3


@dataclass(frozen=True)
class RunResult:
    status: Literal["written", "unchanged", "paused", "dry_run"]
    message: str
    document: ConstantsDocument | None = None


class OutcomeUnknownError(StoreError):
    """The multi-op may or may not have committed, and reading back failed too (exit 3)."""


def read_policies(store: ZkStore) -> Read[TargetsDocument]:
    targets = read_targets(store)
    if not targets.doc.policies:
        raise InvalidInputError("targets", "no targets set (cdctl targets set POLICY TYPE=SHARE)")
    return targets


def guards(store: ZkStore, targets: Read[TargetsDocument]) -> list[Op]:
    """Ops that fail the multi-op if the targets moved or a pause appeared."""
    assert targets.node is not None  # read_policies refused an absent document
    paused = store.paths.paused
    return [
        Check(store.paths.targets, targets.node.version),
        # ZooKeeper has no "check absent": creating and deleting in one multi
        # fails exactly when the pause exists, and leaves nothing behind.
        Create(paused, b""),
        Delete(paused, 0),
    ]


def _done(store: ZkStore, end: int) -> bool:
    done = read_ledger(store).state.window_end
    return done is not None and parse_time(done, "controller state window_end") >= end


def decide_write(
    store: ZkStore, ledger: Ledger, end: int, build: Callable[[TargetsDocument], HistoryEntry]
) -> RunResult:
    """Publish the step ``build`` makes from the current targets, or say why not."""
    for _ in range(RECOMPUTE_ATTEMPTS):
        targets = read_policies(store)
        entry = build(targets.doc)
        try:
            publish(store, ledger, entry, guards(store, targets))
        except VersionConflictError:
            paused = read_paused(store)
            if paused is not None:
                return RunResult(
                    "paused",
                    f"paused since {paused.since} while this run waited: {paused.reason}; "
                    "nothing written",
                )
            if _done(store, end):
                return RunResult("unchanged", f"window ending {iso(end)} computed by another run")
            if read_targets(store).node == targets.node:
                raise
            log.info("targets changed while the run waited; recomputing from the new ones")
            continue
        except StoreUnavailableError as exc:
            return resolve_lost_commit(store, entry, end, exc)
        return RunResult(
            "written",
            f"generation {entry.generation} for window ending {iso(end)}",
            entry.constants,
        )
    raise VersionConflictError(
        f"targets changed {RECOMPUTE_ATTEMPTS} times while this run wrote; nothing written"
    )


def resolve_lost_commit(
    store: ZkStore,
    entry: HistoryEntry,
    end: int,
    lost: StoreUnavailableError,
    retry: Retry | None = None,
) -> RunResult:
    """Whether the multi-op that lost its connection committed, read back once reconnected.

    The history entry named by the new generation is created by the same
    multi-op as the constants, so finding it, byte for byte ours, proves the
    write; not finding it (same session, requests applied in order) proves
    there was none.
    """
    path = store.paths.history_entry(entry.generation)
    retry = retry or Retry(
        attempts=100, max_delay=1.0, deadline=2 * store.timeout, retry_on=(StoreUnavailableError,)
    )
    try:
        node = retry(lambda: store.read(path, timeout=store.timeout))
    except StoreError as exc:
        raise OutcomeUnknownError(
            f"connection to ZooKeeper lost while writing generation {entry.generation} "
            f"({lost}); reading {path} back failed too ({exc}): it may or may not be written, "
            "see `cdctl constants history`"
        ) from exc
    found = None if node is None else parse_stored(HistoryEntry, path, node.data)
    if found is not None and dump_document(found) == dump_document(entry):
        log.warning(
            "connection lost during the write; read back: generation %s written", entry.generation
        )
        return RunResult(
            "written",
            f"generation {entry.generation} for window ending {iso(end)} "
            "(confirmed by reading back after a connection loss)",
            entry.constants,
        )
    if found is not None and _done(store, end):
        return RunResult("unchanged", f"window ending {iso(end)} computed by another run")
    raise StoreUnavailableError(
        f"connection to ZooKeeper lost while writing generation {entry.generation}; "
        "read back after reconnecting: nothing was written"
    ) from lost
