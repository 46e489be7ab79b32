"""The raw test servers every test file shares, each on 127.0.0.1 on a port of its own.

The fake Podero server (``podero_client.testing``) answers as Podero does; these answer as a
test needs a broken, hostile or minimal server to answer, which the fake cannot:
- ``StaticServer``: fixed answers per path, over a threaded ``http.server`` (usable from sync code).
- ``RawServer``: one fixed reply, bytes as they are, then the connection closes.
- ``ScriptedServer``: HTTP/1.1 on raw asyncio streams, every request recorded and each answer a
  small handler, so a test can hold a token request forever, trickle a body, or send two
  Retry-After headers (aiohttp.web cannot).
- ``Recorder``: a list operation over aiohttp.web that answers the pages a test gives it and
  records each query string.
- ``free_port()``: a port where nothing listens.
The fixtures that start them are in conftest.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import attrs
from aiohttp import web

from podero_client import ClientCredentials, PoderoClient, RetryPolicy
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID, wallbox_payload

# The request path of get_wallbox(ORG_ID, USER_ID, WALLBOX_ID), for a test that serves or expects it.
WALLBOX_PATH = f"/api/partners/v2.0/org/{ORG_ID}/users/{USER_ID}/wallboxes/{WALLBOX_ID}?include_deleted=false"
# The grown spec's paged list, which Recorder serves.
SESSIONS = "/api/partners/v2.0/org/{org_id}/users/{user_id}/electric-vehicles/{electric_vehicle_id}/sessions"
# The credentials of make_client: a secret with a quote and a backslash, to be masked in every form.
CLIENT_ID, CLIENT_SECRET = "hardening-client", 'se"cr\\et-value-1234'
# A guard against a hang, far above any bound under test: reaching it fails the test.
HANG = 20.0


def free_port() -> int:
    """A port on 127.0.0.1 where nothing listens: bound by the system, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


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


class RawServer:
    """Answers each request on 127.0.0.1 with ``reply`` bytes, as they are, then closes the connection."""

    def __init__(self, reply: bytes = b"") -> None:
        self.reply = reply
        self.requests = 0
        self.url = ""
        self._server: asyncio.Server | None = None

    async def start(self) -> Self:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            self.requests += 1
            writer.write(self.reply)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@attrs.define
class RawRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


Handler = Callable[[RawRequest, asyncio.StreamWriter], Awaitable[None]]


async def respond(
    writer: asyncio.StreamWriter,
    status: int,
    body: object = b"",
    headers: list[tuple[str, str]] | None = None,
) -> None:
    """Write one whole response; ``body`` as bytes, or anything else as JSON."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(content)}", "Content-Type: application/json"]
    head += [f"{name}: {value}" for name, value in headers or []]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + content)
    await writer.drain()


async def hold(request: RawRequest, writer: asyncio.StreamWriter) -> None:
    """Never answer."""
    await asyncio.Event().wait()


def token_body(token: str = "tok-1", **extra: object) -> dict[str, object]:
    return {"access_token": token, "expires_in": 3600, "token_type": "Bearer", **extra}


async def issue_token(request: RawRequest, writer: asyncio.StreamWriter) -> None:
    await respond(writer, 200, token_body())


async def serve_wallbox(request: RawRequest, writer: asyncio.StreamWriter) -> None:
    await respond(writer, 200, wallbox_payload())


class ScriptedServer:
    """HTTP/1.1 on raw asyncio streams: token requests go to ``token``, the rest to ``api``.

    Unlike RawServer (one fixed reply, then close), it keeps connections alive, records each
    request and scripts each answer.
    """

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self.token: Handler = issue_token
        self.api: Handler = serve_wallbox
        self.requests: list[RawRequest] = []
        self._arrived = asyncio.Condition()
        self._tls = tls
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.url = ""

    @property
    def api_requests(self) -> list[RawRequest]:
        return [request for request in self.requests if "token" not in request.path]

    @property
    def token_requests(self) -> list[RawRequest]:
        return [request for request in self.requests if "token" in request.path]

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Until ``predicate()`` holds, checked after each request arrives."""
        async with self._arrived:
            await self._arrived.wait_for(predicate)

    async def start(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._tls)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"{'https' if self._tls else 'http'}://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while (request := await read_request(reader)) is not None:
                self.requests.append(request)
                async with self._arrived:
                    self._arrived.notify_all()
                await (self.token if "token" in request.path else self.api)(request, writer)
                if writer.is_closing():
                    break
        # Cancelled by close(): ended quietly, since asyncio's stream callback would log it.
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)


async def read_request(reader: asyncio.StreamReader) -> RawRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return RawRequest(method, path, headers, body)


def make_client(server: ScriptedServer, backend: str, **kwargs: Any) -> PoderoClient:
    """A PoderoClient for ``server`` on ``backend``: client credentials and instant retries, unless given."""
    kwargs.setdefault("credentials", ClientCredentials(CLIENT_ID, CLIENT_SECRET))
    kwargs.setdefault("retry", RetryPolicy(initial_backoff=0, max_backoff=0))
    return PoderoClient(base_url=server.url, http_backend=backend, **kwargs)  # type: ignore[arg-type]  # backend


class Recorder:
    """Answers the sessions list with ``pages`` in turn (the last one again), recording each query."""

    def __init__(self) -> None:
        self.queries: list[dict[str, str]] = []
        self.pages: list[Any] = [{"total": 0, "items": []}]
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> Self:
        app = web.Application()
        app.router.add_get(SESSIONS, self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        self.queries.append(dict(request.query))
        page = self.pages[min(len(self.queries), len(self.pages)) - 1]
        return web.json_response(page)

    def client(self, package: Any, backend: str) -> Any:
        """A PoderoClient of ``package`` (a regenerated copy of podero_client) for this server."""
        return package.PoderoClient(credentials=package.BearerToken("t"), base_url=self.url, http_backend=backend)


class RedisProxy:
    """Forwards 127.0.0.1:``port`` to ``target``; ``cut()`` closes every connection and refuses new ones until
    ``start()``; ``stall(b"HMGET", seconds)`` holds the next request that carries those bytes.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port: int = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._stall_on: bytes | None = None
        self._stall_for = 0.0
        self.stalls = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connect, "127.0.0.1", self.port, reuse_address=True)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            await self._server.wait_closed()
            self._server = None

    def stall(self, pattern: bytes, seconds: float) -> None:
        self._stall_on, self._stall_for = pattern, seconds

    async def _connect(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            redis_reader, redis_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        self._writers |= {client_writer, redis_writer}
        try:
            await asyncio.gather(
                self._pipe(client_reader, redis_writer, upstream=True),
                self._pipe(redis_reader, client_writer, upstream=False),
            )
        finally:
            self._writers -= {client_writer, redis_writer}

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool) -> None:
        try:
            while data := await reader.read(65536):
                if upstream and self._stall_on is not None and self._stall_on in data:
                    self._stall_on = None
                    self.stalls += 1
                    await asyncio.sleep(self._stall_for)
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.transport.abort()
