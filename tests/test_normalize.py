"""The normalizer rules, one by one, on the published spec and on already-fixed input."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import normalize

PUBLISHED: dict[str, Any] = json.loads((Path(__file__).parent.parent / "openapi.json").read_text())
WALLBOX_PATH = "/api/partners/v2.0/org/{org_id}/users/{user_id}/wallboxes/{wallbox_id}"


def _actions_items(spec: dict[str, Any]) -> dict[str, Any]:
    items: dict[str, Any] = spec["components"]["schemas"]["WallboxDetailOutput"]["properties"]["actions"]["items"]
    return items


def test_discriminator_mapping_objects_become_ref_strings() -> None:
    """{"$ref": X} mapping values become X."""
    fixed = normalize.stringify_discriminator_mappings(PUBLISHED)
    assert _actions_items(fixed)["discriminator"]["mapping"] == {
        "information": "#/components/schemas/InformationActionProjection",
        "reauthenticate": "#/components/schemas/ReauthenticateProjection",
    }
    assert isinstance(_actions_items(PUBLISHED)["discriminator"]["mapping"]["information"], dict), "input untouched"


def test_string_mapping_passes_through() -> None:
    """A spec whose mapping is already strings comes back equal."""
    fixed = normalize.stringify_discriminator_mappings(PUBLISHED)
    assert normalize.stringify_discriminator_mappings(fixed) == fixed


def test_duplicate_titles_get_names_from_their_component_keys() -> None:
    """The two ResolutionLinkSchema components get distinct, readable titles."""
    schemas = normalize.dedupe_schema_titles(PUBLISHED)["components"]["schemas"]
    assert schemas["cue_handler__api_schemas__ResolutionLinkSchema"]["title"] == "ApiSchemasResolutionLinkSchema"
    assert schemas["cue_handler__actions__reauth__ResolutionLinkSchema"]["title"] == "ReauthResolutionLinkSchema"
    titles = [schema.get("title", key) for key, schema in schemas.items()]
    assert len(titles) == len(set(titles))


def test_duplicate_titles_needing_more_segments() -> None:
    """Keys whose nearest segments match are told apart by longer suffixes."""
    spec = {"components": {"schemas": {
        "a__x__Link": {"title": "Link"},
        "b__x__Link": {"title": "Link"},
    }}}  # fmt: skip
    schemas = normalize.dedupe_schema_titles(spec)["components"]["schemas"]
    assert {schemas[key]["title"] for key in schemas} == {"AXLink", "BXLink"}


def test_unique_titles_pass_through() -> None:
    """Without duplicates the spec is returned as it is."""
    spec = normalize.dedupe_schema_titles(PUBLISHED)
    assert normalize.dedupe_schema_titles(spec) == spec


def test_operation_ids_are_shortened() -> None:
    """Django Ninja's long operationIds become their function names."""
    spec = normalize.shorten_operation_ids(PUBLISHED)
    assert spec["paths"][WALLBOX_PATH]["get"]["operationId"] == "retrieve_wallbox"
    assert spec["paths"]["/api/partners/v2.0/auth/token"]["post"]["operationId"] == "token"


def test_short_operation_ids_pass_through() -> None:
    """An operationId that is already short, or not of Ninja's form, is kept."""
    spec = copy.deepcopy(PUBLISHED)
    spec["paths"][WALLBOX_PATH]["get"]["operationId"] = "getWallbox"
    assert normalize.shorten_operation_ids(spec)["paths"][WALLBOX_PATH]["get"]["operationId"] == "getWallbox"


def _ids(spec: dict[str, Any]) -> list[str]:
    return [op["operationId"] for _, _, op in normalize.operations(normalize.shorten_operation_ids(spec))]


def test_short_names_are_unique_per_tag_only() -> None:
    """The same function name in two tags stays bare in both: modules live per tag."""
    spec = {"paths": {
        "/w": {"post": {"tags": ["User Wallboxes"], "operationId": "app_wallboxes_router_boost"}},
        "/e": {"post": {"tags": ["User Electric Vehicles"], "operationId": "app_vehicles_router_boost"}},
    }}  # fmt: skip
    assert _ids(spec) == ["boost", "boost"]


def test_colliding_names_inside_one_tag_are_qualified_deterministically() -> None:
    """Inside one tag the shortest router module keeps the bare name; the others get module words."""
    spec = {"paths": {
        "/a": {"get": {"tags": ["T"], "operationId": "app_org_users_items_router_list_items"}},
        "/b": {"get": {"tags": ["T"], "operationId": "app_org_items_router_list_items"}},
        "/c": {"get": {"tags": ["T"], "operationId": "app_c_router_show"}},
    }}  # fmt: skip
    assert _ids(spec) == ["items_list_items", "list_items", "show"]
    reordered = {"paths": dict(reversed(list(spec["paths"].items())))}
    assert sorted(_ids(reordered)) == sorted(_ids(spec)), "document order does not matter"


def test_a_name_that_is_not_ninjas_is_kept_and_wins_its_name() -> None:
    """A hand-written operationId keeps its name; a Ninja one with the same function is qualified."""
    spec = {"paths": {
        "/a": {"get": {"tags": ["T"], "operationId": "list_items"}},
        "/b": {"get": {"tags": ["T"], "operationId": "app_org_items_router_list_items"}},
    }}  # fmt: skip
    assert _ids(spec) == ["list_items", "items_list_items"]


GROWN: dict[str, Any] = json.loads((Path(__file__).parent / "fixtures" / "grown-openapi.json").read_text())


def _names(spec: dict[str, Any]) -> dict[str, str]:
    """operationId (long form) -> short name."""
    long_ids = [op["operationId"] for _, _, op in normalize.operations(spec)]
    return dict(zip(long_ids, _ids(spec), strict=True))


@pytest.mark.parametrize(
    "change",
    ["add_other_tag", "add_same_function_other_tag", "remove", "rename"],
)
def test_other_operations_never_rename_an_existing_one(change: str) -> None:
    """Adding, removing or renaming another operation leaves every other short name as it was."""
    spec = copy.deepcopy(GROWN)
    before = _names(spec)
    paths = spec["paths"]
    if change == "add_other_tag":
        paths["/api/partners/v2.0/org/{org_id}/wallboxes/{wallbox_id}"] = {"get": {
            "tags": ["Wallboxes"],
            "operationId": "integrations_api_api_v2_organizations_wallboxes_router_retrieve_wallbox",
            "responses": {"200": {"description": "OK"}},
        }}  # fmt: skip
    elif change == "add_same_function_other_tag":
        paths["/api/partners/v2.0/org/{org_id}/heat-pumps/{id}/boost"] = {"post": {
            "tags": ["Heat Pump Boosts"], "operationId": "integrations_api_api_v2_heat_pumps_router_boost",
            "responses": {"204": {"description": "No Content"}},
        }}  # fmt: skip
    elif change == "remove":
        del paths["/api/partners/v2.0/org/{org_id}/users/{user_id}/electric-vehicles/{electric_vehicle_id}/boost"]
    else:
        operation = paths["/api/partners/v2.0/org/{org_id}/users"]["get"]
        operation["operationId"] = operation["operationId"].replace("list_users", "list_org_users")
    after = _names(spec)
    assert {key: before[key] for key in after.keys() & before.keys()} == {
        key: after[key] for key in after.keys() & before.keys()
    }


def test_grown_spec_names_are_bare_function_names() -> None:
    """Every operation of the grown fixture gets its bare function name (no collision inside a tag)."""
    names = _names(GROWN)
    assert all(long_id.endswith(f"_router_{short}") for long_id, short in names.items() if long_id != short)
    assert names["integrations_api_api_v2_organizations_users_wallboxes_router_boost"] == "boost"
    assert names["integrations_api_api_v2_organizations_users_electric_vehicles_router_boost"] == "boost"


def test_discriminated_union_gets_a_catch_all_member() -> None:
    """actions items gain UnknownAction, which keeps the discriminator and every other field."""
    spec = normalize.open_discriminated_unions(normalize.stringify_discriminator_mappings(PUBLISHED))
    members = _actions_items(spec)["oneOf"]
    assert members[-1] == {"$ref": "#/components/schemas/UnknownAction"}
    fallback = spec["components"]["schemas"]["UnknownAction"]
    assert fallback["required"] == ["code"]
    assert fallback["additionalProperties"] is True
    assert "UnknownAction" not in PUBLISHED["components"]["schemas"], "input untouched"


def test_catch_all_is_added_once() -> None:
    """Normalizing twice changes nothing: every rule is idempotent."""
    once = normalize.normalize(PUBLISHED)
    assert normalize.normalize(once) == once


@pytest.mark.parametrize("rule", normalize.RULES, ids=lambda rule: rule.__name__)
def test_rules_are_deterministic(rule: normalize.Rule) -> None:
    """The same input gives byte-identical output."""
    assert json.dumps(rule(PUBLISHED), sort_keys=True) == json.dumps(rule(copy.deepcopy(PUBLISHED)), sort_keys=True)


def _union(*members: str, discriminator: str = "kind") -> dict[str, Any]:
    return {
        "oneOf": [{"$ref": f"#/components/schemas/{member}"} for member in members],
        "discriminator": {"propertyName": discriminator},
    }


def _member(value: str, discriminator: str = "kind") -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {discriminator: {"const": value, "type": "string"}},
        "required": [discriminator],
    }


def _members_of(node: dict[str, Any]) -> list[str]:
    return [member["$ref"].rsplit("/", 1)[-1] for member in node["oneOf"]]


def test_catch_alls_at_every_depth() -> None:
    """Unions as a property, array items, a nullable property, a response, a list response and a body all get one."""

    def json_body(schema: dict[str, Any]) -> dict[str, Any]:
        return {"content": {"application/json": {"schema": schema}}}

    spec: dict[str, Any] = {
        "paths": {"/x": {"post": {
            "requestBody": json_body(_union("A", "B", discriminator="device_type")),
            "responses": {
                "200": json_body({"type": "array", "items": _union("C", "D", discriminator="device_type")}),
                "201": json_body(_union("C", "D", discriminator="device_type")),
            },
        }}},
        "components": {"schemas": {
            "A": _member("a", "device_type"), "B": _member("b", "device_type"),
            "C": _member("c", "device_type"), "D": _member("d", "device_type"),
            "E": _member("e"), "F": _member("f"),
            "Holder": {"type": "object", "properties": {
                "pet": _union("E", "F"),
                "pets": {"type": "array", "items": _union("E", "F")},
                "maybe_pet": {"anyOf": [_union("E", "F"), {"type": "null"}]},
            }},
        }},
    }  # fmt: skip
    fixed = normalize.open_discriminated_unions(spec)
    holder = fixed["components"]["schemas"]["Holder"]["properties"]
    assert _members_of(holder["pet"])[-1] == "UnknownPet"
    assert _members_of(holder["pets"]["items"])[-1] == "UnknownPet", "identical unions share their catch-all"
    assert _members_of(holder["maybe_pet"]["anyOf"][0])[-1] == "UnknownPet"
    responses = fixed["paths"]["/x"]["post"]["responses"]
    assert _members_of(responses["200"]["content"]["application/json"]["schema"]["items"])[-1] == "UnknownDevice"
    assert _members_of(responses["201"]["content"]["application/json"]["schema"])[-1] == "UnknownDevice"
    body = fixed["paths"]["/x"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert _members_of(body)[-1] == "UnknownDevice2", "another union on device_type: a name the generator keeps"
    added = set(fixed["components"]["schemas"]) - set(spec["components"]["schemas"])
    assert added == {"UnknownPet", "UnknownDevice", "UnknownDevice2"}
    assert normalize.open_discriminated_unions(fixed) == fixed, "a union with its catch-all is left alone"


def test_grown_spec_catch_alls() -> None:
    """In the grown spec the three device details share UnknownAction; device lists and PATCH share UnknownDevice."""
    fixed = normalize.normalize(GROWN)
    schemas = fixed["components"]["schemas"]
    for detail in ("WallboxDetailOutput", "HeatPumpDetailOutput", "ElectricVehicleDetailOutput"):
        assert _members_of(schemas[detail]["properties"]["actions"]["items"])[-1] == "UnknownAction"
    devices = "/api/partners/v2.0/org/{org_id}/users/{user_id}/devices"
    listed = fixed["paths"][devices]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["items"]
    patched = fixed["paths"][devices + "/{device_id}"]["patch"]["responses"]["200"]["content"]["application/json"][
        "schema"
    ]
    assert _members_of(listed)[-1] == _members_of(patched)[-1] == "UnknownDevice"
    onboarding = fixed["paths"]["/api/partners/v2.0/device-onboarding"]["post"]["requestBody"]
    assert _members_of(onboarding["content"]["application/json"]["schema"])[-1] == "UnknownDeviceOnboardingInput"
    assert {name for name in schemas if name.startswith("Unknown")} == {
        "UnknownAction", "UnknownDevice", "UnknownDeviceOnboardingInput"
    }  # fmt: skip


def test_normalizing_the_grown_spec_twice_changes_nothing() -> None:
    """Every rule is a no-op on its own output, on the grown spec too."""
    once = normalize.normalize(GROWN)
    assert normalize.normalize(once) == once


def test_duplicate_titles_get_numbers_not_underscores() -> None:
    """A third component whose derived title is taken gets a number: the generator would drop a trailing _."""
    spec = {"components": {"schemas": {
        "a__Link": {"title": "Link"},
        "b__Link": {"title": "Link"},
        "ALink": {"title": "ALink"},
    }}}  # fmt: skip
    schemas = normalize.dedupe_schema_titles(spec)["components"]["schemas"]
    assert schemas["a__Link"]["title"] == "ALink2"
    assert schemas["b__Link"]["title"] == "BLink"
