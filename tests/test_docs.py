"""Every Python block of README.md and docs/*.md runs as written, or type-checks, as the docs convention says.

- A ```python block is a complete program: it is run in its own process, in an empty
  directory, with ``PODERO_BASE_URL`` set to a running ``podero-client serve-fake``.
- A block right after the line ``<!-- fragment -->`` is only type-checked, with strict mypy
  (all fragments in one mypy run).
- A block right after ``<!-- grown -->`` needs the whole Partner API: it is run against this
  session's package regenerated from tests/fixtures/grown-openapi.json, whose packaged spec
  (what ``FakePodero()`` serves) is the grown one.
- ```console, ```sh and other blocks are not run.

New pages in docs/ are picked up by themselves. The README is a landing page: at most 15 KB.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from conftest import GROWN_SPEC, ROOT, GrownPackage

from normalize import operations
from podero_client._cli import main as cli_main

README = ROOT / "README.md"
PACKAGE = ROOT / "podero_client"
README_LIMIT = 15 * 1024
RUN_TIMEOUT = 60  # seconds per block; a block is a few requests to a fake on 127.0.0.1
PYTHON_LANGUAGES = {"python", "py", "python3"}
MARKERS = {"<!-- fragment -->": "fragment", "<!-- grown -->": "grown"}
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")

Kind = Literal["run", "fragment", "grown"]


@dataclasses.dataclass(frozen=True)
class Block:
    """One Python code block of a Markdown file."""

    source: str  # "README.md", "docs/testing.md"
    line: int  # of the opening fence, 1-based
    kind: Kind
    code: str

    @property
    def id(self) -> str:
        return f"{self.source}:{self.line}"

    @property
    def module(self) -> str:
        """A file name for the block that mypy and tracebacks show."""
        return re.sub(r"\W", "_", self.source.removesuffix(".md")) + f"_line{self.line}.py"


def parse(text: str, source: str) -> Iterator[Block]:
    """The Python blocks of ``text``, each with the kind its marker line gives it."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            line = lines[end]
            body.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())
            end += 1
        if opening["info"].lower() in PYTHON_LANGUAGES:
            before = next((line.strip() for line in reversed(lines[:index]) if line.strip()), "")
            kind: Kind = "fragment" if MARKERS.get(before) == "fragment" else "grown" if before in MARKERS else "run"
            yield Block(source, index + 1, kind, "\n".join(body) + "\n")
        index = end + 1


def doc_files() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


BLOCKS = [block for path in doc_files() for block in parse(path.read_text(), str(path.relative_to(ROOT)))]
# Proof that the harness fails a broken block: these two go through the same runs and must fail.
BROKEN = list(
    parse(
        "```python\nraise SystemExit('broken on purpose')\n```\n\n"
        "<!-- fragment -->\n\n```python\nbroken: int = 'not an int'\n```\n",
        "broken.md",
    )
)


@dataclasses.dataclass
class Outcome:
    """What running or type-checking one block gave: an empty ``failure`` is a pass."""

    failure: str = ""


def _run(block: Block, directory: Path, env: dict[str, str]) -> Outcome:
    work = directory / block.module.removesuffix(".py")
    work.mkdir()
    script = work / block.module
    script.write_text(block.code)
    try:
        result = subprocess.run(  # noqa: S603  # our interpreter, our docs
            [sys.executable, str(script)], cwd=work, env=env, capture_output=True, text=True,
            timeout=RUN_TIMEOUT, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return Outcome(f"{block.id} did not finish within {RUN_TIMEOUT} s")
    if result.returncode != 0:
        return Outcome(f"{block.id} exited {result.returncode}:\n{result.stdout[-2000:]}{result.stderr[-4000:]}")
    return Outcome()


def _type_check(blocks: list[Block], directory: Path) -> dict[str, Outcome]:
    """One strict mypy run over every block given; errors are mapped back to their block's line in its file."""
    work = directory / "mypy"
    work.mkdir()
    (work / "mypy.ini").write_text("[mypy]\n")  # not the project's config: its files and excludes
    for block in blocks:
        (work / block.module).write_text(block.code)
    result = subprocess.run(  # noqa: S603  # our interpreter, our docs
        [
            sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--strict", "--python-version", "3.11",
            "--cache-dir", str(ROOT / ".mypy_cache" / "doc-blocks"), "--show-error-codes", "--no-error-summary",
            *(block.module for block in blocks),
        ],
        cwd=work, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    outcomes = {block.id: Outcome() for block in blocks}
    by_module = {block.module: block for block in blocks}
    for line in result.stdout.splitlines():
        module, _, rest = line.partition(":")
        if module in by_module and ": error:" in line:
            block = by_module[module]
            number, _, message = rest.partition(":")
            where = block.line + int(number) if number.isdigit() else block.line
            outcomes[block.id].failure += f"{block.source}:{where}:{message}\n"
    failed = [block_id for block_id, outcome in outcomes.items() if outcome.failure]
    if result.returncode != 0 and not failed:
        raise AssertionError(f"mypy itself failed:\n{result.stdout}{result.stderr}")
    if result.returncode == 2:  # a syntax error stops mypy before it checks the other blocks
        for outcome in outcomes.values():
            outcome.failure = outcome.failure or f"not type-checked: mypy stopped at a syntax error in {failed[0]}"
    return outcomes


def _grown_pythonpath(grown: GrownPackage, directory: Path) -> Path:
    """A directory where ``podero_client`` is the grown package, its packaged spec the grown spec."""
    root = directory / "grown-path"
    shutil.copytree(grown.root, root / "podero_client", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(GROWN_SPEC, root / "podero_client" / "openapi.json")
    return root


@pytest.fixture(scope="module")
def fake_url() -> Iterator[str]:
    """``podero-client serve-fake`` on a free port, as a reader of the docs starts it."""
    with subprocess.Popen(  # our own command
        [sys.executable, "-m", "podero_client", "serve-fake", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    ) as process:  # fmt: skip
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            match = re.search(r"Fake Podero API at (\S+)", first)
            assert match, f"serve-fake did not start: {first}"
            yield match.group(1)
        finally:
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def outcomes(
    fake_url: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> dict[str, Outcome]:
    """Every block's outcome: one mypy run and the runnable blocks, side by side in a few processes."""
    directory = tmp_path_factory.mktemp("doc-blocks")
    env = {**os.environ, "PODERO_BASE_URL": fake_url, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    runnable = [block for block in [*BLOCKS, *BROKEN] if block.kind == "run"]
    grown = [block for block in BLOCKS if block.kind == "grown"]
    checked = [block for block in [*BLOCKS, *BROKEN] if block.kind == "fragment"]
    checked += [try_it_block()]  # the landing page's script runs as written and passes strict mypy too
    grown_env = env
    if grown:
        package: GrownPackage = request.getfixturevalue("grown_package")
        grown_env = {**env, "PYTHONPATH": str(_grown_pythonpath(package, directory))}
    results: dict[str, Outcome] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        mypy = pool.submit(_type_check, checked, directory)
        runs = {block.id: pool.submit(_run, block, directory, env) for block in runnable}
        runs |= {block.id: pool.submit(_run, block, directory, grown_env) for block in grown}
        for block_id, future in runs.items():
            results[block_id] = future.result()
        typed = mypy.result()
    for block_id, outcome in typed.items():
        previous = results.get(block_id)
        key = block_id if previous is None else f"{block_id} (mypy)"
        results[key] = outcome
    return results


def try_it_block() -> Block:
    """The first Python block under the README's "## Try it", to be type-checked as a fragment too."""
    text = README.read_text()
    start = text.index("\n## Try it")
    line = text.count("\n", 0, start) + 1
    block = next(block for block in BLOCKS if block.source == "README.md" and block.line > line)
    return dataclasses.replace(block, kind="fragment", source="README.md (try it)")


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_block(block: Block, outcomes: dict[str, Outcome]) -> None:
    """The block runs as written (or, marked as a fragment, passes strict mypy)."""
    outcome = outcomes[block.id]
    assert not outcome.failure, outcome.failure


def test_the_try_it_script_passes_strict_mypy(outcomes: dict[str, Outcome]) -> None:
    """The README's copy-paste script is typed: strict mypy accepts it as it stands."""
    failure = outcomes[try_it_block().id].failure
    assert not failure, failure


def test_a_broken_block_fails(outcomes: dict[str, Outcome]) -> None:
    """The same runs fail a program that exits non-zero and a fragment mypy refuses, naming the line."""
    program, fragment = BROKEN
    assert "broken on purpose" in outcomes[program.id].failure
    assert f"broken.md:{fragment.line + 1}: error: Incompatible types" in outcomes[fragment.id].failure


def test_markers_and_languages_are_read() -> None:
    """A marker applies to the next block only; console, sh and unmarked non-Python blocks are not Python."""
    text = (
        "<!-- fragment -->\n```python\na = 1\n```\n```python\nb = 2\n```\n<!-- grown -->\n\n```py\nc = 3\n```\n"
        "```console\n$ podero-client demo\n```\n```sh\nmake dist\n```\n  ```python\n  d = 4\n  ```\n"
    )
    assert [(block.kind, block.code) for block in parse(text, "x.md")] == [
        ("fragment", "a = 1\n"), ("run", "b = 2\n"), ("grown", "c = 3\n"), ("run", "d = 4\n"),
    ]  # fmt: skip


def test_every_page_is_checked_and_the_readme_is_short() -> None:
    """README.md and every docs page are read; the README stays a landing page of at most 15 KB."""
    sources = {block.source for block in BLOCKS}
    assert "README.md" in sources
    assert {str(path.relative_to(ROOT)) for path in doc_files()} >= {"README.md", "docs/api.md"}
    size = len(README.read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes, over {README_LIMIT}: move details into docs/"


def test_the_readme_says_what_the_shipped_spec_covers() -> None:
    """The landing page's count of the shipped spec's operations is the spec's own: update-spec makes it stale."""
    spec = json.loads((ROOT / "openapi.json").read_text())
    count = sum(1 for _, _, _ in operations(spec))
    words = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}
    said = " ".join(README.read_text().split())
    assert f"Podero publishes {words.get(count, str(count))} operations" in said, f"the spec has {count}"


# Pages written on branches merged together with this one (issues 16 and 19): once they are
# in, this set is moot; remove it then.
def test_links_between_pages_resolve() -> None:
    """Every relative link of README.md and docs/*.md names a file that exists."""
    broken = []
    for path in doc_files():
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
            if "://" not in target and not (path.parent / target).exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert not broken, broken


def _console_output(text: str, command: str) -> list[str]:
    """The lines a ```console block shows after ``$ command``, up to the next prompt or the fence."""
    lines = text[text.index(f"\n$ {command}\n") + len(command) + 4 :].splitlines()
    return list(itertools.takewhile(lambda line: not line.startswith(("$ ", "```")), lines))


def test_the_readme_shows_what_serve_fake_prints() -> None:
    """The README's `podero-client serve-fake` output is what the command prints, line for line (port aside)."""
    shown = _console_output(README.read_text(), "podero-client serve-fake")
    with subprocess.Popen(  # our own command
        [sys.executable, "-m", "podero_client", "serve-fake", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    ) as process:  # fmt: skip
        assert process.stdout is not None
        printed = [process.stdout.readline().rstrip("\n") for _ in shown]
        process.terminate()
        rest, _ = process.communicate(timeout=10)
    port = re.search(r"127\.0\.0\.1:(\d+)", printed[0])
    assert port, printed
    printed = [line.replace(f"127.0.0.1:{port.group(1)}", "127.0.0.1:8765") for line in printed]
    assert printed == shown
    assert not rest.strip(), f"serve-fake printed more than the README shows: {rest}"


def test_every_environment_variable_the_docs_name_is_read_by_the_package() -> None:
    """A PODERO_* variable in README.md or docs/ is one the SDK or its command reads: the names agree."""
    read = set(re.findall(r"PODERO_[A-Z_]+", " ".join(path.read_text() for path in PACKAGE.rglob("*.py"))))
    assert {"PODERO_BASE_URL", "PODERO_CLIENT_ID", "PODERO_CLIENT_SECRET"} <= read
    named = {name for path in doc_files() for name in re.findall(r"PODERO_[A-Z_]+", path.read_text())}
    assert named - read == set(), "variables the docs name that nothing reads"


def test_install_hints_name_extras_that_exist() -> None:
    """Each `pip install "podero-client[...]"` of the docs names published extras; the README says how to install
    them from a wheel or a checkout, and make demo's venv is the one the README tells the reader to activate."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = set(project["optional-dependencies"])
    hinted = {
        extra.strip()
        for path in doc_files()
        for group in re.findall(r"pip install [\"']podero-client\[([^\]]+)\]", path.read_text())
        for extra in group.split(",")
    } - {"EXTRA"}  # the README's placeholder
    assert hinted, "the docs name no extra: this test would prove nothing"
    assert hinted <= extras, hinted - extras
    readme = README.read_text()
    assert 'pip install "dist/podero_client-0.1.0-py3-none-any.whl[testing]"' in readme
    assert 'pip install "/path/to/podero-client[testing]"' in readme
    makefile = (ROOT / "Makefile").read_text()
    venv = re.search(r"^DEMO_VENV := (\S+)$", makefile, re.MULTILINE)
    assert venv, "the Makefile names the demo's venv"
    assert f"source {venv.group(1)}/bin/activate" in readme
    assert "-e '.[demo]'" in makefile, "make demo installs the demo extra: demo --trace runs in its venv"


def _options(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-v)\b", text)) - {"--help"}


def test_the_cli_page_lists_every_option_of_each_command(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/cli.md's usage lines name exactly the options each command's own --help lists."""
    page = (ROOT / "docs" / "cli.md").read_text()
    block = page[page.index("```\npodero-client ") : page.index("\n```", page.index("```\npodero-client ") + 4)]
    documented: dict[str, set[str]] = {}
    for line in block.splitlines()[1:]:
        words = line.split()
        command = words[1] if not words[1].startswith("-") else ""
        documented.setdefault(command, set()).update(_options(line.split("#", 1)[0]))
    commands = re.findall(r"^    (\S+)  ", _help(capsys), re.MULTILINE)
    assert set(documented) == {"", *commands}, "a usage line for each command, and one for --version"
    for command in commands:
        assert documented[command] == _options(_help(capsys, command).split("\n\n")[0]), command


def _help(capsys: pytest.CaptureFixture[str], *command: str) -> str:
    """What ``podero-client [COMMAND] --help`` prints."""
    with pytest.raises(SystemExit):
        cli_main([*command, "--help"])
    return capsys.readouterr().out


def test_the_spec_page_rewrites_the_api_reference_after_a_regeneration() -> None:
    """docs/spec-changes.md: each scripts/regenerate.py line is followed by `make docs` before the page moves on."""
    page = (ROOT / "docs" / "spec-changes.md").read_text()
    block = re.search(r"```sh\n(.*?)```", page, re.DOTALL)
    assert block, "the page's command block"
    lines = block.group(1).splitlines()
    last_regenerate = max(index for index, line in enumerate(lines) if "scripts/regenerate.py" in line)
    assert any(line.startswith("make docs") for line in lines[last_regenerate:]), lines
    assert "run `make docs`" in " ".join(page.split())


def test_update_spec_passes_allow_http() -> None:
    """make update-spec ALLOW_HTTP=1 asks scripts/regenerate.py for --allow-http, and only then."""
    commands = {}
    for flag in ("ALLOW_HTTP=1", "ALLOW_HTTP="):
        dry = subprocess.run(  # noqa: S603  # make -n only prints what it would run
            ["make", "-n", "update-spec", flag, "SPEC_URL=http://mirror.test/openapi.json"],  # noqa: S607
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        commands[flag] = next(line for line in dry.stdout.splitlines() if "scripts/regenerate.py" in line)
    assert commands["ALLOW_HTTP=1"].endswith("--url http://mirror.test/openapi.json --allow-http")
    assert "--allow-http" not in commands["ALLOW_HTTP="]


def test_the_coverage_floor_is_the_one_the_docs_give() -> None:
    """docs/development.md states the floor that [tool.coverage.report] fail_under sets."""
    floor = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["coverage"]["report"]["fail_under"]
    assert floor > 0
    assert f"**{floor:.1f} %**" in (ROOT / "docs" / "development.md").read_text()
