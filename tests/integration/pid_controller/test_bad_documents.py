"""A bad targets, constants or controller-state document: the controller refuses it.

The run (runner API and ``pid-controller run``) fails naming the znode and the
problem, writes nothing (targets, constants, state and history stay exactly as
they were, so the last good generation stays in use), and never shows a
traceback. A corrupt constants or state document is refused too rather than
overwritten: the next generation's number and integrals come from them, so
computing over a document nobody can read would silently restart the loop.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pid_controller.runner import run_once
from services.errors import InvalidInputError
from services.local.zookeeper import ZooKeeperServer
from services.target_edits import apply_edit, set_targets
from services.zk import Paths, Versioned, ZkStore
from tests.bad_documents import BAD, BAD_DOCUMENTS
from tests.integration.pid_controller.test_cli import run
from tests.integration.pid_controller.test_runner_ledger import CONFIG, at, counts

DOCUMENTS: dict[str, Callable[[Paths], str]] = {
    "targets": lambda paths: paths.targets,
    "constants": lambda paths: paths.constants,
    "state": lambda paths: paths.controller_state,
}
FETCH = counts({"control": (10_000, {"video": 2_000, "image": 8_000})})


def good_generation_then_corrupt(store: ZkStore, document: str, raw: bytes) -> str:
    """Generation 1 written from good documents; then ``document`` replaced by ``raw``."""
    apply_edit(store, set_targets("default", {"video": 0.155}, {}))
    assert run_once(store, CONFIG, at=at(0), fetch=FETCH).status == "written"
    path = DOCUMENTS[document](store.paths)
    node = store.read(path)
    assert node is not None
    store.set(path, raw, node.version)
    return path


def ledger_snapshot(store: ZkStore) -> dict[str, Versioned | None]:
    paths = store.paths
    history = [f"{paths.history}/{name}" for name in store.children(paths.history)]
    nodes = [paths.targets, paths.constants, paths.controller_state, paths.paused, *history]
    return {path: store.read(path) for path in nodes}


@pytest.mark.parametrize("document", DOCUMENTS)
@pytest.mark.parametrize(("raw", "problem"), BAD)
def test_runner_refuses_a_bad_document_and_writes_nothing(
    store: ZkStore, document: str, raw: bytes, problem: str
) -> None:
    path = good_generation_then_corrupt(store, document, raw)
    before = ledger_snapshot(store)
    with pytest.raises(InvalidInputError) as info:
        run_once(store, CONFIG, at=at(1), fetch=FETCH)
    assert info.value.field == path
    assert problem in info.value.problem
    assert ledger_snapshot(store) == before


# The command shares the runner's path; three kinds of damage per document suffice here.
CLI_CASES = [
    (document, name)
    for document in DOCUMENTS
    for name in ("invalid-json", "wrong-types", "over-the-size-limit")
]


@pytest.mark.parametrize(("document", "bad"), CLI_CASES)
def test_run_command_exits_nonzero_naming_the_document(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore, document: str, bad: str
) -> None:
    _, raw, problem = next(b for b in BAD_DOCUMENTS if b[0] == bad)
    path = good_generation_then_corrupt(store, document, raw)
    before = ledger_snapshot(store)
    r = run(zk, zk_root, "run", "--at", "2026-11-22T16:00:00Z", CD_COUNTER_URLS="http://unused")
    assert r.returncode == 1, r.stdout
    assert f"pid-controller: {path}: " in r.stderr and problem in r.stderr
    assert "Traceback" not in r.stderr
    assert ledger_snapshot(store) == before
