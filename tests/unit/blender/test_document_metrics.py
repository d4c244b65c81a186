"""The served constants document as gauges per policy and type (contract section 13)."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

from prometheus_client.parser import text_string_to_metric_families

from blender.app import create_app
from blender.constants_source import Snapshot, StaticConstants
from blender.document_metrics import target_samples
from blender.metrics import BlenderMetrics
from tests.unit.blender.helpers import constants_doc, serve

DOC = constants_doc(
    {"default": {"video": 5.0, "fresh": -0.5, "idea": 0.2}, "video_heavy": {"video": 2.0}},
    diagnostics={
        "default": {
            "video": {"target": 0.3, "share": 0.1, "saturated": "upper", "reachable": [0.01, 0.2]},
            "fresh": {"target": 0.1, "share": 0.12, "reachable": None},
        }
    },
    counts_complete=False,
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def at(policy: str, type_name: str) -> tuple[tuple[str, str], ...]:
    return (("policy", policy), ("type", type_name))


def scrape(doc: object = DOC) -> Samples:
    with serve(create_app(StaticConstants(DOC if doc is DOC else None))) as client:
        return samples(client.get("/metrics").text)


def test_every_field_of_the_served_document_is_a_gauge() -> None:
    got = scrape()
    video, fresh = at("default", "video"), at("default", "fresh")
    assert got[("cd_constant", video)] == 5.0
    assert got[("cd_constant", at("video_heavy", "video"))] == 2.0
    assert got[("cd_share", video)] == 0.1 and got[("cd_share", fresh)] == 0.12
    assert got[("cd_target", video)] == 0.3 and got[("cd_target", fresh)] == 0.1
    assert got[("cd_saturated", video)] == 1.0 and got[("cd_saturated", fresh)] == 0.0
    assert got[("cd_reachable_low", video)] == 0.01
    assert got[("cd_reachable_high", video)] == 0.2
    assert got[("cd_constants_counts_complete", ())] == 0.0
    assert got[("cd_blender_constants_source", (("source", "zookeeper"),))] == 1.0
    assert got[("cd_blender_constants_source", (("source", "cache"),))] == 0.0


def test_what_the_document_does_not_hold_is_not_exported() -> None:
    got = scrape()
    # No reachable range (pid mode), no diagnostics at all, no range target: no sample.
    for name in ("cd_reachable_low", "cd_reachable_high"):
        assert (name, at("default", "fresh")) not in got
    for name in ("cd_share", "cd_target", "cd_saturated"):
        assert (name, at("video_heavy", "video")) not in got
        assert (name, at("default", "idea")) not in got
    assert not [k for k in got if k[0] in ("cd_target_min", "cd_target_max")]
    # A static source has no ZooKeeper session to report.
    assert not [k for k in got if k[0] == "cd_blender_zookeeper_connected"]


def test_no_document_exports_source_none_and_no_type() -> None:
    got = scrape(None)
    assert got[("cd_blender_constants_source", (("source", "none"),))] == 1.0
    assert not [k for k in got if k[0] in ("cd_constant", "cd_constants_counts_complete")]


def test_a_range_target_exports_its_bounds() -> None:
    assert target_samples(0.04) == {"cd_target": 0.04}
    assert target_samples({"min": 0.2, "max": 0.3}) == {"cd_target_min": 0.2, "cd_target_max": 0.3}
    assert target_samples({"min": 0.1}) == {"cd_target_min": 0.1}
    assert target_samples(SimpleNamespace(min=None, max=0.12)) == {"cd_target_max": 0.12}


def constant(value: bool) -> Callable[[], bool]:
    return lambda: value


def test_zookeeper_connection_is_a_gauge() -> None:
    for connected, value in ((True, 1.0), (False, 0.0)):
        metrics = BlenderMetrics(Snapshot, lambda: 0.0, constant(connected))
        got = samples(metrics.render()[0].decode())
        assert got[("cd_blender_zookeeper_connected", ())] == value
