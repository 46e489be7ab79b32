"""openapi-python-client's own end-to-end specs through our normalizer, config and templates."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT

import normalize
import regenerate

UPSTREAM = ROOT / "tests" / "fixtures" / "upstream"
SPECS = {
    "upstream_baseline_3_0": "baseline_openapi_3.0.json",
    "upstream_baseline_3_1": "baseline_openapi_3.1.yaml",
    "upstream_enums_3_1": "openapi_3.1_enums.yaml",
    "upstream_specific_3_1": "3.1_specific.openapi.yaml",
}
# Depends on upstream's own config (content_type_overrides); it warns under any other.
CONFIG_DEPENDENT = "/config/content-type-override"
# A JSON answer with a ``format: binary`` property: the generator parses it into File(BytesIO(str)),
# which fails on every answer; the smoke run of scripts/regenerate.py rightly refuses it.
BINARY_IN_JSON = "/tests/octet_stream"
# Documented with a ``default`` answer only: scripts/unsupported.py refuses it (tests/test_regenerate_hostile.py).
DEFAULT_ONLY = "/responses/status-codes/default"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, int]]]:
    """Each upstream spec regenerated once into ``<tmp>/<package>``, with its exit status."""
    work = tmp_path_factory.mktemp("upstream")
    status: dict[str, int] = {}
    for package, file in SPECS.items():
        spec = regenerate.parse((UPSTREAM / file).read_bytes(), file)
        spec["paths"].pop(CONFIG_DEPENDENT, None)
        spec["paths"].pop(BINARY_IN_JSON, None)
        spec["paths"].pop(DEFAULT_ONLY, None)
        source = work / f"{package}.json"
        source.write_text(json.dumps(spec))
        arguments = ["--spec", str(source), "--pinned", str(source), "--output", str(work / package)]
        status[package] = regenerate.main(arguments)
    sys.path.insert(0, str(work))
    yield work, status
    sys.path.remove(str(work))
    for name in [name for name in sys.modules if name.startswith("upstream_")]:
        del sys.modules[name]


@pytest.mark.parametrize("package", SPECS)
def test_upstream_spec_regenerates_and_imports(upstream: tuple[Path, dict[str, int]], package: str) -> None:
    """The spec regenerates with exit 0 (nothing dropped) and every operation module imports."""
    work, status = upstream
    assert status[package] == 0
    spec = json.loads((work / f"{package}.json").read_text())
    modules = sorted((work / package / "api").rglob("*.py"))
    endpoints = [path for path in modules if path.name != "__init__.py"]
    assert len(endpoints) == len(list(normalize.operations(spec)))
    for path in endpoints:
        importlib.import_module(".".join(path.relative_to(work).with_suffix("").parts))


def test_upstream_output_passes_strict_mypy(upstream: tuple[Path, dict[str, int]]) -> None:
    """mypy --strict finds nothing in any of them, oneOf [AModel, AModel] included (one run for all)."""
    work, status = upstream
    packages = [arg for package in SPECS if status[package] == 0 for arg in ("-p", package)]
    command = ["-m", "mypy", "--strict", "--python-version", "3.11", "--cache-dir", str(work / ".mypy")]
    result = subprocess.run(  # noqa: S603 (our own interpreter, fixed arguments)
        [sys.executable, *command, *packages], cwd=work, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert len(packages) == 2 * len(SPECS)
