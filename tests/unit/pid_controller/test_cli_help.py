"""`pid-controller --help` is written for its user, not copied from a docstring."""

from __future__ import annotations

from pid_controller.cli import build_parser


def test_help_describes_the_command_with_examples_and_exit_codes() -> None:
    text = build_parser().format_help()
    for internal in ("contract section", "``"):
        assert internal not in text
    assert "examples:" in text and "pid-controller run --at" in text
    assert "exit codes: 0" in text and "2 bad command line" in text
    assert "CD_PUSHGATEWAY_URL" in text
