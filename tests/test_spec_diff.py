"""The change report: what is added, removed or changed, and what is breaking."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import spec_diff

PUBLISHED: dict[str, Any] = json.loads((Path(__file__).parent.parent / "openapi.json").read_text())


def _changes(new: dict[str, Any]) -> set[tuple[str, str, str, bool]]:
    return {(c.kind, c.where, c.what, c.breaking) for c in spec_diff.diff(PUBLISHED, new)}


def test_identical_specs_have_no_changes() -> None:
    """Nothing changed, nothing reported."""
    assert spec_diff.diff(PUBLISHED, copy.deepcopy(PUBLISHED)) == []


def test_additions_are_not_breaking() -> None:
    """A new property, enum value and schema are reported as safe."""
    new = copy.deepcopy(PUBLISHED)
    schemas = new["components"]["schemas"]
    schemas["WallboxDetailOutput"]["properties"]["boost_state"] = {"type": "string"}
    schemas["PriceZone"]["enum"].append("NO_2")
    schemas["Building"] = {"type": "object", "properties": {}}
    assert _changes(new) == {
        ("property", "WallboxDetailOutput.boost_state", "added", False),
        ("enum value", "PriceZone", "added", False),
        ("schema", "Building", "added", False),
    }


def test_removals_and_type_changes_are_breaking() -> None:
    """Removed properties, enum values and operations, and changed types, break callers."""
    new = copy.deepcopy(PUBLISHED)
    wallbox = new["components"]["schemas"]["WallboxDetailOutput"]
    del wallbox["properties"]["comment"]
    wallbox["properties"]["phases"]["type"] = "string"
    wallbox["properties"]["connection"]["enum"].remove("never_connected")
    del new["paths"]["/api/partners/v2.0/auth/token"]
    assert _changes(new) == {
        ("property", "WallboxDetailOutput.comment", "removed", True),
        ("property", "WallboxDetailOutput.phases", "changed", True),
        ("enum value", "WallboxDetailOutput.connection", "removed", True),
        ("operation", "POST /api/partners/v2.0/auth/token", "removed", True),
    }


def test_new_required_parameter_is_breaking() -> None:
    """A call that needs a new argument breaks; an optional one does not."""
    new = copy.deepcopy(PUBLISHED)
    operation = new["paths"]["/api/partners/v2.0/org/{org_id}/users/{user_id}/wallboxes/{wallbox_id}"]["get"]
    operation["parameters"].append({"in": "query", "name": "site", "required": True, "schema": {"type": "string"}})
    operation["parameters"].append({"in": "query", "name": "lang", "schema": {"type": "string"}})
    breaking = {c.where.rsplit(" ", 1)[-1]: c.breaking for c in spec_diff.diff(PUBLISHED, new)}
    assert breaking == {"query:site": True, "query:lang": False}


def test_report_counts_breaking_changes() -> None:
    """The rendered report starts with the totals and lists each change on its own line."""
    new = copy.deepcopy(PUBLISHED)
    new["components"]["schemas"]["PriceZone"]["enum"] = ["AT"]
    report = spec_diff.render(spec_diff.diff(PUBLISHED, new), "old.json", "new.json")
    assert report.startswith("Spec changes from old.json to new.json: 20 change(s), 20 breaking.")
    assert '[BREAKING] enum value removed: PriceZone ("UK")' in report
