"""Commands keep library chatter off the terminal; numbers read the same everywhere."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from services import display, logs


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    levels = {n: logging.getLogger(n).level for n in logs.LIBRARIES}
    yield
    root.handlers[:], level = saved
    root.setLevel(level)
    for name, lib_level in levels.items():
        logging.getLogger(name).setLevel(lib_level)


def test_an_info_command_does_not_log_every_http_request() -> None:
    """cd-simulate --feed logs at INFO: httpx's per-request lines stay off unless -v."""
    logs.configure("INFO", libraries=logs.command_libraries(verbose=False))
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert not logging.getLogger("kazoo.client").isEnabledFor(logging.WARNING)
    logs.configure("INFO", libraries=logs.command_libraries(verbose=True))
    assert logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert logging.getLogger("kazoo.client").isEnabledFor(logging.WARNING)


def test_a_server_keeps_library_warnings_but_not_request_lines() -> None:
    logs.configure("INFO")
    assert logging.getLogger("kazoo.client").isEnabledFor(logging.WARNING)
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)


@pytest.mark.parametrize(
    ("value", "text"), [(-0.0, "0"), (-1e-20, "-1e-20"), (0.1335, "0.1335"), (None, "-")]
)
def test_number_never_shows_negative_zero(value: float | None, text: str) -> None:
    assert display.number(value) == text


@pytest.mark.parametrize(
    ("value", "text"), [(-1e-9, "+0.0000"), (-0.0, "+0.0000"), (-0.5, "-0.5000")]
)
def test_signed_constant_never_shows_negative_zero(value: float, text: str) -> None:
    assert display.signed(value) == text


def test_shares_are_percent_as_targets_show_prints_them() -> None:
    assert [display.share(v) for v in (0.06, 0.155, -1e-9, None)] == [
        "6.00%",
        "15.50%",
        "0.00%",
        "-",
    ]
