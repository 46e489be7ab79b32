"""BENCHMARKS.md is shared: bench.py keeps the sections other scripts own, and each script rewrites only its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench_sections import keep_sections, write_section
from conftest import ROOT


def test_a_rerun_of_bench_py_keeps_the_named_sections() -> None:
    """bench.py's new report replaces its own text; the budget and fleet blocks after it survive unchanged."""
    old = (
        "# Benchmarks\n\nold numbers\n\n"
        "<!-- section:budget -->\nbudget numbers\n<!-- /section:budget -->\n\n"
        "<!-- section:fleet -->\nfleet numbers\n<!-- /section:fleet -->\n"
    )
    new = keep_sections(old, "# Benchmarks\n\nnew numbers\n")
    assert new == (
        "# Benchmarks\n\nnew numbers\n\n"
        "<!-- section:budget -->\nbudget numbers\n<!-- /section:budget -->\n\n"
        "<!-- section:fleet -->\nfleet numbers\n<!-- /section:fleet -->\n"
    )
    assert keep_sections("", "# Benchmarks\n") == "# Benchmarks\n"


def test_write_section_replaces_only_its_own_block(tmp_path: Path) -> None:
    """A section is appended the first time, replaced in place afterwards; the rest of the file is kept."""
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\ntop\n\n<!-- section:fleet -->\nfleet\n<!-- /section:fleet -->\n")
    write_section(path, "budget", "first")
    write_section(path, "budget", "second\n")
    assert path.read_text() == (
        "# Benchmarks\n\ntop\n\n<!-- section:fleet -->\nfleet\n<!-- /section:fleet -->\n\n"
        "<!-- section:budget -->\nsecond\n<!-- /section:budget -->\n"
    )


def test_scripts_writing_one_file_at_once_lose_no_section(tmp_path: Path) -> None:
    """make bench-smoke runs the scripts at once: four processes rewriting their blocks of one file keep all four."""
    path = tmp_path / "BENCHMARKS.md"
    code = (
        "import sys; from pathlib import Path; from bench_sections import write_section\n"
        "for turn in range(200): write_section(Path(sys.argv[1]), sys.argv[2], f'{sys.argv[2]} {turn}')\n"
    )
    scripts = str(Path(__file__).parents[1] / "scripts")
    environ = {**os.environ, "PYTHONPATH": scripts}
    writers = [
        subprocess.Popen([sys.executable, "-c", code, str(path), name], env=environ)  # noqa: S603  # this interpreter
        for name in ("bench", "budget", "fleet", "replicas")
    ]
    assert [writer.wait(timeout=60) for writer in writers] == [0, 0, 0, 0]
    text = path.read_text()
    for name in ("bench", "budget", "fleet", "replicas"):
        assert text.count(f"<!-- section:{name} -->\n{name} 199\n<!-- /section:{name} -->\n") == 1, text


def test_bench_smoke_fails_when_one_benchmark_fails() -> None:
    """make bench-smoke runs the scripts at once (make -j): one that fails fails the target and shows its output."""
    result = subprocess.run(  # make, on our own Makefile
        ["make", "--no-print-directory", "bench-smoke", "SMOKES=no_such_bench"],  # noqa: S607  # make from PATH
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    (ROOT / "build" / "smoke-no_such_bench.log").unlink(missing_ok=True)
    assert result.returncode != 0, result.stdout
    assert "bench-smoke: no_such_bench FAILED:" in result.stdout
    assert "scripts/no_such_bench.py" in result.stdout, "the failed script's own output, shown"
