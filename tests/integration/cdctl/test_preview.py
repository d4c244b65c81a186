"""``cdctl targets preview`` on samples the real blender published, checked against
what the real blender then serves on the same candidate lists (contract section 10)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from blender.app import create_app
from blender.constants_source import StaticConstants
from services.local.zookeeper import ZooKeeperServer
from services.target_edits import apply_edit, set_targets
from services.zk import ZkStore
from tests.conftest import TopicFactory
from tests.integration.blender.conftest import kafka_sampler, wait_for
from tests.integration.windows import window_start_that_stays_last
from tests.unit.blender.helpers import constants_doc, serve

# This venv's cdctl, never another checkout's that happens to be on PATH.
CDCTL = str(Path(sys.executable).parent / "cdctl")
LIMIT = 10


def candidate_lists(n: int, seed: int = 5) -> list[list[dict[str, Any]]]:
    """Video a quarter of the candidates and scored lower than image."""
    import random

    rng = random.Random(seed)
    lists = []
    for i in range(n):
        lists.append(
            [
                {
                    "id": f"r{i}c{j}",
                    "content_type": t,
                    "score": rng.gauss(-2.0 if t == "video" else -1.0, 1.0),
                }
                for j, t in enumerate(
                    "video" if rng.random() < 0.25 else "image" for _ in range(60)
                )
            ]
        )
    return lists


def cdctl(zk: ZooKeeperServer, root: str, bootstrap: str, topic: str, *args: str) -> Any:
    env = {
        **os.environ,
        "CD_ZK_HOSTS": zk.hosts,
        "CD_ZK_ROOT": root,
        "CD_KAFKA_BOOTSTRAP": bootstrap,
        "CD_SAMPLES_TOPIC": topic,
        "CD_CONTROLLER_SAMPLES_GRACE_SECONDS": "0",
    }
    return subprocess.run(
        [CDCTL, "targets", *args], check=False, env=env, capture_output=True, text=True, timeout=90
    )


def served_shares(
    constants: dict[str, float], lists: list[list[dict[str, Any]]]
) -> dict[str, float]:
    shown: Counter[str] = Counter()
    doc = constants_doc({"default": constants})
    with serve(create_app(StaticConstants(doc))) as client:
        for candidates in lists:
            body = {"limit": LIMIT, "sample": False, "candidates": candidates}
            response = client.post("/v1/blend", json=body)
            assert response.status_code == 200, response.text
            shown.update(r["content_type"] for r in response.json()["results"])
    total = sum(shown.values())
    return {t: n / total for t, n in shown.items()}


def test_preview_predicts_what_the_blender_serves_and_set_warns(
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    zk: ZooKeeperServer,
    zk_root: str,
    store: ZkStore,
) -> None:
    topic = topic_factory("blend-samples", 1)
    start = window_start_that_stays_last(3600, margin=120)
    lists = candidate_lists(300)
    sampler = kafka_sampler(kafka_bootstrap, topic, 1.0, StaticConstants(None).snapshot)
    with serve(create_app(StaticConstants(None), sampler=sampler)) as client:
        for i, candidates in enumerate(lists):
            body = {
                "limit": LIMIT,
                "sample": True,
                "ts": start * 1000 + i,
                "candidates": candidates,
            }
            assert client.post("/v1/blend", json=body).status_code == 200
        wait_for(lambda: sampler.sent == len(lists), 30, "every sample acknowledged")
    apply_edit(store, set_targets("default", {"video": 0.1}, {"bounds": {"min": -1.0, "max": 1.0}}))

    r = cdctl(zk, zk_root, kafka_bootstrap, topic, "preview", "default", "video=0.2", "--json")
    assert r.returncode == 0, r.stderr
    preview = orjson.loads(r.stdout)
    assert preview["samples"] == len(lists) and preview["out_of_range"] == []
    served = served_shares(preview["constants"], lists)
    for type_name, share in preview["predicted_share"].items():
        assert served.get(type_name, 0.0) == pytest.approx(share, abs=1e-12)
    assert served["video"] == pytest.approx(0.2, abs=1 / (LIMIT * len(lists)))
    low, high = preview["reachable"]["video"]
    assert low < 0.2 < high < 0.4
    assert 0 < preview["cost"] < 1
    assert orjson.loads(store.read(store.paths.targets).data)["policies"]["default"]["targets"] == {  # type: ignore[union-attr]
        "video": 0.1
    }  # a preview writes nothing

    r = cdctl(zk, zk_root, kafka_bootstrap, topic, "preview", "default", "video=0.4")
    assert r.returncode == 1
    assert f"video reachable {low:.1%} to {high:.1%} with bounds ±1; target 40.0%" in r.stderr
    assert "predicted share" in r.stdout  # the table is still printed

    r = cdctl(zk, zk_root, kafka_bootstrap, topic, "preview", "default", "video=1.5")
    assert r.returncode == 2 and "video" in r.stderr

    r = cdctl(zk, zk_root, kafka_bootstrap, topic, "set", "default", "video=0.4")
    assert r.returncode == 0, r.stderr
    assert "warning: video reachable" in r.stdout
    targets = orjson.loads(store.read(store.paths.targets).data)  # type: ignore[union-attr]
    assert targets["policies"]["default"]["targets"] == {"video": 0.4}  # written all the same
