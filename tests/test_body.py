"""Reading a body with a bound on its decoded size (_body.py), the same way on both wires, from the RawServer."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib
from collections.abc import Callable

import pytest
from _servers import RawServer

from podero_client import PoderoClient, PoderoError, ResponseTooLargeError, ResponseValidationError
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID, wallbox_payload

IDS = (ORG_ID, USER_ID, WALLBOX_ID)


PAYLOAD = json.dumps(wallbox_payload()).encode()


def _reply(body: bytes, *headers: bytes, chunked: bool = False) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + b"".join(h + b"\r\n" for h in headers)
    if chunked:
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_past_the_bound_is_too_large_and_not_retried(
    raw_server: RawServer, raw_client: Callable[..., PoderoClient], chunked: bool
) -> None:
    """A body over max_response_bytes is ResponseTooLargeError after one request, whatever its framing."""
    raw_server.reply = _reply(b" " * 5000 + PAYLOAD, chunked=chunked)
    async with raw_client(max_response_bytes=len(PAYLOAD) + 4999) as podero:
        with pytest.raises(ResponseTooLargeError, match="max_response_bytes=") as caught:
            await podero.get_wallbox(*IDS)
    assert isinstance(caught.value, ResponseValidationError)
    assert raw_server.requests == 1


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw-deflate"])
async def test_compressed_bodies_within_the_bound_decode(
    raw_server: RawServer, raw_client: Callable[..., PoderoClient], coding: str
) -> None:
    """gzip, zlib deflate and raw deflate bodies decode like httpx's own, headers kept."""
    if coding == "gzip":
        body = gzip.compress(PAYLOAD)
    else:
        compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS if coding == "raw-deflate" else zlib.MAX_WBITS)
        body = compressor.compress(PAYLOAD) + compressor.flush()
    name = coding.removeprefix("raw-").encode()
    raw_server.reply = _reply(body, b"Content-Encoding: " + name)
    async with raw_client(max_response_bytes=len(PAYLOAD)) as podero:
        response = await podero.get_wallbox_response(*IDS)
    assert response.content == PAYLOAD
    assert response.headers["content-encoding"] == name.decode()


async def test_a_gzip_bomb_stops_at_the_bound(raw_server: RawServer, raw_client: Callable[..., PoderoClient]) -> None:
    """50 MB of zeros in 50 KB of gzip: stopped at 1 MiB, never inflated whole, not retried."""
    raw_server.reply = _reply(gzip.compress(b"0" * 50_000_000), b"Content-Encoding: gzip")
    tracemalloc.start()
    try:
        async with raw_client(max_response_bytes=2**20) as podero:
            with pytest.raises(ResponseTooLargeError):
                await podero.get_wallbox(*IDS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20, f"peak {peak:,} bytes"
    assert raw_server.requests == 1


async def test_a_corrupt_gzip_body_is_a_typed_error(
    raw_server: RawServer, raw_client: Callable[..., PoderoClient]
) -> None:
    """A body that is not the gzip it claims: a PoderoError, as on httpx."""
    raw_server.reply = _reply(b"not gzip at all", b"Content-Encoding: gzip")
    async with raw_client() as podero:
        with pytest.raises(PoderoError, match="DecodingError"):
            await podero.get_wallbox(*IDS)
