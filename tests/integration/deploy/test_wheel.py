"""The wheel ships the code and nothing of deploy/: manifests, crontab, rules, dashboards."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# What a clean checkout has, not local state: a stale build/ would leak into the wheel.
NOT_SOURCE = (".git", ".venv", ".local", "build", "dist", "*.egg-info", "__pycache__", ".*_cache")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp), str(src)],
        check=False,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert build.returncode == 0, build.stderr
    return zipfile.ZipFile(next(tmp.glob("*.whl")))


def test_the_wheel_holds_no_deployment_file(wheel: zipfile.ZipFile) -> None:
    deploy_files = {p.relative_to(ROOT) for p in (ROOT / "deploy").rglob("*") if p.is_file()}
    assert deploy_files, "deploy/ holds the deployment artefacts"
    names = wheel.namelist()
    leaked = [n for n in names if n.split("/")[0] == "deploy" or "/deploy/" in n]
    leaked += [n for n in names for f in deploy_files if n.endswith(f"/{f.name}")]
    assert leaked == []


def test_the_wheel_holds_every_package_and_command(wheel: zipfile.ZipFile) -> None:
    tops = {n.split("/")[0] for n in wheel.namelist() if not n.split("/")[0].endswith("-info")}
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    assert tops == {p.rstrip("*") for p in include}
    entry_points = next(n for n in wheel.namelist() if n.endswith("entry_points.txt"))
    text = wheel.read(entry_points).decode()
    for script, target in PYPROJECT["project"]["scripts"].items():
        assert f"{script} = {target}" in text
