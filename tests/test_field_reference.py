"""scripts/field_reference.py: docs/wallbox-fields.md is generated from the spec and up to date."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT
from field_reference import SPEC, render


def test_committed_reference_is_up_to_date() -> None:
    """--check passes on the committed file (make check-docs)."""
    result = subprocess.run(  # noqa: S603  # our own script
        [sys.executable, str(ROOT / "scripts" / "field_reference.py"), "--check"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_rows_carry_type_unit_and_description() -> None:
    """Each field's row has the model's type, a unit from the spec's words or the name, and the spec's text."""
    rows = {line.split(" | ")[0].strip("| `"): line for line in render(json.loads(SPEC.read_text())).splitlines()}
    assert rows["charge_rate_w"] == (
        "| `charge_rate_w` | `float \\| None \\| Unset` | W | no | - | Current charge power in Watts |"
    )
    assert "| kWh |" in rows["consumption_last_day_kwh"]
    assert "| s |" in rows["charge_time_remaining"]
    assert "| Wh |" in rows["total_energy_delivered_wh"]
    assert "date-time" in rows["current_state_last_updated_at"]
    assert "When set, the device is considered deleted." in rows["deleted_at"]
    assert "One of: `READY`, `PLUGGED_IN`, `CHARGING`" in rows["mode"]


def test_a_changed_spec_changes_the_reference() -> None:
    """A new description in the spec shows up, so --check fails until make docs runs."""
    spec = json.loads(SPEC.read_text())
    spec["components"]["schemas"]["WallboxDetailOutput"]["properties"]["charge_rate_w"]["description"] = "Now."
    assert "Current charge power in Watts: Now." in render(spec)
