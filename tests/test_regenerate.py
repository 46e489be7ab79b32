"""The whole regeneration pipeline, run for real: pull, normalize, generate, report."""

from __future__ import annotations

import copy
import importlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pytest
from _servers import StaticServer
from conftest import GROWN_SPEC, ROOT

import normalize
import regenerate


def _run(*args: str | Path) -> int:
    return regenerate.main([str(arg) for arg in args])


@pytest.fixture
def import_generated() -> Iterator[Any]:
    """Import a generated package from a temp folder, and forget it afterwards."""
    added: list[str] = []

    def load(output: Path) -> ModuleType:
        sys.path.insert(0, str(output.parent))
        added.append(str(output.parent))
        return importlib.import_module(f"{output.name}.models")

    yield load
    for path in added:
        sys.path.remove(path)
    for name in [name for name in sys.modules if name.startswith("generated_")]:
        del sys.modules[name]


def _pinned_copy(tmp_path: Path) -> Path:
    pinned = tmp_path / "openapi.json"
    pinned.write_bytes((ROOT / "openapi.json").read_bytes())
    return pinned


def test_published_spec_becomes_one_model_per_schema(
    tmp_path: Path, published_spec: dict[str, Any], import_generated: Any
) -> None:
    """Every component schema of the published spec (and the catch-all) is a generated class."""
    output = tmp_path / "generated_published"
    assert _run("--pinned", _pinned_copy(tmp_path), "--output", output) == 0
    models = import_generated(output)
    schemas = normalize.normalize(published_spec)["components"]["schemas"]
    expected = {schema.get("title", key) for key, schema in schemas.items()}
    assert expected <= set(models.__all__)
    assert {"ReauthenticateProjection", "InformationActionProjection", "UnknownAction"} <= set(models.__all__)
    assert (output / "api" / "user_wallboxes" / "retrieve_wallbox.py").is_file()
    assert (output / "api" / "authentication" / "token.py").is_file()
    stamp = json.loads((output / "PROVENANCE.json").read_text())
    assert stamp["generator"] == "openapi-python-client 0.29.1"
    assert set(stamp) == {"generator", "spec_sha256", "config_sha256", "templates_sha256", "normalizer_sha256"}


def test_changed_spec_is_reported_and_generated(
    tmp_path: Path, published_spec: dict[str, Any], import_generated: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new property, enum value and operation reach the client, the report and the pinned spec."""
    changed = copy.deepcopy(published_spec)
    schemas = changed["components"]["schemas"]
    schemas["WallboxDetailOutput"]["properties"]["boost_state"] = {"title": "Boost State", "type": "string"}
    schemas["PriceZone"]["enum"].append("NO_2")
    changed["paths"]["/api/partners/v2.0/org/{org_id}/users"] = {
        "get": {
            "operationId": "integrations_api_api_v2_organizations_users_router_list_users",
            "tags": ["Users"],
            "parameters": [{"in": "path", "name": "org_id", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "OK"}},
        }
    }
    source = tmp_path / "changed.json"
    source.write_text(json.dumps(changed))
    pinned, output, report = _pinned_copy(tmp_path), tmp_path / "generated_changed", tmp_path / "report.txt"

    assert _run("--spec", source, "--pinned", pinned, "--output", output, "--report", report) == 0

    models = import_generated(output)
    assert models.PriceZone("NO_2") is models.PriceZone.NO_2
    assert "boost_state" in attrs.fields_dict(models.WallboxDetailOutput)
    assert (output / "api" / "users" / "list_users.py").is_file()
    text = report.read_text()
    assert "  property added: WallboxDetailOutput.boost_state" in text
    assert '  enum value added: PriceZone ("NO_2")' in text
    assert "  operation added: GET /api/partners/v2.0/org/{org_id}/users (users.list_users)" in text
    assert text.splitlines()[1].startswith("Regenerated: ")
    assert text in capsys.readouterr().out
    assert json.loads(pinned.read_text()) == changed


def test_pull_over_http_accepts_yaml(tmp_path: Path, static_server: StaticServer, published_spec: Any) -> None:
    """A YAML spec pulled from a server is generated and pinned in JSON form."""
    from ruamel.yaml import YAML

    changed = copy.deepcopy(published_spec)
    changed["info"]["version"] = "2.1"
    body = Path(tmp_path / "spec.yaml")
    YAML(typ="safe", pure=True).dump(changed, body)
    static_server.routes["/openapi.yaml"] = (200, "application/yaml", body.read_bytes())
    pinned = _pinned_copy(tmp_path)
    url = f"{static_server.url}/openapi.yaml"
    assert (
        _run("--url", url, "--allow-http", "--pinned", pinned, "--output", tmp_path / "g", "--report", tmp_path / "r")
        == 0
    )
    assert json.loads(pinned.read_text()) == changed


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        ((404, "text/plain", b"not found"), "answered HTTP 404 Not Found"),
        ((200, "text/html", b"<html><body>Maintenance</body></html>"), "is neither JSON nor YAML"),
        ((200, "application/json", b'{"openapi": "2.0", "paths": {}}'), "is not an OpenAPI 3 document"),
        ((200, "application/json", b'{"openapi": "3.1.0", "info": {}}'), "'paths' is missing"),
        ((200, "application/json", b"[1, 2]"), "top level is list"),
        ((200, "application/yaml", b"a: [unclosed"), "is neither JSON nor YAML"),
    ],
    ids=["404", "html", "swagger2", "no-paths", "json-list", "bad-yaml"],
)
def test_pull_failures_exit_1_with_one_line(
    tmp_path: Path,
    static_server: StaticServer,
    capsys: pytest.CaptureFixture[str],
    route: tuple[int, str, bytes],
    expected: str,
) -> None:
    """A bad pull exits 1 with one line naming the cause, and leaves the pinned spec alone."""
    static_server.routes["/spec"] = route
    pinned = _pinned_copy(tmp_path)
    assert (
        _run("--url", f"{static_server.url}/spec", "--allow-http", "--pinned", pinned, "--output", tmp_path / "g") == 1
    )
    err = capsys.readouterr().err
    assert err.startswith("regenerate: ")
    assert expected in err
    assert len(err.strip().splitlines()) == 1
    assert pinned.read_bytes() == (ROOT / "openapi.json").read_bytes()
    assert not (tmp_path / "g").exists()


def test_unreachable_url_exits_1(tmp_path: Path, refused_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Connection refused is named as such."""
    assert (
        _run("--url", refused_url, "--allow-http", "--pinned", _pinned_copy(tmp_path), "--output", tmp_path / "g") == 1
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"regenerate: cannot reach {refused_url}: ConnectError")
    assert len(err.splitlines()) == 1


def test_generator_warning_fails_the_run(
    tmp_path: Path, published_spec: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """A schema the generator cannot parse is a failure naming the schema, the operation and the reason."""
    broken = copy.deepcopy(published_spec)
    # A reference that resolves, but to something that is not a schema (a dangling one is refused earlier).
    broken["components"]["schemas"]["OwnerOutput"]["properties"]["id"] = {"$ref": "#/components/securitySchemes/OAuth2"}
    source = tmp_path / "broken.json"
    source.write_text(json.dumps(broken))
    pinned = _pinned_copy(tmp_path)
    assert _run("--spec", source, "--pinned", pinned, "--output", tmp_path / "g", "--report", tmp_path / "r") == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == "regenerate: openapi-python-client would leave out 2 piece(s) of the spec:"
    assert lines[1].startswith("  schema OwnerOutput: Could not find reference")
    assert lines[2].startswith(
        "  operation GET /api/partners/v2.0/org/{org_id}/users/{user_id}/wallboxes/{wallbox_id}"
        " (integrations_api_api_v2_organizations_users_wallboxes_router_retrieve_wallbox):"
        " Cannot parse response for status code '200'"
    )
    assert not any("object at 0x" in line for line in lines)
    assert pinned.read_bytes() == (ROOT / "openapi.json").read_bytes(), "pinned spec replaced only on success"


def test_check_reports_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--check passes on fresh output and names the first differing file after an edit."""
    pinned, output = _pinned_copy(tmp_path), tmp_path / "generated_check"
    assert _run("--pinned", pinned, "--output", output) == 0
    assert _run("--check", "--pinned", pinned, "--output", output) == 0
    target = output / "models" / "owner_output.py"
    target.write_text(target.read_text().replace("first_name", "given_name"))
    (output / "stale.py").write_text("")
    assert _run("--check", "--pinned", pinned, "--output", output) == 1
    err = capsys.readouterr().err
    assert "stale.py: committed but no longer generated" in err
    (output / "stale.py").unlink()
    assert _run("--check", "--pinned", pinned, "--output", output) == 1
    err = capsys.readouterr().err
    assert "committed/models/owner_output.py" in err
    assert "-    given_name" in err


def test_committed_code_matches_the_generator() -> None:
    """The committed podero_client/_generated is exactly what the pipeline makes today."""
    assert _run("--check") == 0


def test_models_that_refer_to_each_other_import_and_parse(
    tmp_path: Path, published_spec: dict[str, Any], import_generated: Any
) -> None:
    """A cycle between two models (Building <-> WallboxDetailOutput) still imports and parses."""
    changed = copy.deepcopy(published_spec)
    schemas = changed["components"]["schemas"]
    schemas["Building"] = {
        "title": "Building",
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "wallboxes": {"type": "array", "items": {"$ref": "#/components/schemas/WallboxDetailOutput"}},
        },
        "required": ["name"],
    }
    schemas["WallboxDetailOutput"]["properties"]["building"] = {
        "anyOf": [{"$ref": "#/components/schemas/Building"}, {"type": "null"}]
    }
    source = tmp_path / "cyclic.json"
    source.write_text(json.dumps(changed))
    output = tmp_path / "generated_cyclic"
    assert (
        _run("--spec", source, "--pinned", _pinned_copy(tmp_path), "--output", output, "--report", tmp_path / "r") == 0
    )

    models = import_generated(output)
    from podero_client.testing import wallbox_payload

    inner = wallbox_payload()
    wallbox = models.WallboxDetailOutput.from_dict(wallbox_payload(building={"name": "HQ", "wallboxes": [inner]}))
    assert isinstance(wallbox.building, models.Building)
    assert isinstance(wallbox.building.wallboxes[0], models.WallboxDetailOutput)
    assert wallbox.to_dict()["building"]["name"] == "HQ"


# The breaking-change gate: make update-spec pulls over HTTP, so these do too.

WALLBOX = "/api/partners/v2.0/org/{org_id}/users/{user_id}/wallboxes/{wallbox_id}"


@pytest.fixture
def workspace(tmp_path: Path) -> dict[str, Path]:
    """A copy of the pinned spec and of the committed generated code, as make update-spec finds them."""
    output = tmp_path / "ws" / "_generated"
    shutil.copytree(ROOT / "podero_client" / "_generated", output, ignore=shutil.ignore_patterns("__pycache__"))
    return {"pinned": _pinned_copy(tmp_path), "output": output, "report": tmp_path / "build" / "spec-changes.txt"}


def _tree(path: Path) -> dict[str, bytes]:
    return {str(file.relative_to(path)): file.read_bytes() for file in sorted(path.rglob("*.py"))}


def _breaking_variant(published: dict[str, Any], kind: str) -> dict[str, Any]:
    spec = copy.deepcopy(published)
    schemas = spec["components"]["schemas"]
    if kind == "removed-required-field":
        del schemas["OwnerOutput"]["properties"]["id"]
        schemas["OwnerOutput"]["required"].remove("id")
    elif kind == "changed-type":
        schemas["WallboxDetailOutput"]["properties"]["phases"]["type"] = "string"
    elif kind == "removed-enum-value":
        schemas["PriceZone"]["enum"].remove("UK")
    else:
        operation = spec["paths"].pop(WALLBOX)
        operation["get"]["parameters"][2]["name"] = "device_id"
        spec["paths"][WALLBOX.replace("wallbox_id", "device_id")] = operation
    return spec


BREAKING = {
    "removed-required-field": ["spec: property removed: OwnerOutput.id", "python: OwnerOutput.id: attribute removed"],
    "changed-type": ["spec: property changed: WallboxDetailOutput.phases (type integer -> string)"],
    "removed-enum-value": ['spec: enum value removed: PriceZone ("UK")', "python: PriceZone.UK: enum member removed"],
    "renamed-path-parameter": [
        "spec: path parameter renamed: GET /api/partners/v2.0/org/{org_id}/users/{user_id}/wallboxes/{device_id}"
        " (wallbox_id -> device_id",
        "python: UserWallboxes.retrieve_wallbox: parameter wallbox_id removed",
        "python: UserWallboxes.retrieve_wallbox: new required parameter device_id",
    ],
}


@pytest.mark.parametrize("kind", BREAKING)
def test_breaking_spec_is_refused(
    kind: str,
    workspace: dict[str, Path],
    static_server: StaticServer,
    published_spec: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A breaking pull exits 2 with every breaking change named; the pinned spec and the code stay as they were."""
    static_server.routes["/openapi.json"] = (
        200,
        "application/json",
        json.dumps(_breaking_variant(published_spec, kind)).encode(),
    )
    before = _tree(workspace["output"])
    status = _run(
        "--url", f"{static_server.url}/openapi.json", "--allow-http",
        "--pinned", workspace["pinned"], "--output", workspace["output"], "--report", workspace["report"],
    )  # fmt: skip
    assert status == 2
    report = workspace["report"].read_text()
    lines = report.splitlines()
    assert lines[1].startswith("REFUSED: ")
    assert lines[2].startswith("Summary: ")
    assert lines[4].startswith("Breaking changes (")
    for expected in BREAKING[kind]:
        assert expected in report
    assert "operation added" not in report, "a rename is not an add plus a remove"
    assert report in capsys.readouterr().out
    assert workspace["pinned"].read_bytes() == (ROOT / "openapi.json").read_bytes()
    assert _tree(workspace["output"]) == before


def test_allow_breaking_regenerates(
    workspace: dict[str, Path], published_spec: dict[str, Any], import_generated: Any, tmp_path: Path
) -> None:
    """With --allow-breaking (ALLOW_BREAKING=1) the renamed parameter reaches the code and the pinned spec."""
    spec = _breaking_variant(published_spec, "renamed-path-parameter")
    source = tmp_path / "renamed.json"
    source.write_text(json.dumps(spec))
    arguments: list[str | Path] = ["--spec", source, "--pinned", workspace["pinned"], "--output", workspace["output"]]
    assert _run(*arguments, "--report", workspace["report"], "--allow-breaking") == 0
    assert json.loads(workspace["pinned"].read_text()) == spec
    packaged = workspace["output"].parent / "openapi.json"  # the copy the package ships for its fake
    assert packaged.read_bytes() == workspace["pinned"].read_bytes()
    endpoint = (workspace["output"] / "api" / "user_wallboxes" / "retrieve_wallbox.py").read_text()
    assert "device_id: UUID" in endpoint
    assert "wallbox_id" not in endpoint
    assert workspace["report"].read_text().splitlines()[1] == (
        # 5: the spec's rename, and wallbox_id -> device_id in both resource classes' methods.
        "Regenerated: openapi.json and _generated updated, 5 breaking change(s) accepted."
    )


def test_make_update_spec_passes_allow_breaking() -> None:
    """make update-spec adds --allow-breaking only for ALLOW_BREAKING=1."""

    def command(*variables: str) -> str:
        result = subprocess.run(  # noqa: S603 (make, fixed arguments)
            ["make", "-n", "--no-print-directory", "update-spec", *variables],  # noqa: S607 (make from PATH, as a user runs it)
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return next(line for line in result.stdout.splitlines() if "scripts/regenerate.py" in line)

    assert command().endswith(
        "scripts/regenerate.py --docs docs/api.md --url https://app.podero.com/api/partners/v2.0/openapi.json"
    )
    assert command("ALLOW_BREAKING=1").endswith(" --allow-breaking")
    assert not command("ALLOW_BREAKING=0").endswith(" --allow-breaking")


def test_grown_spec_is_not_breaking(workspace: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """Pinned -> grown regenerates with exit 0: 23 operations and 31 schemas added, nothing breaking."""
    arguments: list[str | Path] = ["--spec", GROWN_SPEC, "--pinned", workspace["pinned"]]
    arguments += ["--output", workspace["output"]]
    assert _run(*arguments, "--report", workspace["report"]) == 0
    report = workspace["report"].read_text().splitlines()
    assert report[1] == "Regenerated: openapi.json and _generated updated."
    assert report[2] == (
        "Summary: operations 23 added, 0 removed, 0 changed; schemas 31 added, 0 removed; "
        "0 breaking in the spec, 0 in the generated Python API."
    )
    assert len(report) < 35
    capsys.readouterr()


def test_failed_run_leaves_no_report_that_looks_successful(
    workspace: dict[str, Path], published_spec: dict[str, Any], tmp_path: Path
) -> None:
    """A stale report is removed; a failed generation writes one headed FAILED, with the generator's reason."""
    workspace["report"].parent.mkdir(parents=True)
    workspace["report"].write_text("Spec changes from a to b\nRegenerated: openapi.json updated.\n")
    broken = copy.deepcopy(published_spec)
    # A reference that resolves, but to something that is not a schema (a dangling one is refused earlier).
    broken["components"]["schemas"]["OwnerOutput"]["properties"]["id"] = {"$ref": "#/components/securitySchemes/OAuth2"}
    source = tmp_path / "broken.json"
    source.write_text(json.dumps(broken))
    arguments: list[str | Path] = ["--spec", source, "--pinned", workspace["pinned"], "--output", workspace["output"]]
    assert _run(*arguments, "--report", workspace["report"]) == 1
    lines = workspace["report"].read_text().splitlines()
    assert lines[1].startswith("FAILED: openapi-python-client would leave out 2 piece(s) of the spec:")
    assert not any(line.startswith("Regenerated") for line in lines)
    workspace["report"].write_text("stale")
    assert (
        _run("--url", "http://127.0.0.1:9/none", "--pinned", workspace["pinned"], "--report", workspace["report"]) == 1
    )
    lines = workspace["report"].read_text().splitlines()
    assert lines[1].startswith("FAILED: http://127.0.0.1:9/none is plain http"), "a failure before any comparison"
    assert "0 breaking in the spec" in lines[2]


COLLIDING = {
    # Another tag's retrieve_wallbox, and another router's token: both collided before names were per tag.
    "/api/partners/v2.0/org/{org_id}/wallboxes/{wallbox_id}": {"get": {
        "tags": ["Wallboxes"], "operationId": "integrations_api_api_v2_organizations_wallboxes_router_retrieve_wallbox",
        "parameters": [
            {"in": "path", "name": "org_id", "required": True, "schema": {"format": "uuid", "type": "string"}},
            {"in": "path", "name": "wallbox_id", "required": True, "schema": {"format": "uuid", "type": "string"}},
        ],
        "responses": {"200": {"description": "OK", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/WallboxDetailOutput"}}}}},
        "security": [{"OAuth2": []}],
    }},
    "/api/partners/v2.0/org/{org_id}/integrations/token": {"post": {
        "tags": ["Integrations"], "operationId": "integrations_api_api_v2_organizations_integrations_router_token",
        "parameters": [{"in": "path", "name": "org_id", "required": True, "schema": {"type": "string"}}],
        "responses": {"204": {"description": "No Content"}},
    }},
}  # fmt: skip


async def test_colliding_operation_changes_no_existing_module(
    workspace: dict[str, Path], published_spec: dict[str, Any], tmp_path: Path, fake_podero: Any
) -> None:
    """Operations whose short names collide leave every existing module byte for byte; the client still works."""
    spec = copy.deepcopy(published_spec)
    spec["paths"].update(COLLIDING)
    source = tmp_path / "colliding.json"
    source.write_text(json.dumps(spec))
    before = _tree(workspace["output"])
    arguments: list[str | Path] = ["--spec", source, "--pinned", workspace["pinned"], "--output", workspace["output"]]
    assert _run(*arguments, "--report", workspace["report"]) == 0
    after = _tree(workspace["output"])
    # api/__init__.py lists every tag's resource, so a new tag extends it; every other module is untouched.
    assert {name: after[name] for name in before if name != "api/__init__.py"} == {
        name: content for name, content in before.items() if name != "api/__init__.py"
    }
    assert {"api/wallboxes/retrieve_wallbox.py", "api/integrations/token.py"} <= after.keys()
    assert "0 breaking in the spec, 0 in the generated Python API." in workspace["report"].read_text()

    # The hand-written layer over the new generation imports and calls the API as before.
    package = tmp_path / "pkgs" / "podero_collide"
    shutil.copytree(ROOT / "podero_client", package, ignore=shutil.ignore_patterns("_generated", "__pycache__"))
    shutil.copytree(workspace["output"], package / "_generated")
    sys.path.insert(0, str(package.parent))
    try:
        podero = importlib.import_module("podero_collide")
        from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID

        credentials = podero.ClientCredentials(fake_podero.client_id, fake_podero.client_secret)
        async with podero.PoderoClient(base_url=fake_podero.url, credentials=credentials) as client:
            wallbox = await client.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID)
        assert type(wallbox).__module__ == "podero_collide._generated.models.wallbox_detail_output"
    finally:
        sys.path.remove(str(package.parent))
        for name in [name for name in sys.modules if name.startswith("podero_collide")]:
            del sys.modules[name]


def test_same_tag_collision_that_renames_a_module_is_refused(
    workspace: dict[str, Path], published_spec: dict[str, Any], tmp_path: Path
) -> None:
    """A same-tag retrieve_wallbox from a shorter router takes the bare name: both diffs see it, the gate refuses."""
    spec = copy.deepcopy(published_spec)
    operation = copy.deepcopy(COLLIDING["/api/partners/v2.0/org/{org_id}/wallboxes/{wallbox_id}"])
    operation["get"]["tags"] = ["User Wallboxes"]
    operation["get"]["operationId"] = "integrations_api_api_v2_wallboxes_router_retrieve_wallbox"
    spec["paths"]["/api/partners/v2.0/org/{org_id}/wallboxes/{wallbox_id}"] = operation
    source = tmp_path / "same-tag.json"
    source.write_text(json.dumps(spec))
    arguments: list[str | Path] = ["--spec", source, "--pinned", workspace["pinned"], "--output", workspace["output"]]
    assert _run(*arguments, "--report", workspace["report"]) == 2
    report = workspace["report"].read_text()
    assert "1 breaking in the spec, 4 in the generated Python API." in report  # 2 per resource class
    assert (
        "  spec: operation renamed: GET /api/partners/v2.0/org/{org_id}/users/{user_id}/wallboxes/{wallbox_id}"
        " (user_wallboxes.retrieve_wallbox -> user_wallboxes.wallboxes_retrieve_wallbox)"
    ) in report
    assert "  python: UserWallboxes.retrieve_wallbox: parameter user_id removed" in report
