"""The whole regeneration pipeline, run for real: pull, normalize, generate, report."""

from __future__ import annotations

import copy
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pytest
from conftest import ROOT, StaticServer

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
    assert "[ok      ] property added: WallboxDetailOutput.boost_state" in text
    assert '[ok      ] enum value added: PriceZone ("NO_2")' in text
    assert "[ok      ] operation added: GET /api/partners/v2.0/org/{org_id}/users" in text
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
    assert _run("--url", url, "--pinned", pinned, "--output", tmp_path / "g", "--report", tmp_path / "r") == 0
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
    assert _run("--url", f"{static_server.url}/spec", "--pinned", pinned, "--output", tmp_path / "g") == 1
    err = capsys.readouterr().err
    assert err.startswith("regenerate: ")
    assert expected in err
    assert len(err.strip().splitlines()) == 1
    assert pinned.read_bytes() == (ROOT / "openapi.json").read_bytes()
    assert not (tmp_path / "g").exists()


def test_unreachable_url_exits_1(tmp_path: Path, refused_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Connection refused is named as such."""
    assert _run("--url", refused_url, "--pinned", _pinned_copy(tmp_path), "--output", tmp_path / "g") == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"regenerate: cannot reach {refused_url}: ConnectError")
    assert len(err.splitlines()) == 1


def test_generator_warning_fails_the_run(
    tmp_path: Path, published_spec: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """A schema the generator cannot parse is a failure naming the schema, the operation and the reason."""
    broken = copy.deepcopy(published_spec)
    broken["components"]["schemas"]["OwnerOutput"]["properties"]["id"] = {"$ref": "#/components/schemas/Missing"}
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
