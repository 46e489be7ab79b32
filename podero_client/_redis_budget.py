"""One request budget shared by every process that names the same Redis key.

GCRA in one Lua script, not the ``limits`` library: one round trip per batch of slots
(the script grants as many as conform, up to what this process has waiting), atomic (Redis
runs a script alone, so two processes never both take the last slot), and the clock is
Redis's own ``TIME``, so the replicas' clocks never need to agree. The 429 pause is a
second key that the same script writes and reads: a 429 to one process pauses them all.
``limits`` would give a moving window per call, without the shared pause and without a
way to grant a batch. Fairness inside a process stays local: its callers wait in a FIFO
and one dispatcher task asks Redis for their slots.

redis-py is imported only when a ``RedisRateLimit`` is built, so the base install never
imports it (``pip install 'podero-client[redis]'``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from typing import Any, Literal

import attrs
import httpx

from ._budget import (
    MAX_COOLDOWN,
    LocalBudget,
    RateLimit,
    RateLimitState,
    Waiters,
    _burst,
    _per_second,
    too_late,
    wait_deadline,
)
from ._errors import ClientClosedError, InvalidArgumentError, RateLimitBackendError
from ._redis import check_redis_url, connect, redis_asyncio, redis_failure, where

logger = logging.getLogger("podero_client")

# Slots asked for in one round trip, at most: a larger batch only wastes slots when callers give up.
_BATCH = 64
# With on_redis_error="local", how long the local budget serves before Redis is asked again.
_REDIS_RETRY_AFTER = 1.0

# KEYS[1]: the GCRA theoretical arrival time (µs, Redis clock); KEYS[2]: the end of the
# 429 pause (µs). ARGV: mode ("take" or "pause"), interval µs, tolerance µs, and the
# slots wanted ("take") or the pause in µs ("pause"). Answers {granted, wait µs, paused µs}.
# Numbers are written with %.17g: Redis's own conversion (%.14g) would round 1.7e15 µs.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[1] == 'pause' then
  local stop = now + tonumber(ARGV[4])
  if stop > paused then
    local ms = math.ceil((stop - now) / 1000) + 1000
    redis.call('SET', KEYS[2], string.format('%.17g', stop), 'PX', ms)
    redis.call('SET', KEYS[1], string.format('%.17g', stop + tolerance), 'PX', ms + math.ceil(tolerance / 1000))
    paused = stop
  end
  return {0, 0, math.floor(paused - now)}
end
if now < paused then
  return {0, math.ceil(paused - now), math.ceil(paused - now)}
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wanted = tonumber(ARGV[4])
local granted = 0
while granted < wanted and tat - tolerance <= now do
  tat = tat + interval
  granted = granted + 1
end
if granted > 0 then
  redis.call('SET', KEYS[1], string.format('%.17g', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
end
local wait = 0
if granted < wanted then wait = math.ceil(tat - tolerance - now) end
return {granted, wait, 0}
"""


def _check_url(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    check_redis_url("RedisRateLimit.url", value)


def _check_key(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(f"RedisRateLimit.key must be a non-empty string, got {value!r}")


def _check_on_error(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in ("raise", "local"):
        raise InvalidArgumentError(f'RedisRateLimit.on_redis_error must be "raise" or "local", got {value!r}')


def _check_timeout(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise InvalidArgumentError(f"RedisRateLimit.timeout must be a finite number of seconds > 0, got {value!r}")


@attrs.frozen(kw_only=True)
class RedisRateLimit:
    """A request budget shared through Redis: ``PoderoClient(rate_limit=RedisRateLimit(url=..., key=...))``.

    Every client, in any process, that names the same ``key`` on the same Redis shares one
    budget of ``per_second`` (``burst`` at once) and one 429 pause. ``timeout`` bounds each
    round trip to Redis (connect and read). When Redis cannot be asked, a call raises
    RateLimitBackendError, or with ``on_redis_error="local"`` takes its slot from a local
    budget of the same size (so N processes may then send N times the budget) and Redis is
    asked again a second later. The URL is never shown: it may carry a password.
    """

    url: str = attrs.field(validator=_check_url, repr=False)
    key: str = attrs.field(validator=_check_key)
    per_second: float = attrs.field(validator=_per_second)
    burst: int = attrs.field(default=1, validator=_burst)
    on_redis_error: Literal["raise", "local"] = attrs.field(default="raise", validator=_check_on_error)
    timeout: float = attrs.field(default=1.0, validator=_check_timeout)

    def __attrs_post_init__(self) -> None:
        redis_asyncio("RedisRateLimit")  # at construction: a missing extra is found before the first request


class RedisBudget:
    """The runtime of a RedisRateLimit in one client: a FIFO of callers, one task asking Redis."""

    def __init__(self, limit: RedisRateLimit) -> None:
        self._limit = limit
        self._interval_us = 1e6 / limit.per_second
        self._tolerance_us = (limit.burst - 1) * self._interval_us
        self._keys = [f"{{{limit.key}}}:gcra", f"{{{limit.key}}}:pause"]  # one hash slot: fine on a cluster too
        self._where = where(limit.url)
        self._local = LocalBudget(RateLimit(per_second=limit.per_second, burst=limit.burst))
        self._fallback = limit.on_redis_error == "local"
        self._down_until = 0.0  # while the local budget stands in for Redis
        self._waiters = Waiters()
        self._task: asyncio.Task[None] | None = None
        self._pauses: set[asyncio.Task[None]] = set()
        self._redis: Any = None
        self._script: Any = None
        self._closed = False
        self._paused_until = 0.0  # as this process last heard it

    def _client(self) -> Any:
        if self._redis is None:
            # One try: the dispatcher decides what comes next.
            self._redis = connect(self._limit.url, timeout=self._limit.timeout, feature="RedisRateLimit")
            self._script = self._redis.register_script(_SCRIPT)
        return self._script

    async def _ask(self, mode: str, amount: float) -> tuple[int, float, float]:
        """One run of the script: (granted, wait s, paused s); RateLimitBackendError for any failure."""
        script = self._client()
        args = [mode, repr(self._interval_us), repr(self._tolerance_us), repr(amount)]
        try:
            async with asyncio.timeout(self._limit.timeout * 2):  # connect, then read: each bounded
                answer = await script(keys=self._keys, args=args)
        except Exception as exc:
            failure = redis_failure(exc)
            if failure is None:
                raise
            raise RateLimitBackendError(f"Redis at {self._where} {failure}") from exc
        if (
            not isinstance(answer, list)
            or len(answer) != 3
            or not all(isinstance(part, int) and not isinstance(part, bool) and part >= 0 for part in answer)
            or (mode == "take" and answer[0] > amount)
        ):
            raise RateLimitBackendError(f"Redis at {self._where} answered {answer!r}, which makes no sense")
        return answer[0], answer[1] / 1e6, answer[2] / 1e6

    async def acquire(self, request: httpx.Request, deadline: float | None) -> None:
        if self._closed:
            raise ClientClosedError("this PoderoClient is closed; create a new one")
        if self._fallback and time.monotonic() < self._down_until:
            await self._local.acquire(request, deadline)
            return
        end = wait_deadline(request, deadline)
        too_late(request, end, self._paused_until)
        future = self._waiters.add()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        if not await self._waiters.wait(future, request, end):
            await self._local.acquire(request, deadline)  # Redis failed, and the user asked for this

    async def _run(self) -> None:
        """Ask Redis for the waiters' slots, in order, until none waits."""
        try:
            while self._waiters.head() is not None:
                pause = self._paused_until - time.monotonic()
                if pause > 0:  # a 429 here: Redis may not have heard of it yet
                    await asyncio.sleep(pause)
                    continue
                try:
                    granted, wait, paused = await self._ask("take", min(self._waiters.live, _BATCH))
                except RateLimitBackendError as error:
                    if not self._fallback:
                        self._waiters.fail(error)
                        continue
                    logger.warning("%s; using the local request budget for %.0fs", error, _REDIS_RETRY_AFTER)
                    self._down_until = time.monotonic() + _REDIS_RETRY_AFTER
                    while self._waiters.head() is not None:
                        self._waiters.grant(False)
                    continue
                if paused:
                    self._paused_until = max(self._paused_until, time.monotonic() + paused)
                for _ in range(granted):
                    if self._waiters.head() is None:
                        break
                    self._waiters.grant()
                if wait > 0 and self._waiters.head() is not None:
                    await asyncio.sleep(wait)
        finally:
            self._task = None

    def cooldown(self, seconds: float) -> None:
        """Pause this process now, and every process on the key once Redis has it."""
        seconds = min(seconds, MAX_COOLDOWN)
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)
        self._local.cooldown(seconds)
        if self._closed:
            return
        task = asyncio.get_running_loop().create_task(self._pause(seconds))
        self._pauses.add(task)
        task.add_done_callback(self._pauses.discard)

    async def _pause(self, seconds: float) -> None:
        try:
            await self._ask("pause", round(seconds * 1e6))
        except RateLimitBackendError as error:  # this process still pauses; the others may not
            logger.warning("%s; the 429 pause was not shared", error)

    def state(self) -> RateLimitState:
        local = self._local.state()
        return RateLimitState(
            waiting=self._waiters.live + local.waiting,
            cooldown_remaining=max(0.0, self._paused_until - time.monotonic()),
            last_cooldown=local.last_cooldown,  # the local budget keeps the count of every pause
            cooldowns=local.cooldowns,
        )

    async def aclose(self) -> None:
        """Wake every waiter with ClientClosedError, stop asking Redis, close its connections."""
        self._closed = True
        self._waiters.fail(ClientClosedError("the PoderoClient was closed while this call waited for its budget"))
        await self._local.aclose()
        tasks = [task for task in (self._task, *self._pauses) if task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        if self._redis is not None:
            await self._redis.aclose()
