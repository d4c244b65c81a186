"""cdctl's help is written for its user: every command and parameter described, examples given."""

from __future__ import annotations

import shlex
from collections.abc import Iterator

import pytest
import typer
from typer.core import TyperCommand, TyperGroup
from typer.testing import CliRunner

from cdctl.app import app

ROOT = typer.main.get_command(app)


def commands(
    group: TyperGroup | TyperCommand, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(group, TyperGroup):
        for name in group.commands:
            yield from commands(command_at((*path, name)), (*path, name))


def command_at(path: tuple[str, ...]) -> TyperGroup | TyperCommand:
    cmd = ROOT
    assert isinstance(cmd, TyperGroup)
    for name in path:
        assert isinstance(cmd, TyperGroup)
        sub = cmd.commands[name]
        assert isinstance(sub, TyperGroup | TyperCommand)
        cmd = sub
    return cmd


ALL = list(commands(command_at(())))
LEAVES = [p for p in ALL if not isinstance(command_at(p), TyperGroup)]


def help_text(*path: str) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], prog_name="cdctl", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_every_contract_command_is_there() -> None:
    assert {" ".join(p) for p in LEAVES} >= {
        "targets show",
        "targets set",
        "targets unset",
        "constants show",
        "constants history",
        "constants rollback",
        "controller pause",
        "controller resume",
    }


@pytest.mark.parametrize("path", ALL, ids=lambda p: " ".join(p) or "cdctl")
def test_every_command_and_parameter_is_described(path: tuple[str, ...]) -> None:
    cmd = command_at(path)
    assert cmd.help and len(cmd.help) > 30, path
    text = help_text(*path)
    for internal in ("section", "Argument parsing", "dispatch", '"""', "``"):
        assert internal not in text, (path, internal)
    for param in cmd.params:
        if param.name == "help":
            continue
        assert getattr(param, "help", None), (path, param.name)
        label = param.opts[0] if param.param_type_name == "option" else param.metavar
        assert label and label in text, (path, label)


@pytest.mark.parametrize("path", LEAVES, ids=" ".join)
def test_every_command_shows_examples_that_parse(path: tuple[str, ...]) -> None:
    epilog = command_at(path).epilog or ""
    lines = [line for line in epilog.split("\n\n") if line.startswith("cdctl ")]
    assert any(shlex.split(line)[1 : 1 + len(path)] == list(path) for line in lines), path
    for line in lines:
        args = shlex.split(line.split(" | ")[0])[1:]
        cmd, depth = command_at(()), 0
        while isinstance(cmd, TyperGroup):
            cmd, depth = command_at(tuple(args[: depth + 1])), depth + 1
        # A usage error in an example raises here, as it would exit 2 for the operator.
        cmd.make_context(line, args[depth:])


def test_read_commands_offer_json() -> None:
    reads = [p for p in LEAVES if p[-1] in ("show", "history", "status")]
    assert {("targets", "show"), ("constants", "show"), ("constants", "history")} <= set(reads)
    for path in reads:
        assert "--json" in help_text(*path), path


def test_exit_codes_are_in_the_root_help() -> None:
    text = " ".join(help_text().split())
    assert "0 done" in text and "1 refused or failed" in text and "2 bad command line" in text
