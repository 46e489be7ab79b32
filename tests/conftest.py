"""Shared fixtures. ``fake_podero`` itself comes from podero_client.testing's pytest plugin."""

from __future__ import annotations

import functools
import json
import logging
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from podero_client import PoderoClient
from podero_client.testing import FakePodero

ROOT = Path(__file__).resolve().parent.parent


class StaticServer:
    """Serves ``routes[path] = (status, content_type, body)`` over real sockets."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, str, bytes]] = {}
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, content_type, body = routes.get(self.path, (404, "text/plain", b"not found"))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def static_server() -> Iterator[StaticServer]:
    server = StaticServer()
    yield server
    server.close()


@pytest.fixture
def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/openapi.json"


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
