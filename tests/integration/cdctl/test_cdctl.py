"""cdctl against a real ZooKeeper, run as the installed command an operator types."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from services.documents import MAX_DOCUMENT_BYTES, ConstantsDocument, dump_document
from services.local.zookeeper import ZooKeeperServer
from services.zk import ZkStore
from tests.bad_documents import BAD, BAD_DOCUMENTS

# This venv's cdctl, never another checkout's that happens to be on PATH.
CDCTL = str(Path(sys.executable).parent / "cdctl")


def cdctl(
    zk: ZooKeeperServer,
    root: str,
    *args: str,
    auth: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CD_ZK_HOSTS": zk.hosts, "CD_ZK_ROOT": root, **(env or {})}
    env.pop("CD_ZK_AUTH", None)
    if auth:
        env["CD_ZK_AUTH"] = auth
    return subprocess.run(
        [CDCTL, *args], check=False, env=env, capture_output=True, text=True, timeout=60
    )


def targets_json(store: ZkStore) -> dict[str, object] | None:
    node = store.read(store.paths.targets)
    return None if node is None else orjson.loads(node.data)


def test_set_show_unset_roundtrip(zk: ZooKeeperServer, zk_root: str, store: ZkStore) -> None:
    r = cdctl(zk, zk_root, "targets", "set", "default", "video=0.04", "fresh=0.10")
    assert r.returncode == 0, r.stderr
    r = cdctl(
        zk, zk_root, "targets", "set", "video_heavy", "video=0.08", "--kp", "0.2", "--ki", "0.3"
    )
    assert r.returncode == 0, r.stderr
    assert targets_json(store) == {
        "schema": 1,
        "policies": {
            "default": {"targets": {"video": 0.04, "fresh": 0.10}},
            "video_heavy": {"targets": {"video": 0.08}, "gains": {"kp": 0.2, "ki": 0.3, "kd": 0.0}},
        },
    }
    shown = cdctl(zk, zk_root, "targets", "show")
    assert shown.returncode == 0 and "video_heavy" in shown.stdout and "4.00%" in shown.stdout
    assert cdctl(zk, zk_root, "targets", "unset", "default", "fresh").returncode == 0
    assert cdctl(zk, zk_root, "targets", "unset", "video_heavy").returncode == 0
    assert targets_json(store) == {
        "schema": 1,
        "policies": {"default": {"targets": {"video": 0.04}}},
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["targets", "set", "default", "video=1.5"], "must be in (0, 1)"),
        (["targets", "set", "default", "video=abc"], "not a number"),
        (["targets", "set", "default", "video"], "expected TYPE=SHARE"),
        (["targets", "set", "default", "Video=0.1"], "not a valid name"),
        (["targets", "set", "Bad Policy", "video=0.1"], "POLICY"),
        (["targets", "set", "default", "fresh=0.5", "image=0.5"], "sum to"),
        (["targets", "set", "default", "fresh=0.1", "--u-min", "3", "--u-max", "1"], "bounds"),
        (["targets", "unset", "nosuch"], "no policy"),
        (["targets", "unset", "default", "nosuch"], "no target"),
    ],
)
def test_bad_input_is_refused_and_leaves_zookeeper_unchanged(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore, args: list[str], message: str
) -> None:
    assert cdctl(zk, zk_root, "targets", "set", "default", "video=0.4").returncode == 0
    before = store.read(store.paths.targets)
    r = cdctl(zk, zk_root, *args)
    assert r.returncode == 1
    assert message in r.stderr
    assert store.read(store.paths.targets) == before


def test_constants_show_highlights_saturation(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore
) -> None:
    assert "no constants" in cdctl(zk, zk_root, "constants", "show").stdout
    doc = ConstantsDocument.model_validate(
        {
            "generation": 3,
            "computed_at": "2026-11-22T15:00:04Z",
            "window_end": "2026-11-22T15:00:00Z",
            "policies": {"default": {"video": 5.0}},
            "diagnostics": {
                "default": {
                    "video": {
                        "target": 0.3,
                        "share": 0.1,
                        "impressions": 5000,
                        "error": 1.1,
                        "p": 0.1,
                        "i": 4.9,
                        "d": 0.0,
                        "saturated": "upper",
                        "skipped": None,
                    }
                }
            },
        }
    )
    store.create(store.paths.constants, dump_document(doc))
    r = cdctl(zk, zk_root, "constants", "show")
    assert r.returncode == 0, r.stderr
    assert "generation 3" in r.stdout and "SATURATED (upper)" in r.stdout
    js = cdctl(zk, zk_root, "constants", "show", "--json")
    assert orjson.loads(js.stdout)["policies"] == {"default": {"video": 5.0}}


def test_writer_without_credentials_cannot_change_targets(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore
) -> None:
    assert (
        cdctl(zk, zk_root, "targets", "set", "default", "video=0.04", auth="ops:pw").returncode == 0
    )
    before = store.read(store.paths.targets)
    r = cdctl(zk, zk_root, "targets", "set", "default", "video=0.05")
    assert r.returncode == 1 and "CD_ZK_AUTH" in r.stderr
    assert store.read(store.paths.targets) == before
    assert (
        cdctl(zk, zk_root, "targets", "set", "default", "video=0.05", auth="ops:pw").returncode == 0
    )


def test_pause_resume_history_and_rollback_commands(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore
) -> None:
    from pid_controller.runner import run_once
    from tests.integration.pid_controller.test_runner_ledger import CONFIG, at, counts

    assert cdctl(zk, zk_root, "targets", "set", "default", "video=0.155").returncode == 0
    for hour, video in enumerate([2_000, 1_700]):
        run_once(store, CONFIG, at=at(hour), fetch=counts({"g": (10_000, {"video": video})}))
    hist = cdctl(zk, zk_root, "constants", "history")
    assert hist.returncode == 0 and "default: video" in hist.stdout
    assert hist.stdout.index("│ 2") < hist.stdout.index("│ 1")  # newest first
    back = cdctl(zk, zk_root, "constants", "rollback", "1")
    assert back.returncode == 0 and "as generation 3" in back.stdout
    assert "rollback to generation 1" in cdctl(zk, zk_root, "constants", "history").stdout
    assert cdctl(zk, zk_root, "constants", "rollback", "42").returncode == 1

    r = cdctl(zk, zk_root, "controller", "pause", "--reason", "holiday freeze")
    assert r.returncode == 0 and store.read(store.paths.paused) is not None
    again = cdctl(zk, zk_root, "controller", "pause", "--reason", "x")
    assert "already paused" in again.stdout and "holiday freeze" in again.stdout
    assert cdctl(zk, zk_root, "controller", "pause", "--reason", " ").returncode == 1
    assert cdctl(zk, zk_root, "controller", "resume").stdout.strip() == "resumed"
    assert store.read(store.paths.paused) is None


def put_raw(store: ZkStore, path: str, raw: bytes) -> None:
    store.put(path, raw, store.read(path))


def write_first_generation(zk: ZooKeeperServer, zk_root: str, store: ZkStore) -> None:
    """Targets set by cdctl, then one controller step: generation 1 in the history."""
    from pid_controller.runner import run_once
    from tests.integration.pid_controller.test_runner_ledger import CONFIG, at, counts

    assert cdctl(zk, zk_root, "targets", "set", "default", "video=0.155").returncode == 0
    run_once(store, CONFIG, at=at(0), fetch=counts({"g": (10_000, {"video": 2_000})}))


def assert_clean_refusal(r: subprocess.CompletedProcess[str], path: str, problem: str) -> None:
    assert problem, "name the problem the refusal must state (an empty one matches anything)"
    assert r.returncode == 1, r.stdout
    assert path in r.stderr and problem in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(("raw", "problem"), BAD)
def test_show_commands_name_a_bad_document(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore, raw: bytes, problem: str
) -> None:
    paths = store.paths
    for path in (paths.targets, paths.constants):
        put_raw(store, path, raw)
    for args, path in (
        (("targets", "show"), paths.targets),
        (("constants", "show"), paths.constants),
    ):
        assert_clean_refusal(cdctl(zk, zk_root, *args), path, problem)


@pytest.mark.parametrize(
    ("raw", "problem"), [p for p in BAD if p.id in ("invalid-json", "nan", "over-the-size-limit")]
)
def test_set_over_a_bad_targets_document_is_refused_and_changes_nothing(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore, raw: bytes, problem: str
) -> None:
    put_raw(store, store.paths.targets, raw)
    before = store.read(store.paths.targets)
    r = cdctl(zk, zk_root, "targets", "set", "default", "video=0.1")
    assert_clean_refusal(r, store.paths.targets, problem)
    assert store.read(store.paths.targets) == before


def test_history_leaves_out_and_names_every_bad_entry(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore
) -> None:
    write_first_generation(zk, zk_root, store)
    bad = {
        store.paths.history_entry(2 + i): (raw, problem)
        for i, (_, raw, problem) in enumerate(BAD_DOCUMENTS)
    }
    for path, (raw, _) in bad.items():
        store.create(path, raw)
    r = cdctl(zk, zk_root, "constants", "history", "--limit", "100")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "default: video" in r.stdout  # generation 1 is still listed
    for path, (_, problem) in bad.items():
        line = next(x for x in r.stderr.splitlines() if path in x)
        assert "unreadable history entry" in line and problem in line
    # Rolling back to an unreadable generation is refused, naming its znode.
    assert_clean_refusal(
        cdctl(zk, zk_root, "constants", "rollback", "2"),
        store.paths.history_entry(2),
        BAD_DOCUMENTS[0][2],
    )


def test_a_targets_document_over_the_size_limit_is_refused_by_cdctl(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore
) -> None:
    """Valid shares, but too many for one document: our refusal, not ZooKeeper's."""
    assert cdctl(zk, zk_root, "targets", "set", "default", "video=0.1").returncode == 0
    before = store.read(store.paths.targets)
    names = [f"t{i:05d}".ljust(64, "x") for i in range(MAX_DOCUMENT_BYTES // 70)]
    r = cdctl(zk, zk_root, "targets", "set", "default", *(f"{n}=0.00001" for n in names))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"over {MAX_DOCUMENT_BYTES}" in r.stderr
    assert store.read(store.paths.targets) == before


def test_rollback_is_the_way_out_of_a_damaged_constants_document(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore
) -> None:
    write_first_generation(zk, zk_root, store)
    put_raw(store, store.paths.constants, b"null")
    assert_clean_refusal(
        cdctl(zk, zk_root, "constants", "show"), store.paths.constants, "must be a JSON object"
    )
    r = cdctl(zk, zk_root, "constants", "rollback", "1")
    assert r.returncode == 0, r.stderr
    assert f"replacing unreadable {store.paths.constants}" in r.stderr
    assert "as generation 2" in r.stdout
    shown = cdctl(zk, zk_root, "constants", "show")
    assert shown.returncode == 0 and "video" in shown.stdout


def test_history_json_and_limit_zero_shows_every_generation(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore
) -> None:
    from pid_controller.runner import run_once
    from tests.integration.pid_controller.test_runner_ledger import CONFIG, at, counts

    assert cdctl(zk, zk_root, "targets", "set", "default", "video=0.155").returncode == 0
    for hour in range(3):
        run_once(store, CONFIG, at=at(hour), fetch=counts({"g": (10_000, {"video": 2_000})}))
    every = cdctl(zk, zk_root, "constants", "history", "--limit", "0", "--json")
    assert every.returncode == 0, every.stderr
    entries = orjson.loads(every.stdout)
    assert [e["generation"] for e in entries] == [3, 2, 1]
    assert entries[0]["constants"]["generation"] == 3 and entries[0]["kind"] == "step"
    two = orjson.loads(cdctl(zk, zk_root, "constants", "history", "-n", "2", "--json").stdout)
    assert [e["generation"] for e in two] == [3, 2]
    table = cdctl(zk, zk_root, "constants", "history", "--limit", "0").stdout
    assert all(f"│ {g} " in table for g in (1, 2, 3))


def test_read_commands_print_json_for_scripts_even_when_empty(
    zk: ZooKeeperServer, zk_root: str
) -> None:
    assert orjson.loads(cdctl(zk, zk_root, "constants", "show", "--json").stdout) is None
    assert orjson.loads(cdctl(zk, zk_root, "constants", "history", "--json").stdout) == []
    targets = orjson.loads(cdctl(zk, zk_root, "targets", "show", "--json").stdout)
    assert targets == {"schema": 1, "policies": {}}


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["targets"],
        ["targets", "set", "default"],
        ["targets", "nosuch"],
        ["constants", "history", "--limit", "-1"],
        ["constants", "rollback", "three"],
        ["controller", "pause"],
    ],
    ids=" ".join,
)
def test_a_bad_command_line_exits_2_and_writes_nothing(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore, args: list[str]
) -> None:
    r = cdctl(zk, zk_root, *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert store.read(store.paths.targets) is None and store.read(store.paths.paused) is None


def test_shell_completion_completes_commands() -> None:
    env = {**os.environ, "_CDCTL_COMPLETE": "complete_bash", "COMP_CWORD": "2"}
    for words, expected in (("cdctl constants h", "history"), ("cdctl controller p", "pause")):
        r = subprocess.run(
            [CDCTL],
            check=False,
            env={**env, "COMP_WORDS": words},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0 and r.stdout.split() == [expected], (words, r.stdout)
