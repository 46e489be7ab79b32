"""BENCHMARKS.md is shared: bench.py keeps the sections other scripts own, and each script rewrites only its own."""

from __future__ import annotations

from pathlib import Path

from bench_sections import keep_sections, write_section


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
