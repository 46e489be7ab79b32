"""Regeneration against hostile or careless specs (tests/fixtures/hostile/): working code or one clear line."""

from __future__ import annotations

import copy
import gzip
import importlib
import json
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from _servers import free_port
from conftest import ROOT

import names
import regenerate
import smoke
import spec_source
from podero_client.testing import FakePodero
from podero_client.testing._spec import SpecRoutes

HOSTILE = ROOT / "tests" / "fixtures" / "hostile"


def _run(*args: str | Path) -> int:
    return regenerate.main([str(arg) for arg in args])


def _refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str | Path) -> str:
    """Run, expect exit 1 with exactly one line, nothing pinned or generated; return the line."""
    pinned = tmp_path / "openapi.json"
    pinned.write_bytes((ROOT / "openapi.json").read_bytes())
    status = _run(*args, "--pinned", pinned, "--output", tmp_path / "g", "--report", tmp_path / "report.txt")
    err = capsys.readouterr().err.strip()
    assert status == 1, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("regenerate: ")
    assert pinned.read_bytes() == (ROOT / "openapi.json").read_bytes()
    assert not (tmp_path / "g").exists()
    return err


def _with_hostile_names() -> dict[str, Any]:
    """The published spec plus the operations and schema of tests/fixtures/hostile/names.json."""
    spec: dict[str, Any] = json.loads((ROOT / "openapi.json").read_text())
    extra = json.loads((HOSTILE / "names.json").read_text())
    spec["paths"].update(extra["paths"])
    spec["components"]["schemas"].update(extra["components"]["schemas"])
    return spec


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The published spec with hostile names, regenerated once under a copy of the hand-written layer."""
    work = tmp_path_factory.mktemp("hostile")
    root = work / "podero_hostile"
    shutil.copytree(ROOT / "podero_client", root, ignore=shutil.ignore_patterns("_generated", "__pycache__"))
    pinned = work / "openapi.json"
    pinned.write_text(json.dumps(_with_hostile_names()))
    assert _run("--pinned", pinned, "--output", root / "_generated", "--report", work / "report.txt") == 0
    sys.path.insert(0, str(work))
    try:
        yield importlib.import_module("podero_hostile")
    finally:
        sys.path.remove(str(work))
        for name in [name for name in sys.modules if name.startswith("podero_hostile")]:
            del sys.modules[name]


async def test_clashing_names_are_renamed_and_work(hostile: ModuleType) -> None:
    """Properties d/cls, params/client, tags retry/aclose get a trailing _, tag Resources _api; wire names unchanged."""
    async with FakePodero(spec=_with_hostile_names()) as fake:
        credentials = hostile.ClientCredentials(fake.client_id, fake.client_secret)
        async with hostile.PoderoClient(base_url=fake.url, credentials=credentials) as podero:
            assert isinstance(podero.retry, hostile.RetryPolicy)
            thing = await podero.retry_.get_thing("m-1", params_="kept", client_=3)
            assert (thing.d_, thing.cls_, thing.to_dict_) == ("d", "cls", 0)
            assert thing.to_dict() == {"d": "d", "cls": "cls", "to_dict": 0}
            assert await podero.aclose_.close_all() is None
            assert await podero.retry_.with_raw_response_("m-1") is None
            assert await podero.resources_api.clear_resources() is None  # class Resources would shadow the aggregate
    get_thing = importlib.import_module("podero_hostile._generated.api.retry_.get_thing")
    sent = get_thing._get_kwargs(meter_id="m-1", params_="kept", client_=3)
    assert sent["params"] == {"params": "kept", "client": 3}
    assert sent["url"] == "/things/m-1"


def test_lock_names_every_operation(hostile: ModuleType) -> None:
    """The lock beside the pinned spec records each operation's tag and Python name."""
    lock = names.read_lock(Path(str(hostile.__file__)).parent.parent / names.LOCK_NAME).operations
    assert lock["get_thing"] == {"tag": "retry", "name": "get_thing", "python": "retry_.get_thing"}
    assert lock["with_raw_response"]["python"] == "retry_.with_raw_response_"


def test_client_members_are_read_from_the_source() -> None:
    """The tag renames follow PoderoClient's members, its bases' too (watch_wallboxes is _fleet.py's)."""
    members = names.client_members()
    assert {"retry", "aclose", "get_wallbox", "base_url", "with_options", "watch_wallbox", "watch_wallboxes"} <= members


def test_a_tag_named_like_a_member_of_a_base_class_is_renamed(tmp_path: Path) -> None:
    """A tag "Watch Wallboxes" becomes podero.watch_wallboxes_, leaving PoderoClient.watch_wallboxes alone."""
    pinned = tmp_path / "openapi.json"
    shutil.copyfile(HOSTILE / "tag-watch-wallboxes.json", pinned)
    assert _run("--pinned", pinned, "--output", tmp_path / "g", "--report", tmp_path / "r") == 0
    assert names.read_lock(tmp_path / names.LOCK_NAME).operations["list_things"]["python"] == (
        "watch_wallboxes_.list_things"
    )


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("operation-clash.json", "operations GET /things/a (getThing) and GET /things/b (get_thing) would both be"),
        ("enum-clash.json", "enum Mode: values 'A' and 'a' would both be the member A"),
        (
            "dangling-ref.json",
            "schema Thing (at #/components/schemas/Thing/properties/owner): dangling $ref '#/components/schemas/Owner'",
        ),
        ("alias-bomb.yaml", "its YAML aliases expand to more than 2,000,000 nodes"),
        ("not-a-spec.yaml", "is neither JSON nor YAML"),
        ("query-style-explode-false.json", "query parameter 'ids' has style 'form', explode false; the generated"),
        ("query-style-deep-object.json", "query parameter 'filter' has style 'deepObject'; the generated code sends"),
        ("binary-in-json-body.json", "(create_thing): its JSON request body has a binary property (file) JSON cannot"),
        (
            "undispatchable-union.json",
            "its member #/components/schemas/Car declares the discriminator 'type' as a plain string, not a const",
        ),
        ("default-only.json", "(list_things): documents only a 'default' answer; the generated code would raise"),
        ("method-clash.json", "two operations would share the method Items.iter_list_items"),
    ],
    ids=[
        "operation-clash",
        "enum-clash",
        "dangling-ref",
        "alias-bomb",
        "not-json-or-yaml",
        "query-explode-false",
        "query-deep-object",
        "binary-in-json-body",
        "undispatchable-union",
        "default-only",
        "method-clash",
    ],
)
def test_bad_spec_is_refused_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fixture: str, expected: str
) -> None:
    """Each hostile spec exits 1 with one line naming the cause; nothing is pinned or generated."""
    assert expected in _refused(tmp_path, capsys, "--spec", HOSTILE / fixture)


def test_spec_over_the_size_limit_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A spec over 20 MB is refused before it is parsed."""
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (spec_source.MAX_SPEC_BYTES + 1))
    assert "over the 20 MB limit" in _refused(tmp_path, capsys, "--spec", big)


def test_failed_smoke_run_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the template-name renames, names.json generates broken code: the smoke run refuses it, naming it."""
    monkeypatch.setattr(names, "TEMPLATE_NAMES", frozenset())  # the pipeline as it was on main
    line = _refused(tmp_path, capsys, "--spec", HOSTILE / "names.json")
    assert "the generated code fails its smoke run: operation GET /things/{meter_id} (get_thing)" in line


def test_smoke_run_passes_the_committed_package() -> None:
    """The committed generated package passes its own smoke run against the pinned spec."""
    spec = json.loads((ROOT / "openapi.json").read_text())
    assert smoke.run(ROOT / "podero_client" / "_generated", spec) is None


def test_lock_keeps_an_old_name_when_a_new_operation_wants_it(
    tmp_path: Path, published_spec: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """A same-tag operation from a shorter router gets the qualified name; retrieve_wallbox keeps its own."""
    output = tmp_path / "_generated"
    shutil.copytree(ROOT / "podero_client" / "_generated", output, ignore=shutil.ignore_patterns("__pycache__"))
    pinned = tmp_path / "openapi.json"
    pinned.write_bytes((ROOT / "openapi.json").read_bytes())
    shutil.copyfile(ROOT / names.LOCK_NAME, tmp_path / names.LOCK_NAME)
    spec = copy.deepcopy(published_spec)
    new = copy.deepcopy(spec["paths"]["/api/partners/v2.0/org/{org_id}/users/{user_id}/wallboxes/{wallbox_id}"])
    new["get"]["operationId"] = "integrations_api_api_v2_wallboxes_router_retrieve_wallbox"
    new["get"]["parameters"] = [p for p in new["get"]["parameters"] if p["name"] != "user_id"]
    spec["paths"]["/api/partners/v2.0/org/{org_id}/wallboxes/{wallbox_id}"] = new
    source = tmp_path / "grown.json"
    source.write_text(json.dumps(spec))
    before = (output / "api" / "user_wallboxes" / "retrieve_wallbox.py").read_bytes()
    status = _run("--spec", source, "--pinned", pinned, "--output", output, "--report", tmp_path / "r.txt")
    assert status == 0, capsys.readouterr().err
    assert (output / "api" / "user_wallboxes" / "retrieve_wallbox.py").read_bytes() == before
    assert (output / "api" / "user_wallboxes" / "wallboxes_retrieve_wallbox.py").is_file()
    lock = names.read_lock(tmp_path / names.LOCK_NAME).operations
    assert lock["integrations_api_api_v2_wallboxes_router_retrieve_wallbox"]["name"] == "wallboxes_retrieve_wallbox"


def test_fake_serves_hyphenated_path_parameters_and_bounded_recursive_answers() -> None:
    """{node-id} routes; a thrice self-referencing schema gets a small answer, built once per operation."""
    spec = json.loads((HOSTILE / "recursive.json").read_text())
    routes = SpecRoutes(spec)
    found = routes.match("GET", "/nodes/n-1")
    assert found is not None
    operation, params = found
    assert params == {"node-id": "n-1"}
    status, body, _ = routes.answer(operation)
    assert status == 200
    assert len(json.dumps(body)) < 200_000
    assert routes.answer(operation)[1] is body
    assert routes._validator(f"{operation.pointer}/responses/200/content/application~1json/schema").is_valid(body)


class _HostileServer:
    """Serves what a careless or hostile spec host would: redirects, trickles, gzip bombs."""

    BOMB = gzip.compress(b"{" + b" " * (spec_source.MAX_SPEC_BYTES + 1024))

    def __init__(self) -> None:
        bomb = self.BOMB

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/to-https":
                    self.send_response(302)
                    self.send_header("Location", "https://127.0.0.1:9/openapi.json")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path == "/bomb":
                    self.send_response(200)
                    self.send_header("Content-Encoding", "gzip")
                    self.send_header("Content-Length", str(len(bomb)))
                    self.end_headers()
                    self.wfile.write(bomb)
                else:  # trickle: one byte every 50 ms, never done within the test's deadline
                    self.send_response(200)
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    try:
                        for _ in range(100):
                            self.wfile.write(b" ")
                            self.wfile.flush()
                            time.sleep(0.05)
                    except OSError:
                        pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def hostile_server() -> Iterator[_HostileServer]:
    server = _HostileServer()
    yield server
    server.close()


def test_plain_http_is_refused_unless_allowed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--url http://... is refused without --allow-http, before any connection."""
    url = f"http://127.0.0.1:{free_port()}/openapi.json"  # nothing listens there: a connection attempt would say so
    assert "is plain http: refused unless --allow-http" in _refused(tmp_path, capsys, "--url", url)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/to-https", "a redirect to another scheme is refused"),
        ("/bomb", "over the 20 MB limit for a spec (after decompression)"),
        ("/trickle", "did not finish downloading within 1 s"),
    ],
    ids=["redirect-to-other-scheme", "gzip-bomb", "trickle"],
)
def test_fetch_is_bounded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], hostile_server: _HostileServer, path: str, expected: str
) -> None:
    """The download follows no cross-scheme redirect and stops at 20 MB decompressed or at its one deadline."""
    url = f"{hostile_server.url}{path}"
    line = _refused(tmp_path, capsys, "--url", url, "--allow-http", "--fetch-timeout", "1")
    assert expected in line


def test_a_discriminator_mapping_is_honoured(tmp_path: Path) -> None:
    """Members that declare the discriminator as a plain string get the mapping's value: a bike parses as a Bike."""
    pinned = tmp_path / "openapi.json"
    shutil.copyfile(HOSTILE / "discriminator-mapping-plain-members.json", pinned)
    assert _run("--pinned", pinned, "--output", tmp_path / "vehicles" / "_generated", "--report", tmp_path / "r") == 0
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module("vehicles._generated.api.things.get_vehicle")
        models = importlib.import_module("vehicles._generated.models")
        client = importlib.import_module("vehicles._generated.client").Client(base_url="https://x.invalid")
        for payload, model in (({"type": "bike", "gears": 3}, models.Bike), ({"type": "car", "doors": 5}, models.Car)):
            answer = httpx.Response(200, json=payload, request=httpx.Request("GET", "https://x.invalid/vehicles"))
            assert type(module._parse_response(client=client, response=answer)) is model
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.startswith("vehicles")]:
            del sys.modules[name]
