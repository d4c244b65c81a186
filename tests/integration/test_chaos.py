"""The chaos soak (``python -m bench.chaos``) in small: the same code, every criterion asserted.

Its own broker, ZooKeeper, two counters and a blender (ZooKeeper is restarted
mid-run, so the session's shared server is left alone). 60k events over three
hourly windows, at least five ``kill -9`` of a counter (one with its data
folder deleted), one ZooKeeper restart while events flow, three racing
controllers per window with some killed, and a steady load on the blender.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos.config import ChaosConfig
from bench.chaos.report import print_report
from bench.chaos.soak import run


@pytest.mark.slow
def test_chaos_soak_small(tmp_path: Path) -> None:
    config = ChaosConfig(
        events=60_000,
        windows=3,
        rate=2_000.0,
        kills=5,
        snapshot_kills=2,
        zk_restarts=1,
        zk_down_seconds=4.0,
        blender_rate=50.0,
        workdir=tmp_path,
        progress_seconds=10.0,
    )
    result = run(config)
    print_report(result)  # shown by pytest when an assertion fails
    f = result.figures
    for criterion in result.criteria:
        assert criterion.passed, f"{criterion.name}: {criterion.detail}"
    assert [c.name[0] for c in result.criteria[:4]] == ["1", "2", "3", "4"]
    assert f.events == 60_000 and f.windows == f.generations == 3
    assert f.counter_kills >= 5 and f.counter_wipes == 1 and f.zk_restarts == 1
    assert f.kills_during_snapshot == 2 and f.restores_from_snapshot >= 1
    assert f.controllers_killed >= 1
    assert f.requests_zk_down > 0 and f.errors_zk_down == 0 and f.blender_errors == 0
