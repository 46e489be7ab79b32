"""A TCP proxy in front of a real Redis, for faults that concern one client: cut it off, or stall one command."""

from __future__ import annotations

import asyncio
import contextlib
import socket


class RedisProxy:
    """Forwards 127.0.0.1:``port`` to ``target``; ``cut()`` closes every connection and refuses new ones until
    ``start()``; ``stall(b"HMGET", seconds)`` holds the next request that carries those bytes.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port: int = sock.getsockname()[1]
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
