"""Range targets and the rate limit in the closed loop (issue 16's aims), both laws."""

from __future__ import annotations

from typing import Any

import pytest

from pid_controller.simulator import metrics
from pid_controller.simulator.engine import ControllerName, RunResult, Series, simulate
from pid_controller.simulator.report import event_rows, report_dict
from pid_controller.simulator.scenario import Scenario, load_scenario, parse_scenario
from services.errors import InvalidInputError
from services.intervals import Interval


def ranges(hours: int, **changes: Any) -> Scenario:
    base = load_scenario("ranges").model_dump(exclude={"name"})
    return parse_scenario({**base, "hours": hours, "requests_per_hour": 5000, **changes}, "r")


def series(result: RunResult, type_name: str) -> Series:
    return next(s for s in result.series if s.type == type_name)


LAWS: list[ControllerName] = ["predictive", "pid"]


@pytest.mark.parametrize("law", LAWS)
def test_a_band_that_holds_the_share_leaves_the_constant_at_0_and_the_feed_untouched(
    law: ControllerName,
) -> None:
    with_band = simulate(ranges(12), law)
    targets = {k: v for k, v in ranges(12).targets["default"].items() if k != "idea"}
    without = simulate(ranges(12, targets={"default": targets}), law)
    idea = series(with_band, "idea")
    assert all(Interval(0.2, 0.35).contains(v) for v in idea.share)
    assert idea.u == [0.0] * 12
    # Not a single impression differs from the run where idea has no target at all.
    for s in without.series:
        assert series(with_band, s.type).share == s.share


def test_shares_outside_their_band_are_steered_to_the_nearest_bound() -> None:
    r = simulate(ranges(30), "pid")
    fresh, product = series(r, "fresh"), series(r, "product")
    assert fresh.share[0] < 0.10 and product.share[0] > 0.12  # both start outside
    for s in (fresh, product):
        settle = metrics.settle_hours(s.share, s.target)
        assert settle is not None and settle <= 12, s.type
    # Steered to the bound, not beyond it: the share sits near the bound it crossed.
    assert abs(sum(fresh.share[-6:]) / 6 / 0.10 - 1) < 0.05
    assert abs(sum(product.share[-6:]) / 6 / 0.12 - 1) < 0.05


def test_predictive_lands_outside_shares_on_the_nearest_bound_within_2_windows() -> None:
    r = simulate(ranges(40, shocks=[{"at_hour": 20, "type": "product", "score_mean_delta": 0.5}]))
    for i in range(len(r.events)):
        for row in event_rows(r, i):
            assert row.settle_hours is not None and row.settle_hours <= 2, (i, row)
    product = series(r, "product")
    assert product.share[0] > 0.12 and product.share[-1] <= 0.12 * 1.05
    assert product.share[20] > 0.12 * 1.05  # the shock pushed it out again


@pytest.mark.parametrize("law", LAWS)
def test_with_max_step_no_step_exceeds_it_and_the_limit_is_reported(law: ControllerName) -> None:
    r = simulate(ranges(12), law, max_step=0.05)
    for s in r.series:
        assert metrics.largest_step(s.u) <= 0.05 + 1e-9, s.type
    limited = {s.type for s in r.series if any(s.rate_limited)}
    assert "product" in limited  # 24 % against <= 12 %: wants a big first step
    steps = {(x["type"]): x for x in report_dict(r)["steps"]}
    assert steps["product"]["rate_limited_hours"] > 0
    assert steps["idea"]["largest_step"] == 0.0


def test_window_seconds_keeps_the_in_process_loop_and_labels_windows() -> None:
    hourly = simulate(ranges(6), "pid")
    short = simulate(ranges(6, window_seconds=300), "pid")
    assert short.hour_seconds == 300 and report_dict(short)["hour_seconds"] == 300
    assert [s.share for s in short.series] == [s.share for s in hourly.series]


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"window_seconds": 45}, "60 to 3600 seconds"),
        ({"window_seconds": 90}, "whole minutes"),
        ({"window_seconds": 300, "interval_seconds": 1800}, "not both"),
        ({"targets": {"default": {"idea": {"min": 0.3, "max": 0.2}}}}, "below max"),
    ],
)
def test_bad_window_and_range_fields_are_refused_naming_them(
    changes: dict[str, Any], problem: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        ranges(2, **changes)
    assert problem in info.value.problem
    assert info.value.field.startswith(next(iter(changes)).split("_")[0])
