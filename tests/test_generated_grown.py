"""The grown Partner API (tests/fixtures/grown-openapi.json): every operation generated, typed and parsing."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import uuid
from typing import Any

import pytest
from _servers import StaticServer
from conftest import GrownPackage
from openapi_python_client.strings import snake_case

import normalize
from podero_client.testing import wallbox_payload

ORG, USER, DEVICE = (str(uuid.UUID(int=n)) for n in (1, 2, 3))
BASE = f"/api/partners/v2.0/org/{ORG}/users/{USER}"


def _module_name(operation: dict[str, Any], short_name: str) -> str:
    return f"api.{snake_case(operation['tags'][0])}.{snake_case(short_name)}"


def test_every_operation_is_generated(grown_package: GrownPackage) -> None:
    """Each of the 25 operations is a module with its request functions; none is dropped."""
    spec = grown_package.spec
    short = normalize.shorten_operation_ids(spec)
    found = list(normalize.operations(spec))
    assert len(found) == 25
    for (_, _, operation), (_, _, shortened) in zip(found, normalize.operations(short), strict=True):
        module = grown_package.generated(_module_name(operation, shortened["operationId"]))
        for function in ("sync_detailed", "asyncio_detailed"):  # sync and asyncio only with a body
            assert callable(getattr(module, function)), f"{module.__name__}.{function}"


def test_generated_grown_code_passes_strict_mypy(grown_package: GrownPackage) -> None:
    """mypy --strict finds nothing in the grown generation (run once: it takes a while)."""
    work = grown_package.root.parent
    command = ["-m", "mypy", "--strict", "--python-version", "3.11", "--cache-dir", str(work / ".mypy")]
    result = subprocess.run(  # noqa: S603 (our own interpreter, fixed arguments)
        [sys.executable, *command, "-p", "podero_grown._generated"],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]


def _device(device_type: str, **fields: Any) -> dict[str, Any]:
    return {"device_type": device_type, "id": DEVICE, "connection_status": "ok", **fields}


async def test_unknown_device_type_keeps_the_list(grown_package: GrownPackage, static_server: StaticServer) -> None:
    """One device of a type this client does not know becomes UnknownDevice; the others still parse."""
    list_devices = grown_package.generated("api.user_devices.list_devices")
    AuthenticatedClient = grown_package.generated("client").AuthenticatedClient
    models = grown_package.generated("models")

    body = [_device("wallbox", mode="READY"), _device("battery", capacity_kwh=10.5)]
    static_server.routes[f"{BASE}/devices"] = (200, "application/json", json.dumps(body).encode())
    async with AuthenticatedClient(base_url=static_server.url, token="t") as client:
        devices = await list_devices.asyncio(uuid.UUID(ORG), uuid.UUID(USER), client=client)
    assert devices is not None
    wallbox, battery = devices
    assert isinstance(wallbox, models.WallboxDeviceOutput)
    assert isinstance(battery, models.UnknownDevice)
    assert battery.device_type == "battery"
    assert battery.additional_properties["capacity_kwh"] == 10.5
    assert battery.to_dict() == body[1], "an unknown device round-trips"


async def test_unknown_action_code_on_a_heat_pump(
    grown_package: GrownPackage, static_server: StaticServer, published_spec: dict[str, Any]
) -> None:
    """A heat pump's actions list with an unknown code parses; the known ones keep their class."""
    retrieve_heat_pump = grown_package.generated("api.user_heat_pumps.retrieve_heat_pump")
    AuthenticatedClient = grown_package.generated("client").AuthenticatedClient
    models = grown_package.generated("models")

    shared = set(grown_package.spec["components"]["schemas"]["HeatPumpDetailOutput"]["properties"])
    payload = {key: value for key, value in wallbox_payload().items() if key in shared}
    payload["operating_mode"] = "heating"
    payload["actions"] = [
        {"code": "reauthenticate", "resolution_link": {"url": "/r", "required_parameters": []}},
        {"code": "replace_filter", "due": "2026-04-01"},
    ]
    static_server.routes[f"{BASE}/heat-pumps/{DEVICE}?include_deleted=false"] = (
        200,
        "application/json",
        json.dumps(payload).encode(),
    )
    async with AuthenticatedClient(base_url=static_server.url, token="t") as client:
        heat_pump = await retrieve_heat_pump.asyncio(uuid.UUID(ORG), uuid.UUID(USER), uuid.UUID(DEVICE), client=client)
    assert isinstance(heat_pump, models.HeatPumpDetailOutput)
    known, unknown = heat_pump.actions
    assert isinstance(known, models.ReauthenticateProjection)
    assert isinstance(unknown, models.UnknownAction)
    assert unknown.code == "replace_filter"
    assert unknown.additional_properties == {"due": "2026-04-01"}


async def test_unknown_enum_value_keeps_the_model(grown_package: GrownPackage, static_server: StaticServer) -> None:
    """A charging mode this client does not know parses to a pseudo-member instead of failing the model."""
    retrieve_charging_config = grown_package.generated("api.user_charging_config.retrieve_charging_config")
    AuthenticatedClient = grown_package.generated("client").AuthenticatedClient
    models = grown_package.generated("models")

    body = {"mode": "solar_only", "available_modes": ["spot", "solar_only"]}
    static_server.routes[f"{BASE}/charging-config"] = (200, "application/json", json.dumps(body).encode())
    async with AuthenticatedClient(base_url=static_server.url, token="t") as client:
        config = await retrieve_charging_config.asyncio(uuid.UUID(ORG), uuid.UUID(USER), client=client)
    assert isinstance(config, models.ChargingConfigOutput)
    assert config.mode == "solar_only"
    assert not config.mode.is_known
    assert [mode.is_known for mode in config.available_modes] == [True, False]


def test_grown_package_imports_its_own_layer(grown_package: GrownPackage) -> None:
    """The copied hand-written layer imports the grown generation, not podero_client's."""
    assert grown_package.module.PoderoClient.__module__ == "podero_grown._client"
    models = importlib.import_module("podero_grown.models")
    assert str(models.__file__).startswith(str(grown_package.root))
    assert (grown_package.generated_dir / "api" / "user_heat_pumps" / "retrieve_heat_pump.py").is_file()


@pytest.mark.parametrize("name", ["boost", "cancel_boost"])
def test_colliding_function_names_live_in_their_tags(grown_package: GrownPackage, name: str) -> None:
    """boost and cancel_boost of wallboxes and of electric vehicles are two modules with the bare name."""
    for tag in ("user_wallboxes", "user_electric_vehicles"):
        assert (grown_package.generated_dir / "api" / tag / f"{name}.py").is_file()
