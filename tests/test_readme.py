"""The README's snippets run as written: its pytest example, and its optional-field code under strict mypy."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import ROOT

from podero_client.models import WallboxDetailOutput
from podero_client.testing import wallbox_payload

README = (ROOT / "README.md").read_text()


def snippet(section: str, language: str = "python") -> str:
    """The first ``language`` code block under the heading ``section``."""
    start = README.index(f"\n{section}\n")
    match = re.compile(rf"```{language}\n(.*?)```", re.DOTALL).search(README, start)
    assert match is not None, f"no {language} block under {section}"
    return match.group(1)


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  # our own interpreter, our own arguments
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_pytest_example_runs_as_written(tmp_path: Path) -> None:
    """The testing section's file passes under a bare pytest: no config, pytest-asyncio's strict default."""
    (tmp_path / "test_readme_example.py").write_text(snippet("## Testing your code against a fake Podero"))
    result = run("-m", "pytest", "-p", "no:cacheprovider", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_the_optional_field_example_passes_strict_mypy(tmp_path: Path) -> None:
    """strict mypy accepts the README's way to read an optional field, and refuses the naive one."""
    (tmp_path / "readme_fields.py").write_text(snippet("### Optional fields"))
    (tmp_path / "naive.py").write_text(
        "from podero_client.models import WallboxDetailOutput\n\n\n"
        "def kw(wallbox: WallboxDetailOutput) -> float:\n"
        "    return wallbox.charge_rate_w / 1000\n"
    )
    result = run("-m", "mypy", "--strict", "--no-incremental", "readme_fields.py", "naive.py", cwd=tmp_path)
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert errors, "the naive read must be refused, or this test proves nothing"
    assert all(line.startswith("naive.py:") for line in errors), result.stdout


def test_the_optional_field_example_is_right_at_run_time() -> None:
    """For every value the API can send (an int, a float, null, absent), the README's functions are right."""
    namespace: dict[str, Any] = {}
    exec(compile(snippet("### Optional fields"), "README.md", "exec"), namespace)  # noqa: S102  # our README
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
