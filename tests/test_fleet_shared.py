"""A fleet watch shared by replicas through a real Redis (RedisFleet), against the fake's fleet on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis.asyncio
from _servers import RedisProxy, free_port
from conftest import start_redis_server, uuids

from podero_client import (
    FleetBackendError,
    FleetEvent,
    FleetWatch,
    InvalidArgumentError,
    RedisFleet,
    RedisRateLimit,
    WallboxChanged,
    WallboxFailed,
)
from podero_client._fleet import as_key
from podero_client._fleet_shared import STREAM_BUFFER, Rendezvous, SharedFleet, key_of, owners
from podero_client._redis import fleet_key
from podero_client.testing import FakePodero

Key = tuple[str, str, str]
STREAM_FIELDS = {"org_id", "user_id", "wallbox_id", "stamp", "initial", "changes", "wallbox"}


@pytest.fixture
def name() -> str:
    """A fleet name of this test's own: others run tests on the same Redis."""
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture
async def redis_client(redis_url: str, name: str) -> AsyncIterator[Any]:
    client = redis.asyncio.Redis.from_url(redis_url)
    yield client
    keys = [key async for key in client.scan_iter(match=f"podero:fleet:{{{name}}}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def server() -> AsyncIterator[FakePodero]:
    """A fake with a fleet of 20 wallboxes, their clock stopped."""
    async with FakePodero(wallboxes=20) as fake:
        yield fake


def polled_after(server: FakePodero, since: float) -> set[Key]:
    return {key for at, key in server.wallbox_log if at >= since}


def reading(fleet: FleetWatch) -> tuple[asyncio.Task[None], list[FleetEvent]]:
    """A task that reads ``fleet``'s events into the list, until cancelled."""
    seen: list[FleetEvent] = []

    async def read() -> None:
        async for event in fleet:
            seen.append(event)

    return asyncio.create_task(read()), seen


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Wait until ``condition()`` holds, polling every 20 ms; TimeoutError after ``within`` s rather than a hang."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110  # the state of other objects (several), with no event to wait on
            await asyncio.sleep(0.02)


async def _all_polled(server: FakePodero, keys: list[Key]) -> None:
    since = time.monotonic()
    await until(lambda: polled_after(server, since) == set(keys))


def _fast(url: str, name: str) -> RedisFleet:
    """A fleet whose lease (1 s) and round trips (0.3 s) make a test's takeovers quick."""
    return RedisFleet(url=url, name=name, lease=1.0, timeout=0.3)


def _target(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 6379


async def stream(redis_client: Any, name: str) -> list[dict[str, str]]:
    entries = await redis_client.xrange(fleet_key(name, "changes"))
    return [{field.decode(): value.decode() for field, value in fields.items()} for _, fields in entries]


# ---------------------------------------------------------------------------------------------- settings
@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"name": ""}, "RedisFleet.name"),
        ({"name": "a\nb"}, "RedisFleet.name"),
        ({"name": 7}, "RedisFleet.name"),
        ({"lease": float("nan")}, "RedisFleet.lease"),
        ({"lease": 0}, "RedisFleet.lease"),
        ({"lease": -1.0}, "RedisFleet.lease"),
        ({"lease": float("inf")}, "RedisFleet.lease"),
        ({"lease": True}, "RedisFleet.lease"),
        ({"lease": 1e-4}, "RedisFleet.lease must be .* >= 1 and <= 86400"),  # 0 ms: no member would ever be live
        ({"lease": 0.999}, "RedisFleet.lease must be .* >= 1 and <= 86400"),
        ({"lease": 86_401.0}, "RedisFleet.lease must be .* >= 1 and <= 86400"),
        ({"lease": 1e15}, "RedisFleet.lease must be .* >= 1 and <= 86400"),  # overflows PEXPIRE
        ({"lease": 5.0}, r"at least 3 x timeout \(2 s\)"),  # default timeout 2 s
        ({"lease": 15.0, "timeout": 1e9}, r"at least 3 x timeout"),
        ({"url": "http://127.0.0.1:6379"}, "RedisFleet.url"),
        ({"url": "redis://127.0.0.1:6379/0?socket_timeout=abc"}, "RedisFleet.url cannot be parsed"),
        ({"url": "redis://[::1"}, "RedisFleet.url"),
        ({"include_personal_data": "yes"}, "include_personal_data"),
    ],
)
def test_bad_settings_are_refused(changes: dict[str, object], match: str) -> None:
    """Each bad setting is an InvalidArgumentError at construction, before any I/O."""
    settings: dict[str, Any] = {"url": "redis://127.0.0.1:6379/0", "name": "fleet", **changes}
    with pytest.raises(InvalidArgumentError, match=match):
        RedisFleet(**settings)


def test_shared_must_be_a_redis_fleet(server: FakePodero) -> None:
    """watch_wallboxes(shared=...) takes a RedisFleet or None."""
    podero = server.client()
    with pytest.raises(InvalidArgumentError, match="shared must be a RedisFleet"):
        podero.watch_wallboxes(server.wallbox_keys(), shared="redis://127.0.0.1")  # type: ignore[arg-type]


async def test_no_password_in_a_repr_a_log_or_an_error(server: FakePodero, caplog: pytest.LogCaptureFixture) -> None:
    """A Redis that cannot be reached: FleetBackendError at the start; the password is nowhere."""
    port = free_port()  # nothing listens there
    fleet = RedisFleet(url=f"redis://:hunter2@127.0.0.1:{port}/0", name="f", timeout=0.5)
    caplog.set_level(logging.DEBUG)
    async with server.client() as podero:
        watch = podero.watch_wallboxes(server.wallbox_keys(), shared=fleet)
        with pytest.raises(FleetBackendError) as raised:
            await watch.__aenter__()
    assert f"127.0.0.1:{port}" in str(raised.value)
    for text in (repr(fleet), repr(watch), str(raised.value), repr(raised.value), caplog.text):
        assert "hunter2" not in text


# ---------------------------------------------------------------------------------------------- sharing
def test_rendezvous_moves_only_the_share_of_a_member_that_joins() -> None:
    """A third member takes about a third of the keys, all from the other two; nothing moves between them."""
    keys = [f"key-{number}" for number in range(3000)]
    before = owners(keys, ["a", "b"])
    after = owners(keys, ["a", "b", "c"])
    moved = [key for key in keys if before[key] != after[key]]
    assert all(after[key] == "c" for key in moved)
    assert 900 <= len(moved) <= 1100


async def test_ownership_kept_current_agrees_with_rendezvous_and_lets_the_loop_run() -> None:
    """Rendezvous scores again only what a join, a leave or a new key can move, with the same owners as owners();
    and it hands the loop a turn every thousand keys, so that 30,000 keys do not hold it for 100 ms or more.
    """
    keys = [f"{uuid.uuid4()}:{uuid.uuid4()}:{uuid.uuid4()}" for _ in range(5000)]
    members = [uuid.uuid4().hex for _ in range(4)]
    kept = Rendezvous()
    turns = 0

    async def count_turns() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    counter = asyncio.create_task(count_turns())
    await asyncio.sleep(0)
    steps = [
        (keys[:4000], members[:3]),  # start
        (keys[:4000], members),  # one joins
        (keys[:4000], members[1:]),  # one leaves
        (keys[1000:], members[1:]),  # keys removed and added
        (keys[1000:], members[:2]),  # one joins, one leaves
    ]
    for step_keys, step_members in steps:
        assert await kept.owners(step_keys, step_members) == owners(step_keys, step_members)
    counter.cancel()
    assert turns >= 5 * 3  # at least three turns in each step of 4,000 keys


async def test_two_replicas_share_the_keys_each_wallbox_polled_by_one(
    server: FakePodero, redis_url: str, name: str, redis_client: Any
) -> None:
    """Each passes part of the keys: both watch the union, each polls its share, every wallbox has one owner."""
    keys = server.wallbox_keys()
    shared = _fast(redis_url, name)
    async with (
        server.client() as first_client,
        server.client() as second_client,
        first_client.watch_wallboxes(keys[:12], interval=0.2, shared=shared) as first,
        second_client.watch_wallboxes(keys[8:], interval=0.2, shared=shared) as second,
    ):
        await until(lambda: first.stats.replicas == second.stats.replicas == 2)
        await until(lambda: len(first) == len(second) == 20)
        await until(lambda: first.stats.owned + second.stats.owned == 20)
        mine = {key for key in keys if first.wallbox(key) is not None}
        await until(lambda: all((first.wallbox(key) is None) != (second.wallbox(key) is None) for key in keys))
        assert mine  # both have a share
        assert {uuids(key) for key in keys} == set(first.keys()) == set(second.keys())


async def test_add_and_remove_reach_every_replica(server: FakePodero, redis_url: str, name: str) -> None:
    """A key added in one replica is polled by its owner; removed in another, it is polled no more."""
    keys = server.wallbox_keys()
    shared = _fast(redis_url, name)
    async with (
        server.client() as first_client,
        server.client() as second_client,
        first_client.watch_wallboxes(keys[:10], interval=0.1, shared=shared) as first,
        second_client.watch_wallboxes([], interval=0.1, shared=shared) as second,
    ):
        first.add(keys[15])
        await until(lambda: uuids(keys[15]) in second)
        await until(lambda: keys[15] in polled_after(server, 0.0))
        assert second.remove(keys[15])
        await until(lambda: uuids(keys[15]) not in first)
        await asyncio.sleep(0.5)  # any poll already under way ends
        since = time.monotonic()
        await until(lambda: len(polled_after(server, since)) >= 10)
        assert keys[15] not in polled_after(server, since)


# ---------------------------------------------------------------------------------------------- memory
async def test_a_restart_compares_with_the_last_state(
    server: FakePodero, redis_url: str, name: str, redis_client: Any
) -> None:
    """Restarted with no change meanwhile: nothing; after a change meanwhile: real changes, never initial."""
    keys = server.wallbox_keys()
    shared = _fast(redis_url, name)
    async with server.client() as podero:
        async with podero.watch_wallboxes(keys, interval=0.1, shared=shared) as fleet:
            first = [event async for event in _take(fleet, len(keys))]
        assert all(isinstance(event, WallboxChanged) and event.initial for event in first)

        async with podero.watch_wallboxes(keys, interval=0.1, shared=shared) as fleet:
            reader, seen = reading(fleet)
            await until(lambda: fleet.stats.polls >= 2 * len(keys))  # every wallbox's answer is in
            reader.cancel()
            assert seen == []

        server.advance(300)  # a new reading for every wallbox while nobody watches
        async with podero.watch_wallboxes(keys, interval=0.1, shared=shared) as fleet:
            after = [event async for event in _take(fleet, len(keys))]
    assert {event.key for event in after} == {uuids(key) for key in keys}
    assert all(isinstance(event, WallboxChanged) and not event.initial and event.changes for event in after)
    changed = [event for event in after if isinstance(event, WallboxChanged)]
    assert all("current_state_last_updated_at" in event.changes for event in changed)
    entries = await stream(redis_client, name)
    assert [entry["initial"] for entry in entries].count("1") == len(keys)  # one first poll each, ever


async def _take(fleet: FleetWatch, count: int) -> AsyncIterator[FleetEvent]:
    async with asyncio.timeout(10):
        for _ in range(count):
            yield await anext(fleet)


async def test_stream_entries_carry_the_documented_fields(
    server: FakePodero, redis_url: str, name: str, redis_client: Any
) -> None:
    """One entry per change: ids, the stamp, initial 0/1, changes as {field: [old, new]}, the wallbox as JSON."""
    keys = server.wallbox_keys()[:3]
    shared = _fast(redis_url, name)
    async with server.client() as podero, podero.watch_wallboxes(keys, interval=0.1, shared=shared) as fleet:
        [event async for event in _take(fleet, 3)]
        server.advance(300)
        [event async for event in _take(fleet, 3)]
        await until(lambda: fleet.stats.stream_held == 0)
        await asyncio.sleep(0.3)  # the writer's pipeline returns
    entries = await stream(redis_client, name)
    assert len(entries) == 6
    assert all(set(entry) == STREAM_FIELDS for entry in entries)
    assert sorted(entry["initial"] for entry in entries) == ["0", "0", "0", "1", "1", "1"]
    for entry in entries:
        wallbox = json.loads(entry["wallbox"])
        assert (entry["org_id"], entry["user_id"], entry["wallbox_id"]) in keys
        assert wallbox["id"] == entry["wallbox_id"]
        assert entry["stamp"] == wallbox["current_state_last_updated_at"]
        changes = json.loads(entry["changes"])
        if entry["initial"] == "1":
            assert changes == {}
        else:
            old, new = changes["current_state_last_updated_at"]
            assert old < new == entry["stamp"]


@pytest.mark.parametrize("include_personal_data", [False, True])
async def test_no_personal_data_reaches_redis_unless_asked(
    server: FakePodero, redis_url: str, name: str, redis_client: Any, include_personal_data: bool
) -> None:
    """Every key of the fleet, read after a run: no owner email, name or external id, no link secret by default."""
    keys = server.wallbox_keys()[:5]
    shared = RedisFleet(url=redis_url, name=name, lease=1.0, timeout=0.3, include_personal_data=include_personal_data)
    async with server.client() as podero, podero.watch_wallboxes(keys, interval=0.1, shared=shared) as fleet:
        [event async for event in _take(fleet, 5)]
        server.advance(300)
        [event async for event in _take(fleet, 5)]
    dump = []
    async for key in redis_client.scan_iter(match=f"podero:fleet:{{{name}}}:*"):
        kind = (await redis_client.type(key)).decode()
        if kind == "stream":
            dump.append(repr(await redis_client.xrange(key)))
        elif kind == "hash":
            dump.append(repr(await redis_client.hgetall(key)))
        elif kind == "set":
            dump.append(repr(await redis_client.smembers(key)))
        else:
            dump.append(repr(await redis_client.dump(key)))
    text = "\n".join(dump)
    personal = ["anna.huber@example.com", "Huber", "CUST-", "secret=c2lnbmVk"]
    assert "current_state_last_updated_at" in text  # the state is there
    if include_personal_data:
        assert all(value in text for value in personal)
    else:
        assert [value for value in personal if value in text] == []
        written = json.loads((await stream(redis_client, name))[-1]["wallbox"])  # blanked, as the docs say
        fields = ("email", "first_name", "last_name", "external_id")
        assert {field: written["owner"][field] for field in fields} == dict.fromkeys(fields, "")


# ---------------------------------------------------------------------------------------------- faults
async def test_a_redis_gone_mid_watch_holds_the_changes_and_writes_them_when_back(
    server: FakePodero,
    own_redis: tuple[str, subprocess.Popen[bytes]],
    name: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis stops: polling goes on, changes are held (one warning); Redis back: they reach the stream."""
    url, process = own_redis
    keys = server.wallbox_keys()[:5]
    shared = _fast(url, name)
    port = _target(url)[1]
    caplog.set_level(logging.WARNING, logger="podero_client")
    async with server.client() as podero, podero.watch_wallboxes(keys, interval=0.1, shared=shared) as fleet:
        [event async for event in _take(fleet, 5)]
        await until(lambda: fleet.stats.stream_held == 0)
        process.kill()
        process.wait()
        server.advance(300)
        [event async for event in _take(fleet, 5)]  # polled and found changed, Redis or not
        since = time.monotonic()
        await until(lambda: polled_after(server, since) == set(keys))
        await until(lambda: fleet.stats.stream_held == 5)
        # The outage noticed (a renewal every lease / 3 fails) before Redis comes back: else a short
        # outage nobody saw is rightly no warning, and the count below would race with it.
        await until(lambda: any("while" in record.getMessage() for record in caplog.records))
        assert fleet.stats.owned == 5  # what it owned, it keeps
        restarted = start_redis_server(port, tmp_path)
        try:
            await until(lambda: fleet.stats.stream_held == 0)
            await asyncio.sleep(0.3)
            client = redis.asyncio.Redis.from_url(url)
            entries = await stream(client, name)
            await client.aclose()
        finally:
            await fleet.aclose()
            restarted.kill()
            restarted.wait()
    assert [entry["initial"] for entry in entries] == ["0"] * 5  # the five held while Redis was away
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings  # the outage; then, Redis back empty, the keys written back
    assert str(STREAM_BUFFER) in warnings[0]
    assert "no longer holds the fleet's key set" in warnings[1]


async def test_a_redis_restarted_empty_gets_the_keys_back_and_polling_goes_on(
    server: FakePodero,
    own_redis: tuple[str, subprocess.Popen[bytes]],
    name: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis restarted without its data: each replica writes back the keys it was given, none adopts the empty set."""
    url, process = own_redis
    keys = server.wallbox_keys()[:10]
    port = _target(url)[1]
    caplog.set_level(logging.WARNING, logger="podero_client")
    podero_a, podero_b = server.client(), server.client()
    async with (
        podero_a,
        podero_b,
        podero_a.watch_wallboxes(keys[:5], interval=0.2, shared=_fast(url, name)) as first,
        podero_b.watch_wallboxes(keys[5:], interval=0.2, shared=_fast(url, name)) as second,
    ):
        readers = [reading(first)[0], reading(second)[0]]
        await until(lambda: first.stats.owned + second.stats.owned == 10 and first.stats.replicas == 2)
        process.kill()
        process.wait()
        restarted = start_redis_server(port, tmp_path)  # empty: no persistence
        try:
            await asyncio.sleep(2.0)  # a lease and more: every replica renewed against the empty Redis
            client = redis.asyncio.Redis.from_url(url)
            held = await client.smembers(fleet_key(name, "keys"))
            await client.aclose()
            assert len(held) == 10  # each wrote back its own five
            assert (first.stats.size, second.stats.size) == (10, 10)
            assert first.stats.owned + second.stats.owned == 10
            since = time.monotonic()
            await until(lambda: polled_after(server, since) == set(keys))
        finally:
            for reader in readers:
                reader.cancel()
            await first.aclose()
            await second.aclose()
            restarted.kill()
            restarted.wait()
    lost = [record for record in caplog.records if "no longer holds the fleet's key set" in record.getMessage()]
    assert len(lost) == 2  # one warning per replica


async def test_a_renewal_cut_short_is_done_again_and_no_wallbox_is_left_without_owner(
    server: FakePodero, redis_url: str, name: str, redis_client: Any
) -> None:
    """The read of the last states times out in the renewal that takes a leaver's wallboxes: the next one takes them."""
    proxy = RedisProxy(_target(redis_url))
    await proxy.start()
    keys = server.wallbox_keys()
    podero_a, podero_b = server.client(), server.client()
    async with podero_a, podero_b:
        first = podero_a.watch_wallboxes(keys, interval=0.2, shared=_fast(proxy.url, name))
        async with first:
            reader = reading(first)[0]
            async with podero_b.watch_wallboxes(keys, interval=0.2, shared=_fast(redis_url, name)) as b:
                await until(lambda: first.stats.replicas == 2 and 0 < b.stats.owned < len(keys))
                proxy.stall(b"HMGET", 1.0)  # more than a round trip's bound (2 x timeout)
            # The other left: the next renewal takes its wallboxes, and its read of their last states stalls.
            await until(lambda: proxy.stalls == 1)
            await until(lambda: first.stats.owned == len(keys))
            since = time.monotonic()
            await until(lambda: polled_after(server, since) == set(keys))
            reader.cancel()
    await proxy.cut()


async def test_a_replica_cut_off_from_redis_writes_nothing_stale_when_back(
    server: FakePodero, redis_url: str, name: str, redis_client: Any
) -> None:
    """Only one replica loses Redis; the other takes its wallboxes and writes newer changes: on its return, the
    cut-off one's held changes are dropped or refused, so the stream stays in order per wallbox, with no repeat.
    """
    proxy = RedisProxy(_target(redis_url))
    await proxy.start()
    keys = server.wallbox_keys()[:20]
    podero_a, podero_b = server.client(), server.client()
    # A lease of 3 s, not _fast's 1 s: under coverage and a loaded CI machine, the proxied replica's
    # renewals (every lease / 3) must not miss their turn, or membership flaps before the cut.
    cut_off, direct = (RedisFleet(url=url, name=name, lease=3.0, timeout=0.5) for url in (proxy.url, redis_url))
    try:
        async with (
            podero_a,
            podero_b,
            podero_a.watch_wallboxes(keys, interval=0.1, shared=cut_off) as cut,
            podero_b.watch_wallboxes(keys, interval=0.1, shared=direct) as other,
        ):
            readers = [reading(cut)[0], reading(other)[0]]
            await until(
                lambda: cut.stats.replicas == other.stats.replicas == 2 and 0 < cut.stats.owned < len(keys), within=30
            )
            await until(lambda: cut.stats.stream_held == other.stats.stream_held == 0)
            owned_by_cut = cut.stats.owned
            await proxy.cut()
            await until(lambda: other.stats.owned == len(keys), within=30)  # after a lease: two owners until the end
            for _ in range(2):  # two changes of every wallbox, seen by both (the cut one holds its entries)
                server.advance(300)
                await _all_polled(server, keys)
                await asyncio.sleep(0.5)
            assert cut.stats.stream_held >= owned_by_cut
            await proxy.start()
            await until(lambda: cut.stats.stream_held == 0 and cut.stats.replicas == 2, within=30)
            await asyncio.sleep(0.5)
            for reader in readers:
                reader.cancel()
    finally:
        await proxy.cut()  # even when the test fails: no socket of the proxy outlives it
    entries = await stream(redis_client, name)
    stamps: dict[str, list[str]] = {}
    for entry in entries:
        stamps.setdefault(entry["wallbox_id"], []).append(entry["stamp"])
    assert len(stamps) == len(keys)
    assert all(len(found) == 3 for found in stamps.values()), stamps  # the first poll, then two changes
    assert all(found == sorted(found) for found in stamps.values()), stamps


async def test_a_budget_that_cannot_be_asked_puts_polls_off_and_fails_no_wallbox(
    server: FakePodero,
    own_redis: tuple[str, subprocess.Popen[bytes]],
    name: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """RedisRateLimit's Redis is down: no request goes out, so no WallboxFailed; one warning; back, the polls go on."""
    url, process = own_redis
    port = _target(url)[1]
    process.kill()
    process.wait()
    keys = server.wallbox_keys()[:5]
    budget = RedisRateLimit(url=url, key=f"{name}:budget", per_second=50, timeout=0.2)
    caplog.set_level(logging.WARNING, logger="podero_client")
    async with server.client(rate_limit=budget) as podero, podero.watch_wallboxes(keys, interval=0.3) as fleet:
        reader, seen = reading(fleet)
        await until(lambda: fleet.stats.budget_unavailable >= 2 * len(keys))  # each put off and tried again
        assert seen == []
        assert (fleet.stats.polls, fleet.stats.failures, server.wallbox_requests) == (0, 0, 0)
        restarted = start_redis_server(port, tmp_path)
        try:
            await until(lambda: {event.key for event in seen} == {uuids(key) for key in keys})
        finally:
            reader.cancel()
            restarted.kill()
            restarted.wait()
    assert not [event for event in seen if isinstance(event, WallboxFailed)]
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "request budget could not be asked" in warnings[0]
    assert url not in warnings[0]


# Each key's owner among replica-a, -b and -c, as releases before keys were held as text computed it.
PINNED_OWNERS = "ccabbabbcaca"


async def test_each_wallbox_keeps_its_owner_across_an_upgrade(redis_url: str, name: str, redis_client: Any) -> None:
    """Fixed keys among fixed members go to the owners earlier releases gave them, whatever form each replica was given
    the keys in: a rolling upgrade moves no wallbox. A member of the key set that is not a key's text is ignored.
    """
    namespace = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")
    keys = [
        tuple(uuid.uuid5(namespace, f"{part}-{number}") for part in ("org", "user", "wallbox")) for number in range(12)
    ]
    forms: list[list[Any]] = [
        keys,
        [tuple(str(part).upper() for part in key) for key in keys],
        [[str(part) for part in key] for key in keys],
    ]
    await redis_client.sadd(fleet_key(name, "keys"), "not-a-key", ":".join(str(part).upper() for part in keys[0]))
    replicas = [SharedFleet(_fast(redis_url, name)) for _ in forms]
    for shared, letter in zip(replicas, "abc", strict=True):
        shared.member = f"replica-{letter}"
    try:
        await asyncio.gather(
            *(shared.start([as_key(key) for key in given]) for shared, given in zip(replicas, forms, strict=True))
        )
        for shared in replicas:  # each has seen the others join
            await shared.renew()
        owner = {key: shared.member[-1] for shared in replicas for key in shared.owned}
        assert "".join(owner[as_key(key)] for key in keys) == PINNED_OWNERS
        assert all(shared.keys == set(owner) for shared in replicas)
    finally:
        for shared in replicas:
            await shared.aclose()


def test_a_key_another_program_wrote_in_capitals_is_the_same_wallbox() -> None:
    key = (uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    assert key_of(":".join(str(part).upper() for part in key).encode()) == as_key(key)
    assert key_of(b"not-a-key") is None


async def test_a_large_write_keeps_every_entry_in_order(redis_url: str, name: str, redis_client: Any) -> None:
    """More changes held than one write script takes: every entry written, a wallbox's two in order."""
    shared = SharedFleet(_fast(redis_url, name))
    await shared.start([])
    first, *others = [as_key((uuid.uuid4(), uuid.uuid4(), uuid.uuid4())) for _ in range(601)]
    first_id = first.split(":")[2]
    shared.publish(first, {"id": first_id, "updated_at": "2026-12-07T10:00:00Z"}, {}, initial=True)
    for key in others:  # the first wallbox's next change comes after a script's worth of others
        shared.publish(key, {"id": key.split(":")[2], "updated_at": "2026-12-07T10:00:00Z"}, {}, initial=True)
    shared.publish(first, {"id": first_id, "updated_at": "2026-12-07T10:05:00Z"}, {"x": [1, 2]}, initial=False)
    await until(lambda: shared.held() == 0)
    await shared.aclose()
    entries = await stream(redis_client, name)
    assert len(entries) == 602
    assert [entry["stamp"] for entry in entries if entry["wallbox_id"] == first_id] == [
        "2026-12-07T10:00:00Z",
        "2026-12-07T10:05:00Z",
    ]
    state = await redis_client.hget(fleet_key(name, "state"), first)
    assert json.loads(state)["updated_at"] == "2026-12-07T10:05:00Z"


def test_a_full_buffer_drops_its_oldest_entries_and_counts_them() -> None:
    """Past STREAM_BUFFER entries held (Redis away), the oldest go, and stats count them."""
    shared = SharedFleet(RedisFleet(url="redis://127.0.0.1:6379/0", name="buffer"))
    key = as_key((uuid.uuid4(), uuid.uuid4(), uuid.uuid4()))
    for number in range(STREAM_BUFFER + 3):
        shared.publish(key, {"id": "wallbox", "updated_at": f"stamp-{number}"}, {}, initial=False)
    assert (shared.held(), shared.dropped) == (STREAM_BUFFER, 3)


# ---------------------------------------------------------------------------------------------- processes
def _replica(
    server: FakePodero, keys_file: Path, redis_url: str, name: str, lease: float, log: Path
) -> subprocess.Popen[bytes]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("PODERO_")
    } | {"PODERO_CLIENT_ID": server.client_id, "PODERO_CLIENT_SECRET": server.client_secret,
         "PODERO_BASE_URL": server.url}  # fmt: skip
    command = [sys.executable, "-m", "podero_client", "watch", "--keys-file", str(keys_file), "--interval", "1",
               "--redis", redis_url, "--fleet", name, "--lease", str(lease)]  # fmt: skip
    with log.open("ab") as stderr:
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)  # noqa: S603


async def test_a_killed_replicas_wallboxes_are_polled_again_within_a_lease_and_an_interval(
    server: FakePodero, redis_url: str, name: str, redis_client: Any, tmp_path: Path
) -> None:
    """Two replica processes; kill -9 of one: every wallbox is polled again within lease + interval + 2 s."""
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("".join(" ".join(key) + "\n" for key in server.wallbox_keys()))
    lease, interval = 1.5, 1.0
    replicas = [_replica(server, keys_file, redis_url, name, lease, tmp_path / f"{number}.log") for number in range(2)]
    try:
        members = fleet_key(name, "members")
        async with asyncio.timeout(20):
            while await redis_client.zcard(members) < 2:  # noqa: ASYNC110  # Redis's state: no event here
                await asyncio.sleep(0.05)
        await asyncio.sleep(lease)  # both have seen each other: ownership settled
        replicas[0].kill()
        killed = time.monotonic()
        await until(lambda: polled_after(server, killed) == set(server.wallbox_keys()), within=lease + interval + 2)
        replicas[1].send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(replicas[1].wait, 10)
        assert code == 0, (tmp_path / "1.log").read_text()  # SIGTERM: a quiet exit
        assert await redis_client.zcard(members) == 1  # it left the fleet; the killed one's heartbeat is stale
    finally:
        for process in replicas:
            if process.poll() is None:
                process.kill()
            process.wait()
