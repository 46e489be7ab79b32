"""Start ``podero-client serve-fake`` in its own process, for benchmarks and soaks.

A separate process keeps the server's CPU, sockets and memory out of the client's figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator


@contextlib.asynccontextmanager
async def fake_server_process(*, chaos: float = 0.0) -> AsyncIterator[str]:
    """Yield the URL of a fresh fake Podero server process; stop it afterwards."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "podero_client", "serve-fake", "--port", "0", "--chaos", str(chaos),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first_line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        if not first_line.startswith("Fake Podero API at "):
            raise RuntimeError(f"serve-fake did not start: {first_line!r}")
        yield first_line.split()[4]
    finally:
        process.terminate()
        await process.wait()
