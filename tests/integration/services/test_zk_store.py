from __future__ import annotations

import pytest

from services.docstore import read_targets, write_targets
from services.documents import PolicyTargets, TargetsDocument
from services.errors import AccessDeniedError, NotFoundError, VersionConflictError
from services.local.zookeeper import ZooKeeperServer
from services.zk import Check, Create, SetData, ZkStore


def test_set_is_version_checked(store: ZkStore) -> None:
    path = store.paths.targets
    store.create(path, b"{}")
    node = store.read(path)
    assert node is not None and node.version == 0
    assert store.set(path, b'{"a":1}', node.version) == 1
    with pytest.raises(VersionConflictError):
        store.set(path, b'{"a":2}', node.version)
    with pytest.raises(VersionConflictError):
        store.create(path, b"{}")
    assert store.read(path) == type(node)(b'{"a":1}', 1)


def test_missing_node_reads_none_and_write_raises(store: ZkStore) -> None:
    assert store.read(store.paths.constants) is None
    with pytest.raises(NotFoundError):
        store.set(store.paths.constants, b"{}", 0)


def test_transaction_is_all_or_nothing(store: ZkStore) -> None:
    store.create(store.paths.constants, b"c0")
    store.ensure(store.paths.history)
    with pytest.raises(VersionConflictError):
        store.commit(
            [
                SetData(store.paths.constants, b"c1", 5),
                Create(store.paths.history_entry(1), b"h1"),
            ]
        )
    assert store.read(store.paths.constants).data == b"c0"  # type: ignore[union-attr]
    assert store.children(store.paths.history) == []
    store.commit(
        [
            Check(store.paths.constants, 0),
            SetData(store.paths.constants, b"c1", 0),
            Create(store.paths.history_entry(1), b"h1"),
        ]
    )
    assert store.children(store.paths.history) == ["000000000001"]


def test_targets_roundtrip_through_documents(store: ZkStore) -> None:
    doc = TargetsDocument(policies={"default": PolicyTargets(targets={"video": 0.04})})
    write_targets(store, doc, None)
    read = read_targets(store)
    assert read.doc == doc and read.node is not None
    with pytest.raises(VersionConflictError):
        write_targets(store, doc, None)


def test_digest_auth_blocks_other_writers(zk: ZooKeeperServer, zk_root: str) -> None:
    with ZkStore(zk.hosts, zk_root, auth="ops:s3cret", timeout=5) as owner:
        owner.create(owner.paths.targets, b"{}")
        owner.create(owner.paths.constants, b"{}")
        with ZkStore(zk.hosts, zk_root, timeout=5) as anonymous:
            assert anonymous.read(anonymous.paths.targets) is not None  # readable by all
            with pytest.raises(AccessDeniedError):
                anonymous.set(anonymous.paths.targets, b'{"x":1}', 0)
            with pytest.raises(AccessDeniedError):
                anonymous.set(anonymous.paths.constants, b'{"x":1}', 0)
        with (
            ZkStore(zk.hosts, zk_root, auth="ops:wrong", timeout=5) as impostor,
            pytest.raises(AccessDeniedError),
        ):
            impostor.set(impostor.paths.targets, b'{"x":1}', 0)
        assert owner.set(owner.paths.targets, b'{"x":1}', 0) == 1
