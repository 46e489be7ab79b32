"""RedisRateLimit: one budget and one 429 pause shared through a real Redis, counted at the real fake server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio
from test_budget import (
    after,
    assert_interactive_first,
    lane_request,
    lanes_at_the_server,
    max_in_window,
    until,
    woken_together,
)

from podero_client import (
    APITimeoutError,
    ClientClosedError,
    InvalidArgumentError,
    PasswordCredentials,
    PoderoClient,
    RateLimitBackendError,
    RateLimitError,
    RedisRateLimit,
    RetryPolicy,
)
from podero_client._context import Priority
from podero_client._extras import install_hint
from podero_client._redis import bounded, check_redis_url, connect
from podero_client._redis_budget import RedisBudget
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID, FakePodero, Fault, wallbox_payload

IDS = (ORG_ID, USER_ID, WALLBOX_ID)


@pytest.fixture
async def key(redis_url: str) -> AsyncIterator[str]:
    """A key no other test (or helper) uses; its Redis keys are deleted afterwards."""
    name = f"podero-test-{uuid.uuid4().hex}"
    yield name
    connection = redis.asyncio.Redis.from_url(redis_url)
    await connection.delete(f"{{{name}}}:gcra", f"{{{name}}}:pause", f"{{{name}}}:settings")
    await connection.aclose()


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"url": "http://127.0.0.1:6379"}, "RedisRateLimit.url must be a redis://, rediss:// or unix://"),
        ({"url": "redis://127.0.0.1:6379/0?max_connections=-1"}, "RedisRateLimit.url cannot be parsed"),
        ({"key": ""}, "key must be"),
        ({"key": None}, "key must be"),
        ({"per_second": 0}, "per_second"),
        ({"per_second": math.nan}, "per_second"),
        ({"per_second": math.inf}, "per_second"),
        ({"burst": 0}, "burst"),
        ({"on_redis_error": "ignore"}, "on_redis_error"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": math.inf}, "timeout"),
    ],
)
def test_bad_settings_are_refused(changes: dict[str, object], match: str) -> None:
    """Each bad setting is InvalidArgumentError at construction, before any I/O."""
    settings: dict[str, object] = {"url": "redis://127.0.0.1:6379/0", "key": "k", "per_second": 10, **changes}
    with pytest.raises(InvalidArgumentError, match=match):
        RedisRateLimit(**settings)  # type: ignore[arg-type]  # the point of the test


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("http://127.0.0.1:6379", "redis://, rediss:// or unix://"),
        ("127.0.0.1:6379", "redis://, rediss:// or unix://"),
        (6379, "redis://, rediss:// or unix://"),
        ("redis://", "names no host"),
        ("unix://", "names no path"),
        ("redis://127.0.0.1:port/0", "port that is not a number"),
        ("redis://127.0.0.1:99999", "port that is out of range 0-65535"),
        ("redis://[::1", "host cannot be read"),
        ("redis://127.0.0.1:6379/0?socket_timeout=abc", "cannot be parsed by redis-py: .*socket_timeout"),
        ("unix:///tmp/redis.sock?db=abc", "cannot be parsed by redis-py: .*'db'"),
        ("redis://127.0.0.1:6379/0?db=x", "cannot be parsed by redis-py: .*'db'"),
        ("redis://127.0.0.1:6379/0?health_check_interval=abc", "cannot be parsed by redis-py: .*health_check"),
        # Past redis-py's parser, refused by the pool or the connection it builds at the first call:
        ("redis://127.0.0.1:6379/0?max_connections=-1", "cannot be parsed by redis-py: .*max_connections"),
        ("redis://127.0.0.1:6379/0?protocol=7", "cannot be parsed by redis-py: protocol must be"),
        ("rediss://127.0.0.1:6379/0?ssl_cert_reqs=bogus", "cannot be parsed by redis-py: .*SSL Certificate"),
        ("redis://127.0.0.1:6379/-1", "names database -1"),
        ("redis://127.0.0.1:6379/0?socket_timeout=-1", "sets socket_timeout to -1.0: it must be > 0"),
        ("redis://127.0.0.1:6379/0?socket_connect_timeout=0", "sets socket_connect_timeout to 0.0"),
    ],
)
def test_a_url_redis_py_would_refuse_is_refused_before_any_io(url: object, match: str) -> None:
    """check_redis_url (RedisRateLimit, RedisFleet and FleetChanges use it): InvalidArgumentError, no password."""
    secret_url = url.replace("127.0.0.1", ":hunter2@127.0.0.1") if isinstance(url, str) else url
    with pytest.raises(InvalidArgumentError, match=f"^Owner.url .*{match}") as caught:
        check_redis_url("Owner.url", secret_url)
    assert "hunter2" not in str(caught.value)


def test_connect_turns_redis_py_s_value_error_into_a_typed_error() -> None:
    """A URL connect() is given unchecked: redis-py's ValueError never escapes bare."""
    with pytest.raises(InvalidArgumentError, match="max_connections"):
        connect("redis://127.0.0.1:6379/0?max_connections=-1", timeout=1.0, feature="Owner")


async def test_a_bounded_round_trip_keeps_a_cancellation_the_call_swallows() -> None:
    """_redis.bounded, every Redis round trip's wrapper: a call that swallows its cancellation (as redis-py
    can, redis/redis-py#2028) still leaves the caller cancelled; a call too slow is TimeoutError."""
    started = asyncio.Event()

    async def swallows() -> str:
        started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(60)
        return "an answer nobody should see"

    caller = asyncio.create_task(bounded(swallows(), 60))
    await started.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    with pytest.raises(TimeoutError):
        await bounded(asyncio.Event().wait(), 0.01)


def test_the_url_is_never_shown() -> None:
    """A password in the URL stays out of the repr and out of the error for a bad scheme."""
    limit = RedisRateLimit(url="redis://:hunter2@127.0.0.1:6379/0", key="k", per_second=10)
    assert "hunter2" not in repr(limit)
    with pytest.raises(InvalidArgumentError) as caught:
        RedisRateLimit(url="http://:hunter2@127.0.0.1:6379/0", key="k", per_second=10)
    assert "hunter2" not in str(caught.value)


def test_the_base_install_never_imports_redis() -> None:
    """Importing podero_client (and building a client) leaves redis-py unimported."""
    code = (
        "import sys, podero_client\n"
        "podero_client.PoderoClient(credentials=podero_client.BearerToken('t'), rate_limit=podero_client.RateLimit("
        "per_second=5))\n"
        "assert 'redis' not in sys.modules, 'redis imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)  # noqa: S603  # our own interpreter and code


def test_without_the_extra_one_line_says_what_to_install() -> None:
    """With redis-py missing, building a RedisRateLimit is one ImportError naming podero-client[redis]."""
    code = (
        "import sys\nsys.modules['redis'] = None\nimport podero_client\n"
        "try:\n    podero_client.RedisRateLimit(url='redis://127.0.0.1', key='k', per_second=1)\n"
        "except ImportError as error:\n    print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)  # noqa: S603
    assert result.stdout == f"RedisRateLimit needs redis-py: {install_hint('redis')}\n"


async def test_two_clients_on_one_key_share_the_budget(fake_podero: FakePodero, redis_url: str, key: str) -> None:
    """Two clients, 150 calls each, on one 100/s key: the server sees at most the one budget in any half-second."""
    rate = 100
    limit = RedisRateLimit(url=redis_url, key=key, per_second=rate, burst=5)
    password = PasswordCredentials(fake_podero.username, fake_podero.password)
    async with (
        fake_podero.client(rate_limit=limit) as one,
        fake_podero.client(rate_limit=limit, credentials=password) as two,
    ):
        await asyncio.gather(*[client.get_wallbox(*IDS) for client in (one, two) for _ in range(150)])
    log = list(fake_podero.request_log)
    assert len(log) == 302  # two token grants and 300 calls
    assert {entry.credentials for entry in log if entry.route == "wallbox"} == {
        fake_podero.client_id,
        fake_podero.username,
    }
    times = [entry.at for entry in log]
    assert max_in_window(times, 1.0) <= (5 + rate) * 1.2  # one budget (arrival jitter: 20 %); each alone sends 100/s
    assert max(times) - min(times) >= (302 - 5) / rate * 0.9, "one budget, not one each"


@pytest.mark.parametrize("priority", ["background", "interactive"])
async def test_redis_is_asked_a_batch_at_a_time_for_background_callers_only(
    redis_url: str, key: str, priority: Priority
) -> None:
    """200/s, burst 10, 60 background callers: the dispatcher naps until three slots are due, not one.

    Interactive callers are never held for a batch: another process's fleet would take their slots.
    At 5 ms a slot, a round trip to Redis (well under 1 ms here) seldom finds two slots due.
    """
    budget = RedisBudget(RedisRateLimit(url=redis_url, key=key, per_second=200, burst=10))
    request = lane_request(priority)
    try:
        started = time.monotonic()
        batches = await woken_together(lambda: budget.acquire(request, None), 60)
        elapsed = time.monotonic() - started
    finally:
        await budget.aclose()
    assert max(batches) <= 11  # never more than GCRA allows at once: the burst, and a slot due an interval ago
    if priority == "background":
        assert len(batches) <= 25, batches  # the burst, then 17 batches of three; one slot per nap: about 50
    else:
        assert len(batches) > 30, batches  # one slot per nap: about 50; held for batches of three: 18
    assert elapsed >= (60 - 11) / 200, "the batches kept to the budget's rate"


async def test_no_batch_is_held_for_on_a_key_run_at_other_settings(redis_url: str, key: str) -> None:
    """The key runs at another client's 100/s: batches of this client's 200/s may not fit; it naps for one slot."""
    other = RedisBudget(RedisRateLimit(url=redis_url, key=key, per_second=100, burst=10))
    mine = RedisBudget(RedisRateLimit(url=redis_url, key=key, per_second=200, burst=10))
    request = lane_request("background")
    try:
        await other.acquire(request, None)  # its settings, stored with the key, are the key's
        batches = await woken_together(lambda: mine.acquire(request, None), 40)
    finally:
        await other.aclose()
        await mine.aclose()
    # The burst's 9, then one slot per nap: about 32; held for batches of three (ours): about 16.
    assert len(batches) > 22, batches


async def test_the_first_request_after_a_shared_pause_goes_alone(redis_url: str, key: str) -> None:
    """A pause heard from Redis (another process's 429): the first background slot after it goes alone."""
    limit = RedisRateLimit(url=redis_url, key=key, per_second=200, burst=10)  # batches of three
    paused, waiting = RedisBudget(limit), RedisBudget(limit)
    request = lane_request("background")
    try:
        await paused.acquire(request, None)  # connected
        paused.cooldown(0.1)
        connection = redis.asyncio.Redis.from_url(redis_url)
        try:
            async with asyncio.timeout(10):  # the pause reaches Redis a round trip later
                while not await connection.exists(f"{{{key}}}:pause"):  # noqa: ASYNC110  # no event: poll Redis
                    await asyncio.sleep(0.001)
        finally:
            await connection.aclose()
        batches = await woken_together(lambda: waiting.acquire(request, None), 7)
    finally:
        await paused.aclose()
        await waiting.aclose()
    assert batches[0] == 1, batches  # napping for a batch past the pause, the first wake-up would serve two
    assert len(batches) <= 5, batches  # then batches of three


async def test_two_clients_on_burst_one_keep_the_whole_rate(fake_podero: FakePodero, redis_url: str, key: str) -> None:
    """Two clients racing for every slot of a 100/s key, burst 1: a late wake-up costs no slot (about 80/s lost it)."""
    limit = RedisRateLimit(url=redis_url, key=key, per_second=100)
    password = PasswordCredentials(fake_podero.username, fake_podero.password)
    async with (
        fake_podero.client(rate_limit=limit) as one,
        fake_podero.client(rate_limit=limit, credentials=password) as two,
    ):
        await asyncio.gather(one.get_wallbox(*IDS), two.get_wallbox(*IDS))  # the tokens
        since = len(fake_podero.request_log)
        await asyncio.gather(*[client.get_wallbox(*IDS) for client in (one, two) for _ in range(100)])
    times = [entry.at for entry in list(fake_podero.request_log)[since:]]
    assert len(times) == 200
    assert (len(times) - 1) / (max(times) - min(times)) >= 100 * 0.9, "the server's count over the run"
    assert max_in_window(times, 1.0) <= (1 + 100) * 1.2, "and never more than the budget"


async def test_a_429_to_one_client_pauses_the_other(fake_podero: FakePodero, redis_url: str, key: str) -> None:
    """Client one meets a 429 with Retry-After: 1; client two, busy on the same key, sends nothing for that second."""
    limit = RedisRateLimit(url=redis_url, key=key, per_second=100, burst=5)
    password = PasswordCredentials(fake_podero.username, fake_podero.password)

    def two_sent() -> int:
        return sum(entry.credentials == fake_podero.username for entry in fake_podero.request_log)

    async with (
        fake_podero.client(rate_limit=limit) as one,
        fake_podero.client(rate_limit=limit, credentials=password) as two,
    ):
        await asyncio.gather(one.get_wallbox(*IDS), two.get_wallbox(*IDS))  # both hold a token
        hold = asyncio.Event()
        fake_podero.inject(
            "wallbox", Fault(status=429, json={"detail": "slow"}, headers={"Retry-After": "1"}, hold=hold)
        )
        first = asyncio.create_task(one.get_wallbox(*IDS))  # held at the server, then answered 429
        await fake_podero.wait_until(lambda: fake_podero.wallbox_in_flight == 1)

        async def busy_caller() -> None:
            for _ in range(40):
                await two.get_wallbox(*IDS)

        busy = 5
        busy_tasks = [asyncio.create_task(busy_caller()) for _ in range(busy)]
        await fake_podero.wait_until(lambda: two_sent() >= 20)
        hold.set()
        # The instant client two heard of the pause, read off its state while the pause is on (the fake
        # runs in this process: its clock is this one). Not the 429's release: on a slow machine
        # client two is granted slots, legitimately, until the pause reaches Redis and then it.
        await until(lambda: two.rate_limit_state is not None and two.rate_limit_state.cooldown_remaining > 0)
        heard = time.monotonic()
        paused = one.rate_limit_state  # one's own pause, on since before two heard of it through Redis
        assert paused is not None
        assert paused.cooldown_remaining > 0, "read while the pause is on: its end is then exact"
        pause_end = time.monotonic() + paused.cooldown_remaining
        await asyncio.gather(first, *busy_tasks)
        state = two.rate_limit_state
    log = list(fake_podero.request_log)
    from_two = [entry for entry in log if entry.credentials == fake_podero.username]
    # Each busy caller awaits one call at a time: at most one request each left before two heard;
    # without the shared pause, two would send about 100 a second until one's pause ends.
    assert len(after(from_two, heard, pause_end)) <= busy, "the other client paused too"
    assert after(from_two, pause_end, math.inf), "and went on afterwards"
    assert fake_podero.wallbox_requests == 2 + 1 + 1 + 200
    assert state is not None
    assert state.cooldowns == 0  # it heard of the pause from Redis, not from a 429 of its own


async def test_unreachable_redis_is_a_typed_error(fake_podero: FakePodero, closed_port_url: str) -> None:
    """Nothing listens where the URL points: the call fails with RateLimitBackendError and sends nothing."""
    limit = RedisRateLimit(url=closed_port_url, key="unused", per_second=10, timeout=0.5)
    async with fake_podero.client(rate_limit=limit) as podero:
        with pytest.raises(RateLimitBackendError, match=r"Redis at redis://127\.0\.0\.1:\d+ did not answer"):
            await podero.get_wallbox(*IDS)
    assert fake_podero.token_requests == 0
    assert fake_podero.wallbox_requests == 0


async def test_a_silent_redis_is_bounded_by_the_timeout(fake_podero: FakePodero) -> None:
    """A Redis that accepts but never answers: RateLimitBackendError after the Redis timeout, not a hang."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        url = f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
        async with fake_podero.client(
            rate_limit=RedisRateLimit(url=url, key="k", per_second=10, timeout=0.2)
        ) as podero:
            with pytest.raises(RateLimitBackendError, match="did not answer"):
                await podero.get_wallbox(*IDS)
    finally:
        listener.close()


async def test_unreachable_redis_falls_back_to_the_local_budget(fake_podero: FakePodero, closed_port_url: str) -> None:
    """With on_redis_error="local", calls go on under a local budget of the same size."""
    limit = RedisRateLimit(url=closed_port_url, key="unused", per_second=50, on_redis_error="local", timeout=1.0)
    async with fake_podero.client(rate_limit=limit) as podero:
        await asyncio.gather(*[podero.get_wallbox(*IDS) for _ in range(20)])
    assert fake_podero.wallbox_requests == 20
    assert max_in_window([entry.at for entry in fake_podero.request_log], 0.2) <= 1 + 50 * 0.2 * 1.2


async def test_a_nonsensical_redis_value_is_a_typed_error(fake_podero: FakePodero, redis_url: str, key: str) -> None:
    """Something else wrote the key (a list): RateLimitBackendError naming the failure, no request sent."""
    connection = redis.asyncio.Redis.from_url(redis_url)
    await connection.rpush(f"{{{key}}}:gcra", "not a time")
    await connection.aclose()
    async with fake_podero.client(rate_limit=RedisRateLimit(url=redis_url, key=key, per_second=10)) as podero:
        with pytest.raises(RateLimitBackendError, match="failed: ResponseError"):
            await podero.get_wallbox(*IDS)
    assert fake_podero.token_requests == 0


async def test_closing_the_client_wakes_calls_waiting_on_redis(
    fake_podero: FakePodero, redis_url: str, key: str
) -> None:
    """Calls waiting for a shared slot end with ClientClosedError when the client closes."""
    podero: PoderoClient = fake_podero.client(rate_limit=RedisRateLimit(url=redis_url, key=key, per_second=2))
    await podero.get_wallbox(*IDS)
    waiting = [asyncio.create_task(podero.get_wallbox(*IDS)) for _ in range(5)]
    await until(lambda: podero.rate_limit_state is not None and podero.rate_limit_state.waiting == 5)
    await podero.aclose()
    for call in waiting:
        with pytest.raises(ClientClosedError):
            await call


async def test_a_shared_pause_longer_than_the_timeout_fails_fast(
    fake_podero: FakePodero, redis_url: str, key: str
) -> None:
    """Another client met a 429 with Retry-After: 30: the pause key lives max_retry_after; a call it outlasts fails."""
    limit = RedisRateLimit(url=redis_url, key=key, per_second=10)
    fake_podero.inject("wallbox", Fault(status=429, json={"detail": "slow"}, headers={"Retry-After": "30"}))
    connection = redis.asyncio.Redis.from_url(redis_url)
    async with fake_podero.client(rate_limit=limit, retry=RetryPolicy(max_retry_after=5)) as other:
        with pytest.raises(RateLimitError):
            await other.get_wallbox(*IDS)
        for _ in range(500):  # written in the background
            if await connection.exists(f"{{{key}}}:pause"):
                break
            await asyncio.sleep(0.01)
    assert 0 < await connection.pttl(f"{{{key}}}:pause") <= 5000, "the shared pause never outlives max_retry_after"
    await connection.aclose()
    async with fake_podero.client(rate_limit=limit, timeout=httpx.Timeout(5.0, pool=0.5)) as podero:
        with pytest.raises(APITimeoutError, match="budget"):
            await podero.get_wallbox(*IDS)
        state = podero.rate_limit_state
    assert state is not None
    assert 3 < state.cooldown_remaining <= 5
    assert fake_podero.token_requests == 1
    assert fake_podero.wallbox_requests == 1


async def test_a_day_long_retry_after_silences_no_replica_past_the_cap(
    fake_podero: FakePodero, redis_url: str, key: str
) -> None:
    """Retry-After: 86400 to one client: the shared pause key lives 0.5 s (its cap); a later client then calls."""
    fake_podero.inject("wallbox", Fault(status=429, json={"detail": "slow"}, headers={"Retry-After": "86400"}))
    limit = RedisRateLimit(url=redis_url, key=key, per_second=10)
    connection = redis.asyncio.Redis.from_url(redis_url)
    try:
        async with fake_podero.client(rate_limit=limit, retry=RetryPolicy(max_retry_after=0.5)) as hit:
            with pytest.raises(RateLimitError) as caught:
                await hit.get_wallbox(*IDS)
            assert caught.value.retry_after == 86400.0
            async with asyncio.timeout(10):  # the pause is written in the background
                while not await connection.exists(f"{{{key}}}:pause"):  # noqa: ASYNC110  # Redis has no event to await
                    await asyncio.sleep(0.01)
            assert 0 < await connection.pttl(f"{{{key}}}:pause") <= 500
        async with fake_podero.client(rate_limit=limit) as later:
            async with asyncio.timeout(10):
                while await connection.exists(f"{{{key}}}:pause"):  # noqa: ASYNC110  # as above
                    await asyncio.sleep(0.05)
            await later.get_wallbox(*IDS)
    finally:
        await connection.aclose()
    assert fake_podero.wallbox_requests == 2


@pytest.mark.parametrize("on_redis_error", ["raise", "local"])
async def test_a_redis_that_goes_away_mid_run(
    fake_podero: FakePodero, own_redis: tuple[str, subprocess.Popen[bytes]], on_redis_error: str
) -> None:
    """Redis stops between calls: the next call raises RateLimitBackendError, or goes on under the local budget."""
    url, process = own_redis
    limit = RedisRateLimit(url=url, key="k", per_second=100, on_redis_error=on_redis_error, timeout=0.5)  # type: ignore[arg-type]
    async with fake_podero.client(rate_limit=limit) as podero:
        await asyncio.gather(*[podero.get_wallbox(*IDS) for _ in range(10)])
        process.terminate()
        process.wait()
        if on_redis_error == "raise":
            with pytest.raises(RateLimitBackendError, match="did not answer"):
                await podero.get_wallbox(*IDS)
        else:
            since = len(fake_podero.request_log)
            await asyncio.gather(*[podero.get_wallbox(*IDS) for _ in range(10)])
            # Under the local budget, not none at all: 10 calls at once are spread at 100/s.
            times = [entry.at for entry in list(fake_podero.request_log)[since:] if entry.route == "wallbox"]
            assert max_in_window(times, 0.05) <= 1 + 100 * 0.05 * 1.2
    assert fake_podero.wallbox_requests == (10 if on_redis_error == "raise" else 20)


async def test_a_pause_heard_from_redis_fails_the_queued_calls_it_outlasts(
    fake_podero: FakePodero, redis_url: str, key: str
) -> None:
    """Another client's 429 (Retry-After: 30) reaches Redis: this client's queued calls (pool 20 s) fail at once."""
    hold = asyncio.Event()
    fake_podero.inject("wallbox", Fault(status=429, json={"detail": "slow"}, headers={"Retry-After": "30"}, hold=hold))
    limit = RedisRateLimit(url=redis_url, key=key, per_second=0.5, burst=2)
    other_retry = RetryPolicy(max_attempts=1, max_retry_after=120)
    timeout = httpx.Timeout(5.0, pool=20.0)
    async with (
        fake_podero.client(rate_limit=limit, retry=other_retry) as other,
        fake_podero.client(rate_limit=limit, timeout=timeout) as podero,
    ):
        hit = asyncio.create_task(other.get_wallbox(*IDS))  # the first slot; its answer is held
        await fake_podero.wait_until(lambda: fake_podero.wallbox_requests == 1)
        queued = [asyncio.create_task(podero.get_wallbox(*IDS)) for _ in range(3)]  # one slot left: two wait
        await fake_podero.wait_until(lambda: fake_podero.wallbox_requests == 2)
        await until(lambda: podero.rate_limit_state is not None and podero.rate_limit_state.waiting == 2)
        hold.set()
        with pytest.raises(RateLimitError):
            await hit
        async with asyncio.timeout(10):  # a guard, not a measure: without the fix they wait 20 s
            results = await asyncio.gather(*queued, return_exceptions=True)
    failed = [result for result in results if isinstance(result, BaseException)]
    assert len(failed) == 2
    assert all(isinstance(result, APITimeoutError) for result in failed), failed
    assert fake_podero.wallbox_requests == 2


async def test_clients_with_other_settings_on_one_key_share_the_stored_budget(
    fake_podero: FakePodero, redis_url: str, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    """per_second 10 beside 100 on one key: the key's stored 10/s holds for both, and one WARNING names both."""
    first = RedisRateLimit(url=redis_url, key=key, per_second=10)
    second = RedisRateLimit(url=redis_url, key=key, per_second=100, burst=5)
    async with fake_podero.client(rate_limit=first) as slow, fake_podero.client(rate_limit=second) as fast:
        await slow.get_wallbox(*IDS)  # the key's settings are the first client's
        await asyncio.gather(*[client.get_wallbox(*IDS) for client in (slow, fast) for _ in range(12)])
    times = [entry.at for entry in fake_podero.request_log if entry.route == "wallbox"]
    assert len(times) == 25
    assert max_in_window(times, 1.0) <= 10 + 2, "the pair keeps to the stored 10/s, burst 1"
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "per_second=10, burst=1" in warnings[0]
    assert "per_second=100, burst=5" in warnings[0]


async def test_a_hung_redis_keeps_the_local_budget_served(
    fake_podero: FakePodero, own_redis: tuple[str, subprocess.Popen[bytes]]
) -> None:
    """Redis stopped (SIGSTOP: connections open, no answers), on_redis_error="local": >= 85 % of 50/s still served.

    Counted at the fake server over 4 s after the first call served in fallback; asking Redis
    again runs beside the callers, so no call waits for it.
    """
    url, process = own_redis
    rate, window = 50, 4.0
    limit = RedisRateLimit(url=url, key="hung", per_second=rate, on_redis_error="local", timeout=1.0)
    async with fake_podero.client(rate_limit=limit) as podero:
        await podero.get_wallbox(*IDS)
        os.kill(process.pid, signal.SIGSTOP)
        try:
            stop = asyncio.Event()

            async def caller() -> None:
                while not stop.is_set():
                    await podero.get_wallbox(*IDS)

            since = len(fake_podero.request_log)
            callers = [asyncio.create_task(caller()) for _ in range(20)]
            await fake_podero.wait_until(lambda: len(fake_podero.request_log) > since)
            start = fake_podero.request_log[since].at
            await asyncio.sleep(window + 0.5)
            stop.set()
            await asyncio.gather(*callers)
        finally:
            os.kill(process.pid, signal.SIGCONT)
    served = [entry for entry in list(fake_podero.request_log)[since:] if start <= entry.at < start + window]
    assert len(served) >= 0.85 * rate * window, len(served)
    assert max_in_window([entry.at for entry in served], 1.0) <= rate + 2, "still under the local budget"


async def test_when_redis_is_back_the_local_and_the_shared_budget_never_serve_at_once(
    fake_podero: FakePodero, own_redis: tuple[str, subprocess.Popen[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    """Redis hangs, then answers again while 40 callers wait in the local budget: they move to Redis's queue.

    They used to drain at the local rate beside the new calls served by Redis: about twice
    the budget for a second (89 calls in one second of a 50/s budget).
    """
    caplog.set_level(logging.INFO, logger="podero_client")
    url, process = own_redis
    rate, burst = 50, 2
    limit = RedisRateLimit(url=url, key="back", per_second=rate, burst=burst, on_redis_error="local", timeout=0.5)

    def said(text: str) -> bool:
        return any(text in record.getMessage() for record in caplog.records)

    async with fake_podero.client(rate_limit=limit) as podero:
        stop = asyncio.Event()

        async def caller() -> None:
            while not stop.is_set():
                await podero.get_wallbox(*IDS)

        callers = [asyncio.create_task(caller()) for _ in range(40)]
        try:
            await fake_podero.wait_until(lambda: fake_podero.wallbox_requests >= 20)
            os.kill(process.pid, signal.SIGSTOP)
            await until(lambda: said("using the local request budget"))
            served_in_fallback = fake_podero.wallbox_requests
            await fake_podero.wait_until(lambda: fake_podero.wallbox_requests >= served_in_fallback + 20)
        finally:
            os.kill(process.pid, signal.SIGCONT)
        await until(lambda: said("answers again"))
        back = fake_podero.wallbox_requests
        await fake_podero.wait_until(lambda: fake_podero.wallbox_requests >= back + 2 * rate)
        stop.set()
        await asyncio.gather(*callers)
    times = [entry.at for entry in fake_podero.request_log if entry.route == "wallbox"]
    # One budget in every second, plus a burst at the switch (Redis's bucket filled while it hung).
    assert max_in_window(times, 1.0) <= rate + 2 * burst + 2


@pytest.mark.parametrize("on_redis_error", ["raise", "local"])
async def test_an_unexpected_redis_py_error_reaches_the_caller(
    fake_podero: FakePodero, redis_url: str, key: str, on_redis_error: str
) -> None:
    """redis-py fails with a non-Redis error (an unknown encoding: LookupError): the caller sees it typed, no hang.

    Raised inside the dispatcher task, it used to kill it unobserved and leave every call waiting.
    """
    url = redis_url.partition("?")[0] + "?encoding=no-such-codec"  # redis-py's parser accepts it; its first call fails
    limit = RedisRateLimit(url=url, key=key, per_second=10, on_redis_error=on_redis_error)  # type: ignore[arg-type]
    async with fake_podero.client(rate_limit=limit) as podero, asyncio.timeout(10):  # a guard, not a measure
        if on_redis_error == "raise":
            with pytest.raises(RateLimitBackendError, match="failed: LookupError"):
                await podero.get_wallbox(*IDS)
        else:
            await podero.get_wallbox(*IDS)
    assert fake_podero.wallbox_requests == (0 if on_redis_error == "raise" else 1)


async def test_interactive_calls_go_first_through_redis_too(fake_podero: FakePodero, redis_url: str, key: str) -> None:
    """The lanes work the same with RedisRateLimit: 8 interactive calls pass 30 waiting background ones."""
    async with fake_podero.client(rate_limit=RedisRateLimit(url=redis_url, key=key, per_second=40)) as podero:
        seen = await lanes_at_the_server(fake_podero, podero, background=30, interactive=8)
    assert_interactive_first(seen)


_FLEET_PROCESS = (
    """
import asyncio, sys, time
from podero_client import ClientCredentials, PoderoClient, RedisRateLimit

async def main(url, client_id, secret, redis_url, key, seconds):
    limit = RedisRateLimit(url=redis_url, key=key, per_second=40)
    async with PoderoClient(credentials=ClientCredentials(client_id, secret), base_url=url, rate_limit=limit) as podero:
        fleet = podero.with_options(priority="background")
        stop = time.monotonic() + float(seconds)
        ids = ("{org}", "{user}", "{wallbox}")

        async def poller():
            while time.monotonic() < stop:
                await fleet.get_wallbox(*ids)

        await asyncio.gather(*[poller() for _ in range(30)])

asyncio.run(main(*sys.argv[1:]))
""".replace("{org}", ORG_ID)
    .replace("{user}", USER_ID)
    .replace("{wallbox}", WALLBOX_ID)
)


async def test_a_users_call_in_one_process_goes_before_the_fleet_of_another(
    fake_podero: FakePodero, redis_url: str, key: str
) -> None:
    """A fleet process keeps a 40/s key busy in the background lane: 8 interactive calls here take the next slots."""
    user = str(uuid.uuid4())
    fake_podero.add_wallbox(ORG_ID, user, WALLBOX_ID, wallbox_payload())
    arguments = [fake_podero.url, fake_podero.client_id, fake_podero.client_secret, redis_url, key, "4"]
    fleet = await asyncio.create_subprocess_exec(sys.executable, "-c", _FLEET_PROCESS, *arguments)
    try:
        async with fake_podero.client(rate_limit=RedisRateLimit(url=redis_url, key=key, per_second=40)) as app:
            await fake_podero.wait_until(lambda: fake_podero.wallbox_requests >= 40)  # the fleet runs
            await app.get_wallbox(*IDS)  # the token (and one slot, raced for like any)
            since = len(fake_podero.request_log)
            await asyncio.gather(*[app.get_wallbox(ORG_ID, user, WALLBOX_ID) for _ in range(8)])
    finally:
        await fleet.wait()
    seen = [entry.path.split("/")[-3] for entry in list(fake_podero.request_log)[since:]]
    last_click = max(index for index, who in enumerate(seen) if who == user)
    assert last_click <= 8 + 3, seen  # racing the fleet slot for slot: about 16
