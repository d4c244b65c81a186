"""The alert rules, checked and unit-tested by Debian's promtool, each with a runbook."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "deploy/prometheus/alerts.yml"
RULE_TESTS = ROOT / "deploy/prometheus/alerts_test.yml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    assert exe, "Debian's prometheus (promtool) is installed by scripts/bootstrap.sh"
    return subprocess.run(
        [exe, *args], check=False, capture_output=True, text=True, timeout=120, cwd=RULES.parent
    )


def alert_names() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule]


def test_promtool_checks_the_rules() -> None:
    r = promtool("check", "rules", RULES.name)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {len(alert_names()) + 1} rules found" in r.stdout


def test_promtool_rule_unit_tests_pass() -> None:
    r = promtool("test", "rules", RULE_TESTS.name)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def rule_tests() -> list[dict[str, Any]]:
    return [
        case
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]


@pytest.mark.parametrize("alert", alert_names())
def test_every_alert_is_tested_firing_and_not_firing(alert: str) -> None:
    cases = [c for c in rule_tests() if c["alertname"] == alert]
    assert any(c["exp_alerts"] for c in cases), f"{alert}: no case where it fires"
    assert any(not c["exp_alerts"] for c in cases), f"{alert}: no case where it stays quiet"


@pytest.mark.parametrize("alert", alert_names())
def test_every_alert_has_a_runbook_line_in_the_readme(alert: str) -> None:
    runbook = (ROOT / "README.md").read_text().split("### Alerts", 1)[-1].split("\n## ", 1)[0]
    line = next((x for x in runbook.splitlines() if f"`{alert}`" in x), "")
    assert len(line) > 80, f"{alert}: no runbook line under '### Alerts' in the README"
