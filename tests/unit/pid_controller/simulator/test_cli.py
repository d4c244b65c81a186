"""cd-simulate end to end (in-process, short runs): files, shapes, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pid_controller.simulator.cli import main

ROW_KEYS = {
    "policy",
    "type",
    "target",
    "first_share",
    "final_share",
    "settle_hours",
    "overshoot_pct",
    "steady_state_error_pct",
    "saturated_hours",
}


def test_run_writes_report_and_figure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["--scenario", "infeasible", "--hours", "6", "--out", str(out), "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["scenario"] == "infeasible" and report["controller"] == "predictive"
    assert [set(r) for r in report["rows"]] == [ROW_KEYS]
    row = report["rows"][0]
    assert row["policy"] == "default" and row["type"] == "video" and row["target"] == 0.25
    assert row["saturated_hours"] >= 3
    assert report["events"][0]["kind"] == "start"
    assert len(report["series"][0]["share"]) == 6
    png = (out / "convergence.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000
    printed = capsys.readouterr().out
    assert "video" in printed and "saturated" in printed


def test_compare_writes_every_controllers_report_and_a_comparison(tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    args = ["--scenario", "blog-video", "--hours", "4", "--out", str(out), "--compare", "--quiet"]
    assert main(args) == 0
    for name in ("predictive", "pid", "linear"):
        assert json.loads((out / f"report-{name}.json").read_text())["controller"] == name
    assert json.loads((out / "report.json").read_text())["controller"] == "predictive"
    assert (out / "comparison.png").stat().st_size > 20_000


def test_log_is_still_accepted_as_the_pids_old_name(tmp_path: Path) -> None:
    args = ["--scenario", "blog-video", "--hours", "2", "--out", str(tmp_path), "--quiet"]
    assert main([*args, "--controller", "log"]) == 0
    assert json.loads((tmp_path / "report.json").read_text())["controller"] == "pid"


def test_non_tty_progress_prints_periodic_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--scenario", "blog-video", "--hours", "10", "--out", str(tmp_path), "--seed", "3"]
    assert main(args) == 0
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("blog-video")]
    assert len(lines) == 10 and lines[-1].endswith("10/10")


def test_list_names_every_shipped_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list"]) == 0
    printed = capsys.readouterr().out
    for name in ("blog-video", "mix5", "infeasible", "ab-groups", "diurnal"):
        assert name in printed


def test_live_refuses_a_bad_request_rate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--scenario", "mix5", "--live", "--live-requests-per-hour", "0"]) == 2
    assert "--live-requests-per-hour" in capsys.readouterr().err


def test_bad_scenario_file_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "hours: 3\nrequests_per_hour: 10\nslots: 1\ncandidates_per_request: 2\n"
        "types: {video: {mix: 0.5, score_mean: 0, score_std: 1}}\ntargets: {}\n"
    )
    assert main(["--scenario", str(bad), "--out", str(tmp_path)]) == 2
    assert "types.*.mix" in capsys.readouterr().err
    assert main(["--out", str(tmp_path)]) == 2
    assert "--scenario" in capsys.readouterr().err
    assert main(["--scenario", "mix5", "--hours", "0"]) == 2


def test_runs_as_a_module_too() -> None:
    # Used from a checkout without the entry point installed (or another tree's).
    done = subprocess.run(
        [sys.executable, "-m", "pid_controller.simulator.cli", "--list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "diurnal" in done.stdout
