from __future__ import annotations

import random

import pytest

from services.errors import CDError, InvalidInputError, VersionConflictError
from services.retry import Retry
from services.settings import BlenderSettings, ControllerSettings, load


def test_retry_backs_off_with_jitter_until_success() -> None:
    slept: list[float] = []
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise VersionConflictError("raced")
        return "ok"

    retry = Retry(
        attempts=5, base_delay=0.1, max_delay=1.0, sleep=slept.append, rng=random.Random(1)
    )
    assert retry(flaky) == "ok"
    assert len(slept) == 2 and all(0 <= s <= 0.4 for s in slept)


def test_retry_gives_up_at_attempts_and_deadline() -> None:
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    def always() -> None:
        raise CDError("down")

    with pytest.raises(CDError):
        Retry(attempts=3, sleep=sleep, clock=lambda: now[0])(always)
    retry = Retry(
        attempts=100,
        base_delay=1.0,
        max_delay=1.0,
        deadline=3.0,
        sleep=sleep,
        clock=lambda: now[0],
        rng=random.Random(0),
    )
    now[0] = 0.0
    with pytest.raises(CDError):
        retry(always)
    assert now[0] <= 3.0


def test_retry_does_not_swallow_other_errors() -> None:
    def boom() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        Retry(sleep=lambda s: None)(boom)


def test_settings_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CD_BLENDER_PORT", "http")
    with pytest.raises(InvalidInputError, match="CD_BLENDER_PORT"):
        load(BlenderSettings)
    monkeypatch.delenv("CD_BLENDER_PORT")
    monkeypatch.setenv("CD_ZK_AUTH", "nopassword")
    with pytest.raises(InvalidInputError, match="CD_ZK_AUTH"):
        load(BlenderSettings)
    monkeypatch.delenv("CD_ZK_AUTH")
    monkeypatch.setenv("CD_CONTROLLER_U_MIN", "6")
    with pytest.raises(InvalidInputError, match="CD_CONTROLLER_U_MIN must be below"):
        load(ControllerSettings)
    monkeypatch.delenv("CD_CONTROLLER_U_MIN")
    for name, value in (("KP", "-1"), ("KD", "nan"), ("U_MAX", "inf")):
        monkeypatch.setenv(f"CD_CONTROLLER_{name}", value)
        with pytest.raises(InvalidInputError, match=f"^CD_CONTROLLER_{name}: "):
            load(ControllerSettings)
        monkeypatch.delenv(f"CD_CONTROLLER_{name}")


def test_counter_urls_are_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CD_COUNTER_URLS", " http://a:1/ ,http://b:2,, ")
    assert load(ControllerSettings).counter_url_list == ["http://a:1", "http://b:2"]
