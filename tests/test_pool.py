"""The wait for a free connection (_pool.py): at most ``max_connections`` at a time on both wires, at the fake."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from podero_client import PoderoClient
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID, FakePodero, Fault

IDS = (ORG_ID, USER_ID, WALLBOX_ID)


async def _pool_filled(server: FakePodero, podero: PoderoClient, calls: int, expected: int) -> None:
    """Start ``calls`` concurrent calls whose answers are held; release them once ``expected`` are in flight."""
    await podero.get_wallbox(*IDS)  # the token first
    gate = asyncio.Event()
    server.inject("wallbox", *[Fault(hold=gate)] * calls)
    pending = asyncio.gather(*(podero.get_wallbox(*IDS) for _ in range(calls)))
    await server.wait_until(lambda: server.wallbox_in_flight >= expected)
    gate.set()
    await pending


async def test_pool_bounds_connections(new_client: Callable[..., PoderoClient], fake_podero: FakePodero) -> None:
    """With limits=, concurrent calls share that many connections, and the bound is reached."""
    async with new_client(limits=httpx.Limits(max_connections=5)) as podero:
        await _pool_filled(fake_podero, podero, calls=30, expected=5)
    assert fake_podero.max_wallbox_in_flight == 5
    assert len(fake_podero.connections) == 5
    assert fake_podero.wallbox_requests == 1 + 30


async def test_one_pool_shared_by_concurrent_tasks(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """Many concurrent calls share the client's pool: at most 100 connections by default."""
    await _pool_filled(fake_podero, podero, calls=120, expected=100)
    assert fake_podero.max_wallbox_in_flight == 100
    assert len(fake_podero.connections) <= 100
