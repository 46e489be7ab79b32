"""The breaking-change gate decides on the generated Python API: every type change reaches it, whatever its path."""

from __future__ import annotations

import copy
import json
import shutil
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
