"""The fake_podero fixture, run by a separate pytest in a bare directory: no config, strict mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from podero_client._extras import install_hint

TEST_FILE = """
from podero_client._extras import install_hint
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID


async def test_uses_the_fixture(fake_podero):
    async with fake_podero.client() as podero:
        wallbox = await podero.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID)
    assert wallbox.is_charging


async def test_not_asking_for_it_stays_unmarked():
    pass
"""


def run_pytest(directory: Path, *args: str, blocked: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """``pytest`` in ``directory`` as a user would run it; ``blocked`` modules fail to import, as if missing.

    A module that raises ImportError shadows each blocked one: a meta path finder would not do,
    because pytest's assertion rewriter finds plugin modules itself.
    """
    shadows = directory.parent / f"{directory.name}-shadows"
    shadows.mkdir()
    for name in blocked:
        (shadows / f"{name}.py").write_text(f"raise ImportError(\"No module named '{name}'\", name={name!r})\n")
    env = {**os.environ, "PYTHONPATH": str(shadows)}
    return subprocess.run(  # noqa: S603  # our own interpreter, our own arguments
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=directory, capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip


def test_strict_mode_runs_a_test_that_asks_for_the_fixture(tmp_path: Path) -> None:
    """In pytest-asyncio's default strict mode, an unmarked async test with fake_podero runs and passes."""
    (tmp_path / "test_mine.py").write_text(TEST_FILE)
    result = run_pytest(tmp_path, "-o", "asyncio_mode=strict", "-k", "uses_the_fixture")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_other_async_tests_keep_strict_mode(tmp_path: Path) -> None:
    """An async test that does not ask for fake_podero is left to pytest-asyncio's rules: not run in strict mode."""
    (tmp_path / "test_mine.py").write_text(TEST_FILE)
    result = run_pytest(tmp_path, "-o", "asyncio_mode=strict", "-k", "stays_unmarked")
    assert "async def functions are not natively supported" in result.stdout + result.stderr


def test_without_pytest_asyncio_the_fixture_says_so(tmp_path: Path) -> None:
    """Without pytest-asyncio the fixture exists and fails the test with one line naming it."""
    (tmp_path / "test_mine.py").write_text(TEST_FILE)
    result = run_pytest(tmp_path, "-p", "no:asyncio", "-k", "uses_the_fixture", blocked=("pytest_asyncio",))
    assert result.returncode == 1
    assert "fixture 'fake_podero' not found" not in result.stdout
    hint = install_hint("testing")
    assert f"the fake_podero fixture needs pytest-asyncio, which the 'testing' extra brings: {hint}" in result.stdout


def test_without_the_testing_extra_the_fixture_names_it(tmp_path: Path) -> None:
    """Without jsonschema (the testing extra), the fixture fails the test with the line that names the testing extra."""
    (tmp_path / "test_mine.py").write_text(
        TEST_FILE.replace(
            "from podero_client.testing import",
            "from podero_client._generated.types import UNSET\nORG_ID = USER_ID = WALLBOX_ID = UNSET\n#",
        )
    )
    result = run_pytest(tmp_path, "-k", "uses_the_fixture", blocked=("jsonschema",))
    assert result.returncode == 1
    assert f"podero_client.testing needs the 'testing' extra: {install_hint('testing')}" in result.stdout
    assert "Traceback" not in result.stdout
