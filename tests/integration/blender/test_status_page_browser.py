"""The status page as a person sees it: rendered by real headless Chromium.

The controller's history comes from real runs of the control step against the
real ZooKeeper; the screenshot is kept under test-artifacts/ for people to look at.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pid_controller.counts import WindowCounts
from pid_controller.runner import ControllerConfig, run_once
from pid_controller.step import Bounds, Gains, PolicyCounts
from services.target_edits import apply_edit, set_targets
from services.zk import ZkStore
from tests.integration.blender.conftest import BlenderFactory, wait_for

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
CHROMIUM = shutil.which("chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def browse(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM, "Debian's chromium is installed by scripts/bootstrap.sh"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, url],
        check=True,
        capture_output=True,
        text=True,
        timeout=90,
    )


@pytest.mark.slow
def test_status_page_shows_constants_saturation_and_history(
    blender: BlenderFactory, store: ZkStore, tmp_path: Path
) -> None:
    apply_edit(store, set_targets("default", {"video": 0.155, "fresh": 0.6}, {}))
    config = ControllerConfig(
        interval=3600,
        gains=Gains(0.0, 0.375),
        bounds=Bounds(-0.3, 0.3),
        min_impressions=1000,
        max_wait=0,
        counter_urls=["http://unused"],
    )
    for hour, video in enumerate([2_000, 1_800, 1_650, 1_580, 1_560, 1_550]):
        counts = WindowCounts(
            {"control": PolicyCounts(10_000, {"video": video, "fresh": 1_000})}, None, "test"
        )
        at = datetime.fromtimestamp(1_763_820_000 + hour * 3600, UTC)

        def fetch(urls: list[str], start: int, end: int, c: WindowCounts = counts) -> WindowCounts:
            return c

        run_once(store, config, at=at, fetch=fetch)
    with blender() as client:
        wait_for(lambda: "Recent history" in client.get("/").text, 5, "history on the page")
        url = f"{client.base_url}/"
        dom = browse(url, tmp_path / "p1", "--dump-dom").stdout
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "blender-status-page.png"
        shot.unlink(missing_ok=True)
        browse(url, tmp_path / "p2", f"--screenshot={shot}", "--window-size=1280,1100")
    # What a person reads: generation, the saturated type called out, both charts.
    assert "Generation" in dom and ">6<" in dom
    assert "default/fresh: saturated at the upper bound" in dom
    assert dom.count("<svg") == 2
    assert "default / video: share 15.50% vs target 15.50% (last 6 windows)" in dom
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
