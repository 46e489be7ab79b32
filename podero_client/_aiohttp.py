"""The optional aiohttp backend: httpx-aiohttp, made to fail exactly like httpx's own transport.

Two differences would otherwise leak through (measured here, see the tests):
aiohttp replays a request by itself when a kept-alive connection turns out to be
closed, so the server sees more attempts than the RetryPolicy allows; and
httpx-aiohttp reports such a dropped connection as ``httpx.ConnectTimeout``, which
would make it look unsent (retried for a POST) and a timeout (APITimeoutError).
"""

from __future__ import annotations

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

# The aiohttp cause of an error, most specific first, and what httpx's own transport raises.
_HTTPX_EQUIVALENT: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientOSError, httpx.ReadError),
)


def _as_httpx_error(error: httpx.TransportError) -> httpx.TransportError:
    cause = error.__cause__
    for aiohttp_error, httpx_error in _HTTPX_EQUIVALENT:
        if isinstance(cause, aiohttp_error):
            return error if type(error) is httpx_error else httpx_error(str(cause) or str(error))
    return error


class AiohttpBackend(AiohttpTransport):
    """httpx-aiohttp's transport, with aiohttp's own replay off and its errors mapped like httpx's."""

    def get_client(self) -> aiohttp.ClientSession:
        session = super().get_client()
        # No public switch exists; without this, aiohttp resends a GET on a dropped keep-alive
        # connection and the RetryPolicy no longer bounds what the server sees.
        session._retry_connection = False
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await super().handle_async_request(request)
        except httpx.TransportError as exc:
            raise _as_httpx_error(exc) from exc.__cause__
        try:
            await response.aread()  # here, so that a failure mid-body is mapped like the others
        except httpx.TransportError as exc:
            await response.aclose()
            raise _as_httpx_error(exc) from exc.__cause__
        except BaseException:  # cancelled (a RetryPolicy deadline): release the connection all the same
            await response.aclose()
            raise
        return response
