"""The README's settings table must name every setting with its real default."""

from __future__ import annotations

import re
from pathlib import Path

from services.settings import BlenderSettings, ControllerSettings, CounterSettings

README = (Path(__file__).resolve().parents[3] / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    documented = set(re.findall(r"\| `(CD_[A-Z_]+)` \|", README))
    fields = {
        "CD_" + name.upper()
        for cls in (BlenderSettings, CounterSettings, ControllerSettings)
        for name in cls.model_fields
    }
    assert fields - documented == set(), "add these to the README's settings table"


def test_numeric_defaults_match() -> None:
    for cls in (BlenderSettings, CounterSettings, ControllerSettings):
        for name, field in cls.model_fields.items():
            if isinstance(field.default, int | float) and not isinstance(field.default, bool):
                row = re.search(rf"\| `CD_{name.upper()}` \| `([^`]*)` \|", README)
                assert row is not None, name
                assert float(row.group(1)) == float(field.default), name
