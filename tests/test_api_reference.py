"""scripts/api_reference.py: docs/api.md is written from the spec and the code, and is up to date."""

from __future__ import annotations

import json
from pathlib import Path

from api_reference import OUTPUT, SPEC, render
from conftest import GrownPackage

from normalize import operations


def _rows(text: str, heading: str) -> dict[str, str]:
    """The table rows under ``heading``, by their first cell's name."""
    section = text.split(f"\n{heading}\n", 1)[1].split("\n### ", 1)[0]
    return {
        line.split(" | ")[0].strip("| `").split("`")[0]: line for line in section.splitlines() if line.startswith("| `")
    }


def test_committed_reference_is_up_to_date() -> None:
    """docs/api.md is what the script writes from openapi.json and the package (make check-docs)."""
    assert OUTPUT.read_text() == render(), "docs/api.md is stale: run make docs"


def test_model_rows_carry_type_unit_and_description() -> None:
    """A wallbox field's row has the model's type, the spec's text and default, and a unit from its words or name."""
    rows = _rows(render(), "### `WallboxDetailOutput`")
    assert rows["charge_rate_w"] == (
        "| `charge_rate_w` | `float \\| None \\| Unset` | no |  | W | Current charge power in Watts |"
    )
    assert "| kWh |" in rows["consumption_last_day_kwh"]
    assert "| s |" in rows["charge_time_remaining"]
    assert "| `7000` | W |" in rows["charge_power_max_w"]
    assert "When set, the device is considered deleted." in rows["deleted_at"]
    assert "| `WallboxDetailOutputMode` | yes |" in rows["mode"]


def test_methods_errors_and_enums_are_listed() -> None:
    """The client's methods, each resource method with its return type, every error class and enum values appear."""
    text = render()
    assert "async def get_wallbox(org_id: UUID | str" in text.replace("\\|", "|")
    assert "-> WallboxDetailOutput` | `GET /api/partners/v2.0/org/{org_id}/users/{user_id}/wallboxes/{wallbox_id}`" in (
        text.replace("\\|", "|")
    )
    for error in ("PoderoError", "RateLimitError", "ResponseTooLargeError", "InvalidArgumentError"):
        assert f"| `{error}` |" in text
    assert "`CHARGING`" in text.split("### `WallboxDetailOutputMode` (enum)", 1)[1].split("###", 1)[0]


def test_a_changed_spec_changes_the_reference(tmp_path: Path) -> None:
    """A new description in the spec shows up, so make check-docs fails until make docs runs."""
    spec = json.loads(SPEC.read_text())
    spec["components"]["schemas"]["WallboxDetailOutput"]["properties"]["charge_rate_w"]["description"] = "Now."
    changed = tmp_path / "openapi.json"
    changed.write_text(json.dumps(spec))
    assert "Current charge power in Watts: Now." in render(spec_path=changed)


def test_the_grown_package_lists_every_operation(grown_package: GrownPackage) -> None:
    """Regenerated from the grown fixture, the reference names every operation and the method that calls it."""
    text = render("podero_grown", grown_package.spec_path)
    table = _rows(text, "## Every operation of the spec")
    listed = 0
    for path, method, _ in operations(grown_package.spec):
        row = table.get(f"{method.upper()} {path}")
        assert row is not None, f"{method.upper()} {path} is missing"
        if not path.rstrip("/").endswith("/token"):
            assert "`podero." in row, f"{method.upper()} {path} has no method: {row}"
        listed += 1
    assert listed >= 25
    for name in grown_package.generated("models").__all__:
        assert f"### `{name}`" in text, name
