"""The wait for a free connection, the same on both wires: at most ``max_connections`` at a time.

Each wire puts a semaphore of the pool's size in front of its connection pool, so that the
pool itself never queues: httpcore scans every queued request each time a connection frees
up (quadratic: 10,000 concurrent calls on 100 connections took minutes of CPU), and
aiohttp's connector has no timeout of its own for the wait alone. httpx's pool timeout
bounds the wait, and its expiry is ``httpx.PoolTimeout``, exactly as from httpx's own pool.
"""

from __future__ import annotations

import asyncio

import httpx


def slots(limits: httpx.Limits) -> asyncio.Semaphore | None:
    return None if limits.max_connections is None else asyncio.Semaphore(limits.max_connections)


async def acquire(semaphore: asyncio.Semaphore, request: httpx.Request) -> None:
    """Take a connection slot, waiting at most the request's pool timeout."""
    if not semaphore.locked():
        await semaphore.acquire()  # a slot is free: returns at once
        return
    timeout = request.extensions.get("timeout") or {}
    try:
        async with asyncio.timeout(timeout.get("pool")):
            await semaphore.acquire()
    except TimeoutError:
        raise httpx.PoolTimeout("timed out waiting for a free connection") from None
