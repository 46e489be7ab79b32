"""make dist builds with build and hatchling alone, in a venv of its own, and the wheel it writes works."""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import ROOT


def test_make_dist_builds_a_working_wheel_without_the_test_toolchain(tmp_path: Path) -> None:
    """In a fresh copy, make dist creates only .venv-dist; the wheel ships the spec and runs the CLI from itself."""
    tree = tmp_path / "podero-client"
    shutil.copytree(
        ROOT,
        tree,
        ignore=shutil.ignore_patterns(".venv*", ".git", "build", "dist", "mutants", "*cache*", "__pycache__"),
    )
    result = subprocess.run(  # noqa: S603  # make, on our own Makefile
        ["make", "dist", f"PYTHON={sys.executable}"],  # noqa: S607  # make from PATH, as a user runs it
        cwd=tree, capture_output=True, text=True, timeout=110, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (tree / ".venv").exists(), "make dist must not build the test toolchain"
    assert (tree / ".venv-dist").is_dir()
    wheels = list((tree / "dist").glob("podero_client-*-py3-none-any.whl"))
    assert len(wheels) == 1, list((tree / "dist").iterdir())
    assert list((tree / "dist").glob("podero_client-*.tar.gz"))
    names = zipfile.ZipFile(wheels[0]).namelist()
    for expected in ("podero_client/openapi.json", "podero_client/py.typed", "podero_client/_generated/client.py"):
        assert expected in names
    assert not [name for name in names if name.startswith(("tests/", "scripts/"))]
    metadata = email.message_from_bytes(
        zipfile.ZipFile(wheels[0]).read(next(name for name in names if name.endswith(".dist-info/METADATA")))
    )
    assert set(metadata.get_all("Provides-Extra", [])) == {"testing", "redis", "otel", "demo"}, "user-facing only"
    assert "pytest-asyncio>=1; extra == 'testing'" in metadata.get_all("Requires-Dist", [])
    assert "Typing :: Typed" in metadata.get_all("Classifier", [])
    assert metadata.get_all("Project-URL")
    assert metadata["Author"] == "The podero-client authors"
    env = {**os.environ, "PYTHONPATH": str(wheels[0])}  # the wheel alone, imported from the zip
    check = subprocess.run(  # our interpreter, our wheel
        [sys.executable, "-c", "import podero_client, podero_client.testing; print(podero_client.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
    assert str(wheels[0]) in check.stdout
    help_text = subprocess.run(  # our interpreter, our wheel
        [sys.executable, "-m", "podero_client", "serve-fake", "--help"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert help_text.returncode == 0, help_text.stderr
    assert "--speed" in help_text.stdout
