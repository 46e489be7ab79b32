"""Named sections of BENCHMARKS.md, so that several benchmark scripts share the file.

``scripts/bench.py`` writes the top of the file; every other script owns one block between
``<!-- section:NAME -->`` and ``<!-- /section:NAME -->`` and rewrites only that block. A rerun
of bench.py keeps the blocks that follow its own output.
"""

from __future__ import annotations

import fcntl
import re
from collections.abc import Callable
from pathlib import Path

_SECTION = re.compile(r"<!-- section:(?P<name>[\w-]+) -->\n.*?<!-- /section:(?P=name) -->\n?", re.DOTALL)


def keep_sections(old: str, new: str) -> str:
    """``new`` (bench.py's own report), followed by the named blocks of ``old`` that ``new`` lacks."""
    present = {match.group("name") for match in _SECTION.finditer(new)}
    kept = [match.group(0).rstrip("\n") + "\n" for match in _SECTION.finditer(old) if match["name"] not in present]
    if not kept:
        return new
    return new.rstrip("\n") + "\n\n" + "\n".join(kept)


def rewrite(path: Path, change: Callable[[str], str]) -> None:
    """``path``'s text (empty when new) replaced by ``change(text)``, holding the file's lock meanwhile.

    ``make bench-smoke`` runs the scripts at once, each rewriting its block of one file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        text = change(handle.read())
        handle.seek(0)
        handle.truncate()
        handle.write(text)


def write_section(path: Path, name: str, body: str) -> None:
    """Replace the block ``name`` of ``path`` with ``body``, or append it; the rest of the file is kept."""
    block = f"<!-- section:{name} -->\n{body.rstrip()}\n<!-- /section:{name} -->\n"

    def replaced(text: str) -> str:
        found = next((match for match in _SECTION.finditer(text) if match["name"] == name), None)
        if found is not None:
            return text[: found.start()] + block + text[found.end() :]
        return (text.rstrip("\n") + "\n\n" if text else "") + block

    rewrite(path, replaced)
