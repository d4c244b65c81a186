"""Saturation warnings and the constants table for predictive diagnostics."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from services.doc_warnings import saturation_warning
from services.documents import ConstantsDocument, Diagnostic
from services.tables import constants_table

SATURATED = Diagnostic.model_validate(
    {
        "target": 0.15,
        "share": 0.12,
        "saturated": "upper",
        "mode": "predictive",
        "samples": 800,
        "predicted_share": 0.124,
        "reachable": [0.031, 0.124],
        "bound_min": -5.0,
        "bound_max": 5.0,
    }
)


def test_a_saturated_types_warning_names_its_reachable_range_and_bounds() -> None:
    assert saturation_warning("video", SATURATED) == (
        "video reachable 3.1% to 12.4% with bounds ±5; target 15%"
    )
    asymmetric = SATURATED.model_copy(update={"bound_min": -2.0, "bound_max": 3.0})
    assert saturation_warning("video", asymmetric) == (
        "video reachable 3.1% to 12.4% with bounds [-2, 3]; target 15%"
    )


def test_without_a_prediction_the_warning_says_which_bound() -> None:
    pid = Diagnostic(target=0.25, saturated="lower")
    assert saturation_warning("video", pid) == (
        "video: saturated at the lower bound; target 25% is outside the controllable range"
    )
    assert saturation_warning("video", Diagnostic(target=0.25)) is None


def test_the_constants_table_shows_mode_prediction_range_and_the_warning() -> None:
    doc = ConstantsDocument.model_validate(
        {
            "generation": 3,
            "computed_at": "2026-11-22T15:00:04Z",
            "policies": {"default": {"video": 5.0, "fresh": 0.1, "idea": 0.2}},
            "diagnostics": {
                "default": {
                    "video": SATURATED.model_dump(),
                    "fresh": {"target": 0.1, "mode": "pid", "fallback": "too_few_samples"},
                    "idea": {"target": 0.2, "mode": "predictive", "seen_fraction": 0.55},
                }
            },
        }
    )
    console = Console(width=200, record=True)
    console.print(constants_table(doc, datetime(2026, 11, 22, 15, 1, tzinfo=UTC)))
    text = console.export_text()
    assert "12.40%" in text and "3.10%..12.40%" in text
    assert "predictive" in text and "pid (too_few_samples)" in text
    assert "predictive, 55% of slots seen" in text
    assert "default/video reachable 3.1% to 12.4% with bounds ±5; target 15%" in text


def test_the_status_page_shows_the_prediction_and_names_the_range() -> None:
    from blender.constants_source import Snapshot
    from blender.status_page import render_status_page

    doc = ConstantsDocument.model_validate(
        {
            "generation": 3,
            "computed_at": "2026-11-22T15:00:04Z",
            "policies": {"default": {"video": 5.0}},
            "diagnostics": {"default": {"video": SATURATED.model_dump()}},
        }
    )
    html = render_status_page(Snapshot(doc=doc, source="zookeeper", ready=True), 0.0, True)
    assert "predicted_share" in html and "3.10%..12.40%" in html and "predictive" in html
    assert "default/video reachable 3.1% to 12.4% with bounds ±5; target 15%" in html
