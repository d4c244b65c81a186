"""Debian's Prometheus and Pushgateway for the local stack, with the repository's rules.

The rules are ``deploy/prometheus/alerts.yml`` as shipped; only the recording rule that
holds the controller's interval is rewritten, so a stack (or a test) with short windows
gets thresholds that match them. Needs a checkout: ``deploy/`` is not in the wheel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from services.errors import CDError
from services.local.process import ServerProcess, http_ok

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ALERT_RULES = DEPLOY / "prometheus" / "alerts.yml"
INTERVAL_RULE = "cd:controller_interval_seconds"


@dataclass(frozen=True)
class Monitoring:
    """How often Prometheus scrapes and evaluates, and the window its rules assume."""

    scrape_seconds: float = 5.0
    evaluation_seconds: float = 5.0
    controller_interval_seconds: int = 3600


def render_rules(interval_seconds: int, source: Path = ALERT_RULES) -> str:
    """The shipped rules with the controller's interval set to ``interval_seconds``."""
    if not source.is_file():
        raise CDError(f"{source} not found: the local Prometheus needs a checkout of the repo")
    rules: dict[str, Any] = yaml.safe_load(source.read_text())
    found = [
        rule
        for group in rules["groups"]
        for rule in group["rules"]
        if rule.get("record") == INTERVAL_RULE
    ]
    if len(found) != 1:
        raise CDError(f"{source}: expected one recording rule {INTERVAL_RULE}")
    found[0]["expr"] = f"vector({int(interval_seconds)})"
    return yaml.safe_dump(rules, sort_keys=False)


def prometheus_config(
    monitoring: Monitoring, rules: Path, blenders: list[str], counters: list[str], pushgateway: str
) -> str:
    def job(name: str, targets: list[str], **extra: object) -> dict[str, object]:
        return {"job_name": name, "static_configs": [{"targets": targets}], **extra}

    config = {
        "global": {
            "scrape_interval": _duration(monitoring.scrape_seconds),
            "evaluation_interval": _duration(monitoring.evaluation_seconds),
        },
        "rule_files": [str(rules)],
        "scrape_configs": [
            job("blender", blenders),
            job("counter", counters),
            # The pushed job and instance labels are the controller's, not the gateway's.
            job("pushgateway", [pushgateway], honor_labels=True),
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def _duration(seconds: float) -> str:
    """Prometheus durations take integers with a unit: 2.5 s is "2500ms"."""
    return f"{round(seconds * 1000)}ms"


def prometheus_process(
    home: Path, port: int, monitoring: Monitoring, targets: dict[str, list[str]]
) -> ServerProcess:
    """Writes the config and rules under ``home/prometheus`` and returns the server."""
    folder = home / "prometheus"
    folder.mkdir(parents=True, exist_ok=True)
    rules = folder / "alerts.yml"
    rules.write_text(render_rules(monitoring.controller_interval_seconds))
    config = folder / "prometheus.yml"
    config.write_text(
        prometheus_config(
            monitoring, rules, targets["blender"], targets["counter"], targets["pushgateway"][0]
        )
    )
    return ServerProcess(
        "prometheus",
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=2d",
        ],
        home / "logs" / "prometheus.log",
        lambda: http_ok(f"http://127.0.0.1:{port}/-/ready"),
        cwd=folder,
    )


def pushgateway_process(home: Path, port: int) -> ServerProcess:
    return ServerProcess(
        "pushgateway",
        ["prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{port}"],
        home / "logs" / "pushgateway.log",
        lambda: http_ok(f"http://127.0.0.1:{port}/-/ready"),
        cwd=home,
    )


def firing_alerts(prometheus_url: str, client: httpx.Client | None = None) -> list[dict[str, Any]]:
    """The alerts Prometheus has firing now (``/api/v1/alerts``)."""
    if client is None:
        with httpx.Client(timeout=5) as own:
            return firing_alerts(prometheus_url, own)
    try:
        response = client.get(f"{prometheus_url}/api/v1/alerts")
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise CDError(f"Prometheus at {prometheus_url} did not answer: {exc}") from exc
    alerts: list[dict[str, Any]] = response.json()["data"]["alerts"]
    return [a for a in alerts if a.get("state") == "firing"]


def describe_alerts(prometheus_url: str) -> list[str]:
    """One line per firing alert, for ``make status``."""
    lines = []
    for alert in firing_alerts(prometheus_url):
        labels = alert["labels"]
        where = ", ".join(
            f"{k}={v}" for k, v in sorted(labels.items()) if k not in ("alertname", "severity")
        )
        summary = alert.get("annotations", {}).get("summary", "")
        lines.append(f"{labels['alertname']} ({labels.get('severity', '-')}) {where}: {summary}")
    return lines
