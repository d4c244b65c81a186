"""Windows down to 60 s (contract section 11): the settings, ``--interval``, the wait."""

from __future__ import annotations

import pytest

from pid_controller.cli import _with_interval, config_from
from pid_controller.schedule import next_run
from services.errors import InvalidInputError
from services.settings import ControllerSettings, load


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"CD_CONTROLLER_INTERVAL_SECONDS": "30"}, "greater than or equal to 60"),
        ({"CD_CONTROLLER_INTERVAL_SECONDS": "90"}, "multiple of CD_COUNTER_BUCKET_SECONDS (60 s)"),
        (
            {"CD_CONTROLLER_INTERVAL_SECONDS": "300", "CD_COUNTER_BUCKET_SECONDS": "120"},
            "multiple of CD_COUNTER_BUCKET_SECONDS (120 s)",
        ),
        ({"CD_CONTROLLER_MAX_STEP": "0"}, "greater than 0"),
    ],
)
def test_bad_windows_and_steps_are_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], problem: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(InvalidInputError) as info:
        load(ControllerSettings)
    name = next(k for k in env if k != "CD_COUNTER_BUCKET_SECONDS")
    assert info.value.field == name and problem in info.value.problem


def test_sixty_second_windows_are_accepted_and_waits_fit_in_the_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CD_CONTROLLER_INTERVAL_SECONDS", "60")
    settings = load(ControllerSettings)
    config = config_from(settings)
    assert config.interval == 60 and config.max_wait == 30.0  # 60 s - the 30 s delay
    assert config.bounds.max_step == 2.0
    hourly = config_from(load(ControllerSettings, controller_interval_seconds=3600))
    assert hourly.max_wait == 300.0
    # 50 s into a minute: the next run is the next minute plus the delay.
    assert next_run(1_000_000_010, 60, 30) == 1_000_000_020 + 30


def test_schedule_interval_flag_is_checked_like_the_setting() -> None:
    settings = load(ControllerSettings)
    assert _with_interval(settings, 300).controller_interval_seconds == 300
    with pytest.raises(InvalidInputError) as info:
        _with_interval(settings, 90)
    assert info.value.field == "--interval" and "CD_COUNTER_BUCKET_SECONDS" in info.value.problem
