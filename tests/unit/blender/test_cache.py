from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

import orjson
import pytest

from blender.cache import CacheError, ConstantsCache
from services.documents import dump_document
from tests.unit.blender.helpers import constants_doc


def test_round_trip_keeps_exact_bytes(tmp_path: Path) -> None:
    cache = ConstantsCache(tmp_path / "sub" / "constants.json")
    assert cache.load() is None
    raw = dump_document(constants_doc({"default": {"video": 0.5}}, generation=3))
    cache.store(raw)
    loaded = cache.load()
    assert loaded is not None
    doc, loaded_raw = loaded
    assert doc.generation == 3 and loaded_raw == raw
    assert [p.name for p in cache.path.parent.iterdir()] == ["constants.json"]  # no temp left


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "not valid JSON"),
        (b"\x00garbage", "not valid JSON"),
        (b'{"format": 9}', "unknown format"),
        (b'{"format": 1, "document": "{}"}', "lacks"),
    ],
)
def test_corrupt_files_are_refused(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "c.json"
    path.write_bytes(content)
    with pytest.raises(CacheError, match=problem):
        ConstantsCache(path).load()


def test_checksum_mismatch_and_invalid_document(tmp_path: Path) -> None:
    cache = ConstantsCache(tmp_path / "c.json")
    cache.store(dump_document(constants_doc({"default": {"video": 0.5}})))
    wrapper = orjson.loads(cache.path.read_bytes())
    wrapper["document"] = wrapper["document"].replace("0.5", "0.9")
    cache.path.write_bytes(orjson.dumps(wrapper))
    with pytest.raises(CacheError, match="checksum"):
        cache.load()
    cache.store(b'{"schema": 1, "generation": -1, "computed_at": "x"}')
    with pytest.raises(CacheError, match="invalid"):
        cache.load()


def test_unwritable_location_is_a_cache_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CacheError, match="cannot write"):
        ConstantsCache(blocker / "c.json").store(b"{}")


def test_a_replaced_document_and_identical_bytes_are_not_written(tmp_path: Path) -> None:
    cache = ConstantsCache(tmp_path / "constants.json")
    old = dump_document(constants_doc({"default": {"video": 0.5}}, generation=3))
    new = dump_document(constants_doc({"default": {"video": 0.7}}, generation=4))
    assert cache.store(new)
    written = cache.path.stat().st_mtime_ns
    # A worker whose document was replaced while it waited must not put it back.
    assert not cache.store(old, still_current=lambda: False)
    assert not cache.store(new)  # another worker already wrote exactly this
    loaded = cache.load()
    assert loaded is not None and loaded[0].generation == 4
    assert cache.path.stat().st_mtime_ns == written


def test_writers_wait_for_each_other(tmp_path: Path) -> None:
    """Another process holding the lock (a worker mid-write) holds a write back."""
    cache = ConstantsCache(tmp_path / "constants.json")
    raw = dump_document(constants_doc({"default": {"video": 0.5}}, generation=3))
    fd = os.open(tmp_path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    writer = threading.Thread(target=cache.store, args=(raw,))
    try:
        writer.start()
        writer.join(0.3)
        assert writer.is_alive() and cache.load() is None
    finally:
        os.close(fd)
    writer.join(10)
    loaded = cache.load()
    assert loaded is not None and loaded[1] == raw
