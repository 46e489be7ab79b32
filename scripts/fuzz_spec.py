"""Fuzz the normalizer and the generator with mutated specs (``make fuzz-spec``; not part of ``make test``).

    python scripts/fuzz_spec.py [--budget SECONDS] [--seed N]

Each base spec (openapi.json, tests/fixtures/changes/base.json and the upstream specs in
../shared/upstream-specs/) is mutated once at a time: a property name, an enum value, a tag,
an operationId or a ``$ref`` replaced by a hostile string. Every mutant must either regenerate
(exit 0: the package imports and passes its smoke run) or be refused with exit 1 and exactly
one line. Anything else (a traceback, an "internal error", a second line, a hang) is a finding.

Half the runs are a regeneration *across* a change instead, from the base (generated and
locked first) to a mutant of it, each with its own oracle:

* ``twin``: a property, query parameter or enum value gains a twin that would take its Python
  name (``userId`` beside ``user_id``, ``RED`` beside ``red``). The run must pass (exit 0)
  with every name of the old lock unchanged, or be refused with one line.
* ``retype``: a scalar schema anywhere (a component, a property of an inline, nested or
  ``allOf`` object, array items, a parameter, through any ``$ref``) changes its type. The gate
  must refuse it (exit 2), or the run be refused with one line; exit 0 is a finding.

Prints how many specs it tried and what it found.
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
KINDS = ("property", "enum", "tag", "operation_id", "ref", "property_pair", "operation_pair", "wrong_type")
# What a node of the wrong JSON type becomes: OpenAPI 3.1 allows true and false as schemas, nothing else here.
WRONG: tuple[object, ...] = (True, False, 0, "x", [], {}, None)
ACROSS = ("twin", "retype")


def _bases() -> list[tuple[str, dict[str, Any]]]:
    sys.path.insert(0, str(ROOT / "scripts"))
    import spec_source

    bases = [("openapi.json", json.loads((ROOT / "openapi.json").read_text()))]
    bases.append(("changes/base.json", json.loads((ROOT / "tests" / "fixtures" / "changes" / "base.json").read_text())))
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
    elif kind == "wrong_type":
        owner = rng.choice(nodes[1:] or nodes)
        if not owner:
            return False
        key = rng.choice(sorted(owner, key=str))
        owner[key] = rng.choice([value for value in WRONG if type(value) is not type(owner[key])])
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


_DATA_KEYS = frozenset({"example", "examples", "default", "enum", "const", "discriminator", "x-examples"})
_RETYPE = {"integer": "string", "number": "string", "boolean": "integer", "string": "integer"}


def _scalar_schemas(node: Any) -> list[dict[str, Any]]:
    """Every schema of a scalar type (no enum, no const) outside data keys: what ``retype`` changes."""
    found: list[dict[str, Any]] = []
    pending = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if isinstance(item.get("type"), str) and item["type"] in _RETYPE and not {"enum", "const"} & set(item):
                found.append(item)
            pending.extend(value for key, value in item.items() if key not in _DATA_KEYS)
        elif isinstance(item, list):
            pending.extend(item)
    return found


def _twin(name: str) -> str | None:
    """Another spelling of ``name`` that the generator would give the same Python name."""
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()
    if snake != name:
        return snake
    camel = re.sub(r"_([a-z0-9])", lambda match: match[1].upper(), name)
    return camel if camel != name else None


def mutate_across(spec: dict[str, Any], kind: str, rng: random.Random) -> str | None:
    """Change ``spec`` in place by a ``twin`` or ``retype`` mutation; what changed, or None when it cannot."""
    nodes = _nodes(spec)
    if kind == "retype":
        targets = _scalar_schemas(spec.get("paths")) + _scalar_schemas(spec.get("components"))
        if not targets:
            return None
        target = rng.choice(targets)
        was = target["type"]
        target["type"] = _RETYPE[was]
        target.pop("format", None)
        for bound in (
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "minLength",
            "maxLength",
            "pattern",
        ):
            target.pop(bound, None)
        return f"{was} -> {target['type']}"
    choices: list[tuple[str, dict[str, Any], str]] = []
    for node in nodes:
        if isinstance(node.get("properties"), dict):
            choices += [("property", node, name) for name in node["properties"] if _twin(name)]
        if isinstance(node.get("enum"), list) and all(isinstance(value, str) for value in node["enum"]):
            choices += [("enum", node, value) for value in node["enum"] if value.swapcase() not in node["enum"]]
        if isinstance(node.get("parameters"), list):
            choices += [
                ("parameter", node, str(parameter.get("name")))
                for parameter in node["parameters"]
                if isinstance(parameter, dict) and parameter.get("in") == "query" and _twin(str(parameter.get("name")))
            ]
    if not choices:
        return None
    where, node, name = rng.choice(choices)
    if where == "property":
        twin = _twin(name) or name
        if twin in node["properties"]:
            return None
        node["properties"][twin] = {"type": "string"}  # optional: builders do not break
    elif where == "enum":
        twin = name.swapcase()
        node["enum"].append(twin)
    else:
        twin = _twin(name) or name
        node["parameters"].append({"in": "query", "name": twin, "schema": {"type": "string"}})
    return f"{where} {name!r} gains the twin {twin!r}"


def _refusal(status: int | str, lines: list[str]) -> str | None:
    """The reason of a run refused with one line (or the generator's list of dropped pieces), else None."""
    if status != 1 or not lines or any("internal error" in line for line in lines):
        return None
    if len(lines) == 1 and lines[0].startswith("regenerate: "):
        return _reason(lines[0])
    if lines[0].startswith("regenerate: openapi-python-client would"):  # a header, then one line per piece
        return _reason(lines[1] if len(lines) > 1 else lines[0])
    return None


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


def _moved(before: Path, after: Path) -> list[str]:
    """Names of the lock ``before`` that the lock ``after`` gives otherwise (or no longer gives)."""
    import names

    old, new = names.read_lock(before), names.read_lock(after)
    found = names.moves(old, new)
    for table, was, now in (
        ("parameters", old.parameters, new.parameters),
        ("properties", old.properties, new.properties),
    ):
        for owner, entries in was.items():
            found += [f"{table} {owner} {key}: gone" for key in entries if key not in now.get(owner, {})]
    return found


def _across(
    name: str, base: dict[str, Any], kind: str, rng: random.Random, work: Path, cache: dict[str, Path]
) -> tuple[str, int | str, list[str], list[str]] | None:
    """A regeneration from ``base`` (generated and locked once, then copied) to a mutant of it."""
    generated = cache.get(name)
    if generated is None:
        generated = cache[name] = work / f"base-{len(cache)}"
        generated.mkdir()
        (generated / "openapi.json").write_text(json.dumps(base))
        arguments = ["--pinned", str(generated / "openapi.json"), "--output", str(generated / "pkg" / "_generated")]
        status, lines = _regenerate([*arguments, "--report", str(generated / "report.txt")])
        if status != 0:
            cache[name] = work / "unusable"
            return None
    if not generated.name.startswith("base-"):
        return None
    spec = json.loads(json.dumps(base))
    what = mutate_across(spec, kind, rng)
    if what is None:
        return None
    folder = work / "across"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(generated, folder)
    (folder / "spec.json").write_text(json.dumps(spec))
    arguments = [
        "--spec", str(folder / "spec.json"), "--pinned", str(folder / "openapi.json"),
        "--output", str(folder / "pkg" / "_generated"), "--report", str(folder / "report.txt"),
    ]  # fmt: skip
    status, lines = _regenerate(arguments)
    moved = _moved(generated / "openapi.lock.json", folder / "openapi.lock.json") if status == 0 else []
    return what, status, lines, moved


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
    examples: dict[str, str] = {}  # the first mutant refused for each reason
    deadline = time.monotonic() + args.budget
    cache: dict[str, Path] = {}
    across: collections.Counter[str] = collections.Counter()
    with tempfile.TemporaryDirectory(prefix="podero-fuzz-") as work:
        while time.monotonic() < deadline:
            name, base = rng.choice(bases)
            if rng.random() < 0.5:  # a regeneration across a change, with its own oracle
                kind = rng.choice(ACROSS)
                outcome = _across(name, base, kind, rng, Path(work), cache)
                if outcome is None:
                    continue
                what, status, lines, moved = outcome
                tried += 1
                label = f"{name}, {kind}: {what}"
                reason = _refusal(status, lines)
                if (kind == "retype" and status == 2) or (kind == "twin" and status == 0 and not moved):
                    across[f"{kind}: exit {status}"] += 1
                elif reason is not None:
                    refused += 1
                    reasons[reason] += 1
                    examples.setdefault(reason, label)
                elif kind == "twin" and moved:
                    findings.append(f"{label}: a locked name moved: {moved[0]}")
                else:
                    findings.append(f"{label}: exit {status}: {(lines or ['(no output)'])[-1][:200]}")
                print(f"{tried}: {label}: exit {status}", flush=True)
                continue
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
            reason = _refusal(status, lines)
            if status == 0:
                generated += 1
            elif reason is not None:
                refused += 1
                reasons[reason] += 1
                examples.setdefault(reason, label)
            else:
                findings.append(f"{label}: exit {status}: {(lines or ['(no output)'])[-1][:200]}")
            shutil.rmtree(folder, ignore_errors=True)
            print(f"{tried}: {label}: exit {status}", flush=True)
    print(f"fuzz-spec: {tried} mutated spec(s): {generated} generated and smoke-run, {refused} refused with one line,")
    for result, count in sorted(across.items()):
        print(f"  across a regeneration, {result}: {count} (as the oracle wants)")
    for reason, count in reasons.most_common(12):
        print(f"  refused {count}x: {reason}  (first: {examples[reason][:120]})")
    print(f"fuzz-spec: {len(findings)} finding(s)")
    for finding in findings:
        print(f"  {finding}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
