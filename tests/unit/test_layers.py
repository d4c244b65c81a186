"""The layers of the guide: the kernel reaches no service, and no service reaches cdctl."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("blender", "counter_service", "pid_controller")
FORBIDDEN = {"services": {*SERVICES, "cdctl"}, **{s: {"cdctl"} for s in SERVICES}}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_nothing_above_it(package: str) -> None:
    modules = sorted((ROOT / package).rglob("*.py"))
    assert modules
    reached = {
        str(m.relative_to(ROOT)): sorted(imported_packages(m) & FORBIDDEN[package]) for m in modules
    }
    assert {m: r for m, r in reached.items() if r} == {}
