"""The aiohttp wire: an httpx transport of our own that sends through one aiohttp session.

httpx stays the API the generated code speaks; only the bytes go through aiohttp, which
costs a fraction of httpx's client CPU per request (BENCHMARKS.md). The success path
is one ``session.request``, one bounded body read and one ``httpx.Response`` built with
its headers in one pass: no per-request context-manager stacks.

It fails exactly like httpx's own transport: ConnectError and ConnectTimeout only when
the request surely never left (aiohttp's connector errors), ReadTimeout for a silent
server, RemoteProtocolError for a dropped connection or a malformed response, ReadError
for a reset. aiohttp's own replay of a request on a dropped keep-alive connection is
off, so the RetryPolicy alone decides what the server sees. This module imports aiohttp
at its top; ``_transport`` imports it off the event loop, on first use.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Callable
from typing import Any

import aiohttp
import httpx
import yarl

from ._body import codings, read_bounded, too_large
from ._lifecycle import Lifecycle, closed_error
from ._pool import acquire, slots
from ._utils import certificate_failure

_MAX_HEAD = 100 * 1024

# (aiohttp cause, what httpx's own transport raises for it), most specific first.
_HTTPX_EQUIVALENT: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),  # never sent
    (aiohttp.ClientHttpProxyError, httpx.ProxyError),
    (aiohttp.ClientConnectorError, httpx.ConnectError),  # certificate failures included: never sent
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (TimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),  # a malformed status line or header
    (aiohttp.ClientOSError, httpx.ReadError),
    (aiohttp.ClientError, httpx.RemoteProtocolError),
)


def as_httpx_error(error: BaseException) -> httpx.TransportError:
    """The httpx exception httpx's own transport would raise for this aiohttp failure."""
    if certificate_failure(error):  # aiohttp's certificate error is also a ValueError: recognised first
        return httpx.ConnectError(str(error) or type(error).__name__)
    if isinstance(error, ValueError):
        # aiohttp refuses a header value with CR/LF; h11 says LocalProtocolError. The value,
        # perhaps a token, stays out of the message.
        return httpx.LocalProtocolError("the request has a header or URL that HTTP/1.1 does not allow")
    for cause, equivalent in _HTTPX_EQUIVALENT:
        if isinstance(error, cause):
            return equivalent(str(error) or type(error).__name__)
    return httpx.RemoteProtocolError(str(error) or type(error).__name__)


def _headers(raw: tuple[tuple[bytes, bytes], ...]) -> httpx.Headers:
    """httpx.Headers from aiohttp's raw pairs in one pass (its constructor re-encodes each one twice)."""
    headers = httpx.Headers.__new__(httpx.Headers)
    headers._list = [(key, key.lower(), value) for key, value in raw]
    headers._encoding = None
    return headers


def _reason(reason: str | None) -> bytes:
    """The reason phrase as bytes; one outside latin-1 (a UTF-8 "✓ok") keeps its UTF-8 bytes."""
    if not reason:
        return b""
    try:
        return reason.encode("latin-1")
    except UnicodeEncodeError:
        return reason.encode("utf-8", errors="replace")


class _Read(httpx.AsyncByteStream):
    """The stream of a response whose body was read already (httpx reads ``_content`` first)."""

    __slots__ = ("_body",)

    def __init__(self, body: bytes) -> None:
        self._body = body

    async def __aiter__(self) -> Any:
        yield self._body


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends httpx requests through one aiohttp session, made on first use inside the loop."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | bool,
        limits: httpx.Limits,
        route: Callable[[httpx.URL], str | None],
        max_response_bytes: int,
        lifecycle: Lifecycle | None = None,
    ) -> None:
        self._ssl = ssl_context
        self._limits = limits
        self._route = route
        self._limit = max_response_bytes
        self._session: aiohttp.ClientSession | None = None
        self._slots = slots(limits)
        self._lifecycle = lifecycle or Lifecycle()  # the client's: closed when it is
        self._timeouts: dict[tuple[Any, ...], aiohttp.ClientTimeout] = {}
        self._proxies: dict[str, tuple[yarl.URL, dict[str, str] | None]] = {}

    def _start(self) -> aiohttp.ClientSession:
        limits = self._limits
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0,
            limit_per_host=0,
            keepalive_timeout=limits.keepalive_expiry if limits.keepalive_expiry is not None else 3600.0,
            ssl=self._ssl,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # token auth: Set-Cookie is never parsed
            auto_decompress=False,  # _body inflates, with the size bound
            trust_env=False,  # proxies are resolved once by _transport; aiohttp would per request
            timeout=aiohttp.ClientTimeout(total=None),
            # httpcore accepts a response head of up to 100 KiB, with any number of headers;
            # aiohttp's defaults (8 KiB a line, 128 headers) would refuse what httpx reads.
            max_line_size=_MAX_HEAD,
            max_field_size=_MAX_HEAD,
            max_headers=2048,
        )
        # No public switch exists; without this, aiohttp resends a GET on a dropped keep-alive
        # connection and the RetryPolicy no longer bounds what the server sees.
        session._retry_connection = False
        self._session = session
        return session

    def _timeout(self, timeout: dict[str, float | None] | None) -> aiohttp.ClientTimeout:
        """httpx's per-request connect and read timeouts (the pool wait is _pool's, before aiohttp)."""
        if not timeout:
            timeout = {}
        key = (timeout.get("connect"), timeout.get("read"))
        found = self._timeouts.get(key)
        if found is None:
            if len(self._timeouts) > 256:  # per-attempt read timeouts shrink under a deadline: keep it small
                self._timeouts.clear()
            found = aiohttp.ClientTimeout(total=None, sock_connect=key[0], sock_read=key[1])
            self._timeouts[key] = found
        return found

    def _proxy(self, url: httpx.URL) -> tuple[yarl.URL | None, dict[str, str] | None]:
        proxy = self._route(url)
        if proxy is None:
            return None, None
        found = self._proxies.get(proxy)
        if found is None:
            parsed = yarl.URL(proxy)
            headers = None
            if parsed.user is not None:  # aiohttp does not read credentials from the proxy URL
                credentials = f"{parsed.user}:{parsed.password or ''}".encode()
                headers = {"Proxy-Authorization": "Basic " + base64.b64encode(credentials).decode()}
            found = self._proxies[proxy] = (parsed.with_user(None), headers)
        return found

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._slots is None:
            return await self._send(request)
        await acquire(self._slots, request)
        try:
            return await self._send(request)
        finally:
            self._slots.release()

    async def _send(self, request: httpx.Request) -> httpx.Response:
        self._lifecycle.check()
        session = self._session or self._start()
        headers = [(key.decode("latin-1"), value.decode("latin-1")) for key, value in request.headers.raw]
        proxy, proxy_headers = self._proxy(request.url)
        if proxy_headers is not None and request.url.scheme == "http":
            # Plain http goes to the proxy as it is (no CONNECT): aiohttp sends proxy_headers only
            # on a CONNECT, so the proxy's credentials ride on the request itself, as in httpx.
            headers += proxy_headers.items()
            proxy_headers = None
        try:
            content = request.content
        except httpx.RequestNotRead:  # a streaming body (multipart/form-data): read it whole, as httpx would send it
            content = await request.aread()
        response: aiohttp.ClientResponse | None = None
        try:
            response = await session.request(
                request.method,
                yarl.URL(str(request.url), encoded=True),  # httpx encoded it already (2 µs: not cached)
                headers=headers,
                data=content or None,
                allow_redirects=False,
                timeout=self._timeout(request.extensions.get("timeout")),
                proxy=proxy,
                proxy_headers=proxy_headers,
            )
            body = await self._read(response)
        except (TimeoutError, aiohttp.ClientError, ValueError, RuntimeError) as exc:
            if response is not None:
                response.close()
            if self._lifecycle.closed or session.closed:  # aiohttp's "Session is closed": aclose() ran meanwhile
                raise closed_error("was in flight") from exc
            raise as_httpx_error(exc) from exc
        except BaseException:
            if response is not None:
                response.close()  # cancelled or too large: drop the connection rather than drain it
            raise
        reason = response.reason
        built = httpx.Response(
            response.status,
            stream=_Read(body),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": _reason(reason)},
        )
        built.headers = _headers(response.raw_headers)  # set, not passed: the constructor would copy them
        built._content = body  # read and decoded already: httpx's aread() returns it as it is
        return built

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        inflaters = codings(response.headers.get("Content-Encoding"))
        length = response.content_length
        if not inflaters and length is not None:
            if length > self._limit:
                raise too_large(self._limit)
            return await response.read()  # aiohttp reads exactly Content-Length bytes
        return await read_bounded(response.content.iter_any(), inflaters, self._limit)

    async def aclose(self) -> None:
        self._lifecycle.close()
        if self._session is not None:
            await self._session.close()
