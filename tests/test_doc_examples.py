"""Beyond running each block (tests/test_docs.py): the testing page's pytest file passes under pytest, and the
optional-field functions of docs/client.md are right for every value and refuse what strict mypy should refuse."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import ROOT

from podero_client.models import WallboxDetailOutput
from podero_client.testing import wallbox_payload

DOCS = ROOT / "docs"


def snippet(page: str, section: str, language: str = "python") -> str:
    """The first ``language`` code block under the heading ``section`` of ``docs/<page>``."""
    text = "\n" + (DOCS / page).read_text()
    start = text.index(f"\n{section}\n")
    match = re.compile(rf"```{language}\n(.*?)```", re.DOTALL).search(text, start)
    assert match is not None, f"no {language} block under {section} in docs/{page}"
    return match.group(1)


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  # our own interpreter, our own arguments
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_pytest_example_runs_as_written(tmp_path: Path) -> None:
    """The testing page's file passes under a bare pytest: no config, pytest-asyncio's strict default."""
    (tmp_path / "test_docs_example.py").write_text(snippet("testing.md", "# Testing your code against a fake Podero"))
    result = run("-m", "pytest", "-p", "no:cacheprovider", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_the_optional_field_example_passes_strict_mypy(tmp_path: Path) -> None:
    """strict mypy accepts the docs' way to read an optional field, and refuses the naive one."""
    (tmp_path / "docs_fields.py").write_text(snippet("client.md", "## Optional fields"))
    (tmp_path / "naive.py").write_text(
        "from podero_client.models import WallboxDetailOutput\n\n\n"
        "def kw(wallbox: WallboxDetailOutput) -> float:\n"
        "    return wallbox.charge_rate_w / 1000\n"
    )
    (tmp_path / "mypy.ini").write_text("[mypy]\n")
    # The options and cache of tests/test_docs.py's run: the package is read from a warm cache.
    options = ["--config-file", "mypy.ini", "--strict", "--python-version", "3.11", "--show-error-codes"]
    cache = ["--no-error-summary", "--cache-dir", str(ROOT / ".mypy_cache" / "doc-blocks")]
    result = run("-m", "mypy", *options, *cache, "docs_fields.py", "naive.py", cwd=tmp_path)
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert errors, "the naive read must be refused, or this test proves nothing"
    assert all(line.startswith("naive.py:") for line in errors), result.stdout


def test_the_optional_field_example_is_right_at_run_time() -> None:
    """For every value the API can send (an int, a float, null, absent), the docs' functions are right."""
    namespace: dict[str, Any] = {}
    exec(compile(snippet("client.md", "## Optional fields"), "docs/client.md", "exec"), namespace)  # noqa: S102  # our docs
    charge_power_kw, firmware = namespace["charge_power_kw"], namespace["firmware"]
    payload = wallbox_payload()
    del payload["charge_rate_w"], payload["firmware_version"]
    cases: list[tuple[dict[str, Any], float | None]] = [
        ({"charge_rate_w": 7360}, 7.36),
        ({"charge_rate_w": 7360.5}, 7.3605),
        ({"charge_rate_w": None}, None),
        ({}, None),
    ]
    for overrides, expected in cases:
        assert charge_power_kw(WallboxDetailOutput.from_dict({**payload, **overrides})) == expected, overrides
    assert firmware(WallboxDetailOutput.from_dict({**payload, "firmware_version": "328"})) == "328"
    assert firmware(WallboxDetailOutput.from_dict({**payload, "firmware_version": None})) == "unknown"
    assert firmware(WallboxDetailOutput.from_dict(payload)) == "unknown"
