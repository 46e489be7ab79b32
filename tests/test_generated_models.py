"""Forward compatibility of the generated models, built in by the custom templates."""

from __future__ import annotations

import datetime
import enum
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from podero_client import models
from podero_client._generated.api.user_wallboxes import retrieve_wallbox
from podero_client._generated.client import Client
from podero_client._generated.types import UNSET, as_status
from podero_client.testing._payloads import wallbox_payload

ENUMS: list[Any] = [cls for cls in map(models.__dict__.get, models.__all__) if isinstance(cls, enum.EnumMeta)]


def test_realistic_payload_with_both_action_kinds() -> None:
    """Both documented action kinds parse into their own classes, dispatched on `code`."""
    wallbox = models.WallboxDetailOutput.from_dict(wallbox_payload())
    assert isinstance(wallbox.actions, list)
    reauth, info = wallbox.actions
    assert isinstance(reauth, models.ReauthenticateProjection)
    assert isinstance(reauth.resolution_link, models.ReauthResolutionLinkSchema)
    assert reauth.resolution_link.required_parameters == ["redirect_uri"]
    assert isinstance(info, models.InformationActionProjection)
    assert isinstance(info.resolution_link, models.ApiSchemasResolutionLinkSchema)
    assert isinstance(info.metadata, models.InformationActionProjectionMetadata)
    assert info.metadata["message"] == "Your wallbox finished a firmware update."
    assert wallbox.mode is models.WallboxDetailOutputMode.CHARGING
    assert wallbox.owner.first_name == "Anna"


@pytest.mark.parametrize("enum_class", ENUMS, ids=lambda cls: cls.__name__)
def test_every_enum_keeps_unknown_values(enum_class: Any) -> None:
    """A value the spec did not list becomes a pseudo-member that behaves like its string."""
    unknown = enum_class("zz_added_later")
    assert isinstance(unknown, enum_class)
    assert unknown.value == "zz_added_later"
    assert str(unknown) == "zz_added_later"
    assert unknown == "zz_added_later"
    assert hash(unknown) == hash("zz_added_later")
    assert not unknown.is_known
    known = next(iter(enum_class))
    assert enum_class(known.value) is known
    assert known.is_known


def test_enum_still_rejects_non_strings() -> None:
    """Only strings are open: a number is still a ValueError."""
    with pytest.raises(ValueError, match="is not a valid"):
        models.PriceZone(42)  # type: ignore[arg-type]  # the point of the test


def test_payload_with_unknown_values_parses_and_reads_back() -> None:
    """Unknown enum values, an unknown action code and an extra field survive parsing."""
    unknown_action = {"code": "pay_invoice", "amount_eur": 12.5, "resolution_link": {"url": "/pay"}}
    payload = wallbox_payload(
        price_zone="NO_2",
        connection="degraded",
        boost_state="on",
        actions=[*wallbox_payload()["actions"], unknown_action],
    )
    wallbox = models.WallboxDetailOutput.from_dict(payload)
    assert wallbox.price_zone == "NO_2"
    assert wallbox.price_zone.value == "NO_2"
    assert isinstance(wallbox.price_zone, models.PriceZone)
    assert str(wallbox.connection) == "degraded"
    assert wallbox.additional_properties == {"boost_state": "on"}
    assert isinstance(wallbox.actions, list)
    action = wallbox.actions[-1]
    assert isinstance(action, models.UnknownAction)
    assert action.code == "pay_invoice"
    assert action.to_dict() == unknown_action
    assert wallbox.to_dict()["boost_state"] == "on"
    assert wallbox.to_dict()["actions"][-1] == unknown_action


def test_known_action_code_with_broken_body_is_an_error() -> None:
    """A `reauthenticate` item without its required link is not silently downgraded."""
    payload = wallbox_payload(actions=[{"code": "reauthenticate"}])
    with pytest.raises(TypeError, match=r"field actions\.resolution_link|resolution_link"):
        models.WallboxDetailOutput.from_dict(payload)


@pytest.mark.parametrize("status", [499, 520, 527, 200, 404])
def test_unusual_status_codes_do_not_crash_build_response(status: int) -> None:
    """Codes outside HTTPStatus come back as plain ints; standard ones stay HTTPStatus."""
    client = Client(base_url="http://127.0.0.1")
    body = json.dumps(wallbox_payload()).encode() if status == 200 else b"<html>origin error</html>"
    response = retrieve_wallbox._build_response(client=client, response=httpx.Response(status, content=body))
    assert response.status_code == status
    assert as_status(status) == status
    assert (response.parsed is not None) == (status == 200)


# hypothesis-jsonschema resolves no #/components refs and knows no OpenAPI keywords.
def _inline(node: Any, schemas: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(schemas[node["$ref"].rsplit("/", 1)[-1]], schemas)
        inlined = {key: _inline(value, schemas) for key, value in node.items() if key != "discriminator"}
        if node.get("type") == "integer":  # the models take an integer that fits in 64 bits, as Podero stores it
            inlined = {"minimum": -(2**63), "maximum": 2**63 - 1, **inlined}
        return inlined
    if isinstance(node, list):
        return [_inline(value, schemas) for value in node]
    return node


_SPEC = json.loads((Path(__file__).resolve().parent.parent / "openapi.json").read_text())
_WALLBOX_SCHEMA = _inline(_SPEC["components"]["schemas"]["WallboxDetailOutput"], _SPEC["components"]["schemas"])
_UUIDS = st.uuids().map(str)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(from_schema(_WALLBOX_SCHEMA, custom_formats={"uuid": _UUIDS}))
def test_any_schema_valid_wallbox_parses_and_round_trips(payload: dict[str, Any]) -> None:
    """from_dict never raises on a schema-valid payload, and to_dict gives back an equal model."""
    wallbox = models.WallboxDetailOutput.from_dict(payload)
    assert models.WallboxDetailOutput.from_dict(wallbox.to_dict()) == wallbox
    if "id" in payload and payload["id"] is not None:
        assert wallbox.id == uuid.UUID(payload["id"])


@pytest.mark.parametrize(
    ("field", "value"),
    [("deleted_at", "yesterday"), ("deleted_at", 5), ("device_model", "Easee"), ("id", "not-a-uuid")],
)
def test_optional_field_of_the_wrong_type_raises(field: str, value: object) -> None:
    """A value that is neither null nor buildable is an error, not an attribute whose type lies."""
    with pytest.raises((ValueError, TypeError, AttributeError)):
        models.WallboxDetailOutput.from_dict(wallbox_payload(**{field: value}))


def test_optional_fields_accept_null_and_absence() -> None:
    """null and a missing key both stay what they were."""
    wallbox = models.WallboxDetailOutput.from_dict(wallbox_payload(device_model=None, deleted_at=None))
    assert wallbox.device_model is None
    assert wallbox.deleted_at is None
    payload = wallbox_payload()
    del payload["deleted_at"]
    assert models.WallboxDetailOutput.from_dict(payload).deleted_at is UNSET


def test_additional_properties_cost_nothing_until_used() -> None:
    """No per-instance dict when every field is known; the public behaviour of additional_properties is upstream's."""
    known = models.WallboxDetailOutput.from_dict(wallbox_payload())
    assert known._additional_properties is None
    assert known.owner._additional_properties is None
    assert "boost_state" not in known
    assert known.additional_keys == []
    assert repr(known).endswith("additional_properties={})")
    assert known == models.WallboxDetailOutput.from_dict(wallbox_payload())
    with pytest.raises(KeyError):
        known["boost_state"]
    assert known.additional_properties == {}, "made on first use, a real dict"
    assert known == models.WallboxDetailOutput.from_dict(wallbox_payload()), "an empty dict equals none"

    extra = models.WallboxDetailOutput.from_dict({**wallbox_payload(), "boost_state": "on"})
    assert extra["boost_state"] == "on"
    assert extra != known
    known["boost_state"] = "on"
    assert known == extra
    assert known.to_dict()["boost_state"] == "on"
    del known["boost_state"]
    known.additional_properties = {"x": 1}
    assert known["x"] == 1


def test_parsing_a_wallbox_subscripts_no_type_at_run_time() -> None:
    """A cast names its type as text: ``Literal["information"]`` evaluated per parse costs two calls into typing."""
    payload = wallbox_payload()
    assert {action["code"] for action in payload["actions"]} == {"reauthenticate", "information"}
    into_typing: list[str] = []

    def watch(frame: Any, event: str, arg: object) -> None:
        if event == "call" and frame.f_globals.get("__name__") == "typing" and frame.f_code.co_name != "cast":
            into_typing.append(frame.f_code.co_name)

    sys.setprofile(watch)
    try:
        models.WallboxDetailOutput.from_dict(payload)
    finally:
        sys.setprofile(None)
    assert into_typing == []


REFUSED = [
    ("is_charging", "false"),
    ("is_charging", 0),
    ("action_needed", 1),
    ("charge_rate_w", True),
    ("charge_rate_w", "7.5"),
    ("charge_rate_w", 10**400),
    ("charge_rate_w", float("inf")),
    ("charge_rate_w", float("nan")),
    ("consumption_last_day_kwh", 10**400),
    ("consumption_last_day_kwh", True),
    ("charge_power_max_w", "lots"),
    ("charge_power_max_w", True),
    ("charge_power_max_w", 7.0),
    ("charge_time_remaining", 2**63),
    ("comment", 5),
    ("created_at", "2026-12-05"),
    ("created_at", "20261205T100000Z"),
    ("created_at", 1733400000),
    ("id", "{12345678-1234-5678-1234-567812345678}"),
    ("id", "12345678123456781234567812345678"),
    ("mode", 3),
    ("owner", [["email", "a@b.c"]]),
    ("actions", "none"),
]


@pytest.mark.parametrize(("field", "value"), REFUSED, ids=[f"{field}={value!r:.20}" for field, value in REFUSED])
def test_a_value_of_the_wrong_type_is_refused_naming_the_field(field: str, value: object) -> None:
    """A JSON value the field's schema does not allow is a TypeError naming the field, not a lying attribute."""
    with pytest.raises(TypeError, match=rf"field {field}\b"):
        models.WallboxDetailOutput.from_dict(wallbox_payload(**{field: value}))


ACCEPTED = [
    ("is_charging", False, False),
    ("charge_rate_w", 7360, 7360.0),
    ("charge_rate_w", -0.0, -0.0),
    ("charge_rate_w", 1.7976931348623157e308, 1.7976931348623157e308),
    ("consumption_last_day_kwh", "12.5", "12.5"),
    ("charge_time_remaining", 2**63 - 1, 2**63 - 1),
    ("mode", "LEVITATING", "LEVITATING"),
]


@pytest.mark.parametrize(("field", "value", "expected"), ACCEPTED)
def test_a_value_of_the_right_type_is_kept(field: str, value: object, expected: object) -> None:
    """Values at the limits, an int for a number and an unknown enum value are accepted, with their annotated type."""
    wallbox = models.WallboxDetailOutput.from_dict(wallbox_payload(**{field: value}))
    assert getattr(wallbox, field) == expected
    assert isinstance(getattr(wallbox, field), type(expected))


def test_a_naive_timestamp_is_kept_as_given() -> None:
    """A date-time without a zone is accepted as it came (naive), not refused and not guessed."""
    wallbox = models.WallboxDetailOutput.from_dict(wallbox_payload(updated_at="2026-12-05T10:00:00"))
    assert wallbox.updated_at == datetime.datetime(2026, 12, 5, 10, 0)


@pytest.mark.parametrize("parameters", ["redirect_uri", ["redirect_uri", 5], {"redirect_uri": 1}])
def test_a_list_of_strings_is_checked_item_by_item(parameters: object) -> None:
    """A list of strings is a JSON array of strings: a string (split into characters) or an odd item is refused."""
    action = {"code": "reauthenticate", "resolution_link": {"url": "/resolve", "required_parameters": parameters}}
    with pytest.raises(TypeError, match=r"field actions\.resolution_link\.required_parameters"):
        models.WallboxDetailOutput.from_dict(wallbox_payload(actions=[action]))


def test_an_array_for_a_nested_object_is_refused() -> None:
    """A nested object given as an array of pairs (which dict() would take) is refused, naming the field."""
    with pytest.raises(TypeError, match=r"field owner of WallboxDetailOutput: expected object, got array"):
        models.WallboxDetailOutput.from_dict(wallbox_payload(owner=[["email", "a@b.c"]]))
