"""The asyncio helpers for many wallboxes: get_wallboxes and watch_wallbox, on the fake server."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable

import pytest

from podero_client import InvalidArgumentError, NotFoundError, PoderoClient, PoderoError
from podero_client.models import WallboxDetailOutput
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID, FakePodero, Fault, wallbox_payload

IDS = (ORG_ID, USER_ID, WALLBOX_ID)


def _add_wallboxes(server: FakePodero, count: int) -> list[tuple[str, str, str]]:
    keys = []
    for number in range(count):
        key = (ORG_ID, USER_ID, str(uuid.UUID(int=number + 1)))
        server.add_wallbox(*key, wallbox_payload(id=key[2], charge_rate_w=float(number)))
        keys.append(key)
    return keys


async def test_get_wallboxes_keeps_order_and_errors_per_key(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """Results come back in input order; a missing or malformed key fails alone."""
    keys: list[object] = list(_add_wallboxes(fake_podero, 30))
    keys.insert(5, (ORG_ID, USER_ID, str(uuid.uuid4())))
    keys.insert(9, (ORG_ID, USER_ID, "../../admin"))
    keys.insert(12, ("just-one",))
    results = await podero.get_wallboxes(keys, concurrency=7)  # type: ignore[arg-type]
    assert len(results) == 33
    assert isinstance(results[5], NotFoundError)
    assert isinstance(results[9], InvalidArgumentError)
    assert isinstance(results[12], InvalidArgumentError)
    wallboxes = [result for result in results if isinstance(result, WallboxDetailOutput)]
    assert [wallbox.charge_rate_w for wallbox in wallboxes] == [float(number) for number in range(30)]
    assert fake_podero.wallbox_requests == 31, "malformed keys are never sent"


async def test_get_wallboxes_bounds_concurrency(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """No more than `concurrency` requests are in flight at the server, and the bound is reached."""
    keys = _add_wallboxes(fake_podero, 40)
    await podero.get_wallbox(*IDS)  # the token first
    fake_podero.inject("wallbox", *[Fault(delay=0.02)] * 40)
    results = await podero.get_wallboxes(keys, concurrency=5)
    assert all(isinstance(result, WallboxDetailOutput) for result in results)
    assert fake_podero.max_wallbox_in_flight == 5


async def test_get_wallboxes_survives_transient_faults(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """Retries happen per key; a key whose retries run out gets its own error."""
    keys = _add_wallboxes(fake_podero, 10)
    await podero.get_wallbox(*IDS)
    fake_podero.inject("wallbox", *[Fault(status=503)] * 4)
    results = await podero.get_wallboxes(keys, concurrency=1)
    errors = [result for result in results if isinstance(result, PoderoError)]
    assert len(errors) == 1
    assert errors[0] is results[0]


async def test_get_wallboxes_rejects_a_bad_concurrency(podero: PoderoClient) -> None:
    """concurrency must be a positive int, checked before any I/O."""
    with pytest.raises(InvalidArgumentError, match="concurrency"):
        await podero.get_wallboxes([IDS], concurrency=0)


async def _until(condition: Callable[[], bool]) -> None:
    """Wait, at most 10 s, for something the server or the poller does in the background."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110  # the state lives in another task; polling it is the point
            await asyncio.sleep(0.005)


def _watch_in_background(podero: PoderoClient) -> tuple[asyncio.Task[None], list[WallboxDetailOutput]]:
    """A task that watches the fake's wallbox every 10 ms, and the list of what it yielded."""
    seen: list[WallboxDetailOutput] = []

    async def poll() -> None:
        async for wallbox in podero.watch_wallbox(*IDS, interval=0.01):
            seen.append(wallbox)

    return asyncio.create_task(poll()), seen


async def test_watch_yields_on_change_only(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """Unchanged polls yield nothing; a new state timestamp yields the new wallbox."""
    task, seen = _watch_in_background(podero)
    await _until(lambda: fake_podero.wallbox_requests >= 4)
    assert len(seen) == 1, "three unchanged polls yielded nothing"
    fake_podero.wallboxes[IDS] = wallbox_payload(
        current_state_last_updated_at="2026-11-29T08:00:00Z", charge_rate_w=3680.0
    )
    await _until(lambda: len(seen) == 2)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert seen[1].charge_rate_w == 3680.0


async def test_watch_survives_a_503_burst(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """Failures beyond the client's retries are logged and polled through."""
    fake_podero.inject("wallbox", *[Fault(status=503)] * 10)
    watch = podero.watch_wallbox(*IDS, interval=0.05)
    wallbox = await anext(watch)
    await watch.aclose()
    assert wallbox.mode == "CHARGING"
    assert fake_podero.wallbox_requests == 11


async def test_watch_raises_on_not_found(podero: PoderoClient) -> None:
    """A wallbox that does not exist ends the watch with NotFoundError."""
    with pytest.raises(NotFoundError):
        async for _ in podero.watch_wallbox(ORG_ID, USER_ID, uuid.uuid4(), interval=0.01):
            pass


async def test_watch_stops_on_cancel(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """Cancelling the polling task ends it cleanly, with no request left running."""
    task, seen = _watch_in_background(podero)
    await _until(lambda: fake_podero.wallbox_requests >= 3)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert len(seen) == 1
    await asyncio.sleep(0.05)
    assert fake_podero.wallbox_in_flight == 0


async def test_watch_checks_its_arguments_first(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """A bad id or interval fails at the first step, before any request."""
    with pytest.raises(InvalidArgumentError):
        await anext(podero.watch_wallbox(*IDS, interval=0))
    with pytest.raises(InvalidArgumentError):
        await anext(podero.watch_wallbox(ORG_ID, USER_ID, "nope"))
    assert fake_podero.wallbox_requests == 0
