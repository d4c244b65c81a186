"""Constants reach the blender from ZooKeeper, survive ZooKeeper outages and restarts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from kazoo.client import KazooClient

from blender.cache import ConstantsCache
from services.documents import dump_document
from services.local.process import free_port
from services.local.zookeeper import ZooKeeperServer
from services.zk import ZkStore
from tests.bad_documents import BAD_DOCUMENTS
from tests.integration.blender.conftest import (
    BlenderFactory,
    blended_video,
    constants,
    generation,
    wait_for,
    write_constants,
    write_raw,
)
from tests.unit.blender.helpers import constants_doc

VIDEO_UP = {"default": {"video": 1.0}, "video_heavy": {"video": 2.0}}


def test_change_in_zookeeper_is_used_within_one_second(
    blender: BlenderFactory, store: ZkStore, cache_path: Path
) -> None:
    with blender() as client:
        # Connected and the znode is absent: definitively no constants, so ready.
        wait_for(lambda: client.get("/readyz").status_code == 200, 10, "ready without constants")
        assert constants(client)["source"] == "none"
        assert generation(client) is None
        for gen in (1, 2, 3):
            write_constants(store, gen, {"default": {"video": float(gen)}})
            took = wait_for(_at_generation(client, gen), 1.0, f"generation {gen}")
            assert took < 1.0
        assert blended_video(client) == 3.0
        body = constants(client)
        assert body["source"] == "zookeeper" and body["generation"] == 3
        assert body["zookeeper_connected"] is True
        assert body["age_seconds"] is not None
        wait_for(lambda: _cached_generation(cache_path) == 3, 2, "cache written")
        metrics = client.get("/metrics").text
        assert "cd_blender_constants_generation 3.0" in metrics
        assert "cd_blender_constants_age_seconds " in metrics


def test_policy_follows_zookeeper_document(blender: BlenderFactory, store: ZkStore) -> None:
    write_constants(store, 5, VIDEO_UP)
    with blender() as client:
        wait_for(lambda: generation(client) == 5, 5, "generation 5")
        assert blended_video(client, "video_heavy") == 2.0
        assert blended_video(client, "control") == 1.0
        assert blended_video(client) == 1.0


def test_invalid_documents_in_zookeeper_keep_the_last_good(
    blender: BlenderFactory, store: ZkStore
) -> None:
    write_constants(store, 1, VIDEO_UP)
    with blender() as client:
        wait_for(lambda: generation(client) == 1, 5, "generation 1")
        for _, raw, problem in BAD_DOCUMENTS:
            write_raw(store, raw)
            wait_for(
                lambda: constants(client)["last_error"] is not None, 2, f"refused {raw[:30]!r}"
            )
            assert generation(client) == 1
            assert blended_video(client) == 1.0
            error = constants(client)["last_error"]
            assert error.startswith(f"zookeeper: {store.paths.constants}: ") and problem in error
            assert "Last error" in client.get("/").text
            write_constants(store, 1, VIDEO_UP)  # good again: the error clears
            wait_for(lambda: constants(client)["last_error"] is None, 2, "error cleared")
        write_constants(store, 2, {"default": {"video": -1.0}})
        wait_for(lambda: generation(client) == 2, 1, "generation 2")


def test_zookeeper_outage_restart_from_cache_and_recovery(
    blender: BlenderFactory, zk: ZooKeeperServer, zk_root: str, store: ZkStore, cache_path: Path
) -> None:
    write_constants(store, 1, VIDEO_UP)
    try:
        with blender() as first:
            wait_for(lambda: generation(first) == 1, 5, "generation 1")
            wait_for(lambda: _cached_generation(cache_path) == 1, 2, "cache written")
            zk.stop()
            # ZooKeeper down: the running blender keeps blending with what it had.
            for _ in range(20):
                assert generation(first) == 1 and blended_video(first) == 1.0
            wait_for(lambda: constants(first)["zookeeper_connected"] is False, 10, "disconnected")
        # A blender started while ZooKeeper is down serves the cache.
        with blender() as second:
            assert second.get("/readyz").status_code == 200
            body = constants(second)
            assert body["source"] == "cache" and body["generation"] == 1
            assert blended_video(second, "video_heavy") == 2.0
            zk.start()
            with ZkStore(zk.hosts, zk_root, timeout=15.0) as writer:
                write_constants(writer, 2, {"default": {"video": 0.5}})
            wait_for(lambda: generation(second) == 2, 15, "generation 2 after the restart")
            assert constants(second)["source"] == "zookeeper"
            wait_for(lambda: _cached_generation(cache_path) == 2, 2, "cache updated")
    finally:
        if not zk.running:
            zk.start()


def test_session_expiry_sets_a_fresh_watch(
    blender: BlenderFactory, zk: ZooKeeperServer, store: ZkStore
) -> None:
    write_constants(store, 1, VIDEO_UP)
    with blender() as client:
        wait_for(lambda: generation(client) == 1, 5, "generation 1")
        session_id = _blender_session(blender)
        # Closing a second client on the same session id expires it for the blender:
        # ZooKeeper's own way to force an expiry without waiting for a timeout.
        intruder = KazooClient(hosts=zk.hosts, client_id=session_id)
        intruder.start(timeout=5)
        intruder.stop()
        intruder.close()
        wait_for(lambda: _blender_session(blender) != session_id, 15, "new session")
        write_constants(store, 2, {"default": {"video": 0.25}})
        wait_for(lambda: generation(client) == 2, 2, "generation 2 on the new session")
        assert blended_video(client) == 0.25


def test_corrupt_cache_is_ignored(
    blender: BlenderFactory, store: ZkStore, cache_path: Path
) -> None:
    cache_path.parent.mkdir(parents=True)
    cache_path.write_bytes(b'{"format": 1, "sha256": "00", "document": "{}"}')
    nowhere = f"127.0.0.1:{free_port()}"
    with blender(nowhere) as client:
        body = constants(client)
        assert body["source"] == "none" and body["generation"] is None
        assert "cache" in body["last_error"] and "checksum" in body["last_error"]
        assert client.get("/readyz").status_code == 503  # nothing known yet
        assert client.get("/healthz").status_code == 200
        assert generation(client) is None  # still blends, with zero constants
    write_constants(store, 4, VIDEO_UP)
    with blender() as client:
        wait_for(lambda: generation(client) == 4, 5, "generation 4")
        wait_for(lambda: _cached_generation(cache_path) == 4, 2, "cache repaired")


def _at_generation(client: httpx.Client, gen: int) -> Callable[[], bool]:
    return lambda: generation(client) == gen


def _cached_generation(path: Path) -> int | None:
    try:
        loaded = ConstantsCache(path).load()
    except Exception:
        return None
    return None if loaded is None else loaded[0].generation


def _blender_session(blender: BlenderFactory) -> tuple[int, bytes]:
    assert blender.last_store is not None
    session: tuple[int, bytes] = blender.last_store.client.client_id
    return session


def test_absent_znode_keeps_cached_constants(blender: BlenderFactory, cache_path: Path) -> None:
    ConstantsCache(cache_path).store(dump_document(constants_doc(VIDEO_UP, generation=6)))
    with blender() as client:
        wait_for(lambda: constants(client)["last_error"] is not None, 5, "znode found absent")
        body = constants(client)
        assert body["source"] == "cache" and body["generation"] == 6
        assert "absent" in body["last_error"]
        assert client.get("/readyz").status_code == 200
        assert blended_video(client) == 1.0


def test_a_failed_cache_write_is_retried_when_the_document_comes_again(
    blender: BlenderFactory, store: ZkStore, cache_path: Path
) -> None:
    """The cache must hold what the blender serves, or a restart while ZooKeeper
    is down would serve an older generation."""
    cache_path.parent.parent.mkdir(parents=True, exist_ok=True)
    cache_path.parent.write_bytes(b"a file where the cache folder should be")
    raw = write_constants(store, 3, VIDEO_UP)
    with blender() as client:
        wait_for(lambda: generation(client) == 3, 5, "generation 3")
        wait_for(lambda: "cache" in (constants(client)["last_error"] or ""), 5, "cache error")
        cache_path.parent.unlink()
        write_raw(store, raw)  # the same document again (a rewrite, or a reconnect's re-read)
        wait_for(lambda: _cached_generation(cache_path) == 3, 5, "cache written")
