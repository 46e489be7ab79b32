"""The wire under httpx: settings checked up front, the backend built off the event loop.

``build_transport`` checks the transport settings (backend, verify, limits, proxy,
trust_env, max_response_bytes) before any I/O and returns a ``Wire``. The Wire builds
the real transport on the first request: the TLS context (which reads the CA bundle)
and the import of aiohttp run in a worker thread, so no step blocks the event loop;
the session itself is made on the loop, where aiohttp wants it.

Proxies: ``proxy=`` sends everything through one proxy. Otherwise, with ``trust_env``
(the default, as in httpx), ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and ``NO_PROXY``
are read once, when the client is built, with the standard library's rules
(``urllib.request``), and apply on both backends alike.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
from typing import Literal

import httpx

from ._body import codings, read_bounded, too_large
from ._errors import InvalidArgumentError
from ._lifecycle import Lifecycle, closed_error
from ._pool import acquire, slots
from ._settings import check_proxy_url

Backend = Literal["aiohttp", "httpx"]
DEFAULT_BACKEND: Backend = "aiohttp"
# One default on both backends: httpx's own 100 connections, every one kept alive when idle
# (httpx keeps 20, which makes a busy pool reconnect all the time).
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=5.0)
# A wallbox is about 2 KB; this leaves room for any page the API returns, and none for a bomb.
DEFAULT_MAX_RESPONSE_BYTES = 10 * 2**20
_ENV_PROXY_KEYS = ("http", "https", "all")


class _Routes:
    """Which proxy, if any, a request goes through; decided once per origin."""

    def __init__(self, proxy: str | None, environment: dict[str, str]) -> None:
        self.proxy = proxy
        self.environment = environment
        self._decided: dict[tuple[str, str, int | None], str | None] = {}

    def __call__(self, url: httpx.URL) -> str | None:
        if self.proxy is not None or not self.environment:
            return self.proxy
        origin = (url.scheme, url.host, url.port)
        if origin not in self._decided:
            self._decided[origin] = self._decide(url)
        return self._decided[origin]

    def _decide(self, url: httpx.URL) -> str | None:
        host = f"{url.host}:{url.port}" if url.port else url.host
        # Undocumented but stable since Python 3.0, and what aiohttp's trust_env uses too.
        if urllib.request.proxy_bypass_environment(host, self.environment):  # type: ignore[attr-defined]
            return None
        return self.environment.get(url.scheme) or self.environment.get("all")


def build_transport(
    *,
    backend: object,
    verify: object,
    limits: object,
    proxy: object,
    trust_env: object,
    max_response_bytes: object,
    lifecycle: Lifecycle | None = None,
) -> Wire:
    """Check the transport settings (InvalidArgumentError, before any I/O) and return the Wire.

    ``lifecycle``: the client's, which the wire and its transports consult and close.
    """
    if backend not in ("aiohttp", "httpx"):
        raise InvalidArgumentError(f'http_backend must be "aiohttp" or "httpx", got {backend!r}')
    if not isinstance(verify, bool | ssl.SSLContext):
        raise InvalidArgumentError(f"verify must be True, False or an ssl.SSLContext, got {type(verify).__name__}")
    if limits is None:  # what earlier releases took for "the default"
        limits = DEFAULT_LIMITS
    if not isinstance(limits, httpx.Limits):
        raise InvalidArgumentError(f"limits must be an httpx.Limits, got {type(limits).__name__}")
    if not isinstance(trust_env, bool):
        raise InvalidArgumentError(f"trust_env must be True or False, got {trust_env!r}")
    if isinstance(max_response_bytes, bool) or not isinstance(max_response_bytes, int) or max_response_bytes < 1:
        raise InvalidArgumentError(f"max_response_bytes must be an int >= 1, got {max_response_bytes!r}")
    explicit = None if proxy is None else check_proxy_url("proxy", proxy)
    environment: dict[str, str] = {}
    if explicit is None and trust_env:
        found = urllib.request.getproxies_environment()
        for key in _ENV_PROXY_KEYS:
            if found.get(key):
                environment[key] = check_proxy_url(f"the {key.upper()}_PROXY environment variable", found[key])
        if environment and found.get("no"):
            environment["no"] = found["no"]
    return Wire(
        backend=backend,
        verify=verify,
        limits=limits,
        routes=_Routes(explicit, environment),
        trust_env=trust_env,
        max_response_bytes=max_response_bytes,
        lifecycle=lifecycle or Lifecycle(),
    )


class Wire(httpx.AsyncBaseTransport):
    """The backend transport, built on the first request without blocking the loop."""

    def __init__(
        self,
        *,
        backend: Backend,
        verify: bool | ssl.SSLContext,
        limits: httpx.Limits,
        routes: _Routes,
        trust_env: bool,
        max_response_bytes: int,
        lifecycle: Lifecycle,
    ) -> None:
        self.backend = backend
        self.limits = limits
        self.max_response_bytes = max_response_bytes
        self._verify = verify
        self._routes = routes
        self._trust_env = trust_env
        self._transport: httpx.AsyncBaseTransport | None = None
        self._opening: asyncio.Task[httpx.AsyncBaseTransport] | None = None
        self._lifecycle = lifecycle

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._transport
        if transport is None:
            transport = await self._open()
        return await transport.handle_async_request(request)

    async def _open(self) -> httpx.AsyncBaseTransport:
        self._lifecycle.check()
        opening = self._opening
        if opening is None:
            opening = self._opening = asyncio.get_running_loop().create_task(self._build())
        try:
            # Shielded: one caller cancelled must not cancel the build the others wait for.
            return await asyncio.shield(opening)
        finally:
            if opening.done() and (opening.cancelled() or opening.exception() is not None):
                self._opening = None  # the next request tries again

    async def _build(self) -> httpx.AsyncBaseTransport:
        ssl_context = await asyncio.to_thread(self._prepare)
        transport: httpx.AsyncBaseTransport
        if self.backend == "aiohttp":
            from ._aiohttp import AiohttpTransport  # imported already, by _prepare's thread

            transport = AiohttpTransport(
                ssl_context=ssl_context,
                limits=self.limits,
                route=self._routes,
                max_response_bytes=self.max_response_bytes,
                lifecycle=self._lifecycle,
            )
        else:
            transport = HttpxTransport(
                ssl_context, self.limits, self._routes, self.max_response_bytes, lifecycle=self._lifecycle
            )
        if self._lifecycle.closed:
            await transport.aclose()
            raise closed_error("was in flight")
        self._transport = transport
        return transport

    def _prepare(self) -> ssl.SSLContext:
        """In a worker thread: the slow, blocking part (the CA bundle, the aiohttp import)."""
        if self.backend == "aiohttp":
            from . import _aiohttp  # noqa: F401  # aiohttp's import takes tens of milliseconds
        else:
            # httpx imports httpcore on its first transport, and httpcore anyio's asyncio backend
            # on its first request: together about 150 ms that would otherwise block the loop.
            import anyio._backends._asyncio
            import anyio.streams.tls  # noqa: F401
            import httpcore  # noqa: F401
            import sniffio  # noqa: F401
        if isinstance(self._verify, ssl.SSLContext):
            return self._verify
        # The same CA bundle on both backends: certifi's, or SSL_CERT_FILE/SSL_CERT_DIR with trust_env.
        return httpx.create_ssl_context(verify=self._verify, trust_env=self._trust_env)

    async def aclose(self) -> None:
        self._lifecycle.close()
        if self._opening is not None and not self._opening.done():
            self._opening.cancel()
        if self._transport is not None:
            await self._transport.aclose()


class HttpxTransport(httpx.AsyncBaseTransport):
    """httpx's own transport (one per proxy route), with the body read and bounded here.

    Each route's pool has the semaphore of ``_pool`` in front of it.
    """

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        limits: httpx.Limits,
        routes: _Routes,
        limit: int,
        *,
        lifecycle: Lifecycle | None = None,
    ) -> None:
        self._routes = routes
        self._limit = limit
        self._ssl_context = ssl_context
        self._limits = limits
        self._direct = self._route(None)
        self._proxied: dict[str, tuple[httpx.AsyncHTTPTransport, asyncio.Semaphore | None]] = {}
        self._lifecycle = lifecycle or Lifecycle()

    def _route(self, proxy: str | None) -> tuple[httpx.AsyncHTTPTransport, asyncio.Semaphore | None]:
        transport = httpx.AsyncHTTPTransport(verify=self._ssl_context, limits=self._limits, proxy=proxy)
        return transport, slots(self._limits)

    def _transport(self, url: httpx.URL) -> tuple[httpx.AsyncHTTPTransport, asyncio.Semaphore | None]:
        proxy = self._routes(url)
        if proxy is None:
            return self._direct
        found = self._proxied.get(proxy)
        if found is None:
            found = self._proxied[proxy] = self._route(proxy)
        return found

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport, semaphore = self._transport(request.url)
        if semaphore is None:
            return await self._send(transport, request)
        await acquire(semaphore, request)
        try:
            return await self._send(transport, request)
        finally:
            semaphore.release()

    async def _send(self, transport: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        self._lifecycle.check()
        try:
            response = await transport.handle_async_request(request)
            try:
                inflaters = codings(response.headers.get("content-encoding"))
                length = response.headers.get("content-length")
                if not inflaters and length is not None and length.isdigit() and int(length) > self._limit:
                    raise too_large(self._limit)
                assert isinstance(response.stream, httpx.AsyncByteStream)
                body = await read_bounded(response.stream, inflaters, self._limit)
            finally:
                await response.aclose()
        except (httpx.TransportError, RuntimeError) as exc:
            if self._lifecycle.closed:  # aclose() ran meanwhile and closed the connection under this call
                raise closed_error("was in flight") from exc
            raise
        response._content = body  # decoded already: httpx's aread() returns it as it is
        return response

    async def aclose(self) -> None:
        self._lifecycle.close()
        await self._direct[0].aclose()
        for transport, _ in self._proxied.values():
            await transport.aclose()
