"""Incomplete counts are a warning wherever constants are shown (issue 17).

A real controller step on counts complete only through two minutes before
the window's end; then the real ``pid-controller explain`` and ``cdctl
constants show`` processes and the real blender's status page.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pid_controller.counts import WindowCounts
from pid_controller.runner import ControllerConfig, run_once
from pid_controller.step import Bounds, Gains, PolicyCounts
from services.local.zookeeper import ZooKeeperServer
from services.target_edits import apply_edit, set_targets
from services.timebuckets import iso
from services.zk import ZkStore
from tests.integration.blender.conftest import BlenderFactory, wait_for
from tests.integration.cdctl.test_cdctl import cdctl
from tests.integration.pid_controller.test_cli import run

END = 1_763_820_000
CONFIG = ControllerConfig(
    interval=3600,
    gains=Gains(0.15, 0.35),
    bounds=Bounds(-5, 5),
    min_impressions=1000,
    max_wait=0,
    counter_urls=["http://unused"],
)


def step(store: ZkStore, hour: int, complete_through: int) -> None:
    counts = WindowCounts({"control": PolicyCounts(10_000, {"video": 2_000})}, None, "test")

    def fetch(urls: list[str], start: int, end: int) -> WindowCounts:
        return WindowCounts(counts.groups, complete_through, "test")

    at = datetime.fromtimestamp(END + hour * 3600, UTC)
    assert run_once(store, CONFIG, at=at, fetch=fetch).status == "written"


def test_incomplete_counts_are_shown_as_a_warning(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore, blender: BlenderFactory
) -> None:
    apply_edit(store, set_targets("default", {"video": 0.155}, {}))
    step(store, 0, END - 120)
    expected = (
        f"counts incomplete: the counters had read every partition only through {iso(END - 120)}"
    )
    explain = run(zk, zk_root, "explain")
    shown = cdctl(zk, zk_root, "constants", "show")
    for done in (explain, shown):
        assert done.returncode == 0, done.stderr
        assert "WARNING: " + expected in " ".join(done.stdout.split()), done.stdout
    with blender() as client:
        wait_for(lambda: "Generation" in client.get("/").text, 5, "the status page")
        page = client.get("/").text
        assert expected in page and "Warnings" in page
        # The next window's counts are complete: the warning goes away everywhere.
        step(store, 1, END + 3600)
        wait_for(lambda: expected not in client.get("/").text, 5, "the warning to clear")
    assert "counts incomplete" not in run(zk, zk_root, "explain").stdout
    assert "counts incomplete" not in cdctl(zk, zk_root, "constants", "show").stdout
