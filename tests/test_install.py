"""What a user installs from this checkout works in a fresh venv, with nothing from the suite's own.

One venv per session holds only ``podero-client[testing]`` (installed as the README says,
from the checkout): the fixture and every runnable block of docs/testing.md work there, and
the install hint a missing extra prints is a line that, run as printed, adds that extra.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from test_docs import BLOCKS

TESTING_PAGE = "docs/testing.md"


def _run(*command: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(  # noqa: S603  # our interpreter, our commands
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip


def _pip(venv: Path, *args: str) -> None:
    """pip of this suite's interpreter, installing into ``venv`` (which has none of its own, as make demo does)."""
    result = _run(
        sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--quiet",
        "--disable-pip-version-check", *args, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def testing_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with podero-client[testing] from this checkout, and nothing else."""
    venv = tmp_path_factory.mktemp("user") / "venv"
    created = _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=ROOT)
    assert created.returncode == 0, created.stderr
    _pip(venv, f"{ROOT}[testing]")
    return venv


def test_the_testing_page_runs_with_only_the_testing_extra(testing_venv: Path, tmp_path: Path) -> None:
    """docs/testing.md's pytest file passes under a bare pytest, and each of its programs runs, in that venv."""
    blocks = [block for block in BLOCKS if block.source == TESTING_PAGE and block.kind != "grown"]
    test_file, *programs = blocks
    assert test_file.kind == "fragment"
    assert "fake_podero" in test_file.code
    assert programs, "the page's programs (Outside pytest)"
    assert all(block.kind == "run" for block in programs)
    (tmp_path / "test_from_the_docs.py").write_text(test_file.code)
    python = testing_venv / "bin" / "python"
    result = _run(python, "-m", "pytest", "-p", "no:cacheprovider", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    for block in programs:
        (tmp_path / block.module).write_text(block.code)
        ran = _run(python, block.module, cwd=tmp_path, timeout=60)
        assert ran.returncode == 0, f"{block.id}: {ran.stdout}{ran.stderr}"


def test_a_missing_extra_hint_installs_it(testing_venv: Path, tmp_path: Path) -> None:
    """demo --trace without the demo extra prints an install line for this checkout; run as printed, it works."""
    command = testing_venv / "bin" / "podero-client"
    refused = _run(command, "demo", "--trace", cwd=tmp_path)
    assert refused.returncode == 2
    prefix = "demo --trace needs opentelemetry-sdk: pip install "
    assert refused.stderr.startswith(prefix), refused.stderr
    requirement = shlex.split(refused.stderr.removeprefix(prefix))
    assert requirement == [f"{ROOT}[demo]"], "a non-editable checkout install names the checkout"
    _pip(testing_venv, *requirement)
    traced = _run(command, "demo", "--trace", cwd=tmp_path, timeout=120)
    assert traced.returncode == 0, traced.stdout + traced.stderr
    assert "trace: ├── podero.token" in traced.stdout, traced.stdout[-2000:]
