"""The spec-driven FakePodero: every operation of a spec, validated, answered, overridable and counted."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import GROWN_SPEC, ROOT
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from podero_client import InvalidArgumentError
from podero_client.testing import FakePodero, Fault
from podero_client.testing._spec import SpecRoutes, packaged_spec

ORG, USER, DEVICE = (
    "0e6f9a7c-1111-4c2b-8d3e-000000000001",
    "0e6f9a7c-2222-4c2b-8d3e-000000000002",
    ("0e6f9a7c-3333-4c2b-8d3e-000000000003"),
)
SESSIONS = "GET /api/partners/v2.0/org/{org_id}/users/{user_id}/electric-vehicles/{electric_vehicle_id}/sessions"
SESSIONS_PATH = f"/api/partners/v2.0/org/{ORG}/users/{USER}/electric-vehicles/{DEVICE}/sessions"
CREATE_USER = "POST /api/partners/v2.0/org/{org_id}/users"
STATUS_PATH = f"/api/partners/v2.0/device-onboarding/{ORG}/wallbox-claim-tokens/ct_1/status"


@pytest.fixture
async def grown() -> AsyncIterator[FakePodero]:
    async with FakePodero(spec=GROWN_SPEC) as server:
        yield server


@pytest.fixture
async def http(grown: FakePodero) -> AsyncIterator[httpx.AsyncClient]:
    """A raw httpx client on the grown fake, holding one of its access tokens."""
    async with httpx.AsyncClient(base_url=grown.url) as client:
        response = await client.post(
            "/oauth2/token/", json={"grant_type": "client_credentials"}, auth=(grown.client_id, grown.client_secret)
        )
        client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        yield client


def test_packaged_spec_is_the_pinned_spec() -> None:
    """The spec shipped inside the package is byte for byte the pinned openapi.json (the fake's default)."""
    assert (ROOT / "podero_client" / "openapi.json").read_bytes() == (ROOT / "openapi.json").read_bytes()
    assert packaged_spec() == json.loads((ROOT / "openapi.json").read_text())


async def test_malformed_path_parameter_is_a_ninja_422(grown: FakePodero, http: httpx.AsyncClient) -> None:
    """A path id that is not a uuid answers 422 with Ninja's detail list; the route is still counted."""
    path = f"/api/partners/v2.0/org/{ORG}/users/{USER}/electric-vehicles/ev-1/sessions"
    response = await http.get(path, params={"from": "2026-01-01", "to": "2026-02-01"})
    assert response.status_code == 422
    [detail] = response.json()["detail"]
    assert detail["loc"] == ["path", "electric_vehicle_id"]
    assert detail["type"] == "uuid_parsing"
    assert isinstance(detail["msg"], str)
    assert grown.requests[SESSIONS] == 1


async def test_missing_required_query_parameter(grown: FakePodero, http: httpx.AsyncClient) -> None:
    """A required query parameter left out is a 422 of type missing, one entry each."""
    response = await http.get(SESSIONS_PATH, params={"from": "2026-01-01"})
    assert response.status_code == 422
    assert response.json() == {"detail": [{"type": "missing", "loc": ["query", "to"], "msg": "Field required"}]}


async def test_query_text_is_read_as_the_schema_type(grown: FakePodero, http: httpx.AsyncClient) -> None:
    """limit=5 is an integer and include_deleted=true a boolean; limit=500 breaks the maximum."""
    fine = await http.get(SESSIONS_PATH, params={"from": "2026-01-01", "to": "2026-02-01", "limit": "5"})
    too_many = await http.get(SESSIONS_PATH, params={"from": "2026-01-01", "to": "2026-02-01", "limit": "500"})
    users = await http.get(f"/api/partners/v2.0/org/{ORG}/users", params={"include_deleted": "true"})
    assert fine.status_code == 200
    assert users.status_code == 200
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["loc"] == ["query", "limit"]


async def test_body_that_does_not_fit(grown: FakePodero, http: httpx.AsyncClient) -> None:
    """A body missing a required field, of a wrong enum value, or not JSON at all is a 422 located in the body."""
    path = f"/api/partners/v2.0/org/{ORG}/users"
    missing = await http.post(path, json={"role": "user"})
    wrong = await http.post(path, json={"role": "owner", "email": "a@example.com"})
    garbled = await http.post(path, content=b"{", headers={"Content-Type": "application/json"})
    empty = await http.post(path)
    assert missing.json()["detail"] == [{"type": "missing", "loc": ["body", "email"], "msg": "Field required"}]
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["loc"][:2] == ["body", "role"]
    assert garbled.json()["detail"][0]["type"] == "json_invalid"
    assert empty.json()["detail"][0]["type"] == "missing"
    assert grown.requests[CREATE_USER] == 4


async def test_unknown_path_and_method(grown: FakePodero, http: httpx.AsyncClient) -> None:
    """A path outside the spec is 404; a known path with another method is 405 with Allow."""
    unknown = await http.get("/api/partners/v2.0/nothing")
    wrong_method = await http.delete(f"/api/partners/v2.0/org/{ORG}/users")
    assert unknown.status_code == 404
    assert wrong_method.status_code == 405
    assert set(wrong_method.headers["Allow"].split(", ")) == {"GET", "POST"}


async def test_spec_routes_need_the_token(grown: FakePodero) -> None:
    """An operation with security answers 401 without a valid token; one without security does not ask."""
    async with httpx.AsyncClient(base_url=grown.url) as http:
        refused = await http.get(f"/api/partners/v2.0/org/{ORG}/users")
        status = await http.get(STATUS_PATH)
    assert refused.status_code == 401
    assert status.status_code == 200


def _response_validator(spec: dict[str, Any], pointer: str) -> Draft202012Validator:
    registry: Registry[Any] = Registry().with_resource("urn:t", DRAFT202012.create_resource(spec))
    return Draft202012Validator({"$ref": "urn:t" + pointer}, registry=registry)


@pytest.mark.parametrize("spec_file", [GROWN_SPEC, ROOT / "openapi.json"])
def test_every_default_answer_fits_its_schema_and_is_deterministic(spec_file: Any) -> None:
    """For each operation, the default answer is a documented 2xx whose body validates, the same every time."""
    spec = json.loads(spec_file.read_text())
    routes, again = SpecRoutes(spec), SpecRoutes(spec)
    for operation in routes:
        status, body, _ = routes.answer(operation)
        assert (status, body) == again.answer(again.operations[operation.key])[:2]
        assert str(status) in operation.node["responses"]
        content = operation.node["responses"][str(status)].get("content")
        if content is None:
            assert body is None
            continue
        pointer = f"{operation.pointer}/responses/{status}/content/application~1json/schema"
        errors = list(_response_validator(spec, pointer).iter_errors(body))
        assert not errors, (operation.key, errors[0].message)


def test_examples_come_first() -> None:
    """A media type's example wins over the schema's, which wins over a built sample."""
    schema = {"type": "object", "properties": {"n": {"type": "integer", "example": 7}}}
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "paths": {
            "/a": {
                "get": {
                    "responses": {"200": {"content": {"application/json": {"schema": schema, "example": {"n": 1}}}}}
                }
            },
            "/b": {"get": {"responses": {"200": {"content": {"application/json": {"schema": schema}}}}}},
        },
    }
    routes = SpecRoutes(spec)
    assert routes.answer(routes.operations["GET /a"])[:2] == (200, {"n": 1})
    assert routes.answer(routes.operations["GET /b"])[:2] == (200, {"n": 7})


async def test_set_answer_overrides_a_route(grown: FakePodero, http: httpx.AsyncClient) -> None:
    """set_answer fixes status, body and headers of a route until clear_answer; validation still comes first."""
    grown.set_answer(SESSIONS, status=503, json={"detail": "down"}, headers={"Retry-After": "7"})
    query = {"from": "2026-01-01", "to": "2026-02-01"}
    overridden = await http.get(SESSIONS_PATH, params=query)
    invalid = await http.get(SESSIONS_PATH)
    grown.clear_answer(SESSIONS)
    restored = await http.get(SESSIONS_PATH, params=query)
    assert (overridden.status_code, overridden.json(), overridden.headers["Retry-After"]) == (
        503,
        {"detail": "down"},
        "7",
    )
    assert invalid.status_code == 422
    assert restored.status_code == 200
    assert grown.requests[SESSIONS] == 3


async def test_faults_on_any_route_by_key_or_operation_id(grown: FakePodero, http: httpx.AsyncClient) -> None:
    """Faults queue on a spec route, named by key or operationId, and are used in order."""
    operation_id = grown.spec.operations[SESSIONS].operation_id
    assert operation_id is not None
    assert grown.route(operation_id) == SESSIONS
    grown.inject(operation_id, Fault(status=502, body=b"<html>bad gateway</html>"), Fault(drop=True))
    query = {"from": "2026-01-01", "to": "2026-02-01"}
    first = await http.get(SESSIONS_PATH, params=query)
    with pytest.raises(httpx.RemoteProtocolError):
        await http.get(SESSIONS_PATH, params=query)
    third = await http.get(SESSIONS_PATH, params=query)
    assert first.status_code == 502
    assert third.status_code == 200
    assert grown.requests[SESSIONS] == 3


def test_unknown_route_names_are_refused(grown: FakePodero) -> None:
    """A route the spec does not have is a KeyError naming the accepted forms; the wallbox keeps its handler."""
    with pytest.raises(KeyError, match="METHOD /path/template"):
        grown.inject("GET /nowhere", Fault(status=500))
    assert grown.route("GET /api/partners/v2.0/org/{org_id}/users/{user_id}/wallboxes/{wallbox_id}") == "wallbox"
    with pytest.raises(ValueError, match="own handler"):
        grown.set_answer("wallbox", status=500)


async def test_serve_fake_with_a_spec_file() -> None:
    """serve-fake --spec FILE serves that spec's operations."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "podero_client", "serve-fake", "--port", "0", "--spec", str(GROWN_SPEC),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = (await asyncio.wait_for(process.stdout.readline(), 30)).decode().split()[4]
        operations = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        assert operations.split()[0] == "25"
        async with httpx.AsyncClient(base_url=url) as http:
            response = await http.get(STATUS_PATH)
        assert response.status_code == 200
    finally:
        process.terminate()
        await process.wait()


async def test_spec_routes_are_not_token_requests(grown: FakePodero, http: httpx.AsyncClient) -> None:
    """token_content_types lists the token requests only, not the spec-driven routes."""
    response = await http.get(SESSIONS_PATH, params={"from": "2026-01-01", "to": "2026-02-01"})
    assert response.status_code == 200
    assert grown.requests[SESSIONS] == 1
    assert grown.token_content_types == ["application/json"]  # the fixture's one token request


def test_a_missing_spec_file_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """FakePodero(spec=) with a path that does not exist raises InvalidArgumentError naming it, absolute too."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        InvalidArgumentError, match=r"no such file: openapi\.json \(looked for .*openapi\.json\)"
    ) as caught:
        FakePodero(spec="openapi.json")
    assert str(tmp_path) in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


BEYOND_JSON = ROOT / "tests" / "fixtures" / "fake" / "beyond-json.json"


@pytest.fixture
async def beyond() -> AsyncIterator[httpx.AsyncClient]:
    """A raw client on a fake serving tests/fixtures/fake/beyond-json.json (no security: no token needed)."""
    async with FakePodero(spec=BEYOND_JSON) as server, httpx.AsyncClient(base_url=server.url) as client:
        yield client


async def test_status_ranges_and_percent_encoded_refs_are_answered(beyond: httpx.AsyncClient) -> None:
    """A `2XX` response is a 200 with a body, its schema reached through `#/components/schemas/Thing%20One`."""
    response = await beyond.get("/things/t-1")
    assert response.status_code == 200
    assert set(response.json()) == {"id", "size"}


async def test_concrete_paths_win_over_templated_ones(beyond: httpx.AsyncClient) -> None:
    """/things/stats is its own operation, though /things/{thing_id} comes first in the spec."""
    response = await beyond.get("/things/stats")
    assert response.status_code == 200
    assert set(response.json()) == {"count"}


async def test_path_level_parameters_through_a_ref_are_validated(beyond: httpx.AsyncClient) -> None:
    """A path-level `$ref` to components/parameters applies: `x-1` does not fit its pattern."""
    response = await beyond.get("/things/x-1")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "thing_id"]


async def test_json_suffix_media_types_are_answered_in_their_type(beyond: httpx.AsyncClient) -> None:
    """An `application/vnd.api+json` answer has a body, sent with that Content-Type."""
    response = await beyond.get("/things")
    assert response.headers["Content-Type"] == "application/vnd.api+json"
    assert isinstance(response.json(), list)
    assert set(response.json()[0]) == {"id", "size"}


async def test_array_query_parameters_are_read_as_arrays(beyond: httpx.AsyncClient) -> None:
    """`ids=1&ids=2` (exploded) and `tags=a,b` (explode false) fit; an item of the wrong type does not."""
    assert (await beyond.get("/things", params={"ids": ["1", "2"], "tags": "a,b"})).status_code == 200
    refused = await beyond.get("/things", params={"ids": ["1", "x"]})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["query", "ids", 1]
    assert (await beyond.get("/things", params={"tags": "a,c"})).status_code == 422


async def test_form_bodies_are_read_as_forms(beyond: httpx.AsyncClient) -> None:
    """A form body is accepted as a form (not parsed as JSON); a missing required field is Ninja's `missing`."""
    assert (await beyond.post("/things", data={"id": "t-1", "size": "2"})).status_code == 201
    refused = await beyond.post("/things", data={"size": "2"})
    assert refused.status_code == 422
    assert refused.json()["detail"] == [{"type": "missing", "loc": ["body", "id"], "msg": "Field required"}]


async def test_multipart_bodies_and_default_only_answers(beyond: httpx.AsyncClient) -> None:
    """A multipart upload is accepted, its `default`-only answer is a 200 with a body; a missing file is a 422."""
    response = await beyond.post("/uploads", files={"file": ("a.txt", b"hello")}, data={"label": "x"})
    assert response.status_code == 200
    assert response.json() == {"stored": False}
    refused = await beyond.post("/uploads", files={"other": ("a.txt", b"hello")})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "file"]


def test_one_ref_rule_for_every_reader() -> None:
    """The toolkit reads a `$ref` as a URI fragment: percent-decoded, then `~1`/`~0` unescaped; the fake agrees."""
    from podero_client.testing import _openapi

    document = {"components": {"schemas": {"a/b c~d": {"type": "integer"}}}}
    assert _openapi.resolve(document, "#/components/schemas/a~1b%20c~0d") == {"type": "integer"}
    with pytest.raises(KeyError):
        _openapi.resolve(document, "#/components/schemas/a/b c~d")
    assert SpecRoutes(document).sample({"$ref": "#/components/schemas/a~1b%20c~0d"}) == 0
