"""The wire over real sockets on both backends: malformed answers fail alike, as httpx's own errors."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from _servers import RawServer

from podero_client import APIConnectionError, APITimeoutError, PoderoClient
from podero_client._aiohttp import as_httpx_error
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID, wallbox_payload

IDS = (ORG_ID, USER_ID, WALLBOX_ID)
OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"


MALFORMED = {
    "duplicate-content-length": OK_HEAD + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "bad-status-line": b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\n{}",
    "header-without-colon": OK_HEAD + b"Content-Length: 2\r\nNo colon here\r\n\r\n{}",
    "bad-chunk": OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "200-kb-header": OK_HEAD + b"X-Big: " + b"a" * 200_000 + b"\r\nContent-Length: 2\r\n\r\n{}",
    "not-http": b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
}


@pytest.mark.parametrize("reply", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_responses_are_protocol_errors_after_retries(
    raw_server: RawServer, raw_client: Callable[..., PoderoClient], reply: bytes
) -> None:
    """A malformed answer is APIConnectionError from httpx.RemoteProtocolError, retried, on either wire."""
    raw_server.reply = reply
    async with raw_client() as podero:
        with pytest.raises(APIConnectionError) as caught:
            await podero.get_wallbox(*IDS)
    assert not isinstance(caught.value, APITimeoutError)
    assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)
    assert raw_server.requests == 4, "retried like any dropped answer"


async def test_a_thousand_headers_parse_on_both(raw_server: RawServer, raw_client: Callable[..., PoderoClient]) -> None:
    """aiohttp's head limits follow httpcore's (100 KiB), so a long but valid head is no error on either wire."""
    from podero_client.testing import wallbox_payload

    body = httpx.Response(200, json=wallbox_payload()).content
    headers = b"".join(b"X-Header-%d: %d\r\n" % (n, n) for n in range(1000))
    raw_server.reply = OK_HEAD + headers + b"Content-Length: %d\r\n\r\n" % len(body) + body
    async with raw_client() as podero:
        response = await podero.get_wallbox_response(*IDS)
    assert response.headers["x-header-999"] == "999"


async def test_status_reason_and_repeated_headers_arrive_as_sent(
    raw_server: RawServer, raw_client: Callable[..., PoderoClient]
) -> None:
    """The httpx.Response keeps the reason phrase, header case and repeated headers."""
    raw_server.reply = (
        b'HTTP/1.1 404 Gone Fishing\r\nX-Seen: 1\r\nX-Seen: 2\r\nContent-Length: 15\r\n\r\n{"detail": "x"}'
    )
    async with raw_client() as podero:
        with pytest.raises(Exception) as caught:  # noqa: PT011  # the type is test_client's business
            await podero.get_wallbox(*IDS)
    response = caught.value.response  # type: ignore[attr-defined]
    assert response.reason_phrase == "Gone Fishing"
    assert response.headers.get_list("x-seen") == ["1", "2"]
    assert ("X-Seen", "1") in response.headers.multi_items() or (b"X-Seen", b"1") in response.headers.raw


def test_a_header_value_aiohttp_refuses_never_shows_in_the_error() -> None:
    """aiohttp's ValueError for a CR/LF header becomes LocalProtocolError without the value."""
    error = as_httpx_error(ValueError("Newline or carriage return character detected in header: Bearer s3cret"))
    assert isinstance(error, httpx.LocalProtocolError)
    assert "s3cret" not in str(error)


async def test_a_utf8_reason_phrase_is_read(raw_server: RawServer, raw_client: Callable[..., PoderoClient]) -> None:
    """A reason phrase outside latin-1 ("✓ok" in UTF-8) is no error on either wire: the body is parsed."""
    body = json.dumps(wallbox_payload()).encode()
    head = "HTTP/1.1 200 ✓ok\r\nContent-Type: application/json\r\n".encode()
    raw_server.reply = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    async with raw_client() as podero:
        wallbox = await podero.get_wallbox(*IDS)
    assert str(wallbox.id) == wallbox_payload()["id"]


@pytest.mark.parametrize("backend", ["aiohttp", "httpx"])
async def test_multipart_bodies_go_out_on_both_wires(backend: str) -> None:
    """A multipart upload (a streaming request body in httpx) is sent whole by either backend."""
    from pathlib import Path

    from podero_client._transport import DEFAULT_LIMITS, DEFAULT_MAX_RESPONSE_BYTES, build_transport
    from podero_client.testing import FakePodero

    spec = Path(__file__).parent / "fixtures" / "fake" / "beyond-json.json"
    wire = build_transport(
        backend=backend, verify=True, limits=DEFAULT_LIMITS, proxy=None, trust_env=False,
        max_response_bytes=DEFAULT_MAX_RESPONSE_BYTES,
    )  # fmt: skip
    async with FakePodero(spec=spec) as fake, httpx.AsyncClient(transport=wire, base_url=fake.url) as client:
        response = await client.post("/uploads", files={"file": ("a.txt", b"hello")}, data={"label": "x"})
        assert response.status_code == 200, response.text
        assert response.json() == {"stored": False}
        missing = await client.post("/uploads", files={"other": ("a.txt", b"hello")})
        assert missing.status_code == 422, "the fake saw the parts, so it tells a missing one"
