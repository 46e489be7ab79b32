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


def test_colliding_short_operation_ids_keep_their_long_form() -> None:
    """Two routers with the same function name keep their full operationIds."""
    spec = {"paths": {
        "/a": {"get": {"operationId": "app_a_router_list_items"}},
        "/b": {"get": {"operationId": "app_b_router_list_items"}},
        "/c": {"get": {"operationId": "app_c_router_show"}},
    }}  # fmt: skip
    ids = [op["operationId"] for _, _, op in normalize.operations(normalize.shorten_operation_ids(spec))]
    assert ids == ["app_a_router_list_items", "app_b_router_list_items", "show"]


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
