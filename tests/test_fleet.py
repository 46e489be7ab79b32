"""The fleet watch (podero.watch_wallboxes), against the fake's fleet of wallboxes on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gc
import itertools
import math
import statistics
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from conftest import uuids

from podero_client import (
    AuthenticationError,
    ClientClosedError,
    FleetEvent,
    FleetWatch,
    InternalServerError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    PoderoClient,
    RateLimit,
    RetryPolicy,
    WallboxChanged,
    WallboxFailed,
)
from podero_client._fleet import START_SLICE
from podero_client.testing import READING_INTERVAL, FakePodero, Fault

Key = tuple[str, str, str]


@pytest.fixture
async def fleet_server() -> AsyncIterator[FakePodero]:
    """A fake with a fleet of 20 wallboxes, their clock stopped."""
    async with FakePodero(wallboxes=20) as server:
        yield server


def polls(server: FakePodero, key: Key, since: float = 0.0) -> list[float]:
    """When the server saw a request for ``key`` (monotonic times), from ``since`` on."""
    return [at for at, seen in server.wallbox_log if seen == key and at >= since]


async def events_until(fleet: FleetWatch, done: Callable[[list[FleetEvent]], bool]) -> list[FleetEvent]:
    """Events of ``fleet`` until ``done(events)`` holds; TimeoutError after 10 s rather than a hang."""
    seen: list[FleetEvent] = []
    async with asyncio.timeout(10):
        async for event in fleet:
            seen.append(event)
            if done(seen):
                return seen
    return seen


def initial_keys(events: list[FleetEvent]) -> set[Any]:
    return {event.key for event in events if isinstance(event, WallboxChanged) and event.initial}


async def test_first_polls_are_spread_over_the_interval(fleet_server: FakePodero) -> None:
    """The first polls of 20 wallboxes spread over the whole interval: no burst at start-up."""
    keys = fleet_server.wallbox_keys()
    async with fleet_server.client() as podero, podero.watch_wallboxes(keys, interval=2.0) as fleet:
        events = await events_until(fleet, lambda seen: len(initial_keys(seen)) == len(keys))
    firsts = sorted(polls(fleet_server, key)[0] for key in keys)
    assert len(events) == len(keys)
    assert firsts[-1] - firsts[0] >= 1.5  # 20 slots of 0.1 s, each poll somewhere in its own
    busiest = max(sum(1 for at in firsts if start <= at < start + 0.2) for start in firsts)
    assert busiest <= 5, firsts  # an even spread puts 2 or 3 in any tenth of the interval


async def test_a_large_fleet_starts_without_holding_the_loop(fleet_server: FakePodero) -> None:
    """Start-up schedules its keys in slices: the loop's other work runs between two, before the watch is entered."""
    keys = [(uuid.uuid4(), uuid.uuid4(), uuid.uuid4()) for _ in range(START_SLICE + 1)]
    ran = asyncio.Event()

    async def other_work() -> None:
        ran.set()

    async with fleet_server.client() as podero:
        other = asyncio.create_task(other_work())
        async with podero.watch_wallboxes(keys, interval=3600) as fleet:
            assert ran.is_set()
            assert len(fleet) == len(keys)
        await other


async def _entering(fleet: FleetWatch) -> asyncio.Task[FleetWatch]:
    """``fleet`` being entered in a task of its own, stopped where its schedule is half built."""
    entering = asyncio.create_task(fleet.__aenter__())
    while not fleet._started:  # noqa: ASYNC110  # no event marks it: the test steps the loop a turn at a time
        await asyncio.sleep(0)
    return entering


async def test_a_key_removed_while_the_watch_is_entered_is_never_polled(fleet_server: FakePodero) -> None:
    """A key of a slice not yet scheduled is gone from the watch for good; len and in say so meanwhile."""
    keys = [(uuid.uuid4(), uuid.uuid4(), uuid.uuid4()) for _ in range(START_SLICE + 10)]
    async with fleet_server.client() as podero:
        fleet = podero.watch_wallboxes(keys, interval=3600)
        entering = await _entering(fleet)
        assert len(fleet) == len(keys)
        assert fleet.remove(keys[-1]) is True
        assert keys[-1] not in fleet
        await entering
        try:
            assert keys[-1] not in fleet
            assert len(fleet) == len(keys) - 1
        finally:
            await fleet.__aexit__(None, None, None)


async def test_a_watch_closed_while_it_is_entered_starts_no_worker(fleet_server: FakePodero) -> None:
    """Closed between two slices (the client's aclose closes its watches): ClientClosedError, no worker left."""
    keys = [(uuid.uuid4(), uuid.uuid4(), uuid.uuid4()) for _ in range(START_SLICE + 10)]
    async with fleet_server.client() as podero:
        fleet = podero.watch_wallboxes(keys, interval=3600)
        entering = await _entering(fleet)
        await fleet.aclose()
        with pytest.raises(ClientClosedError):
            await entering
        assert fleet._tasks == []


async def test_a_watch_is_entered_once_even_by_two_tasks_at_a_time(fleet_server: FakePodero) -> None:
    keys = [(uuid.uuid4(), uuid.uuid4(), uuid.uuid4()) for _ in range(START_SLICE + 10)]
    async with fleet_server.client() as podero:
        fleet = podero.watch_wallboxes(keys, interval=3600)
        entering = asyncio.create_task(fleet.__aenter__())  # checks its keys past the first slice, a slice a turn
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="runs once"):
            await fleet.__aenter__()
        await entering
        try:
            assert len(fleet) == len(keys)
        finally:
            await fleet.__aexit__(None, None, None)


async def test_add_and_remove_while_it_runs(fleet_server: FakePodero) -> None:
    """An added key gets its initial event; a removed key is polled no more and yields nothing."""
    first, second, third = fleet_server.wallbox_keys()[:3]
    async with fleet_server.client() as podero, podero.watch_wallboxes([first, second], interval=0.1) as fleet:
        await events_until(fleet, lambda seen: len(initial_keys(seen)) == 2)
        fleet.add(third)
        fleet.add(third)  # a key already watched is left as it is
        assert len(fleet) == 3
        await events_until(fleet, lambda seen: uuids(third) in initial_keys(seen))
        assert fleet.remove(first) is True
        assert fleet.remove(first) is False
        removed_at = asyncio.get_running_loop().time()
        await fleet_server.wait_until(lambda: len(polls(fleet_server, second, removed_at)) >= 5)
        assert fleet.keys() == [uuids(second), uuids(third)]
        assert first not in fleet
        assert fleet.wallbox(first) is None
        assert fleet.wallbox(third) is not None
    assert len(polls(fleet_server, first, removed_at)) <= 1  # at most the one already sent


async def test_a_failing_wallbox_does_not_stop_the_others(fleet_server: FakePodero) -> None:
    """500s for one wallbox are failed polls of it alone; it comes back when they stop."""
    keys = fleet_server.wallbox_keys()[:3]
    broken = keys[0]
    fleet_server.inject_wallbox(broken, *[Fault(status=500, json={"detail": "boom"})] * 8)  # 2 polls of 4 attempts
    async with fleet_server.client() as podero, podero.watch_wallboxes(keys, interval=0.1) as fleet:
        events = await events_until(fleet, lambda seen: uuids(broken) in initial_keys(seen))
    failed = [event for event in events if isinstance(event, WallboxFailed)]
    assert [event.key for event in failed] == [uuids(broken)] * 2
    assert all(isinstance(event.error, InternalServerError) and not event.removed for event in failed)
    assert initial_keys(events) == {uuids(key) for key in keys}
    assert len(polls(fleet_server, keys[1])) >= 2  # the others went on meanwhile


async def test_a_404_removes_the_wallbox_and_says_so(fleet_server: FakePodero) -> None:
    """A 404 ends the watch of that wallbox only, with a WallboxFailed(removed=True)."""
    keys = fleet_server.wallbox_keys()[:3]
    gone = keys[1]
    async with fleet_server.client() as podero, podero.watch_wallboxes(keys, interval=0.1) as fleet:
        await events_until(fleet, lambda seen: len(initial_keys(seen)) == 3)
        fleet_server.inject_wallbox(gone, Fault(status=404, json={"detail": "Not Found"}))
        events = await events_until(fleet, lambda seen: any(isinstance(event, WallboxFailed) for event in seen))
        after = asyncio.get_running_loop().time()
        await fleet_server.wait_until(lambda: len(polls(fleet_server, keys[0], after)) >= 3)
        assert gone not in fleet
        assert len(fleet) == 2
    (failed,) = events
    assert isinstance(failed, WallboxFailed)
    assert failed.removed
    assert failed.key == uuids(gone)
    assert isinstance(failed.error, NotFoundError)
    assert polls(fleet_server, gone, after) == []


async def test_credentials_refused_by_the_token_endpoint_end_the_watch(fleet_server: FakePodero) -> None:
    """The token endpoint refusing the credentials ends the watch: iteration raises its AuthenticationError."""
    keys = fleet_server.wallbox_keys()[:3]
    async with fleet_server.client() as podero:
        async with podero.watch_wallboxes(keys, interval=0.1) as fleet:
            await events_until(fleet, lambda seen: len(initial_keys(seen)) == 3)
            fleet_server.client_secret = "rotated"  # the next grant is refused
            fleet_server.expire_tokens()
            with pytest.raises(AuthenticationError, match="token endpoint refused"):
                await events_until(fleet, lambda seen: False)
        assert not [task for task in asyncio.all_tasks() if task.get_name() == "podero-fleet-worker"]


@pytest.mark.parametrize(("status", "error"), [(401, AuthenticationError), (403, PermissionDeniedError)])
async def test_a_401_or_403_on_one_wallbox_fails_that_wallbox_only(
    fleet_server: FakePodero, status: int, error: type[Exception]
) -> None:
    """A 401 or 403 to one wallbox's poll (a token that works for the others) is a WallboxFailed of that key."""
    keys = fleet_server.wallbox_keys()[:3]
    denied = keys[2]
    async with fleet_server.client() as podero, podero.watch_wallboxes(keys, interval=0.05) as fleet:
        await events_until(fleet, lambda seen: len(initial_keys(seen)) == 3)
        fleet_server.inject_wallbox(denied, *[Fault(status=status, json={"detail": "Denied"})] * 2)
        events = await events_until(fleet, lambda seen: any(isinstance(event, WallboxFailed) for event in seen))
        after = asyncio.get_running_loop().time()
        await fleet_server.wait_until(lambda: len(polls(fleet_server, denied, after)) >= 2)  # still watched
    (failed,) = [event for event in events if isinstance(event, WallboxFailed)]
    assert failed.key == uuids(denied)
    assert isinstance(failed.error, error)
    assert not failed.removed


async def test_the_fakes_own_chaos_does_not_end_the_watch() -> None:
    """chaos=0.1 (revoked tokens among its faults): the watch goes on, every failure one wallbox's."""
    async with FakePodero(wallboxes=30, chaos=0.1, seed=7) as server:
        keys = server.wallbox_keys()
        retry = RetryPolicy(initial_backoff=0.0, max_backoff=0.0)
        async with (
            server.client(retry=retry, timeout=0.5) as podero,
            podero.watch_wallboxes(keys, interval=0.05, concurrency=30) as fleet,
        ):
            events: list[FleetEvent] = []

            async def read() -> None:
                async for event in fleet:
                    events.append(event)

            reader = asyncio.create_task(read())
            await server.wait_until(lambda: server.wallbox_requests >= 1500 or reader.done())
            assert not reader.done(), reader.exception()
            reader.cancel()
    assert server.requests["oauth2"] >= 2  # tokens were revoked and fetched again meanwhile
    assert any(isinstance(event, WallboxFailed) for event in events)


async def test_waiting_for_the_budget_never_fails_a_wallbox_and_none_starves() -> None:
    """concurrency far above per_second x the pool timeout: polls wait their turn, every wallbox is polled."""
    async with FakePodero(wallboxes=20) as server:
        keys = server.wallbox_keys()
        async with (
            server.client(timeout=0.5, rate_limit=RateLimit(per_second=10)) as podero,
            podero.watch_wallboxes(keys, interval=1.0, concurrency=30) as fleet,
        ):
            events = await events_until(fleet, lambda seen: len(initial_keys(seen)) == len(keys))
    assert [event for event in events if isinstance(event, WallboxFailed)] == []


async def test_slowest_age_counts_from_the_last_good_answer(fleet_server: FakePodero) -> None:
    """Failed polls do not make the data younger: slowest_age grows through an outage."""
    key = fleet_server.wallbox_keys()[0]
    loop = asyncio.get_running_loop()
    async with (
        fleet_server.client(retry=RetryPolicy(max_attempts=1)) as podero,
        podero.watch_wallboxes([key], interval=0.05) as fleet,
    ):
        await events_until(fleet, lambda seen: len(initial_keys(seen)) == 1)
        good = loop.time()  # after the answer came
        fleet_server.inject_wallbox(key, *[Fault(status=503, json={"detail": "down"})] * 50)
        await events_until(fleet, lambda seen: len(seen) == 3)  # three failed polls since
        now = loop.time()
        assert fleet.stats.slowest_age >= now - good


async def test_a_watch_nobody_reads_keeps_polling() -> None:
    """No reader, far more changes than wallboxes: polling goes on, fleet.wallbox() follows, one event per wallbox."""
    async with FakePodero(wallboxes=50, speed=6000.0) as server:  # a new reading every 0.05 s
        keys = server.wallbox_keys()
        async with server.client() as podero, podero.watch_wallboxes(keys, interval=0.02, concurrency=20) as fleet:
            await server.wait_until(lambda: server.wallbox_requests >= 2000)  # some 1,000 changes
            assert fleet.stats.changes > 1000
            assert all(fleet.wallbox(key) is not None for key in keys)
            events = [await anext(aiter(fleet)) for _ in keys]
    assert {event.key for event in events} == {uuids(key) for key in keys}  # one each, merged
    assert all(isinstance(event, WallboxChanged) and event.initial for event in events)  # merged into the first


def test_merged_changes_run_from_the_first_old_to_the_last_new() -> None:
    """Two unread changes of one wallbox are one event: each field from its first old value to its last new one."""
    from podero_client._fleet import _coalesce

    key = uuids((uuid.uuid4(), uuid.uuid4(), uuid.uuid4()))
    box: Any = object()
    first = WallboxChanged(key, box, {"mode": ("A", "B"), "power": (1, 2)})
    second = WallboxChanged(key, box, {"mode": ("B", "C"), "power": (2, 1)})
    merged = _coalesce(first, second)
    assert merged == WallboxChanged(key, box, {"mode": ("A", "C")})
    assert (
        _coalesce(WallboxChanged(key, box, {"mode": ("A", "B")}), WallboxChanged(key, box, {"mode": ("B", "A")}))
        is None
    )
    failed = WallboxFailed(key, InvalidArgumentError("a failed poll"))
    assert _coalesce(first, failed) is first


async def test_a_watch_on_a_closed_client_raises_client_closed_error(fleet_server: FakePodero) -> None:
    """watch_wallboxes on a closed client, or entering a watch built before the client closed: ClientClosedError."""
    podero = fleet_server.client()
    early = podero.watch_wallboxes(fleet_server.wallbox_keys()[:2])
    await podero.aclose()
    with pytest.raises(ClientClosedError):
        podero.watch_wallboxes(fleet_server.wallbox_keys()[:2])
    with pytest.raises(ClientClosedError):
        async with early:
            pass


async def test_a_short_budget_makes_every_wallbox_equally_stale() -> None:
    """With the budget below what the interval asks, every wallbox's age is N/rate, within 10 %."""
    count, rate = 16, 16.0  # achievable interval: 1 s; asked for: 0.25 s
    async with FakePodero(wallboxes=count) as server:
        keys = server.wallbox_keys()
        async with (
            server.client(rate_limit=RateLimit(per_second=rate)) as podero,
            podero.watch_wallboxes(keys, interval=0.25, concurrency=4) as fleet,
        ):
            start = asyncio.get_running_loop().time()
            await server.wait_until(lambda: len(server.wallbox_log) >= 5 * count)
            stats = fleet.stats
        settled = start + 1.5  # the first round, spread over 0.25 s, takes the budget 1 s
        gaps = [b - a for key in keys for a, b in itertools.pairwise(polls(server, key, settled))]
    achievable = count / rate
    assert len(gaps) >= 2 * count
    assert max(gaps) <= 1.1 * achievable, sorted(gaps)[-5:]
    assert min(gaps) >= 0.9 * achievable, sorted(gaps)[:5]
    assert stats.achieved_interval is not None
    assert math.isclose(stats.achieved_interval, achievable, rel_tol=0.1)
    assert stats.slowest_age <= 1.1 * achievable
    assert stats.waiting >= count - 4 - 1  # all but those in the budget's queue are overdue


async def test_changes_name_the_fields_and_old_and_new() -> None:
    """A new reading yields one WallboxChanged per wallbox with the fields that moved, old and new."""
    async with FakePodero(wallboxes=4) as server, server.client() as podero:
        keys = server.wallbox_keys()
        async with podero.watch_wallboxes(keys, interval=0.05) as fleet:
            await events_until(fleet, lambda seen: len(initial_keys(seen)) == 4)
            before = {key: fleet.wallbox(key) for key in keys}
            server.advance(READING_INTERVAL)  # every wallbox takes its next reading
            events = await events_until(fleet, lambda seen: len({event.key for event in seen}) == 4)
            after = {key: fleet.wallbox(key) for key in keys}
    assert all(isinstance(event, WallboxChanged) and not event.initial for event in events)
    for event in events:
        assert isinstance(event, WallboxChanged)
        old = before[(str(event.key[0]), str(event.key[1]), str(event.key[2]))]
        assert old is not None
        # What the watch holds (compressed, built again when asked) is the wallbox of the last change.
        assert after[(str(event.key[0]), str(event.key[1]), str(event.key[2]))] == event.wallbox != old
        assert event.changes["current_state_last_updated_at"] == (
            old.current_state_last_updated_at,
            event.wallbox.current_state_last_updated_at,
        )
        assert "id" not in event.changes


async def test_a_requested_boost_is_polled_at_the_fast_interval(fleet_server: FakePodero) -> None:
    """While boost_state is "requested" the wallbox is polled every fast_interval, not every interval."""
    keys = fleet_server.wallbox_keys()[:2]
    boosted = (keys[0][0], keys[0][1], "00000000-0000-4000-8000-00000000b005")
    payload = {**(fleet_server.fleet.payload(keys[0], fleet_server.sessions) or {}), "boost_state": "requested"}
    fleet_server.add_wallbox(*boosted, {**payload, "id": boosted[2]})
    # The first polls come in slots of 2 s / 3; the boosted one's is in the first slot.
    async with (
        fleet_server.client() as podero,
        podero.watch_wallboxes([boosted, *keys], interval=2.0, fast_interval=0.02),
    ):
        await fleet_server.wait_until(lambda: len(polls(fleet_server, boosted)) >= 8)
    assert all(len(polls(fleet_server, key)) <= 1 for key in keys)  # the others keep the 2 s interval


async def test_a_change_is_followed_at_the_fast_interval_then_the_interval(fleet_server: FakePodero) -> None:
    """After a change, 3 polls come fast_interval apart, then the wallbox is back on its interval."""
    keys = fleet_server.wallbox_keys()[:3]
    async with fleet_server.client() as podero, podero.watch_wallboxes(keys, interval=2.0, fast_interval=0.05) as fleet:
        await events_until(fleet, lambda seen: len(initial_keys(seen)) == 3)
        fleet_server.advance(READING_INTERVAL)  # each wallbox's next poll sees a new reading
        changed = await events_until(fleet, lambda seen: len(seen) == 3)
        seen_at = asyncio.get_running_loop().time()
        await fleet_server.wait_until(lambda: all(len(polls(fleet_server, key, seen_at)) >= 4 for key in keys))
    assert {event.key for event in changed} == {uuids(key) for key in keys}
    for key in keys:
        times = polls(fleet_server, key)
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        # first poll, the change (about 2 s later), 3 fast polls, then about 2 s again
        assert gaps[0] > 0.5
        assert max(gaps[1:4]) < 0.5, gaps
        assert gaps[4] > 0.5, gaps


async def test_cancelling_the_iteration_leaves_no_task_or_request() -> None:
    """Cancelling the consumer mid-poll ends the workers and the request the server was holding."""
    async with FakePodero(wallboxes=5) as server, server.client() as podero:
        keys = server.wallbox_keys()
        held = asyncio.Event()
        server.inject_wallbox(keys[0], Fault(hold=held))

        async def consume() -> None:
            async with podero.watch_wallboxes(keys, interval=0.05) as fleet:
                async for _ in fleet:
                    pass

        task = asyncio.create_task(consume())
        await server.wait_until(lambda: server.wallbox_in_flight == 1 and len(server.wallbox_log) >= 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not [task for task in asyncio.all_tasks() if task.get_name() == "podero-fleet-worker"]
        await server.wait_until(lambda: server.wallbox_in_flight == 0)  # the held request's connection went away
        count = server.wallbox_requests
        await asyncio.sleep(0.2)
        assert server.wallbox_requests == count


async def test_closing_the_client_ends_the_watch() -> None:
    """aclose() while a watch runs cancels its polls and ends the iteration without an error."""
    async with FakePodero(wallboxes=5) as server:
        podero = server.client()
        keys = server.wallbox_keys()
        async with podero.watch_wallboxes(keys, interval=0.05) as fleet:
            await events_until(fleet, lambda seen: len(seen) == 5)
            server.inject_wallbox(keys[0], Fault(hold=asyncio.Event()))
            await server.wait_until(lambda: server.wallbox_in_flight == 1)
            await podero.aclose()
            assert [event async for event in fleet] == []
            assert not [task for task in asyncio.all_tasks() if task.get_name() == "podero-fleet-worker"]
        await server.wait_until(lambda: server.wallbox_in_flight == 0)


BAD: list[tuple[dict[str, Any], str]] = [
    ({"keys": "not keys"}, "keys must be"),
    ({"keys": [("a", "b")]}, "triple"),
    ({"keys": [("a", "b", "c")]}, "org_id must be a UUID"),
    ({"keys": [None]}, "triple"),
    ({"interval": 0}, "interval"),
    ({"interval": -1.0}, "interval"),
    ({"interval": math.nan}, "interval"),
    ({"interval": math.inf}, "interval"),
    ({"interval": "60"}, "interval"),
    ({"fast_interval": 0.0}, "fast_interval"),
    ({"fast_interval": math.nan}, "fast_interval"),
    ({"concurrency": 0}, "concurrency"),
    ({"concurrency": True}, "concurrency"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD)
async def test_bad_arguments_fail_before_any_io(fleet_server: FakePodero, kwargs: dict[str, Any], message: str) -> None:
    """Malformed keys and intervals are an InvalidArgumentError at construction, with no request sent."""
    kwargs = {"keys": fleet_server.wallbox_keys()[:1], **kwargs}
    async with fleet_server.client() as podero:
        with pytest.raises(InvalidArgumentError, match=message):
            podero.watch_wallboxes(**kwargs)
    assert fleet_server.token_requests == fleet_server.wallbox_requests == 0


async def test_add_checks_the_key(fleet_server: FakePodero) -> None:
    """fleet.add of a malformed key is an InvalidArgumentError; the watch goes on."""
    async with fleet_server.client() as podero, podero.watch_wallboxes(fleet_server.wallbox_keys()[:1]) as fleet:
        for bad in [("a", "b", "c"), "abc", (1, 2, 3, 4)]:
            with pytest.raises(InvalidArgumentError):
                fleet.add(bad)
        assert len(fleet) == 1


async def test_the_watch_holds_its_wallboxes_where_the_garbage_collector_does_not_look() -> None:
    """After a poll of each of 300 wallboxes, a full collection leaves none of their keys, records or
    heap items tracked: the collector walks nothing per wallbox.

    A key held as a tuple of UUIDs was 4 tracked objects, a heap item holding its entry one more, and a
    record as an instance of a class (``__slots__`` too) one more, body and stamps or not: at 100,000
    wallboxes, about 30 ms more for each full collection, a stall of the event loop.
    """
    count = 300  # each polled once within events_until's 10 s, under coverage on a busy machine too
    async with FakePodero(wallboxes=count) as server:
        keys = server.wallbox_keys()
        async with server.client() as podero, podero.watch_wallboxes(keys, interval=0.5) as fleet:
            events = await events_until(fleet, lambda seen: len(initial_keys(seen)) == count)
            gc.collect()  # tuples of untracked objects are untracked by a collection
            held = fleet._entries
            records = list(held.values())
            assert all(fleet.wallbox(key) is not None for key in keys)  # each one's body held, and its stamps
            assert not any(gc.is_tracked(key) for key in held)
            assert not any(gc.is_tracked(item) for item in fleet._heap)
            assert not any(gc.is_tracked(record) for record in records)
    assert len(held) == len(events) == count


async def test_a_key_in_any_accepted_form_is_one_wallbox_given_back_as_uuids(fleet_server: FakePodero) -> None:
    """UUIDs, canonical text, upper-case text, a list: one wallbox each, and events and keys() give UUIDs.

    Braces (which uuid.UUID() takes) are refused, as before: the docs give one text form.
    """
    first, second, third = fleet_server.wallbox_keys()[:3]
    forms: list[Any] = [
        tuple(uuid.UUID(part) for part in first),
        [part.upper() for part in second],
        (uuid.UUID(third[0]), third[1], third[2].upper()),
        [part.upper() for part in first],  # the first again
        third,
    ]
    expected = [uuids(first), uuids(second), uuids(third)]
    async with fleet_server.client() as podero, podero.watch_wallboxes(forms, interval=0.1) as fleet:
        with pytest.raises(InvalidArgumentError, match="org_id must be a UUID"):
            podero.watch_wallboxes([("{" + first[0] + "}", first[1], first[2])])
        assert fleet.keys() == expected
        assert all(form in fleet for form in forms)
        events = await events_until(fleet, lambda seen: len(initial_keys(seen)) == 3)
        assert fleet.wallbox(first) == fleet.wallbox(forms[3]) is not None
        assert fleet.remove([part.upper() for part in third]) is True
        assert fleet.keys() == expected[:2]
    assert len(events) == 3
    assert initial_keys(events) == set(expected)
    assert all(type(part) is uuid.UUID for event in events for part in event.key)


async def test_keys_added_and_removed_before_it_starts(fleet_server: FakePodero) -> None:
    """Before async with, add and remove edit the key list; the watch then polls exactly those."""
    first, second, third = fleet_server.wallbox_keys()[:3]
    async with fleet_server.client() as podero:
        fleet = podero.watch_wallboxes([first, second], interval=0.1)
        fleet.add(third)
        fleet.add(first)  # already there: one poll schedule per key
        assert fleet.remove(second) is True
        assert fleet.remove(second) is False
        assert fleet.keys() == [uuids(first), uuids(third)]
        async with fleet:
            events = await events_until(fleet, lambda seen: len(initial_keys(seen)) == 2)
    assert initial_keys(events) == {uuids(first), uuids(third)}
    assert polls(fleet_server, second) == []


async def test_iterating_outside_async_with_is_refused(podero: PoderoClient) -> None:
    """A watch must be entered (async with) before it is iterated: that is what cleans it up."""
    fleet = podero.watch_wallboxes([])
    with pytest.raises(RuntimeError, match="async with"):
        await anext(fleet)


def test_fleet_keys_are_deterministic() -> None:
    """The same N gives the same keys, distinct, in every process."""
    first, again = FakePodero(wallboxes=50).wallbox_keys(), FakePodero(wallboxes=50).wallbox_keys()
    assert first == again
    assert len(set(first)) == 50
    assert statistics.mode(key[0] for key in first) == first[0][0]
