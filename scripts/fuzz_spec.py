"""Fuzz the normalizer and the generator with mutated specs (``make fuzz-spec``; not part of ``make test``).

    python scripts/fuzz_spec.py [--budget SECONDS] [--seed N]

Each base spec (openapi.json and the upstream specs in ../shared/upstream-specs/) is mutated
once at a time: a property name, an enum value, a tag, an operationId or a ``$ref`` replaced by
a hostile string. Every mutant must either regenerate (exit 0: the package imports and passes
its smoke run) or be refused with exit 1 and exactly one line. Anything else (a traceback, a
second line, a hang) is a finding. Prints how many specs it tried and what it found.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import random
import re
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The upstream specs of ../shared/upstream-specs/, as copied into the repository.
UPSTREAM = ROOT / "tests" / "fixtures" / "upstream"
HOSTILE = [
    "d", "cls", "self", "params", "client", "retry", "aclose", "with_raw_response", "to_dict", "from_dict",
    "additional_properties", "json", "types", "None", "True", "class", "def", "import", "__init__", "_", "__",
    "", " ", "-", "1", "1abc", "a-b", "A B", "a b", "ä", "Ω", "日本", "🙂", "x" * 300, "a/b", "a.b", "a'b", 'a"b',
    "a\\b", "a\nb", "a\tb", "{x}", "${x}", "%s", "</script>", "#/components/schemas/Nowhere", "~1", "null",
    "getThing", "get_thing", "GetThing", "retrieve_wallbox", "Resources", "Any", "UNSET", "Unset", "int", "type",
]  # fmt: skip
KINDS = ("property", "enum", "tag", "operation_id", "ref", "property_pair", "operation_pair")


def _bases() -> list[tuple[str, dict[str, Any]]]:
    sys.path.insert(0, str(ROOT / "scripts"))
    import spec_source

    bases = [("openapi.json", json.loads((ROOT / "openapi.json").read_text()))]
    for file in sorted(UPSTREAM.glob("*.json")) + sorted(UPSTREAM.glob("*.yaml")):
        try:
            spec = spec_source.parse(file.read_bytes(), file.name)
        except spec_source.SpecError:
            continue
        # As tests/test_upstream_specs.py: refused unmutated (config-dependent; binary in JSON; default only).
        for path in ("/config/content-type-override", "/tests/octet_stream", "/responses/status-codes/default"):
            spec["paths"].pop(path, None)
        bases.append((file.name, spec))
    return bases


def _nodes(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    pending = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            found.append(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return found


def mutate(spec: dict[str, Any], kind: str, word: str, rng: random.Random) -> bool:
    """Change one place of ``spec`` of the given kind to ``word``; False when it has none."""
    nodes = _nodes(spec)
    if kind == "property":
        owners = [n for n in nodes if isinstance(n.get("properties"), dict) and n["properties"]]
        if not owners:
            return False
        owner = rng.choice(owners)
        old = rng.choice(sorted(owner["properties"]))
        owner["properties"][word] = owner["properties"].pop(old)
        if isinstance(owner.get("required"), list):
            owner["required"] = [word if name == old else name for name in owner["required"]]
    elif kind == "property_pair":  # two names that differ only in case or delimiters
        owners = [n for n in nodes if isinstance(n.get("properties"), dict)]
        if not owners:
            return False
        owner = rng.choice(owners)
        owner["properties"][word] = {"type": "string"}
        owner["properties"][word.upper() if word.upper() != word else f"{word}_"] = {"type": "integer"}
    elif kind == "operation_pair":
        operations = [n for n in nodes if isinstance(n.get("responses"), dict) and "operationId" in n]
        if len(operations) < 2:
            return False
        first, second = rng.sample(operations, 2)
        first["operationId"], second["operationId"] = word, word.swapcase() if word.swapcase() != word else word
        first["tags"] = second["tags"] = ["pair"]
    elif kind == "enum":
        owners = [n for n in nodes if isinstance(n.get("enum"), list) and n["enum"] and isinstance(n["enum"][0], str)]
        if not owners:
            return False
        owner = rng.choice(owners)
        owner["enum"].append(word)
    else:
        operations = [n for n in nodes if "responses" in n and isinstance(n.get("responses"), dict)]
        if kind == "tag" and operations:
            rng.choice(operations)["tags"] = [word]
        elif kind == "operation_id" and operations:
            rng.choice(operations)["operationId"] = word
        elif kind == "ref":
            refs = [n for n in nodes if isinstance(n.get("$ref"), str)]
            if not refs:
                return False
            rng.choice(refs)["$ref"] = word if word.startswith("#") else f"#/components/schemas/{word}"
        else:
            return False
    return True


def _reason(line: str) -> str:
    """A refusal with its specifics (names, paths, pointers) blanked, to count alike ones together."""
    line = re.sub(r"'[^']*'|\"[^\"]*\"|\([^)]*\)|#/\S*|/\S*", "…", line.removeprefix("regenerate: ").strip())
    return line[:110]


def _regenerate(arguments: list[str]) -> tuple[int | str, list[str]]:
    """scripts/regenerate.py in process (the smoke run is its own process): exit status and stderr lines.

    A traceback is reported as status "traceback"; a run past 120 s as "hang" (SIGALRM).
    """
    import regenerate

    def alarm(signum: int, frame: object) -> None:
        raise TimeoutError

    errors = io.StringIO()
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(120)
    try:
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
            status: int | str = regenerate.main(arguments)
    except TimeoutError:
        status = "hang"
    except BaseException as exc:
        status = "traceback"
        errors.write(f"{type(exc).__name__}: {exc}\n")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return status, errors.getvalue().strip().splitlines()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=240.0, help="seconds to run (default %(default)s)")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)  # noqa: S311 (reproducible mutations, not secrets)
    bases = _bases()
    tried, generated, refused = 0, 0, 0
    findings: list[str] = []
    reasons: collections.Counter[str] = collections.Counter()
    deadline = time.monotonic() + args.budget
    with tempfile.TemporaryDirectory(prefix="podero-fuzz-") as work:
        while time.monotonic() < deadline:
            name, base = rng.choice(bases)
            kind, word = rng.choice(KINDS), rng.choice(HOSTILE)
            spec = json.loads(json.dumps(base))
            if not mutate(spec, kind, word, rng):
                continue
            for _ in range(rng.randrange(3)):  # sometimes two or three mutations at once
                extra_kind, extra_word = rng.choice(KINDS), rng.choice(HOSTILE)
                if mutate(spec, extra_kind, extra_word, rng):
                    kind, word = f"{kind}+{extra_kind}", f"{word!r}+{extra_word!r}"
            tried += 1
            folder = Path(work) / str(tried)
            folder.mkdir()
            source = folder / "spec.json"
            source.write_text(json.dumps(spec))
            arguments = [
                "--spec", str(source), "--pinned", str(folder / "openapi.json"), "--output", str(folder / "fuzzed"),
                "--report", str(folder / "report.txt"),
            ]  # fmt: skip
            label = f"{name}, {kind} -> {word!r}"
            status, lines = _regenerate(arguments)
            if status == 0:
                generated += 1
            elif status == 1 and len(lines) == 1 and lines[0].startswith("regenerate: "):
                refused += 1
                reasons[_reason(lines[0])] += 1
            elif status == 1 and lines and lines[0].startswith("regenerate: openapi-python-client would"):
                refused += 1  # the generator's own list: a header line, then one line per dropped piece
                reasons[_reason(lines[1] if len(lines) > 1 else lines[0])] += 1
            else:
                findings.append(f"{label}: exit {status}: {(lines or ['(no output)'])[-1][:200]}")
            shutil.rmtree(folder, ignore_errors=True)
            print(f"{tried}: {label}: exit {status}", flush=True)
    print(f"fuzz-spec: {tried} mutated spec(s): {generated} generated and smoke-run, {refused} refused with one line,")
    for reason, count in reasons.most_common(12):
        print(f"  refused {count}x: {reason}")
    print(f"fuzz-spec: {len(findings)} finding(s)")
    for finding in findings:
        print(f"  {finding}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
