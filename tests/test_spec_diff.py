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
    """The report leads with the summary, then lists each breaking change on its own line."""
    new = copy.deepcopy(PUBLISHED)
    new["components"]["schemas"]["PriceZone"]["enum"] = ["AT"]
    report = spec_diff.render(spec_diff.diff(PUBLISHED, new), "old.json", "new.json").splitlines()
    assert report[0] == "Spec changes from old.json to new.json"
    assert report[1].startswith(
        "Summary: operations 0 added, 0 removed, 0 changed; schemas 0 added, 0 removed; 20 breaking"
    )
    assert report[3] == "Breaking changes (20):"
    assert '  spec: enum value removed: PriceZone ("UK")' in report


WALLBOX = "/api/partners/v2.0/org/{org_id}/users/{user_id}/wallboxes/{wallbox_id}"
GROWN: dict[str, Any] = json.loads((Path(__file__).parent / "fixtures" / "grown-openapi.json").read_text())


def test_renamed_path_parameter_is_one_rename() -> None:
    """wallbox_id -> device_id is reported as a breaking rename, not as an operation removed and added."""
    new = copy.deepcopy(PUBLISHED)
    operation = new["paths"].pop(WALLBOX)
    operation["get"]["parameters"][2]["name"] = "device_id"
    new["paths"][WALLBOX.replace("wallbox_id", "device_id")] = operation
    changes = spec_diff.diff(PUBLISHED, new)
    assert len(changes) == 1
    (change,) = changes
    assert (change.kind, change.what, change.breaking) == ("path parameter", "renamed", True)
    assert change.detail.startswith("wallbox_id -> device_id")
    assert "user_wallboxes.retrieve_wallbox" in change.detail


def test_a_new_schema_is_one_line() -> None:
    """The properties and enum values of a new or removed schema are not listed one by one."""
    changes = spec_diff.diff(PUBLISHED, GROWN)
    assert {change.kind for change in changes} == {"operation", "schema"}
    assert not any(change.breaking for change in changes)
    back = spec_diff.diff(GROWN, PUBLISHED)
    assert {change.kind for change in back} == {"operation", "schema"}
    assert all(change.breaking for change in back), "removing them breaks callers"


def test_required_fields_break_builders_not_readers() -> None:
    """A new required field breaks a request body's model; on a response it is safe."""
    new = copy.deepcopy(GROWN)
    schemas = new["components"]["schemas"]
    schemas["UserInput"]["properties"]["country"] = {"type": "string"}
    schemas["UserInput"]["required"].append("country")
    schemas["UserOutput"]["properties"]["country"] = {"type": "string"}
    schemas["UserOutput"]["required"].append("country")
    schemas["UserOutput"]["required"].remove("created_at")
    assert {(c.where, c.what, c.breaking) for c in spec_diff.diff(GROWN, new)} == {
        ("UserInput.country", "added", True),
        ("UserOutput.country", "added", False),
        ("UserOutput.created_at", "changed", True),  # readers now get UNSET
    }


def test_response_and_body_changes_of_an_operation() -> None:
    """A removed response and a changed request body type are breaking changes of that operation."""
    new = copy.deepcopy(GROWN)
    boost = new["paths"][f"{WALLBOX}/boost"]["post"]
    del boost["responses"]["409"]
    users = new["paths"]["/api/partners/v2.0/org/{org_id}/users"]["post"]
    users["requestBody"]["content"]["application/json"]["schema"] = {"$ref": "#/components/schemas/UserOutput"}
    found = {(c.kind, c.what, c.breaking, c.detail) for c in spec_diff.diff(GROWN, new)}
    assert found == {
        ("response", "removed", True, ""),
        ("request body", "changed", True, "type UserInput -> UserOutput"),
    }


def test_grown_report_is_short() -> None:
    """Pinned -> grown: the summary counts 23 operations and 31 schemas; new schemas take one line."""
    report = spec_diff.render(spec_diff.diff(PUBLISHED, GROWN), "openapi.json", "grown.json").splitlines()
    assert report[1] == (
        "Summary: operations 23 added, 0 removed, 0 changed; schemas 31 added, 0 removed; "
        "0 breaking in the spec, 0 in the generated Python API."
    )
    assert "Breaking changes" not in "\n".join(report)
    assert sum(line.startswith("New schemas (31): ") for line in report) == 1
    assert len(report) < 35


def test_renamed_operation_id_renames_the_module() -> None:
    """Another operationId for the same operation moves its generated function: a breaking rename."""
    new = copy.deepcopy(PUBLISHED)
    operation = new["paths"][WALLBOX]["get"]
    operation["operationId"] = operation["operationId"].replace("retrieve_wallbox", "get_wallbox")
    (change,) = spec_diff.diff(PUBLISHED, new)
    assert (change.kind, change.what, change.breaking) == ("operation", "renamed", True)
    assert change.detail == "user_wallboxes.retrieve_wallbox -> user_wallboxes.get_wallbox"
