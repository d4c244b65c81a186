"""Blender fixtures: real blender apps on real uvicorn against the real ZooKeeper."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from blender.app import create_app
from blender.cache import ConstantsCache
from blender.constants_source import Snapshot, ZkConstantsSource
from blender.sampling import BlendSampler, sampler_from
from services.documents import dump_document
from services.local.zookeeper import ZooKeeperServer
from services.settings import BlenderSettings, load
from services.zk import ZkStore
from tests.unit.blender.helpers import constants_doc, serve


class BlenderFactory:
    """Starts blender apps sharing one cache path; remembers the last one's ZkStore."""

    def __init__(self, hosts: str, root: str, cache_path: Path) -> None:
        self.hosts, self.root, self.cache_path = hosts, root, cache_path
        self.last_store: ZkStore | None = None

    @contextmanager
    def __call__(self, hosts: str | None = None) -> Iterator[httpx.Client]:
        """``hosts`` may point elsewhere, e.g. at a port where nothing listens."""
        store = ZkStore(hosts or self.hosts, self.root, timeout=4.0)
        self.last_store = store
        source = ZkConstantsSource(store, ConstantsCache(self.cache_path))
        with serve(create_app(source)) as client:
            yield client


@pytest.fixture
def cache_path(tmp_path: Path) -> Path:
    return tmp_path / "blender" / "constants.cache.json"


@pytest.fixture
def blender(zk: ZooKeeperServer, zk_root: str, cache_path: Path) -> BlenderFactory:
    return BlenderFactory(zk.hosts, zk_root, cache_path)


def write_constants(store: ZkStore, generation: int, policies: dict[str, Any]) -> bytes:
    raw = dump_document(constants_doc(policies, generation=generation))
    write_raw(store, raw)
    return raw


def write_raw(store: ZkStore, raw: bytes) -> None:
    store.put(store.paths.constants, raw, store.read(store.paths.constants))


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll until ``predicate`` holds; the seconds it took. Fails past ``timeout``."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.01)
    return time.monotonic() - start


def generation(client: httpx.Client, group: str | None = None) -> int | None:
    body: dict[str, Any] = {"candidates": [{"id": "a", "content_type": "video", "score": 0.0}]}
    if group:
        body["experiment_group"] = group
    response = client.post("/v1/blend", json=body)
    assert response.status_code == 200, response.text
    value: int | None = response.json()["constants_generation"]
    return value


def blended_video(client: httpx.Client, group: str | None = None) -> float:
    body: dict[str, Any] = {"candidates": [{"id": "a", "content_type": "video", "score": 0.0}]}
    if group:
        body["experiment_group"] = group
    response = client.post("/v1/blend", json=body)
    assert response.status_code == 200, response.text
    value: float = response.json()["results"][0]["blended_score"]
    return value


def constants(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/v1/constants")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def kafka_sampler(
    bootstrap: str,
    topic: str,
    rate: float,
    snapshot: Callable[[], Snapshot],
    stop_seconds: float = 5.0,
) -> BlendSampler:
    """The blender's sampler as its settings build it, to ``topic`` on ``bootstrap``."""
    settings = load(
        BlenderSettings,
        kafka_bootstrap=bootstrap,
        samples_topic=topic,
        blender_sample_rate=rate,
        blender_samples_per_second=10_000,
        blender_samples_stop_seconds=stop_seconds,
    )
    return sampler_from(settings, snapshot)
