"""The asyncio helpers for many wallboxes: get_wallboxes and watch_wallbox, on the fake server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable

import attrs
import pytest
from _servers import RawRequest, ScriptedServer, make_client, respond

from podero_client import (
    AuthenticationError,
    InvalidArgumentError,
    NotFoundError,
    PoderoClient,
    PoderoError,
    RetryPolicy,
)
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
    gate = asyncio.Event()
    fake_podero.inject("wallbox", *[Fault(hold=gate)] * 40)
    batch = asyncio.create_task(podero.get_wallboxes(keys, concurrency=5))
    await fake_podero.wait_until(lambda: fake_podero.wallbox_in_flight >= 5)
    gate.set()
    results = await batch
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


def _watch_in_background(podero: PoderoClient) -> tuple[asyncio.Task[None], list[WallboxDetailOutput]]:
    """A task that watches the fake's wallbox every 10 ms, and the list of what it yielded."""
    seen: list[WallboxDetailOutput] = []

    async def poll() -> None:
        async for wallbox in podero.watch_wallbox(*IDS, interval=0.01):
            seen.append(wallbox)

    return asyncio.create_task(poll()), seen


async def _served_next(server: FakePodero, **changes: object) -> None:
    """Change the wallbox, then wait until the watcher has had the changed payload.

    The watcher polls one request at a time: once the request after the next one has
    arrived, the answer to the next one (the changed payload) has been looked at.
    """
    server.wallboxes[IDS] = {**server.wallboxes[IDS], **changes}
    served = server.wallbox_requests
    await server.wait_until(lambda: server.wallbox_requests >= served + 2)


async def test_watch_yields_on_change_only(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """A new state timestamp, or a new updated_at, yields; other fields changing alone do not."""
    task, seen = _watch_in_background(podero)
    await fake_podero.wait_until(lambda: fake_podero.wallbox_requests >= 4)
    assert len(seen) == 1, "three unchanged polls yielded nothing"
    await _served_next(fake_podero, charge_rate_w=1.0, is_charging=False)
    assert len(seen) == 1, "the same timestamps: not a change, whatever else differs"
    await _served_next(fake_podero, current_state_last_updated_at="2026-11-29T08:00:00Z", charge_rate_w=3680.0)
    assert [wallbox.charge_rate_w for wallbox in seen] == [7360.0, 3680.0]
    await _served_next(fake_podero, updated_at="2026-11-29T09:00:00Z", charge_rate_w=11000.0)
    assert [wallbox.charge_rate_w for wallbox in seen] == [7360.0, 3680.0, 11000.0], "updated_at alone"
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


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
    """Cancelling the polling task mid-request ends it cleanly, with no request left running."""
    gate = asyncio.Event()
    fake_podero.inject("wallbox", Fault(), Fault(), Fault(hold=gate))
    task, seen = _watch_in_background(podero)
    await fake_podero.wait_until(lambda: fake_podero.wallbox_in_flight == 1 and fake_podero.wallbox_requests == 3)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert len(seen) == 1
    # The held request ends at the server only when the client gave up its connection.
    await fake_podero.wait_until(lambda: fake_podero.wallbox_in_flight == 0)
    assert not gate.is_set()
    assert fake_podero.wallbox_requests == 3


async def test_watch_ends_on_authentication_error(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """A 401 that survives the refresh ends the watch with AuthenticationError; no more polls."""
    unauthorized = Fault(status=401, json={"detail": "Unauthorized"})
    fake_podero.inject("wallbox", Fault(), unauthorized, unauthorized)
    with pytest.raises(AuthenticationError):  # noqa: PT012  # the loop is what raises
        async with asyncio.timeout(10):  # a watch that polled on would end here instead
            async for _ in podero.watch_wallbox(*IDS, interval=0.01):
                pass
    assert fake_podero.wallbox_requests == 3
    assert fake_podero.token_requests == 2


async def test_watch_checks_its_arguments_first(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """A bad id or interval fails at the first step, before any request."""
    with pytest.raises(InvalidArgumentError):
        await anext(podero.watch_wallbox(*IDS, interval=0))
    with pytest.raises(InvalidArgumentError):
        await anext(podero.watch_wallbox(ORG_ID, USER_ID, "nope"))
    assert fake_podero.wallbox_requests == 0


async def test_get_wallboxes_defaults_to_ten_at_a_time(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """Without concurrency=, ten requests are in flight, no more."""
    keys = _add_wallboxes(fake_podero, 30)
    await podero.get_wallbox(*IDS)
    gate = asyncio.Event()
    fake_podero.inject("wallbox", *[Fault(hold=gate)] * 30)
    batch = asyncio.create_task(podero.get_wallboxes(keys))
    await fake_podero.wait_until(lambda: fake_podero.wallbox_in_flight >= 10)
    gate.set()
    await batch
    assert fake_podero.max_wallbox_in_flight == 10


async def test_get_wallboxes_passes_include_deleted(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """A soft-deleted wallbox is NotFoundError in a batch unless include_deleted=True."""
    fake_podero.wallboxes[IDS] = wallbox_payload(deleted_at="2026-11-01T00:00:00Z")
    [default] = await podero.get_wallboxes([IDS])
    [included] = await podero.get_wallboxes([IDS], include_deleted=True)
    assert isinstance(default, NotFoundError)
    assert isinstance(included, WallboxDetailOutput)


@pytest.mark.parametrize("bad", [True, 0, 2.5])
async def test_get_wallboxes_rejects_non_int_concurrency(podero: PoderoClient, bad: object) -> None:
    """A bool, zero or a float is not a concurrency."""
    with pytest.raises(InvalidArgumentError, match="concurrency must be an int >= 1"):
        await podero.get_wallboxes([IDS], concurrency=bad)  # type: ignore[arg-type]


async def test_get_wallboxes_names_a_malformed_key(podero: PoderoClient) -> None:
    """A key that is not a triple gets an error that says what a key must be."""
    [error] = await podero.get_wallboxes([("only", "two")])  # type: ignore[list-item]
    assert isinstance(error, InvalidArgumentError)
    assert "a key must be an (org_id, user_id, wallbox_id) triple, got ('only', 'two')" in str(error)


async def test_watch_passes_include_deleted(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """watch_wallbox(include_deleted=True) finds a soft-deleted wallbox; the default does not."""
    fake_podero.wallboxes[IDS] = wallbox_payload(deleted_at="2026-11-01T00:00:00Z")
    watch = podero.watch_wallbox(*IDS, interval=0.01, include_deleted=True)
    wallbox = await anext(watch)
    await watch.aclose()
    assert wallbox.deleted_at is not None
    with pytest.raises(NotFoundError):
        await anext(podero.watch_wallbox(*IDS, interval=0.01))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"interval": True}, "interval must be a finite number of seconds > 0, got True"),
        ({"interval": -1.0}, "interval must be a finite number of seconds > 0"),
        ({"org_id": "x"}, "org_id must be a UUID"),
        ({"user_id": "x"}, "user_id must be a UUID"),
        ({"wallbox_id": "x"}, "wallbox_id must be a UUID"),
    ],
)
async def test_watch_names_the_bad_argument(podero: PoderoClient, arguments: dict[str, object], message: str) -> None:
    """Each bad argument is named in its InvalidArgumentError."""
    ids: dict[str, object] = {"org_id": ORG_ID, "user_id": USER_ID, "wallbox_id": WALLBOX_ID}
    keywords: dict[str, object] = {name: value for name, value in arguments.items() if name not in ids}
    ids.update({name: value for name, value in arguments.items() if name in ids})
    with pytest.raises(InvalidArgumentError, match=message):
        await anext(podero.watch_wallbox(*ids.values(), **keywords))  # type: ignore[arg-type]


@attrs.frozen(kw_only=True)
class _CountingPolicy(RetryPolicy):
    """A RetryPolicy that waits nothing and records which backoff was asked for."""

    asked: list[int] = attrs.field(factory=list, eq=False)

    def backoff(self, retry: int) -> float:
        self.asked.append(retry)
        return 0.0


async def test_watch_backoff_grows_with_failures_and_resets(
    new_client: Callable[..., PoderoClient], fake_podero: FakePodero
) -> None:
    """Consecutive failed polls ask for backoff 1, 2, ...; a success starts again at 1."""
    policy = _CountingPolicy(max_attempts=1)  # no transport retries: the watch sees each 503
    fake_podero.inject("wallbox", Fault(status=503), Fault(status=503), Fault(), Fault(status=503))
    async with new_client(retry=policy) as podero:
        task, seen = _watch_in_background(podero)
        await fake_podero.wait_until(lambda: fake_podero.wallbox_requests >= 6)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert policy.asked[:3] == [1, 2, 1]
    assert len(seen) == 1


@pytest.mark.parametrize("status", [408, 429, 500])
async def test_watch_polls_through_transient_statuses(
    new_client: Callable[..., PoderoClient], fake_podero: FakePodero, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    """408, 429 and 5xx are transient for the watch: logged with the error, then polled again."""
    async with new_client(retry=RetryPolicy(max_attempts=1, initial_backoff=0)) as podero:
        fake_podero.inject("wallbox", Fault(status=status, json={"detail": "try later"}))
        watch = podero.watch_wallbox(*IDS, interval=5.0)  # long: the wait below is the backoff, not the cap
        wallbox = await anext(watch)
        await watch.aclose()
    assert wallbox.mode == "CHARGING"
    assert fake_podero.wallbox_requests == 2
    [warning] = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert f"watch_wallbox: {status} from GET" in warning
    assert warning.endswith("polling again in 0.0s")


async def test_watch_waits_for_retry_after(
    new_client: Callable[..., PoderoClient], fake_podero: FakePodero, caplog: pytest.LogCaptureFixture
) -> None:
    """A 429's Retry-After is the watch's wait when longer than its backoff (a lower bound only)."""
    async with new_client(retry=RetryPolicy(max_attempts=1, initial_backoff=0)) as podero:
        fake_podero.inject("wallbox", Fault(status=429, headers={"Retry-After": "0.3"}))
        started = time.monotonic()
        watch = podero.watch_wallbox(*IDS, interval=5.0)
        await anext(watch)
        elapsed = time.monotonic() - started
        await watch.aclose()
    assert elapsed >= 0.3
    assert any(record.getMessage().endswith("polling again in 0.3s") for record in caplog.records)


# Issue 11, case 3: a watcher through a long outage ---------------------------------------------
async def test_watcher_polls_through_more_than_1024_failures(
    scripted_server: ScriptedServer, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Case 3: 1,100 transient failures in a row, then an answer: the watcher yields it, no OverflowError."""
    caplog.set_level(logging.ERROR)  # a warning per failed poll is not the point here

    async def down_for_a_while(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        if len(scripted_server.api_requests) <= 1100:
            await respond(writer, 503, {"detail": "down"})
        else:
            await respond(writer, 200, wallbox_payload())

    scripted_server.api = down_for_a_while
    async with make_client(scripted_server, backend, retry=RetryPolicy(max_attempts=1, initial_backoff=0)) as podero:
        async for wallbox in podero.watch_wallbox(*IDS, interval=0.001):
            assert str(wallbox.id) == WALLBOX_ID
            break
    assert len(scripted_server.api_requests) == 1101


@pytest.mark.parametrize("interval", [float("inf"), float("nan"), 0, -1.0, True, "60"])
async def test_watch_interval_must_be_finite_and_positive(podero: PoderoClient, interval: object) -> None:
    """watch_wallbox(interval=inf) would sleep forever: a finite number > 0 is required, before any I/O."""
    watch = podero.watch_wallbox(*IDS, interval=interval)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="interval"):
        await anext(watch)
