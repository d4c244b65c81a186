"""The deployable stack: compose validated by Debian's docker-compose, the Kubernetes
manifests against the API schemas (kubernetes-validate, offline), and every command they
run exists in the package."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.settings import CommonSettings

ROOT = Path(__file__).resolve().parents[3]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SCRIPTS = set(PYPROJECT["project"]["scripts"])
PACKAGES = [p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]]
OUR_IMAGE = "controllable-distribution:latest"
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"


def compose_config(*extra: str) -> dict[str, Any]:
    exe = shutil.which("docker-compose")
    assert exe, "Debian's docker-compose is installed by scripts/bootstrap.sh"
    out = subprocess.run(
        [exe, "-f", str(ROOT / "docker-compose.yml"), *extra, "config"],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    config: dict[str, Any] = yaml.safe_load(out.stdout)
    return config


def test_compose_is_valid_and_runs_only_our_commands() -> None:
    services = compose_config()["services"]
    assert {"zookeeper", "kafka", "topics", "setup", "blender", "controller"} <= set(services)
    assert services["zookeeper"]["image"].startswith("zookeeper:")
    assert services["kafka"]["image"].startswith("apache/kafka:")
    for name in ("zookeeper", "kafka"):
        assert "healthcheck" in services[name], name
    ours = {n: s for n, s in services.items() if s.get("image") == OUR_IMAGE}
    counters = [n for n, s in ours.items() if s.get("command") == ["counter-service"]]
    assert len(counters) == 2
    assert services["controller"]["command"] == ["pid-controller", "schedule"]
    for name, svc in ours.items():
        if "command" in svc and "entrypoint" not in svc:
            assert svc["command"][0] in SCRIPTS, f"{name} runs {svc['command'][0]}"
    setup_script = " ".join(services["setup"]["command"])
    assert "cdctl targets" in setup_script


def test_traffic_profile_adds_the_simulated_feed() -> None:
    traffic = compose_config("--profile", "traffic")["services"]["traffic"]
    assert traffic["profiles"] == ["traffic"]  # off unless asked for
    assert traffic["command"][0] in SCRIPTS and "--feed" in traffic["command"]


def test_compose_creates_the_topics_the_services_use() -> None:
    script = " ".join(compose_config()["services"]["topics"]["command"])
    defaults = CommonSettings()
    for topic in (
        defaults.kafka_topic,
        defaults.dlq_topic,
        f"{defaults.kafka_topic}.counter-changelog",
        f"{defaults.kafka_topic}.counter-changelog.snapshots",
    ):
        assert f"--topic {topic} " in script
    # What the counter checks at start (counter_service/topics.py), or it refuses.
    for topic in ("counter-changelog ", "counter-changelog.snapshots "):
        line = next(part for part in script.split("$k") if topic in part)
        for setting in ("retention.ms=-1", "retention.bytes=-1", "cleanup.policy=delete"):
            assert f"--config {setting}" in line, (topic, setting)


def test_the_counter_manifest_replicates_its_topics_three_times() -> None:
    docs = list(yaml.safe_load_all((K8S / "counter-service.yaml").read_text()))
    sets = [d for d in docs if d["kind"] == "StatefulSet"]
    env = {
        e["name"]: e.get("value")
        for e in sets[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["CD_COUNTER_TOPIC_REPLICATION"] == "3"


# The schemas ship with the package: no cluster and no network needed.
K8S_VERSION = "1.30.0"
MANIFESTS = sorted(K8S.glob("*.yaml"))


def test_deploy_holds_the_manifests() -> None:
    assert {m.name for m in MANIFESTS} >= {
        "blender.yaml",
        "configmap.yaml",
        "counter-service.yaml",
        "pid-controller-cronjob.yaml",
    }


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda m: m.name)
def test_kubernetes_manifests_are_valid_against_the_api_schema(manifest: Path) -> None:
    for doc in yaml.safe_load_all(manifest.read_text()):
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(str(p) for p in exc.path)
            pytest.fail(f"{manifest.name}: {doc.get('kind')} at {where}: {exc.message}")


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda m: m.name)
def test_kubernetes_manifests_parse_and_use_our_commands(manifest: Path) -> None:
    docs = [d for d in yaml.safe_load_all(manifest.read_text()) if d]
    assert docs
    for doc in docs:
        assert {"apiVersion", "kind", "metadata"} <= set(doc)
        spec = doc.get("spec", {})
        pod = spec.get("jobTemplate", {}).get("spec", spec).get("template", {}).get("spec", {})
        for container in pod.get("containers", []):
            assert container["command"][0] in SCRIPTS


def test_counter_runs_as_statefulset_and_controller_as_cronjob() -> None:
    kinds = {
        d["metadata"]["name"]: d["kind"]
        for m in K8S.glob("*.yaml")
        for d in yaml.safe_load_all(m.read_text())
        if d
    }
    assert kinds["counter-service"] in {"StatefulSet", "Service"}
    assert "StatefulSet" in {
        d["kind"] for d in yaml.safe_load_all((K8S / "counter-service.yaml").read_text())
    }
    assert kinds["pid-controller"] == "CronJob"
    assert "pid-controller run" in (DEPLOY / "crontab").read_text()


def test_dockerfile_is_slim_and_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text
    assert "\nUSER cd\n" in text
    for package in PACKAGES:
        assert f"COPY {package} ./{package}" in text


def test_services_are_scraped_and_the_cron_job_pushes_its_metrics() -> None:
    docs = [d for m in MANIFESTS for d in yaml.safe_load_all(m.read_text()) if d]
    for name in ("blender", "counter-service"):
        [workload] = [d for d in docs if d["metadata"]["name"] == name and "template" in d["spec"]]
        template = workload["spec"]["template"]
        notes = template["metadata"]["annotations"]
        ports = {p["containerPort"] for p in template["spec"]["containers"][0]["ports"]}
        assert notes["prometheus.io/scrape"] == "true" and int(notes["prometheus.io/port"]) in ports
    [cron] = [d for d in docs if d["kind"] == "CronJob"]
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert "CD_PUSHGATEWAY_URL" in {e["name"] for e in container["env"]}
    assert "CD_PUSHGATEWAY_URL" in (DEPLOY / "crontab").read_text()


def _workloads() -> dict[str, dict[str, Any]]:
    """Each workload's pod spec, by name (Deployment, StatefulSet, CronJob)."""
    pods = {}
    for manifest in MANIFESTS:
        for doc in yaml.safe_load_all(manifest.read_text()):
            spec = (doc or {}).get("spec", {})
            spec = spec.get("jobTemplate", {}).get("spec", spec)
            if "template" in spec:
                pods[doc["metadata"]["name"]] = spec["template"]
    return pods


def _bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    return int(quantity[:-2]) * units[quantity[-2:]]


def test_every_service_requests_what_was_measured_and_caps_memory() -> None:
    """Requests let the scheduler place pods where the load fits; a memory limit keeps a
    leak from taking the node down. No CPU limit: throttling would show as latency."""
    pods = _workloads()
    assert set(pods) == {"blender", "counter-service", "pid-controller"}
    for name, template in pods.items():
        [container] = template["spec"]["containers"]
        resources = container.get("resources", {})
        requests, limits = resources.get("requests", {}), resources.get("limits", {})
        assert {"cpu", "memory"} <= set(requests), f"{name} requests cpu and memory"
        assert set(limits) == {"memory"}, f"{name} limits memory only"
        assert _bytes(limits["memory"]) >= 2 * _bytes(requests["memory"]), name


def test_voluntary_disruptions_take_one_pod_at_a_time() -> None:
    pods = _workloads()
    budgets = [
        d
        for m in MANIFESTS
        for d in yaml.safe_load_all(m.read_text())
        if d and d["kind"] == "PodDisruptionBudget"
    ]
    covered = set()
    for budget in budgets:
        assert budget["spec"]["maxUnavailable"] == 1
        selector = budget["spec"]["selector"]["matchLabels"]
        covered |= {
            name
            for name, template in pods.items()
            if selector.items() <= template.get("metadata", {}).get("labels", {}).items()
        }
    assert covered == {"blender", "counter-service"}
