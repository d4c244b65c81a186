"""A server's ``--help`` prints help and exits; it never starts serving."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import blender.cli
import counter_service.cli

MAINS: dict[str, Callable[[list[str]], object]] = {
    "blender": blender.cli.main,
    "counter-service": counter_service.cli.main,
}


@pytest.mark.parametrize("name", MAINS)
def test_help_exits_0_with_settings_pointer(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        MAINS[name](["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: {name}" in out
    assert "CD_" in out and "Examples" in out


@pytest.mark.parametrize("name", MAINS)
def test_unknown_argument_is_a_usage_error(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        MAINS[name](["--port", "9000"])
    assert info.value.code == 2
    assert "unrecognized arguments: --port 9000" in capsys.readouterr().err
