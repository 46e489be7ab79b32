"""An install hint names where this copy came from (PEP 610), so it works before the package is on an index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _hint_with(tmp_path: Path, direct_url: dict[str, object] | None) -> str:
    """install_hint("otel") in a fresh interpreter that finds a podero-client installed as ``direct_url`` says."""
    info = tmp_path / "podero_client-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.4\nName: podero-client\nVersion: 0.1.0\n")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))
    program = "from podero_client._extras import install_hint; print(install_hint('otel'))"
    result = subprocess.run(  # noqa: S603  # our interpreter, our program
        [sys.executable, "-c", program], env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return result.stdout.strip()


@pytest.mark.parametrize(
    ("direct_url", "expected"),
    [
        (None, 'pip install "podero-client[otel]"'),
        (
            {"url": "file:///src/podero%20client", "dir_info": {"editable": True}},
            'pip install -e "/src/podero client[otel]"',
        ),
        ({"url": "file:///src/podero-client", "dir_info": {}}, 'pip install "/src/podero-client[otel]"'),
        (
            {"url": "file:///dl/podero_client-0.1.0-py3-none-any.whl", "archive_info": {}},
            'pip install "/dl/podero_client-0.1.0-py3-none-any.whl[otel]"',
        ),
        (
            {"url": "https://git.example/podero-client.git", "vcs_info": {"vcs": "git", "requested_revision": "main"}},
            'pip install "podero-client[otel] @ git+https://git.example/podero-client.git@main"',
        ),
        (
            {"url": "https://files.example/podero_client-0.1.0-py3-none-any.whl", "archive_info": {}},
            'pip install "podero-client[otel] @ https://files.example/podero_client-0.1.0-py3-none-any.whl"',
        ),
        ({"no": "url"}, 'pip install "podero-client[otel]"'),
    ],
    ids=["index", "editable-checkout", "checkout", "wheel", "git", "remote-wheel", "unreadable"],
)
def test_the_hint_names_the_origin(tmp_path: Path, direct_url: dict[str, object] | None, expected: str) -> None:
    """Index, checkout (editable or not), wheel, git URL: the hint is the line that adds the extra there."""
    assert _hint_with(tmp_path, direct_url) == expected
