"""FleetChanges: a fleet's change stream read as a consumer group, against a real Redis.

Entries are written with XADD in the format of docs/change-stream.md, as the fleet's
replicas write them. Readers that must die without a goodbye are real processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
from _servers import free_port
from conftest import start_redis_server
from test_doc_examples import snippet

from podero_client import ChangeStreamError, FleetChange, FleetChanges, InvalidArgumentError, Unset
from podero_client._redis import fleet_key
from podero_client.models import WallboxDetailOutput
from podero_client.testing import ORG_ID, USER_ID, wallbox_payload

GROUP = "billing"
# redis-py's URL options that change the answers' shape: str instead of bytes, RESP3's dicts.
SHAPES = pytest.mark.parametrize("query", ["", "?decode_responses=True", "?protocol=3"])
PASSWORD = "s3cret-redis-pass"  # a test's own server


def entry(
    wallbox_id: str,
    stamp: str = "2026-12-07T10:00:00Z",
    *,
    initial: bool = False,
    changes: dict[str, list[Any]] | None = None,
    updated_at: str | None = None,
    **overrides: Any,
) -> dict[str, str]:
    """One stream entry in the documented format; the owner cut to its id."""
    wallbox = wallbox_payload(
        id=wallbox_id, current_state_last_updated_at=stamp, updated_at=updated_at or stamp, **overrides
    )
    wallbox["owner"] = {"id": USER_ID}
    return {
        "org_id": ORG_ID,
        "user_id": USER_ID,
        "wallbox_id": wallbox_id,
        "stamp": stamp,
        "initial": "1" if initial else "0",
        "changes": json.dumps(changes if changes is not None else {"mode": ["READY", "CHARGING"]}),
        "wallbox": json.dumps(wallbox),
    }


def wallbox_ids(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


@pytest.fixture
async def connection(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def fleet(connection: redis.asyncio.Redis) -> AsyncIterator[str]:
    """A fleet name no other test (or helper) uses; its stream is deleted afterwards."""
    name = f"podero-test-{uuid.uuid4().hex}"
    yield name
    await connection.delete(fleet_key(name, "changes"))


async def write(connection: redis.asyncio.Redis, fleet: str, *entries: dict[str, str]) -> list[str]:
    ids = [await connection.xadd(fleet_key(fleet, "changes"), entry) for entry in entries]  # type: ignore[arg-type]
    return [entry_id.decode() if isinstance(entry_id, bytes) else entry_id for entry_id in ids]


def reader(url: str, fleet: str, consumer: str = "one", **options: Any) -> FleetChanges:
    return FleetChanges(url=url, name=fleet, group=GROUP, consumer=consumer, **options)


async def take(changes: FleetChanges, count: int, *, ack: bool = True) -> list[FleetChange]:
    """The next ``count`` changes (acknowledged unless told), within 30 s."""
    taken: list[FleetChange] = []
    async with asyncio.timeout(30):
        async for change in changes:
            taken.append(change)
            if ack:
                await changes.ack(change)
            if len(taken) == count:
                break
    return taken


async def group_pending(connection: redis.asyncio.Redis, fleet: str) -> int:
    return int((await connection.xpending(fleet_key(fleet, "changes"), GROUP))["pending"])


# -- bad input, secrets -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"url": "http://127.0.0.1:6379"}, "redis://, rediss:// or unix://"),
        ({"url": "redis://127.0.0.1:6379/0?socket_timeout=abc"}, "cannot be parsed by redis-py"),
        ({"name": ""}, "FleetChanges.name"),
        ({"name": "a\nb"}, "FleetChanges.name"),
        ({"group": ""}, "FleetChanges.group"),
        ({"group": 7}, "FleetChanges.group"),
        ({"consumer": None}, "FleetChanges.consumer"),
        ({"consumer": "x" * 201}, "FleetChanges.consumer"),
        ({"start": "middle"}, "FleetChanges.start"),
        ({"claim_after": 0}, "FleetChanges.claim_after"),
        ({"claim_after": math.inf}, "FleetChanges.claim_after"),
        ({"claim_after": 1e300}, r"FleetChanges.claim_after must be a finite number of seconds >= 15 and <= 86400"),
        ({"claim_after": 1e-9}, r"FleetChanges.claim_after .* >= 15 and <= 86400, got 1e-09"),
        ({"claim_after": 2.9, "timeout": 1.0}, r"FleetChanges.claim_after .* >= 3 and <= 86400"),
        ({"timeout": math.nan}, "FleetChanges.timeout"),
        ({"timeout": True}, "FleetChanges.timeout"),
        ({"give_up_after": -1}, "FleetChanges.give_up_after"),
    ],
)
def test_bad_settings_are_refused(changes: dict[str, object], match: str) -> None:
    """Each bad setting is InvalidArgumentError at construction, before any I/O."""
    settings: dict[str, object] = {"url": "redis://127.0.0.1:1/0", "name": "f", "group": "g", "consumer": "c"}
    with pytest.raises(InvalidArgumentError, match=match):
        FleetChanges(**{**settings, **changes})  # type: ignore[arg-type]  # the point of the test


def test_settings_are_keyword_only() -> None:
    """A positional URL is a TypeError: the options are keyword-only."""
    with pytest.raises(TypeError):
        FleetChanges("redis://127.0.0.1:6379/0", "f", "g", "c")  # type: ignore[call-arg]  # the point of the test


async def test_the_url_is_never_shown(closed_port_url: str) -> None:
    """A password in the URL stays out of the repr, the bad-scheme error and the unreachable-Redis error."""
    url = closed_port_url.replace("redis://", f"redis://:{PASSWORD}@")
    changes = FleetChanges(url=url, name="f", group="g", consumer="c", timeout=0.5)
    assert PASSWORD not in repr(changes)
    assert "127.0.0.1" not in repr(changes)
    with pytest.raises(ChangeStreamError) as unreachable:
        async with changes:
            pass
    assert "127.0.0.1" in str(unreachable.value), "it says where"
    assert PASSWORD not in str(unreachable.value)
    with pytest.raises(InvalidArgumentError) as bad:
        FleetChanges(url=url.replace("redis://", "http://"), name="f", group="g", consumer="c")
    assert PASSWORD not in str(bad.value)


# -- reading ------------------------------------------------------------------------------------


@SHAPES
async def test_changes_come_parsed_and_in_order_per_wallbox(
    redis_url: str, fleet: str, connection: redis.asyncio.Redis, query: str
) -> None:
    """Five changes of three wallboxes, interleaved: each arrives parsed, and each wallbox's in its order."""
    boxes = wallbox_ids(3)
    written = [
        entry(box, f"2026-12-07T10:0{step}:00Z", initial=step == 0, changes={"charge_rate_w": [step, step + 1]})
        for step in range(5)
        for box in boxes
    ]
    entry_ids = await write(connection, fleet, *written)
    async with reader(redis_url + query, fleet) as changes:
        taken = await take(changes, 15)
    assert [change.entry_id for change in taken] == entry_ids
    for box in boxes:
        mine = [change for change in taken if str(change.key[2]) == box]
        assert [change.stamp.minute for change in mine if change.stamp] == [0, 1, 2, 3, 4]
        assert [change.initial for change in mine] == [True, False, False, False, False]
    last = taken[-1]
    assert last.key == (uuid.UUID(ORG_ID), uuid.UUID(USER_ID), uuid.UUID(boxes[-1]))
    assert last.changes == {"charge_rate_w": (4, 5)}
    assert taken[0].changes == {"charge_rate_w": (0, 1)}
    assert isinstance(last.wallbox, WallboxDetailOutput)
    assert str(last.wallbox.id) == boxes[-1]
    assert last.stamp is not None
    assert last.stamp.tzinfo is not None
    assert await group_pending(connection, fleet) == 0


async def test_ack_and_resume_after_a_restart(redis_url: str, fleet: str, connection: redis.asyncio.Redis) -> None:
    """A reader that acknowledged 2 of 5 and stopped: the same consumer, restarted, gets the 3 others, then new ones."""
    box = wallbox_ids(1)[0]
    first = await write(connection, fleet, *(entry(box, f"2026-12-07T10:0{step}:00Z") for step in range(5)))
    async with reader(redis_url, fleet, consumer="pod-1") as changes:
        taken = await take(changes, 5, ack=False)
        for change in taken[:2]:
            await changes.ack(change)
    later = await write(connection, fleet, *(entry(box, f"2026-12-07T11:0{step}:00Z") for step in range(2)))
    async with reader(redis_url, fleet, consumer="pod-1") as changes:
        again = await take(changes, 5)
        stats = await changes.stats()
    assert [change.entry_id for change in again] == first[2:] + later
    assert (stats.pending, stats.behind, stats.mine) == (0, 0, 0)
    assert (stats.delivered, stats.acked) == (5, 5)


async def test_a_new_group_starts_at_the_oldest_entry_or_the_latest(
    redis_url: str, fleet: str, connection: redis.asyncio.Redis
) -> None:
    """start="oldest" (the default) replays what the stream holds; start="latest" begins with the next entry."""
    box = wallbox_ids(1)[0]
    old = await write(connection, fleet, entry(box, "2026-12-07T10:00:00Z"), entry(box, "2026-12-07T10:01:00Z"))
    latest = FleetChanges(url=redis_url, name=fleet, group="dashboard", consumer="d", start="latest")
    async with latest, reader(redis_url, fleet) as replay:
        new = await write(connection, fleet, entry(box, "2026-12-07T10:02:00Z"))
        assert [change.entry_id for change in await take(replay, 3)] == old + new
        assert [change.entry_id for change in await take(latest, 1)] == new


async def test_duplicates_share_an_id(redis_url: str, fleet: str, connection: redis.asyncio.Redis) -> None:
    """One state written twice (a takeover, in either time form) has one id; a settings change at one stamp, another."""
    box = wallbox_ids(1)[0]
    await write(
        connection,
        fleet,
        entry(box, "2026-12-07T10:00:00Z"),
        entry(box, "2026-12-07T10:00:00+00:00"),  # the same state, from another replica
        entry(box, "2026-12-07T10:00:00Z", updated_at="2026-12-07T10:03:00Z", changes={"charge_target_max": [80, 90]}),
    )
    async with reader(redis_url, fleet) as changes:
        one, duplicate, settings = await take(changes, 3)
    assert one.id == duplicate.id
    assert one.entry_id != duplicate.entry_id
    assert settings.id != one.id


async def test_a_malformed_entry_is_skipped_logged_and_acknowledged(
    redis_url: str, fleet: str, connection: redis.asyncio.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """Entries not in the format, between two good ones: the reader yields the good ones, skips and counts the rest."""
    box = wallbox_ids(1)[0]
    good = entry(box, "2026-12-07T10:00:00Z")
    no_wallbox = dict(good)
    del no_wallbox["wallbox"]
    bad: list[dict[str, Any]] = [
        {**good, "org_id": "not-a-uuid"},
        {**good, "changes": "{not json"},
        {**good, "changes": json.dumps({"mode": "CHARGING"})},
        {**good, "wallbox": '{"charge_rate_w": NaN}'},
        {**good, "initial": "yes"},
        {**good, "stamp": b"\xff\xfe"},
        no_wallbox,
    ]
    ids = await write(connection, fleet, good, *bad, entry(box, "2026-12-07T10:05:00Z"))
    with caplog.at_level(logging.WARNING, logger="podero_client"):
        async with reader(redis_url, fleet) as changes:
            taken = await take(changes, 2)
            stats = await changes.stats()
    assert [change.entry_id for change in taken] == [ids[0], ids[-1]]
    assert (stats.malformed, stats.pending) == (len(bad), 0)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for entry_id in ids[1:-1]:
        assert entry_id in logged
    assert "owner" not in logged, "a log line says why, never what the entry holds"
    assert "CHARGING" not in logged


async def test_a_wallbox_without_personal_data_or_not_fitting_the_model_still_comes(
    redis_url: str, fleet: str, connection: redis.asyncio.Redis
) -> None:
    """No owner: the model's owner is the key's user alone. Not the model's shape: ``wallbox`` None, JSON kept."""
    box = wallbox_ids(1)[0]
    without_owner = entry(box)
    data = json.loads(without_owner["wallbox"])
    del data["owner"]
    without_owner["wallbox"] = json.dumps(data)
    not_a_wallbox = {**entry(box), "wallbox": json.dumps({**data, "mode": 5})}
    await write(connection, fleet, without_owner, not_a_wallbox)
    async with reader(redis_url, fleet) as changes:
        first, second = await take(changes, 2)
    assert first.wallbox is not None
    assert first.wallbox.owner.id == uuid.UUID(USER_ID)
    assert isinstance(first.wallbox.owner.email, Unset)
    assert "owner" not in first.wallbox_data
    assert second.wallbox is None
    assert second.wallbox_data["mode"] == 5
    assert second.changes == {"mode": ("READY", "CHARGING")}


@SHAPES
@pytest.mark.parametrize("next_reader", ["the same consumer", "another consumer"])
async def test_pending_entries_trimmed_away_are_counted_and_cleared(
    redis_url: str, fleet: str, connection: redis.asyncio.Redis, next_reader: str, query: str
) -> None:
    """Entries read, never acknowledged, then trimmed: the restarted reader, or another claiming, never yields them."""
    box = wallbox_ids(1)[0]
    await write(connection, fleet, *(entry(box, f"2026-12-07T10:0{step}:00Z") for step in range(6)))
    async with reader(redis_url, fleet, consumer="first") as changes:
        await take(changes, 3, ack=False)  # and the 3 others wait in its buffer: all 6 pending
    await connection.xtrim(fleet_key(fleet, "changes"), maxlen=0)
    fresh = await write(connection, fleet, entry(box, "2026-12-07T11:00:00Z"))
    consumer = "first" if next_reader == "the same consumer" else "second"
    async with reader(redis_url + query, fleet, consumer=consumer) as changes:
        (change,) = await take(changes, 1)
        stats = await changes.stats()
    assert change.entry_id == fresh[0]
    assert (stats.trimmed, stats.claimed, stats.pending) == (6, 0, 0)


async def test_a_slow_live_reader_keeps_its_entries(
    redis_url: str, fleet: str, connection: redis.asyncio.Redis
) -> None:
    """A handler that takes over 3 x claim_after: the other reader, claiming all along, never takes its entry."""
    box = wallbox_ids(1)[0]
    (held,) = await write(connection, fleet, entry(box, "2026-12-07T10:00:00Z"))
    async with reader(redis_url, fleet, consumer="slow", claim_after=0.6, timeout=0.2) as slow:
        (change,) = await take(slow, 1, ack=False)
        async with reader(redis_url, fleet, consumer="fast", claim_after=0.6, timeout=0.2) as fast:
            seen: list[str] = []

            async def read_fast() -> None:
                async for other in fast:
                    seen.append(other.entry_id)
                    await fast.ack(other)

            task = asyncio.create_task(read_fast())
            await asyncio.sleep(2.0)  # the slow handler at work; the fast reader claims every 0.2 s
            later = await write(connection, fleet, entry(box, "2026-12-07T10:01:00Z"))

            async def fast_got_the_later_one() -> bool:
                return later[0] in seen

            await until(fast_got_the_later_one, "the fast reader to get the later entry")
            await slow.ack(change)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            stats = await fast.stats()
    assert seen == later, "the slow reader's entry was taken"
    assert (stats.claimed, stats.pending) == (0, 0)
    assert change.entry_id == held


@SHAPES
async def test_stopped_consumers_are_taken_over_then_forgotten(
    redis_url: str, fleet: str, connection: redis.asyncio.Redis, query: str
) -> None:
    """Stopped consumers (one with nothing pending, one holding an entry) leave the group, the entry claimed first."""
    box = wallbox_ids(1)[0]
    key = fleet_key(fleet, "changes")
    first, held = await write(connection, fleet, entry(box, "2026-12-07T10:00:00Z"), entry(box, "2026-12-07T10:01:00Z"))
    await connection.xgroup_create(key, GROUP, id="0")
    await connection.xreadgroup(GROUP, "done", {key: ">"}, count=1)
    await connection.xack(key, GROUP, first)
    await connection.xreadgroup(GROUP, "holding", {key: ">"}, count=1)
    await asyncio.sleep(3.5)  # both idle past 10 x claim_after
    async with reader(redis_url + query, fleet, consumer="live", claim_after=0.3, timeout=0.1) as changes:
        (change,) = await take(changes, 1)
        stats = await changes.stats()
    consumers = {info["name"].decode() for info in await connection.xinfo_consumers(key, GROUP)}
    assert change.entry_id == held
    assert stats.claimed == 1
    assert consumers == {"live"}


# -- readers as processes -----------------------------------------------------------------------

READER = """
import asyncio, sys
from podero_client import FleetChanges

async def main(url: str, name: str, consumer: str) -> None:
    reader = FleetChanges(url=url, name=name, group="billing", consumer=consumer, claim_after=1.0, timeout=0.3)
    async with reader as changes:
        async for change in changes:
            print("got", change.entry_id, flush=True)
            await asyncio.sleep(0.02)
            await changes.ack(change)
            print("acked", change.entry_id, flush=True)

asyncio.run(main(*sys.argv[1:]))
"""


def start_reader(url: str, fleet: str, consumer: str, out: Path) -> subprocess.Popen[bytes]:
    with out.open("wb") as file:
        return subprocess.Popen([sys.executable, "-c", READER, url, fleet, consumer], stdout=file)  # noqa: S603


def lines(out: Path, word: str) -> list[str]:
    return [line.split()[1] for line in out.read_text().splitlines() if line.startswith(word + " ")]


async def until(condition: Any, what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_killed_reader_s_entries_are_claimed_by_the_other(
    redis_url: str, fleet: str, connection: redis.asyncio.Redis, tmp_path: Path
) -> None:
    """Two reader processes, one killed (kill -9) mid-way: the other claims its pending ones; all are acknowledged."""
    box = wallbox_ids(1)[0]
    entry_ids = await write(connection, fleet, *(entry(box, f"2026-12-07T10:00:{n:02}Z") for n in range(60)))
    one, two = tmp_path / "one.out", tmp_path / "two.out"
    first = start_reader(redis_url, fleet, "one", one)
    second: subprocess.Popen[bytes] | None = None
    try:

        async def one_is_mid_way() -> bool:
            return len(lines(one, "acked")) >= 5

        await until(one_is_mid_way, "the first reader to acknowledge 5 entries")
        second = start_reader(redis_url, fleet, "two", two)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()

        async def all_acknowledged() -> bool:
            groups = await connection.xinfo_groups(fleet_key(fleet, "changes"))
            return await group_pending(connection, fleet) == 0 and groups[0]["lag"] == 0

        await until(all_acknowledged, "every entry to be acknowledged")
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait()
    got_one, got_two = set(lines(one, "got")), set(lines(two, "got"))
    assert got_one | got_two == set(entry_ids)
    assert got_two - got_one, "the second reader took over"
    assert not set(lines(one, "acked")) & got_two, "an acknowledged entry was delivered again"
    assert len(got_one & got_two) <= 1, "more than the change in hand when it died was handled twice"


# -- Redis gone ---------------------------------------------------------------------------------


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """A redis-server of this test's own, with a password, on a free port; and functions to kill (-9) and start it."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no redis-server binary: install redis-server")
    port = free_port()  # nothing listens there
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command += ["--requirepass", PASSWORD, "--dir", str(tmp_path)]
    processes: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))  # noqa: S603  # the binary on PATH
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
            time.sleep(0.02)

    def kill() -> None:
        os.kill(processes[-1].pid, signal.SIGKILL)
        processes[-1].wait()

    start()
    try:
        yield f"redis://:{PASSWORD}@127.0.0.1:{port}/0", (kill, start)
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait()


async def test_reading_goes_on_after_redis_restarts(
    own_redis: tuple[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Redis killed and started again (empty) mid-read: the reader logs once, recreates its group, reads on."""
    url, (kill, start) = own_redis
    box = wallbox_ids(1)[0]
    connection = redis.asyncio.Redis.from_url(url)
    try:
        await write(connection, "f", entry(box, "2026-12-07T10:00:00Z"))
        with caplog.at_level(logging.INFO, logger="podero_client"):
            async with FleetChanges(url=url, name="f", group=GROUP, consumer="c", timeout=0.5) as changes:
                await take(changes, 1)
                nxt = asyncio.create_task(take(changes, 1))
                await asyncio.sleep(0.3)
                kill()
                await asyncio.sleep(1.0)  # the reader meets a Redis that is gone
                start()
                await connection.aclose()
                connection = redis.asyncio.Redis.from_url(url)
                new = await write(connection, "f", entry(box, "2026-12-07T10:01:00Z"))
                (change,) = await nxt
    finally:
        await connection.aclose()
    assert change.entry_id == new[0]
    messages = [record.getMessage() for record in caplog.records]
    assert sum("trying again" in message for message in messages) == 1, messages
    assert any("answers again" in message for message in messages)
    assert not any(PASSWORD in message for message in messages)


async def test_give_up_after_ends_the_iteration_with_a_typed_error(own_redis: tuple[str, Any]) -> None:
    """Redis gone for good, give_up_after=1: the async for raises ChangeStreamError, naming no password, and ends."""
    url, (kill, _) = own_redis
    async with FleetChanges(url=url, name="f", group=GROUP, consumer="c", timeout=0.5, give_up_after=1.0) as changes:
        kill()
        with pytest.raises(ChangeStreamError) as caught:
            async with asyncio.timeout(30):
                await take(changes, 1)
    assert PASSWORD not in str(caught.value)
    with pytest.raises(ChangeStreamError, match="closed"):
        await changes.ack(FleetChange("i", "1-0", (uuid.uuid4(),) * 3, None, False, {}, None, {}))


async def test_after_aclose_the_iteration_ends_and_nothing_is_read(
    redis_url: str, fleet: str, connection: redis.asyncio.Redis
) -> None:
    """A closed reader ends its async for (StopAsyncIteration, as an async generator does) with no round trip.

    It used to read on through redis-py's reconnection and take entries it could never acknowledge.
    """
    await write(connection, fleet, entry(wallbox_ids(1)[0]))
    changes = reader(redis_url, fleet)
    async with changes:
        await take(changes, 1)
    await write(connection, fleet, entry(wallbox_ids(1)[0]))
    with pytest.raises(StopAsyncIteration):
        await anext(changes)
    assert [change async for change in changes] == []
    assert await group_pending(connection, fleet) == 0, "the closed reader took the new entry"
    groups = await connection.xinfo_groups(fleet_key(fleet, "changes"))
    assert groups[0]["lag"] == 1, "the new entry waits for a live reader"


def finishes_at_once(coroutine: Any) -> bool:
    """Run ``coroutine`` one step: True when it finished without waiting for anything (no round trip)."""
    try:
        coroutine.send(None)
    except StopIteration:
        return True
    coroutine.close()
    return False


async def test_ack_with_redis_hung_queues_and_returns_at_once(tmp_path: Path) -> None:
    """Redis stopped (SIGSTOP): once a round trip has failed, ack() queues; the acks go when a read succeeds."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = start_redis_server(port, tmp_path)
    url = f"redis://127.0.0.1:{port}/0"
    connection = redis.asyncio.Redis.from_url(url)
    try:
        await write(connection, "f", *(entry(box) for box in wallbox_ids(3)))
        async with reader(url, "f", timeout=0.3) as changes:
            first, second, third = await take(changes, 3, ack=False)
            os.kill(process.pid, signal.SIGSTOP)
            try:
                await changes.ack(first)  # waits its timeout, fails: queued
                assert finishes_at_once(changes.ack(second)), "ack() waited for a Redis known to be gone"
                assert finishes_at_once(changes.ack(third))
            finally:
                os.kill(process.pid, signal.SIGCONT)
            await write(connection, "f", entry(wallbox_ids(1)[0]))
            await take(changes, 1)  # the read that succeeds sends the queued acks first
            stats = await changes.stats()
        assert (stats.pending, stats.acked) == (0, 4)
    finally:
        await connection.aclose()
        process.terminate()
        process.wait()


# -- the command line ---------------------------------------------------------------------------


@pytest.mark.parametrize(("json_lines", "stop", "code"), [(False, signal.SIGTERM, 0), (True, signal.SIGINT, 130)])
async def test_the_cli_prints_each_change_and_ends_quietly_on_a_signal(
    redis_url: str, fleet: str, connection: redis.asyncio.Redis, json_lines: bool, stop: signal.Signals, code: int
) -> None:
    """``podero-client changes`` prints a line per change, acknowledges it, and exits 0 on SIGTERM, 130 on Ctrl-C."""
    box = wallbox_ids(1)[0]
    partial = entry(box, "2026-12-07T10:01:00Z", changes={"is_charging": [False, True]})
    partial["wallbox"] = json.dumps({"id": box})
    await write(connection, fleet, entry(box, "2026-12-07T10:00:00Z", initial=True, changes={}), partial)
    command = [sys.executable, "-m", "podero_client", "changes", "--redis", redis_url, "--fleet", fleet]
    command += ["--group", GROUP, "--consumer", "cli", *(["--json"] if json_lines else [])]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(30):
            printed = [(await process.stdout.readline()).decode() for _ in range(2)]

            async def acknowledged() -> bool:
                return await group_pending(connection, fleet) == 0

            await until(acknowledged, "the printed changes to be acknowledged")
            process.send_signal(stop)
            _, errors = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == code, errors.decode()
    assert "Traceback" not in errors.decode()
    if json_lines:
        first, second = (json.loads(line) for line in printed)
        assert (first["wallbox_id"], first["initial"]) == (box, True)
        assert (second["changes"], second["wallbox"]) == ({"is_charging": [False, True]}, {"id": box})
    else:
        assert printed[0].startswith(box)
        assert "(first poll)" in printed[0]
        assert printed[1] == f"{box}  10:01:00  (changed: is_charging)\n"


@pytest.mark.parametrize(
    ("arguments", "code", "says"),
    [
        (["--redis", "http://127.0.0.1:6379", "--fleet", "f"], 2, "redis://, rediss:// or unix://"),
        (["--redis", "redis://127.0.0.1:6379/0", "--fleet", ""], 2, "FleetChanges.name"),
        (["--fleet", "f"], 2, "changes needs --redis URL (or PODERO_REDIS_URL)"),
    ],
)
def test_the_cli_refuses_bad_arguments_in_one_line(arguments: list[str], code: int, says: str) -> None:
    """A bad URL or fleet name, or no Redis at all: one line on stderr and exit 2, before any I/O."""
    env = {key: value for key, value in os.environ.items() if key != "PODERO_REDIS_URL"}
    result = subprocess.run(  # noqa: S603  # our own interpreter and command
        [sys.executable, "-m", "podero_client", "changes", *arguments],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    assert result.returncode == code
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_cli_says_when_redis_cannot_be_reached(closed_port_url: str) -> None:
    """Redis not there at start: exit 6 (no connection), one line naming the host and no password.

    The URL comes from PODERO_REDIS_URL, where ``ps`` does not show its password.
    """
    url = closed_port_url.replace("redis://", f"redis://:{PASSWORD}@")
    result = subprocess.run(  # our own interpreter and command
        [sys.executable, "-m", "podero_client", "changes", "--fleet", "f"],
        capture_output=True, text=True, check=False, env={**os.environ, "PODERO_REDIS_URL": url},
    )  # fmt: skip
    assert result.returncode == 6, result.stderr
    assert "ChangeStreamError" in result.stderr
    assert PASSWORD not in result.stderr


# -- the docs -----------------------------------------------------------------------------------


async def test_the_docs_reader_prints_each_change_once(
    redis_url: str, fleet: str, connection: redis.asyncio.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/change-stream.md's ``follow()`` against a real Redis: a duplicate dropped, every entry acknowledged."""
    namespace: dict[str, Any] = {"__name__": "docs_change_stream"}  # not __main__: define, do not run
    code = compile(snippet("change-stream.md", "## In Python: `FleetChanges`"), "docs/change-stream.md", "exec")
    exec(code, namespace)  # noqa: S102  # our docs
    box = wallbox_ids(1)[0]
    await write(
        connection,
        fleet,
        entry(box, "2026-12-07T10:00:00Z", initial=True, changes={}),
        entry(box, "2026-12-07T10:05:00Z", changes={"mode": ["READY", "CHARGING"]}),
        entry(box, "2026-12-07T10:05:00+00:00", changes={"mode": ["READY", "CHARGING"]}),  # a takeover's duplicate
    )
    task = asyncio.create_task(namespace["follow"](redis_url, fleet, set()))

    async def all_acknowledged() -> bool:
        groups = await connection.xinfo_groups(fleet_key(fleet, "changes"))
        return bool(groups) and groups[0]["lag"] == 0 and await group_pending(connection, fleet) == 0

    try:
        await until(all_acknowledged, "the docs' reader to acknowledge every entry")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        f"{box} 2026-12-07 10:00:00+00:00 first seen",
        f"{box} 2026-12-07 10:05:00+00:00 mode READY -> CHARGING",
    ]
