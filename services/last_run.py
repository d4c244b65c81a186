"""The controller's last run, as ``cdctl controller status`` reports it.

Every ``pid-controller run`` (and every step of ``schedule``) records when it ran
and how it ended (``written``, ``unchanged``, ``paused`` or ``failed``, the
outcomes of contract section 13) in an internal znode. The record is a
convenience for people: writing it never fails a run, and a run whose record
could not be written (ZooKeeper down) is simply not recorded.
"""

from __future__ import annotations

import logging
from typing import Literal

from services.documents import OpenModel, dump_document, parse_stored
from services.errors import CDError, VersionConflictError
from services.zk import ZkStore

log = logging.getLogger(__name__)

Outcome = Literal["written", "unchanged", "paused", "failed"]


class LastRun(OpenModel):
    at: str
    outcome: Outcome
    message: str
    writer: str


def record_last_run(store: ZkStore, run: LastRun) -> None:
    """Overwrite the record (version-checked; a concurrent run's record wins the race)."""
    path = store.paths.last_run
    try:
        store.put(path, dump_document(run), store.read(path))
    except VersionConflictError:
        log.debug("another run recorded itself at the same moment; keeping theirs")
    except CDError as exc:
        log.warning("last run not recorded in %s: %s", path, exc)


def read_last_run(store: ZkStore) -> LastRun | None:
    node = store.read(store.paths.last_run)
    return None if node is None else parse_stored(LastRun, store.paths.last_run, node.data)
