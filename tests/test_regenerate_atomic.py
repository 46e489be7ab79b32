"""scripts/regenerate.py writes everything or nothing: a failed run leaves `git status` clean and a FAILED report."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import openapi_python_client
import pytest
from conftest import ROOT

import names
import regenerate

HOSTILE = ROOT / "tests" / "fixtures" / "hostile"


def _git(checkout: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
    result = subprocess.run(command, cwd=checkout, capture_output=True, text=True, check=True)  # noqa: S603 (git, fixed)
    return result.stdout


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A git checkout holding the pinned spec, its lock, the generated package, its spec copy and docs/api.md."""
    root = tmp_path / "checkout"
    shutil.copytree(ROOT / "podero_client", root / "podero_client", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(ROOT / "openapi.json", root / "openapi.json")
    shutil.copyfile(ROOT / names.LOCK_NAME, root / names.LOCK_NAME)
    (root / "docs").mkdir()
    shutil.copyfile(ROOT / "docs" / "api.md", root / "docs" / "api.md")
    (root / ".gitignore").write_text("build/\n__pycache__/\n")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "committed")
    return root


def _run(checkout: Path, *args: str | Path) -> int:
    arguments = ["--pinned", checkout / "openapi.json", "--output", checkout / "podero_client" / "_generated"]
    arguments += ["--report", checkout / "build" / "report.txt", *args]
    return regenerate.main([str(argument) for argument in arguments])


def _failed(checkout: Path, capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[str, str]:
    """Run, expect exit 1 with one line and a clean checkout; return the line and the report's outcome line."""
    status = _run(checkout, *args)
    err = capsys.readouterr().err.strip()
    assert status == 1, err
    assert len(err.splitlines()) == 1, err
    assert _git(checkout, "status", "--porcelain") == "", "a failed run changed the checkout"
    report = (checkout / "build" / "report.txt").read_text().splitlines()
    assert report[1].startswith("FAILED: "), report
    assert report[1].endswith("Nothing was changed.")
    return err, report[1]


def test_lone_surrogate_tag_changes_nothing(checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A tag "\\ud800things" (valid JSON, not text) is refused up front, even with --allow-breaking."""
    line, outcome = _failed(checkout, capsys, "--spec", HOSTILE / "lone-surrogate-tag.json", "--allow-breaking")
    assert "#/paths/~1things/get/tags/0 holds '\\ud800things', a lone surrogate: not text" in line
    assert "a lone surrogate" in outcome


def test_dangling_ref_gets_a_failed_report(checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A $ref to nothing fails before any comparison, and still leaves a report saying so."""
    line, outcome = _failed(checkout, capsys, "--spec", HOSTILE / "dangling-ref.json")
    assert "dangling $ref '#/components/schemas/Owner'" in line
    assert "dangling $ref" in outcome


def test_a_caught_traceback_is_one_line_and_changes_nothing(
    checkout: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected exception anywhere in the run is one line naming it as a bug; nothing is written."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the generator broke")

    monkeypatch.setattr(openapi_python_client.Project, "build", broken)
    line, outcome = _failed(checkout, capsys, "--spec", ROOT / "tests" / "fixtures" / "grown-openapi.json")
    assert line == "regenerate: internal error (a bug in scripts/, please report it): RuntimeError: the generator broke"
    assert "RuntimeError: the generator broke" in outcome


def test_nodes_of_the_wrong_type_are_one_line(checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A boolean schema (valid 3.1, which the generator cannot read) is refused by its place before the diff runs."""
    line, outcome = _failed(checkout, capsys, "--spec", HOSTILE / "boolean-schema.json", "--allow-breaking")
    assert line.endswith(
        "boolean-schema.json: #/components/schemas/Anything is not valid OpenAPI: "
        "Input should be a valid dictionary or instance of Schema"
    )
    assert "is not valid OpenAPI" in outcome


def test_an_unchanged_spec_regenerates_the_docs_in_the_same_step(checkout: Path) -> None:
    """--docs writes the API reference of the new generation with it; an unchanged spec changes no file."""
    docs = checkout / "docs" / "api.md"
    assert _run(checkout, "--docs", docs) == 0
    assert docs.read_bytes() == (ROOT / "docs" / "api.md").read_bytes()
    assert _git(checkout, "status", "--porcelain") == ""


def test_swap_puts_every_target_back_when_one_move_fails(tmp_path: Path) -> None:
    """Three replacements, the last one missing: the first two targets are restored byte for byte."""
    targets = [tmp_path / name for name in ("a.txt", "b.txt", "c.txt")]
    for target in targets:
        target.write_text(f"old {target.name}")
    staged = [tmp_path / "new-a", tmp_path / "new-b", tmp_path / "new-c-missing"]
    staged[0].write_text("new a")
    staged[1].write_text("new b")
    with pytest.raises(FileNotFoundError):
        regenerate._swap_in(list(zip(staged, targets, strict=True)))
    assert [target.read_text() for target in targets] == ["old a.txt", "old b.txt", "old c.txt"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.txt", "b.txt", "c.txt"]


def test_the_pipeline_never_imports_the_package_it_regenerates(tmp_path: Path) -> None:
    """With a `podero_client` that cannot be imported first on the path, `--check` still passes (smoke run included)."""
    poisoned = tmp_path / "poisoned" / "podero_client"
    poisoned.mkdir(parents=True)
    (poisoned / "__init__.py").write_text("raise ImportError('the pipeline imported podero_client')\n")
    environment = {"PYTHONPATH": str(poisoned.parent), "PATH": "/usr/bin:/bin"}
    command = [sys.executable, str(ROOT / "scripts" / "regenerate.py"), "--check"]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)  # noqa: S603 (our own script)
    assert result.returncode == 0, result.stderr
    assert "matches the generator's output" in result.stdout
