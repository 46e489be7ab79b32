"""The breaking-change gate decides on the generated Python API: every type change reaches it, whatever its path."""

from __future__ import annotations

import copy
import importlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

import names
import regenerate

CHANGES = ROOT / "tests" / "fixtures" / "changes"
CASES: dict[str, dict[str, Any]] = json.loads((CHANGES / "cases.json").read_text())


def _patched(spec: dict[str, Any], patch: list[dict[str, Any]]) -> dict[str, Any]:
    """``spec`` with a JSON Patch (RFC 6902, ``replace`` and ``add`` only) applied."""
    spec = copy.deepcopy(spec)
    for step in patch:
        *parents, last = [part.replace("~1", "/").replace("~0", "~") for part in step["path"].split("/")[1:]]
        node = spec
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list) and last == "-":
            node.append(step["value"])
        else:
            node[int(last) if isinstance(node, list) else last] = step["value"]
    return spec


@pytest.fixture(scope="session")
def base_generation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/fixtures/changes/base.json generated once per session: pinned spec, lock and package."""
    work = tmp_path_factory.mktemp("gate-base")
    shutil.copyfile(CHANGES / "base.json", work / "openapi.json")
    arguments = ["--pinned", work / "openapi.json", "--output", work / "pkg" / "_generated", "--report", work / "r"]
    assert regenerate.main([str(argument) for argument in arguments]) == 0
    return work


def _workspace(base: Path, tmp_path: Path) -> Path:
    work = tmp_path / "ws"
    shutil.copytree(base, work, ignore=shutil.ignore_patterns("__pycache__", "r"))
    return work


def _run(work: Path, spec: dict[str, Any], *extra: str) -> int:
    source = work / "new.json"
    source.write_text(json.dumps(spec))
    arguments = ["--spec", source, "--pinned", work / "openapi.json", "--output", work / "pkg" / "_generated"]
    return regenerate.main([str(argument) for argument in [*arguments, "--report", work / "report.txt", *extra]])


@pytest.mark.parametrize("case", CASES)
def test_type_change_is_refused_then_accepted(
    case: str, base_generation: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each case of tests/fixtures/changes/cases.json exits 2 naming the Python change; --allow-breaking accepts it."""
    work = _workspace(base_generation, tmp_path)
    spec = _patched(json.loads((CHANGES / "base.json").read_text()), CASES[case]["patch"])
    before = (work / "pkg" / "_generated" / "models" / "thing.py").read_bytes()
    assert _run(work, spec) == 2, capsys.readouterr().err
    report = (work / "report.txt").read_text()
    assert f"  python: {CASES[case]['expect']}" in report, report
    assert (work / "pkg" / "_generated" / "models" / "thing.py").read_bytes() == before
    assert _run(work, spec, "--allow-breaking") == 0, capsys.readouterr().err
    assert json.loads((work / "openapi.json").read_text()) == spec
    assert names.LOCK_NAME in {path.name for path in work.iterdir()}


NAMES: dict[str, dict[str, Any]] = json.loads((CHANGES / "names.json").read_text())


@pytest.mark.parametrize("case", NAMES)
def test_a_new_item_never_takes_a_locked_name(
    case: str, base_generation: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each case of tests/fixtures/changes/names.json regenerates (exit 0): the old item keeps its name, the new one
    gets the next free one, and the lock records both."""
    work = _workspace(base_generation, tmp_path)
    spec = _patched(json.loads((CHANGES / "base.json").read_text()), NAMES[case]["patch"])
    assert _run(work, spec) == 0, capsys.readouterr().err
    locked = names.read_lock(work / names.LOCK_NAME)
    tables = {**locked.properties, **locked.enums, **locked.parameters}
    for owner, expected in NAMES[case]["names"].items():
        assert {key: tables[owner][key] for key in expected} == expected
    assert "python:" not in (work / "report.txt").read_text(), "nothing breaks"


def test_locked_names_keep_reading_and_sending_the_old_wire_names(
    base_generation: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After userId gains a twin user_id, `thing.user_id` still reads userId; `page_size=` still sends pageSize."""
    work = _workspace(base_generation, tmp_path)
    patch = [step for case in NAMES.values() for step in case["patch"]]
    assert _run(work, _patched(json.loads((CHANGES / "base.json").read_text()), patch)) == 0, capsys.readouterr().err
    sys.path.insert(0, str(work))
    try:
        thing = importlib.import_module("pkg._generated.models.thing").Thing
        list_things = importlib.import_module("pkg._generated.api.things.list_things")
        color = importlib.import_module("pkg._generated.models.color").Color
        parsed = thing.from_dict({"userId": "u-1", "user_id": 7})
        assert (parsed.user_id, parsed.user_id_2) == ("u-1", 7)
        assert list_things._get_kwargs(page_size=50, page_size_2=3)["params"] == {"pageSize": 50, "page_size": 3}
        assert (color.RED.value, color.RED_2.value) == ("red", "RED")
    finally:
        sys.path.remove(str(work))
        for name in [name for name in sys.modules if name == "pkg" or name.startswith("pkg.")]:
            del sys.modules[name]


def test_the_report_names_operations_as_the_new_lock_does(
    base_generation: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new operation getThing under the tag retry (a PoderoClient member) is reported as retry_.get_thing."""
    work = _workspace(base_generation, tmp_path)
    spec = json.loads((CHANGES / "base.json").read_text())
    spec["paths"]["/retries"] = {
        "get": {"tags": ["retry"], "operationId": "getThing", "responses": {"204": {"description": "No Content"}}}
    }
    assert _run(work, spec) == 0, capsys.readouterr().err
    assert names.read_lock(work / names.LOCK_NAME).operations["getThing"]["python"] == "retry_.get_thing"
    assert "  operation added: GET /retries (retry_.get_thing)" in (work / "report.txt").read_text()
