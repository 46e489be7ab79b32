"""Every operation as a typed PoderoClient method (podero.<tag>.<operation>), over the one request core.

The grown spec (tests/fixtures/grown-openapi.json) is regenerated once per session into
``podero_grown`` (conftest.grown_package); its PoderoClient calls the spec-driven FakePodero.
"""

from __future__ import annotations

import asyncio
import datetime
import importlib
import inspect
import json
import os
import subprocess
import sys
import types
import typing
import uuid
from pathlib import Path
from types import ModuleType, NoneType
from typing import Any

import pytest
from conftest import GROWN_SPEC, GrownPackage

import normalize
from podero_client import ConflictError, InvalidArgumentError, PoderoClient
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID, FakePodero, Fault
from podero_client.testing._server import WALLBOX_ROUTE

SPEC = json.loads(GROWN_SPEC.read_text())
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "boost_and_sessions.py"
# Every operation but the token grant, which the auth layer performs itself.
ROUTES = [
    f"{method.upper()} {path}" for path, method, _ in normalize.operations(SPEC) if not path.endswith("/auth/token")
]
ORG, USER, DEVICE = (str(uuid.UUID(int=n)) for n in (11, 12, 13))
BOOST = "POST /api/partners/v2.0/org/{org_id}/users/{user_id}/wallboxes/{wallbox_id}/boost"
CANCEL_BOOST = "DELETE /api/partners/v2.0/org/{org_id}/users/{user_id}/wallboxes/{wallbox_id}/boost"
UPDATE_WALLBOX = "PUT /api/partners/v2.0/org/{org_id}/users/{user_id}/wallboxes/{wallbox_id}"
SESSIONS = "GET /api/partners/v2.0/org/{org_id}/users/{user_id}/electric-vehicles/{electric_vehicle_id}/sessions"
DEVICES = "GET /api/partners/v2.0/org/{org_id}/users/{user_id}/devices"
CREATE_USER = "POST /api/partners/v2.0/org/{org_id}/users"


def _operations(grown: GrownPackage) -> dict[str, tuple[str, str, ModuleType]]:
    """Route key -> (tag, method name, generated module), found from the client's resources."""
    found = {}
    api = grown.generated("api")
    for tag in api.TAGS:
        resource = getattr(api, "".join(part.title() for part in tag.split("_")))
        for name, _ in inspect.getmembers(resource, inspect.iscoroutinefunction):
            module = grown.generated(f"api.{tag}.{name}")
            found[f"{module.METHOD} {module.PATH}"] = (tag, name, module)
    return found


def _arguments(module: ModuleType, fake: Any) -> tuple[list[Any], dict[str, Any]]:
    """Valid arguments for an operation: uuids, dates, and a body built from the spec's sample."""
    hints = typing.get_type_hints(module._get_kwargs)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    operation = fake.spec.operations[f"{module.METHOD} {module.PATH}"]
    if operation.key == f"GET {WALLBOX_ROUTE}":  # served by the hand-written handler, which knows one wallbox
        args.extend([ORG_ID, USER_ID, WALLBOX_ID])
    for name, parameter in inspect.signature(module._get_kwargs).parameters.items():
        hint = hints[name]
        if parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
            if operation.key != f"GET {WALLBOX_ROUTE}":
                args.append(str(uuid.uuid4()) if hint is uuid.UUID else "ct_9QmZ")
        elif name == "body":
            schema = operation.node["requestBody"]["content"]["application/json"]["schema"]
            kwargs["body"] = _model(hint, fake.spec.sample(schema))
        elif parameter.default is inspect.Parameter.empty:
            assert hint is datetime.date, f"no sample for required {name}: {hint}"
            kwargs[name] = datetime.date(2026, 1, 1)
    return args, kwargs


def _model(hint: Any, data: Any) -> Any:
    """The body model of ``hint`` (a union tries each member) that takes ``data``."""
    for candidate in typing.get_args(hint) or (hint,):
        if hasattr(candidate, "from_dict"):
            try:
                return candidate.from_dict(data)
            except (ValueError, KeyError, TypeError):
                continue
    raise AssertionError(f"no member of {hint} takes {data!r}")


def _fits(value: Any, hint: Any) -> bool:
    if hint is NoneType:
        return value is None
    if isinstance(hint, types.UnionType):
        return any(_fits(value, member) for member in typing.get_args(hint))
    return isinstance(value, typing.get_origin(hint) or hint)


def test_every_operation_but_the_token_grant_is_a_method(grown_package: GrownPackage) -> None:
    """The 24 operations (25 minus the token grant) are each one method of one tag resource."""
    operations = _operations(grown_package)
    assert sorted(operations) == sorted(ROUTES)
    assert len(operations) == 24
    client = grown_package.module.PoderoClient
    declared = typing.get_type_hints(client)
    tags = {tag for tag, _, _ in operations.values()}
    assert tags <= declared.keys()
    assert "authentication" not in declared
    assert not tags & set(dir(client)), "a tag would shadow a member of PoderoClient"


@pytest.mark.parametrize("route", ROUTES)
async def test_every_operation_through_its_method(
    grown_package: GrownPackage, grown_fake: Any, route: str, backend: str
) -> None:
    """Each operation, called through podero.<tag>.<op> after its token expired, refreshes and parses its 2xx."""
    tag, name, module = _operations(grown_package)[route]
    args, kwargs = _arguments(module, grown_fake)
    async with grown_fake.client(http_backend=backend) as podero:
        await podero.users.list_users(ORG)  # a token first, so that the expiry below can bite
        grown_fake.requests.clear()
        grown_fake.inject(route, Fault(expire_tokens=True))
        method = getattr(getattr(podero, tag), name)
        result = await method(*args, **kwargs)
    assert _fits(result, typing.get_type_hints(method)["return"]), (route, result)
    authenticated = grown_fake.spec.requires_auth(grown_fake.spec.operations[route])
    # With auth: a 401 from the expired token, one refresh, one replay. Without: one request.
    assert grown_fake.requests[grown_fake.route(route)] == (2 if authenticated else 1)
    assert grown_fake.token_requests == (1 if authenticated else 0)


async def test_raw_response_of_a_201(grown_fake: Any) -> None:
    """with_raw_response gives the 201's status, headers and body beside the parsed model."""
    async with grown_fake.client() as podero:
        response = await podero.user_wallboxes.with_raw_response.create_claim_token(ORG, USER)
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert json.loads(response.content)["token"] == response.parsed.token
    assert response.text == response.content.decode()


async def test_boost_gives_none_on_204(grown_fake: Any) -> None:
    """A documented 204 is a success: the method returns None, the raw variant status 204."""
    async with grown_fake.client() as podero:
        assert await podero.user_wallboxes.boost(ORG, USER, DEVICE) is None
        raw = await podero.user_wallboxes.with_raw_response.cancel_boost(ORG, USER, DEVICE)
    assert (raw.status_code, raw.parsed, raw.content) == (204, None, b"")


async def test_boost_conflict_is_parsed(grown_package: GrownPackage, grown_fake: Any) -> None:
    """The boost's documented 409 raises ConflictError carrying the parsed BoostConflictOutput and the raw body."""
    conflict = {"state": "charging", "reason": "already_charging"}
    grown_fake.set_answer(BOOST, status=409, json=conflict)
    async with grown_fake.client() as podero:
        with pytest.raises(grown_package.module.ConflictError) as caught:
            await podero.user_wallboxes.boost(ORG, USER, DEVICE)
    error = caught.value
    assert type(error.parsed).__name__ == "BoostConflictOutput"
    assert error.parsed.reason == "already_charging"
    assert error.body == conflict
    assert grown_fake.requests[BOOST] == 1  # a 409 is an answer: never retried


async def test_conflict_with_a_body_off_its_schema_keeps_the_raw_body(
    grown_package: GrownPackage, grown_fake: Any
) -> None:
    """A 409 whose body does not fit the documented model still raises ConflictError, parsed None."""
    grown_fake.set_answer(BOOST, status=409, body=b"<html>busy</html>")
    async with grown_fake.client() as podero:
        with pytest.raises(grown_package.module.ConflictError) as caught:
            await podero.user_wallboxes.boost(ORG, USER, DEVICE)
    assert caught.value.parsed is None
    assert caught.value.body == "<html>busy</html>"


async def test_422_carries_ninja_detail(grown_package: GrownPackage, grown_fake: Any) -> None:
    """A request the fake's spec validation refuses (limit over 200) gives 422 with Ninja's detail, parsed."""
    async with grown_fake.client() as podero:
        with pytest.raises(grown_package.module.UnprocessableEntityError) as caught:
            await podero.electric_vehicle_sessions.list_sessions(
                ORG, USER, DEVICE, from_=datetime.date(2026, 1, 1), to=datetime.date(2026, 2, 1), limit=500
            )
    error = caught.value
    assert error.body["detail"][0]["loc"] == ["query", "limit"]
    assert error.detail.startswith("query.limit: ")
    assert type(error.parsed).__name__ == "ValidationErrorOutput"
    assert error.parsed.detail[0].loc == ["query", "limit"]


async def test_unknown_device_type_in_a_list_survives(grown_fake: Any) -> None:
    """A device of a type this client was not generated for parses as the catch-all; its neighbours as usual."""
    body = [
        {"device_type": "battery", "id": DEVICE, "connection_status": "ok"},
        grown_fake.spec.sample({"$ref": "#/components/schemas/WallboxDeviceOutput"}),
    ]
    grown_fake.set_answer(DEVICES, json=body)
    async with grown_fake.client() as podero:
        devices = await podero.user_devices.list_devices(ORG, USER)
    assert [type(device).__name__ for device in devices] == ["UnknownDevice", "WallboxDeviceOutput"]


async def test_bad_path_id_is_refused_before_any_io(grown_package: GrownPackage, grown_fake: Any) -> None:
    """A path parameter of format uuid that is not one raises InvalidArgumentError; nothing is sent."""
    async with grown_fake.client() as podero:
        with pytest.raises(grown_package.module.InvalidArgumentError, match="wallbox_id"):
            await podero.user_wallboxes.boost(ORG, USER, "wallbox-1")
    assert grown_fake.requests[BOOST] == 0
    assert grown_fake.token_requests == 0


async def test_argument_of_the_wrong_type_is_refused_before_any_io(
    grown_package: GrownPackage, grown_fake: Any
) -> None:
    """A date given as text, or a body given as a dict, is InvalidArgumentError (a ValueError), not a crash."""
    async with grown_fake.client() as podero:
        with pytest.raises(ValueError, match="list_sessions"):
            await podero.electric_vehicle_sessions.list_sessions(ORG, USER, DEVICE, from_="2026-01-01", to="x")
        with pytest.raises(grown_package.module.InvalidArgumentError, match="create_user"):
            await podero.users.create_user(ORG, body={"email": "a@example.com"})
    assert sum(grown_fake.requests.values()) == 0


async def test_post_dropped_after_sending_is_sent_once(
    grown_package: GrownPackage, grown_fake: Any, backend: str
) -> None:
    """A POST whose connection drops after the request went out is not repeated: APIConnectionError."""
    grown_fake.inject(BOOST, Fault(drop=True))
    async with grown_fake.client(http_backend=backend) as podero:
        with pytest.raises(grown_package.module.APIConnectionError):
            await podero.user_wallboxes.boost(ORG, USER, DEVICE)
    assert grown_fake.requests[BOOST] == 1


async def test_post_answered_503_is_not_repeated(grown_package: GrownPackage, grown_fake: Any) -> None:
    """A 503 to a POST may come after the server acted: InternalServerError, sent once."""
    grown_fake.inject(CREATE_USER, Fault(status=503, json={"detail": "Service Unavailable"}))
    async with grown_fake.client() as podero:
        user = grown_package.generated("models").UserInput(
            email="a@example.com", role=grown_package.generated("models").UserRole.USER
        )
        with pytest.raises(grown_package.module.InternalServerError):
            await podero.users.create_user(ORG, body=user)
    assert grown_fake.requests[CREATE_USER] == 1


@pytest.mark.parametrize("route", [CANCEL_BOOST, UPDATE_WALLBOX])
async def test_delete_and_put_are_retried(
    grown_package: GrownPackage, grown_fake: Any, route: str, backend: str
) -> None:
    """DELETE and PUT are idempotent: a dropped connection and a 503 are retried until the answer."""
    grown_fake.inject(route, Fault(drop=True), Fault(status=503, json={"detail": "Service Unavailable"}))
    async with grown_fake.client(http_backend=backend) as podero:
        if route == CANCEL_BOOST:
            assert await podero.user_wallboxes.cancel_boost(ORG, USER, DEVICE) is None
        else:
            update = grown_package.generated("models").WallboxUpdateInput(comment="garage")
            wallbox = await podero.user_wallboxes.update_wallbox(ORG, USER, DEVICE, body=update)
            assert type(wallbox).__name__ == "WallboxDetailOutput"
    assert grown_fake.requests[route] == 3


async def test_with_options_view_shares_pool_and_token(grown_fake: Any) -> None:
    """with_options adds headers and keeps the parent's token: one token request for both."""
    async with grown_fake.client() as podero:
        await podero.users.list_users(ORG)
        view = podero.with_options(headers={"X-Trace": "abc"})
        await view.users.list_users(ORG)
        assert grown_fake.last_headers["X-Trace"] == "abc"
        await podero.users.list_users(ORG)
        assert "X-Trace" not in grown_fake.last_headers
        assert view._http is podero._http
    assert grown_fake.token_requests == 1


async def test_with_options_timeout_and_retry(grown_package: GrownPackage, grown_fake: Any) -> None:
    """A view's timeout and retry policy apply to its calls only."""
    module = grown_package.module
    grown_fake.inject(CANCEL_BOOST, Fault(status=503, json={}), Fault(delay=2.0))
    async with grown_fake.client() as podero:
        view = podero.with_options(retry=module.RetryPolicy(max_attempts=1))
        with pytest.raises(module.InternalServerError):
            await view.user_wallboxes.cancel_boost(ORG, USER, DEVICE)
        assert grown_fake.requests[CANCEL_BOOST] == 1  # no retry in the view
        quick = podero.with_options(timeout=0.2, retry=module.RetryPolicy(max_attempts=1))
        with pytest.raises(module.APITimeoutError):
            await quick.user_wallboxes.cancel_boost(ORG, USER, DEVICE)
        assert await podero.user_wallboxes.cancel_boost(ORG, USER, DEVICE) is None  # the parent's settings


async def test_with_options_refuses_bad_settings(fake_podero: FakePodero) -> None:
    """Bad view settings, and an Authorization header, are InvalidArgumentError."""
    async with fake_podero.client() as podero:
        for bad in ({"timeout": "1"}, {"retry": 3}, {"headers": {"X": 1}}, {"headers": {"authorization": "Bearer x"}}):
            with pytest.raises(InvalidArgumentError):
                podero.with_options(**bad)


async def test_view_of_a_closed_client_is_closed(fake_podero: FakePodero) -> None:
    """Closing the client closes its views: ClientClosedError, not an httpx RuntimeError."""
    from podero_client import ClientClosedError

    podero = fake_podero.client()
    view = podero.with_options(timeout=5)
    await podero.aclose()
    with pytest.raises(ClientClosedError):
        await view.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID)


async def test_pinned_spec_retrieve_wallbox_is_the_get_wallbox_path(fake_podero: FakePodero) -> None:
    """On the pinned spec, get_wallbox and user_wallboxes.retrieve_wallbox are the same call."""
    async with fake_podero.client() as podero:
        shortcut = await podero.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID)
        method = await podero.user_wallboxes.retrieve_wallbox(ORG_ID, USER_ID, WALLBOX_ID, include_deleted=False)
        raw = await podero.user_wallboxes.with_raw_response.retrieve_wallbox(ORG_ID, USER_ID, WALLBOX_ID)
    assert shortcut == method == raw.parsed
    assert fake_podero.wallbox_requests == 3
    assert not hasattr(podero, "authentication")  # the token grant is the auth layer's job


async def test_documented_2xx_only(fake_podero: FakePodero) -> None:
    """A 2xx the operation does not document (201 for a GET) is ResponseValidationError with the body."""
    from podero_client import ResponseValidationError

    fake_podero.inject("wallbox", Fault(status=201, json={"id": WALLBOX_ID}))
    async with fake_podero.client() as podero:
        with pytest.raises(ResponseValidationError, match="201 is not a status the spec documents") as caught:
            await podero.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID)
    assert WALLBOX_ID in caught.value.body


async def test_conflict_error_is_a_status_error(fake_podero: FakePodero) -> None:
    """An undocumented 409 is still ConflictError, with parsed None."""
    fake_podero.inject("wallbox", Fault(status=409, json={"detail": "busy"}))
    async with fake_podero.client() as podero:
        with pytest.raises(ConflictError) as caught:
            await podero.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID)
    assert caught.value.parsed is None
    assert caught.value.detail == "busy"


def test_resources_are_typed_attributes() -> None:
    """PoderoClient's tag attributes are declared, so mypy sees podero.user_wallboxes."""
    assert typing.get_type_hints(PoderoClient)["user_wallboxes"].__name__ == "UserWallboxes"


USER_SCRIPT = """
import asyncio
from podero_grown import ClientCredentials, PoderoClient

async def main() -> None:
    async with PoderoClient(credentials=ClientCredentials("id", "secret")) as podero:
        await podero.user_wallboxes.boost("o", "u", "w")  # fine
        await podero.user_wallboxes.boost(org_id="o", user_id="u", wallbox="w")  # renamed
        await podero.user_wallboxes.cancel_boost("o", "u")  # missing
        count: int = await podero.user_wallboxes.boost("o", "u", "w")  # None is not an int

asyncio.run(main())
"""


def test_strict_mypy_catches_renamed_and_missing_path_parameters(grown_package: GrownPackage) -> None:
    """Strict mypy fails a user script only where it renames or omits a path parameter; the example passes."""
    work = grown_package.root.parent
    script = work / "user_script.py"
    script.write_text(USER_SCRIPT)
    example = work / "example_boost_and_sessions.py"
    example.write_text(EXAMPLE.read_text().replace("from podero_client", "from podero_grown"))
    command = ["-m", "mypy", "--strict", "--python-version", "3.11", "--cache-dir", str(work / ".mypy")]
    result = subprocess.run(  # noqa: S603 (our own interpreter, fixed arguments)
        [sys.executable, *command, str(script), str(example)], cwd=work, capture_output=True, text=True, check=False
    )
    lines = [line for line in result.stdout.splitlines() if "error:" in line]
    assert result.returncode == 1, result.stdout[-3000:]
    assert all(line.startswith("user_script.py:") for line in lines), result.stdout[-3000:]
    assert {int(line.split(":")[1]) for line in lines} == {8, 9, 10}, result.stdout[-3000:]
    assert any('Unexpected keyword argument "wallbox"' in line for line in lines)
    assert any('Missing positional argument "wallbox_id"' in line for line in lines)


async def test_example_boost_and_sessions(grown_package: GrownPackage, grown_fake: Any, tmp_path: Path) -> None:
    """examples/boost_and_sessions.py, run on an SDK generated from the grown spec, boosts and lists sessions."""
    (tmp_path / "podero_client").symlink_to(grown_package.root)  # the grown generation as podero_client
    grown_fake.set_answer(BOOST, status=409, json={"state": "charging", "reason": "already_charging"})
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path),
        "PODERO_BASE_URL": grown_fake.url,
        "PODERO_CLIENT_ID": grown_fake.client_id,
        "PODERO_CLIENT_SECRET": grown_fake.client_secret,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLE), ORG, USER, DEVICE, str(uuid.uuid4()), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    lines = stdout.decode().splitlines()
    assert lines[0] == "boost not started: already_charging"
    assert lines[-1] == f"{len(lines) - 2} sessions"
    assert grown_fake.requests[BOOST] == 1
    assert grown_fake.requests[SESSIONS] >= 1


def test_generated_resources_import_nothing_hand_written() -> None:
    """The generated package imports only itself and libraries: the core is passed in, never imported."""
    root = importlib.import_module("podero_client._generated").__path__[0]
    for path in sorted(__import__("pathlib").Path(root).rglob("*.py")):
        text = path.read_text()
        assert "podero_client" not in text.replace("podero_client._generated", "")
        assert "from ...." not in text, path
        assert "from ..._" not in text, path


@pytest.mark.parametrize("bad", [{"limit": "5"}, {"limit": True}, {"offset": 1.5}, {"status": "active"}])
async def test_query_parameter_types_come_from_the_spec(
    grown_package: GrownPackage, grown_fake: Any, bad: dict[str, object]
) -> None:
    """Every query parameter is checked against its generated type (limit="5", limit=True...) before any I/O."""
    (name,) = bad
    async with grown_fake.client() as podero:
        with pytest.raises(grown_package.module.InvalidArgumentError, match=f"list_sessions: {name} must be"):
            await podero.electric_vehicle_sessions.list_sessions(
                ORG, USER, DEVICE, from_=datetime.date(2026, 1, 1), to=datetime.date(2026, 2, 1), **bad
            )
    assert sum(grown_fake.requests.values()) == 0
