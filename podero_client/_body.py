"""Reading a response body with a bound on its decoded size, the same way on both wires.

gzip and deflate are inflated incrementally, never asking zlib for more than the bytes
still allowed, so that a small compressed body that inflates to gigabytes stops at the
bound instead of filling memory. Other codings are passed through undecoded, as httpx does.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterable

import httpx

from ._errors import ResponseTooLargeError

# What the transports ask for, and all they decode: httpx would add br and zstd when their
# packages happen to be installed, and those could not be bounded the same way.
ACCEPT_ENCODING = "gzip, deflate"


class _Inflater:
    """gzip or deflate, like httpx's decoders (deflate: zlib-wrapped or raw), with max_length."""

    def __init__(self, coding: str) -> None:
        self._coding = coding
        self._first = True
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16 if coding == "gzip" else zlib.MAX_WBITS)

    @property
    def unconsumed_tail(self) -> bytes:
        return self._zlib.unconsumed_tail

    def decompress(self, data: bytes, max_length: int) -> bytes:
        """Inflate ``data`` into at most ``max_length`` (> 0) bytes; the rest waits in unconsumed_tail."""
        try:
            out = self._zlib.decompress(data, max_length)
        except zlib.error as exc:
            if self._coding == "deflate" and self._first:  # a raw deflate stream, without the zlib header
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                self._first = False
                return self.decompress(data, max_length)
            raise httpx.DecodingError(f"the {self._coding} body is corrupt: {exc}") from exc
        self._first = False
        return out

    def flush(self) -> bytes:
        try:
            return self._zlib.flush()
        except zlib.error as exc:
            raise httpx.DecodingError(f"the {self._coding} body is corrupt: {exc}") from exc


def codings(content_encoding: str | None) -> list[_Inflater]:
    """Inflaters for a Content-Encoding value, in the order they must be undone (gzip and deflate only)."""
    if not content_encoding:
        return []
    names = [name.strip().lower() for name in content_encoding.split(",")]
    return [_Inflater(name) for name in reversed(names) if name in ("gzip", "deflate")]


def too_large(limit: int, seen: bytes | bytearray = b"") -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"the response body exceeds max_response_bytes={limit:,} once decoded; the rest was not read",
        body=seen[:1000].decode("utf-8", errors="replace"),
    )


async def read_bounded(chunks: AsyncIterable[bytes], inflaters: list[_Inflater], limit: int) -> bytes:
    """The decoded body from raw ``chunks``; ResponseTooLargeError past ``limit`` decoded bytes."""
    body = bytearray()
    async for chunk in chunks:
        body += _inflate(inflaters, 0, chunk, limit - len(body))
        if len(body) > limit:
            raise too_large(limit, body)
    for index, inflater in enumerate(inflaters):
        # What a coding flushes at the end still has to pass through the codings inside it.
        body += _inflate(inflaters, index + 1, inflater.flush(), limit - len(body))
        if len(body) > limit:
            raise too_large(limit, body)
    return bytes(body)


def _inflate(inflaters: list[_Inflater], index: int, data: bytes, allowed: int) -> bytes:
    """``data`` through inflaters[index:]; stops as soon as more than ``allowed`` bytes came out."""
    if index == len(inflaters) or not data:
        return data
    last = index == len(inflaters) - 1
    inflater = inflaters[index]
    out = bytearray()
    while True:
        # The innermost coding may give one byte past the bound, which proves the body too large;
        # an outer one hands on its output in pieces, so that no stage holds a bomb's worth.
        piece = inflater.decompress(data, allowed + 1 - len(out) if last else 65536)
        out += _inflate(inflaters, index + 1, piece, allowed - len(out))
        if len(out) > allowed or not inflater.unconsumed_tail:
            return bytes(out)
        data = inflater.unconsumed_tail
