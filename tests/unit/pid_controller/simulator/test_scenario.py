"""Scenario files: JSON and YAML, shipped names, and clear refusals."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from pid_controller.simulator.scenario import (
    CONTRACT_EXAMPLE,
    load_scenario,
    parse_scenario,
    shipped,
)
from pid_controller.simulator.traffic import type_means
from services.errors import InvalidInputError
from services.intervals import Interval

EXAMPLE: dict[str, Any] = CONTRACT_EXAMPLE


def test_contract_example_parses_from_json_and_yaml(tmp_path: Path) -> None:
    (tmp_path / "ex.json").write_text(json.dumps(EXAMPLE))
    (tmp_path / "ex.yaml").write_text(yaml.safe_dump(EXAMPLE))
    a = load_scenario(str(tmp_path / "ex.json"))
    b = load_scenario(str(tmp_path / "ex.yaml"))
    assert a == b.model_copy(update={"name": "ex"})
    assert a.name == "ex" and a.hours == 96 and a.interval_seconds == 3600
    assert a.types["video"].diurnal == 0.1 and a.types["image"].diurnal == 0.0


def test_every_shipped_scenario_loads_and_has_a_description() -> None:
    expected = {"blog-video", "mix5", "infeasible", "ab-groups", "diurnal", "narrow-scores"}
    assert set(shipped()) >= expected
    for name in shipped():
        s = load_scenario(name)
        assert s.name == name and s.description


def test_targets_at_applies_changes_in_order() -> None:
    data = {
        **EXAMPLE,
        "target_changes": [
            {"at_hour": 10, "policy": "default", "type": "video", "target": 0.1},
            {"at_hour": 5, "policy": "video_heavy", "type": "video", "target": 0.2},
        ],
    }
    s = parse_scenario(data)
    point = Interval.point
    assert s.targets_at(0) == {"default": {"video": point(0.155)}}
    assert s.targets_at(5) == {
        "default": {"video": point(0.155)},
        "video_heavy": {"video": point(0.2)},
    }
    assert s.targets_at(10)["default"] == {"video": point(0.1)}
    assert s.policies() == ["default", "video_heavy"]


def test_type_means_swing_and_shock() -> None:
    s = parse_scenario(EXAMPLE)
    assert type_means(s, 0).tolist() == pytest.approx([-2.0, -2.2])
    assert type_means(s, 6).tolist() == pytest.approx([-1.9, -2.2])  # sin peak at 6 h
    assert type_means(s, 48).tolist() == pytest.approx([-1.5, -2.2])  # shock from 48 on


def _with(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(EXAMPLE)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "field", "words"),
    [
        ("targets.default.fresh", 0.1, "targets.default.fresh", "unknown type"),
        ("types.video.mix", 0.3, "types.*.mix", "sum to 1.05"),
        ("types.video.score_std", -1.0, "types.video.score_std", "greater than or equal"),
        ("requests_per_hour", -5, "requests_per_hour", "greater than or equal"),
        ("targets.default.video", 1.0, "targets.default.video", "less than 1"),
        ("targets.default.video", 0.0, "targets.default.video", "greater than 0"),
        ("shoks", [], "shoks", "Extra inputs"),
        ("types.video.colour", "red", "types.video.colour", "Extra inputs"),
        ("slots", 500, "slots", "exceed"),
        ("interval_seconds", 700, "interval_seconds", "divide 3600"),
        ("groups.control", -1.0, "groups.control", "greater than or equal"),
        ("hours", _DELETE, "hours", "Field required"),
        ("shocks", [{"at_hour": 1, "type": "gif", "score_mean_delta": 1}], "shocks.0.type", "gif"),
    ],
)
def test_bad_scenarios_are_refused_naming_the_field(
    path: str, value: Any, field: str, words: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_scenario(_with(path, value))
    assert info.value.field == field
    assert words in info.value.problem


def test_targets_summing_to_one_are_refused() -> None:
    data = _with("types.image.mix", 0.75)
    data["targets"] = {"default": {"video": 0.6, "image": 0.4}}
    with pytest.raises(InvalidInputError, match="sum to 1"):
        parse_scenario(data)


def test_target_change_breaking_the_sum_is_refused() -> None:
    data = {**EXAMPLE, "targets": {"default": {"video": 0.5, "image": 0.4}}}
    data["target_changes"] = [{"at_hour": 3, "policy": "default", "type": "video", "target": 0.7}]
    with pytest.raises(InvalidInputError) as info:
        parse_scenario(data)
    assert info.value.field == "target_changes" and "hour 3" in info.value.problem


def test_gains_for_an_unknown_policy_are_refused() -> None:
    data = {**EXAMPLE, "gains": {"nobody": {"kp": 0.1, "ki": 0.2}}}
    with pytest.raises(InvalidInputError) as info:
        parse_scenario(data)
    assert info.value.field == "gains.nobody"


def test_bad_names_and_decoding_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="invalid name"):
        parse_scenario({**EXAMPLE, "groups": {"Bad Name": 1.0}})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidInputError, match=r"bad\.json is not valid"):
        load_scenario(str(bad))
    with pytest.raises(InvalidInputError, match="must be a mapping"):
        parse_scenario([1, 2])
    with pytest.raises(InvalidInputError, match="no shipped scenario"):
        load_scenario("no-such-scenario")
