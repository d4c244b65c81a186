"""The Prometheus configuration the local stack writes, checked by promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from services.errors import CDError
from services.local.prometheus import INTERVAL_RULE, Monitoring, prometheus_config, render_rules


@pytest.mark.parametrize(
    "monitoring", [Monitoring(), Monitoring(0.5, 2.5, 60)], ids=["defaults", "fractions"]
)
def test_promtool_accepts_the_config_and_rules(tmp_path: Path, monitoring: Monitoring) -> None:
    rules = tmp_path / "alerts.yml"
    rules.write_text(render_rules(monitoring.controller_interval_seconds))
    config = tmp_path / "prometheus.yml"
    config.write_text(
        prometheus_config(monitoring, rules, ["127.0.0.1:1"], ["127.0.0.1:2"], "127.0.0.1:3")
    )
    exe = shutil.which("promtool")
    assert exe
    r = subprocess.run(
        [exe, "check", "config", str(config)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    groups = yaml.safe_load(rules.read_text())["groups"]
    [interval] = [r for g in groups for r in g["rules"] if r.get("record") == INTERVAL_RULE]
    assert interval["expr"] == f"vector({monitoring.controller_interval_seconds})"


def test_rules_without_the_interval_rule_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "alerts.yml"
    bad.write_text("groups: [{name: g, rules: [{alert: A, expr: up == 0}]}]\n")
    with pytest.raises(CDError, match=INTERVAL_RULE):
        render_rules(60, bad)
    with pytest.raises(CDError, match="needs a checkout"):
        render_rules(60, tmp_path / "missing.yml")
