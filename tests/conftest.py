"""Shared fixtures. ``fake_podero`` itself comes from podero_client.testing's pytest plugin.

The raw test servers these fixtures start are in _servers.py, one set for the whole suite.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import logging
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from _servers import RawServer, Recorder, ScriptedServer, StaticServer, free_port
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.util.types import Attributes

from podero_client import BearerToken, PoderoClient, RetryPolicy
from podero_client._fleet import FleetKey, as_key, key_tuple
from podero_client.testing import FakePodero

ROOT = Path(__file__).resolve().parent.parent
# The Partner API as a pull will bring it once Podero publishes all of it (tests/fixtures/README.md).
GROWN_SPEC = ROOT / "tests" / "fixtures" / "grown-openapi.json"


# An id (Podero's are UUIDs), a credential header, the fake's secrets, or a token as the fake issues
# them (secrets.token_urlsafe(24): 32 URL-safe characters, digits and both cases, unlike a name).
_LEAK = re.compile(
    r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}|Bearer |Basic "
    r"|test-client-secret|test-password|^(?=.*[0-9])(?=.*[A-Z])(?=.*[a-z])[A-Za-z0-9_-]{32}$"
)


class SpanLeakCheck(SpanProcessor):
    """Checks each span as it ends: its name and every attribute (its own, its events', its links')."""

    def __init__(self) -> None:
        self.spans = 0
        self.leaks: list[str] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans += 1
        found: list[tuple[str, object]] = [("name", span.name)] if _LEAK.search(span.name) else []
        for attributes in (span.attributes, *(e.attributes for e in span.events), *(k.attributes for k in span.links)):
            found += self._leaks(attributes)
        self.leaks += [f"{span.name}: {key}={value!r}" for key, value in found]

    @staticmethod
    def _leaks(attributes: Attributes) -> list[tuple[str, object]]:
        return [
            (key, value)
            for key, value in (attributes or {}).items()
            for item in (value if isinstance(value, list | tuple) else [value])
            if isinstance(item, str) and _LEAK.search(item)
        ]


# Every PoderoClient the suite makes traces into this global provider (telemetry is on by
# default with opentelemetry-api installed), so that every span of every test is checked.
SPAN_LEAKS = SpanLeakCheck()
_SUITE_TRACER_PROVIDER = TracerProvider()
_SUITE_TRACER_PROVIDER.add_span_processor(SPAN_LEAKS)
trace.set_tracer_provider(_SUITE_TRACER_PROVIDER)


@pytest.fixture(autouse=True)
def _no_secret_in_any_span() -> Iterator[None]:
    """Fails the test whose spans carry an id, a token or a secret in a name or an attribute."""
    before = len(SPAN_LEAKS.leaks)
    yield
    leaks = SPAN_LEAKS.leaks[before:]
    del SPAN_LEAKS.leaks[before:]
    assert not leaks, f"spans leak ids, tokens or secrets: {leaks}"


@pytest.fixture
def static_server() -> Iterator[StaticServer]:
    server = StaticServer()
    yield server
    server.close()


@pytest.fixture
def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    return f"http://127.0.0.1:{free_port()}/openapi.json"


@pytest.fixture(scope="session")
def published_spec() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads((ROOT / "openapi.json").read_text())
    return spec


@pytest.fixture(params=["aiohttp", "httpx"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each test that builds a client runs once per HTTP backend, the default (aiohttp) first."""
    backend: str = request.param
    return backend


@pytest.fixture
def new_client(fake_podero: FakePodero, backend: str) -> Callable[..., PoderoClient]:
    """Build PoderoClients for the fake server on the backend under test."""
    return functools.partial(fake_podero.client, http_backend=backend)


@pytest.fixture
async def podero(new_client: Callable[..., PoderoClient]) -> AsyncIterator[PoderoClient]:
    """A PoderoClient on the fake server, with client credentials and fast retries."""
    async with new_client() as client:
        yield client


@pytest.fixture
def secret_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record, DEBUG included, from every logger."""
    caplog.set_level(logging.DEBUG)
    return caplog


@dataclasses.dataclass(frozen=True)
class GrownPackage:
    """podero_client with ``_generated`` made from the grown spec, importable as ``podero_grown``."""

    module: ModuleType  # podero_grown: the hand-written layer over the grown generation
    root: Path  # <tmp>/podero_grown
    generated_dir: Path  # <tmp>/podero_grown/_generated
    spec_path: Path  # the grown spec, as given to scripts/regenerate.py
    spec: dict[str, Any]

    def generated(self, dotted: str) -> ModuleType:
        """A module of the grown generation: ``generated("api.user_devices.list_devices")``, ``generated("models")``.

        Imported by name because ``podero_grown`` exists only at test time (mypy cannot see it).
        """
        return importlib.import_module(f"podero_grown._generated.{dotted}")


@pytest.fixture(scope="session")
def grown_package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GrownPackage]:
    """The grown spec regenerated once per session into a temporary copy of the package.

    The hand-written modules import each other relatively, so the copy works under another
    name. ``openapi.json`` and ``podero_client/_generated`` are never touched.
    """
    import regenerate

    work = tmp_path_factory.mktemp("grown")
    root = work / "podero_grown"
    shutil.copytree(ROOT / "podero_client", root, ignore=shutil.ignore_patterns("_generated", "__pycache__"))
    pinned = work / "openapi.json"  # the grown spec pinned already: nothing to report or gate
    shutil.copyfile(GROWN_SPEC, pinned)
    generated = root / "_generated"
    status = regenerate.main(
        ["--pinned", str(pinned), "--output", str(generated), "--report", str(work / "report.txt")]
    )
    assert status == 0, "the grown spec must regenerate"
    sys.path.insert(0, str(work))
    try:
        module = importlib.import_module("podero_grown")
        yield GrownPackage(module, root, generated, GROWN_SPEC, json.loads(GROWN_SPEC.read_text()))
    finally:
        sys.path.remove(str(work))
        for name in [name for name in sys.modules if name == "podero_grown" or name.startswith("podero_grown.")]:
            del sys.modules[name]


@pytest.fixture
async def grown_fake(grown_package: GrownPackage) -> AsyncIterator[Any]:
    """The grown package's own FakePodero, serving the grown spec."""
    testing = importlib.import_module("podero_grown.testing")
    async with testing.FakePodero(spec=GROWN_SPEC) as server:
        yield server


@pytest.fixture
async def raw_server() -> AsyncIterator[RawServer]:
    server = await RawServer().start()
    yield server
    await server.close()


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    server = await Recorder().start()
    yield server
    await server.close()


@pytest.fixture
async def scripted_server() -> AsyncIterator[ScriptedServer]:
    server = await ScriptedServer().start()
    yield server
    await server.close()


@pytest.fixture
def raw_client(raw_server: RawServer, backend: str) -> Callable[..., PoderoClient]:
    """PoderoClients for the raw server on the backend under test, with a bearer token and instant retries."""

    def build(**kwargs: object) -> PoderoClient:
        kwargs.setdefault("retry", RetryPolicy(initial_backoff=0))
        return PoderoClient(
            credentials=BearerToken("t"),
            base_url=raw_server.url,
            http_backend=backend,  # type: ignore[arg-type]
            **kwargs,  # type: ignore[arg-type]
        )

    return build


def _redis_answers(url: str) -> bool:
    """PING over a plain socket: the fixture must not need redis-py to decide whether to skip."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def closed_port_url() -> str:
    """A redis:// URL on 127.0.0.1 where nothing listens."""
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis: REDIS_URL (default redis://127.0.0.1:6379/0), else a redis-server started here, else skip."""
    import os

    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if _redis_answers(url):
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no Redis: install redis-server or set REDIS_URL")
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(  # noqa: S603  # the redis-server binary found on PATH
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        for _ in range(100):
            if _redis_answers(url):
                break
            time.sleep(0.05)
        else:
            pytest.skip(f"redis-server did not answer on port {port}: set REDIS_URL")
        yield url
    finally:
        process.terminate()
        process.wait()


def start_redis_server(port: int, folder: Path) -> subprocess.Popen[bytes]:
    """A redis-server of the caller's own on ``port``, answering PING when returned; stop it by its PID."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no redis-server binary: install redis-server")
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(folder)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603  # the binary found on PATH
    for _ in range(200):
        if _redis_answers(f"redis://127.0.0.1:{port}/0"):
            break
        time.sleep(0.02)
    return process


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of this test's own, on a free port, which the test may stop."""
    port = free_port()
    process = start_redis_server(port, tmp_path)
    try:
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        process.terminate()
        process.wait()


def uuids(key: object) -> FleetKey:
    """``key`` as events and ``keys()`` give it."""
    return key_tuple(as_key(key))
