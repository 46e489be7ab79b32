"""Named sections of BENCHMARKS.md, so that several benchmark scripts share the file.

``scripts/bench.py`` writes the top of the file; every other script owns one block between
``<!-- section:NAME -->`` and ``<!-- /section:NAME -->`` and rewrites only that block. A rerun
of bench.py keeps the blocks that follow its own output.
"""

from __future__ import annotations

import re
from pathlib import Path

_SECTION = re.compile(r"<!-- section:(?P<name>[\w-]+) -->\n.*?<!-- /section:(?P=name) -->\n?", re.DOTALL)


def keep_sections(old: str, new: str) -> str:
    """``new`` (bench.py's own report), followed by the named blocks of ``old`` that ``new`` lacks."""
    present = {match.group("name") for match in _SECTION.finditer(new)}
    kept = [match.group(0).rstrip("\n") + "\n" for match in _SECTION.finditer(old) if match["name"] not in present]
    if not kept:
        return new
    return new.rstrip("\n") + "\n\n" + "\n".join(kept)


def write_section(path: Path, name: str, body: str) -> None:
    """Replace the block ``name`` of ``path`` with ``body``, or append it; the rest of the file is kept."""
    block = f"<!-- section:{name} -->\n{body.rstrip()}\n<!-- /section:{name} -->\n"
    text = path.read_text() if path.exists() else ""
    found = next((match for match in _SECTION.finditer(text) if match["name"] == name), None)
    if found is not None:
        text = text[: found.start()] + block + text[found.end() :]
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "") + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
