"""``cdctl targets set`` with range targets and ``--max-step`` (contract section 11)."""

from __future__ import annotations

import pytest

from services.local.zookeeper import ZooKeeperServer
from services.zk import ZkStore
from tests.integration.cdctl.test_cdctl import cdctl, targets_json


def test_ranges_and_max_step_are_written_and_shown(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore
) -> None:
    args = ["fresh>=0.10", "product<=0.12", "idea=0.2..0.3", "video=0.04", "--max-step", "0.5"]
    r = cdctl(zk, zk_root, "targets", "set", "default", *args)
    assert r.returncode == 0, r.stderr
    assert "filled" in r.stdout + r.stderr
    assert targets_json(store) == {
        "schema": 1,
        "policies": {
            "default": {
                "targets": {
                    "fresh": {"min": 0.10},
                    "product": {"max": 0.12},
                    "idea": {"min": 0.2, "max": 0.3},
                    "video": 0.04,
                },
                # A new bounds block gets the shell's min/max filled in (and says so);
                # max_step is the only key given.
                "bounds": {"min": -5.0, "max": 5.0, "max_step": 0.5},
            }
        },
    }
    shown = cdctl(zk, zk_root, "targets", "show").stdout
    for label in (">=10.00%", "<=12.00%", "20.00%..30.00%", "4.00%", "max step 0.5"):
        assert label in shown
    # A range replaces a share and back.
    assert cdctl(zk, zk_root, "targets", "set", "default", "video=0.03..0.05").returncode == 0
    doc = targets_json(store)
    assert doc is not None and doc["policies"]["default"]["targets"]["video"] == {  # type: ignore[index]
        "min": 0.03,
        "max": 0.05,
    }


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("idea=0.3..0.2", "must be below its max"),
        ("idea=0.2..", "'' is not a number"),
        ("idea=0.2...0.3", "not a number"),
        ("fresh>=1.2", "must be in (0, 1)"),
        ("fresh=>0.1", "not a number"),
        ("fresh<0.1", "expected TYPE=SHARE"),
        ("fresh>=0.5", "sum to"),
        ("=0.1", "not a valid name"),
    ],
)
def test_bad_range_syntax_is_refused_naming_the_argument(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore, arg: str, message: str
) -> None:
    assert cdctl(zk, zk_root, "targets", "set", "default", "video=0.6").returncode == 0
    before = store.read(store.paths.targets)
    r = cdctl(zk, zk_root, "targets", "set", "default", arg)
    assert r.returncode == 1
    assert message in r.stderr and (arg in r.stderr or message == "sum to"), r.stderr
    assert store.read(store.paths.targets) == before
