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
import time
from typing import Any, Literal

import attrs
import httpx

from ._budget import (
    INTERACTIVE,
    MAX_COOLDOWN,
    LocalBudget,
    RateLimit,
    RateLimitState,
    Waiters,
    _burst,
    _per_second,
    batch_of,
    too_late,
    wait_deadline,
)
from ._errors import InvalidArgumentError, RateLimitBackendError
from ._lifecycle import Lifecycle, closed_error
from ._redis import bounded, check_redis_url, connect, redis_asyncio, redis_failure, where
from ._settings import check_seconds

logger = logging.getLogger("podero_client")

# Slots asked for in one round trip, at most: a larger batch only wastes slots when callers give up.
_BATCH = 64
# With on_redis_error="local", how long the local budget serves before Redis is asked again.
_REDIS_RETRY_AFTER = 1.0

# How long the settings stored with a key outlive their last use by a client holding them.
SETTINGS_TTL_MS = 60_000

# KEYS[1]: the GCRA theoretical arrival time (µs, Redis clock); KEYS[2]: the end of the
# 429 pause (µs); KEYS[3]: the settings ("interval tolerance", µs) the key's budget runs at.
# ARGV: mode ("take" or "pause"), this client's interval µs and tolerance µs, the slots
# wanted ("take") or the pause in µs ("pause"), SETTINGS_TTL_MS, "1" when only background
# calls wait in this process (else "0"), and how late (µs) a slot may be served: an
# interval when the process was told to wait for it, so a late wake-up (the dispatcher,
# the network) costs no slot, as in the local budget; else 0.
# Lanes across processes: a background ask conforms half an interval later than an
# interactive one, so a slot goes to a process with a user's call waiting before one with
# only the fleet's, even when the latter asks a little earlier; the rate is unchanged.
# Answers {granted, wait µs, paused µs, the stored settings when they differ from ours, else 0}.
# The stored settings win while clients holding them use the key (each use renews them);
# SETTINGS_TTL_MS after the last such use they lapse and the next client's are stored.
# The pause key lives exactly as long as the pause: never longer than the pause asked for.
# Numbers are written with %.17g: Redis's own conversion (%.14g) would round 1.7e15 µs.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local mine = ARGV[2] .. ' ' .. ARGV[3]
local stored = redis.call('GET', KEYS[3])
local other = 0
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
if stored and stored ~= mine then
  local space = string.find(stored, ' ', 1, true)
  local i = space and tonumber(string.sub(stored, 1, space - 1))
  local o = space and tonumber(string.sub(stored, space + 1))
  if i and o and i > 0 and o >= 0 then
    interval, tolerance, other = i, o, stored
  else
    redis.call('SET', KEYS[3], mine, 'PX', ARGV[5])
  end
else
  redis.call('SET', KEYS[3], mine, 'PX', ARGV[5])
end
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[1] == 'pause' then
  local stop = now + tonumber(ARGV[4])
  if stop > paused then
    local ms = math.ceil((stop - now) / 1000)
    redis.call('SET', KEYS[2], string.format('%.17g', stop), 'PX', ms)
    redis.call('SET', KEYS[1], string.format('%.17g', stop + tolerance), 'PX', ms + math.ceil(tolerance / 1000) + 1000)
    paused = stop
  end
  return {0, 0, math.floor(paused - now), other}
end
if now < paused then
  return {0, math.ceil(paused - now), math.ceil(paused - now), other}
end
local wanted = tonumber(ARGV[4])
local lag = 0
if ARGV[6] == '1' then lag = interval / 2 end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local late = tonumber(ARGV[7])
if tat < now - lag - late then tat = now - lag - late end
local granted = 0
while granted < wanted and tat - tolerance + lag <= now do
  tat = tat + interval
  granted = granted + 1
end
if granted > 0 then
  redis.call('SET', KEYS[1], string.format('%.17g', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
end
local wait = 0
if granted < wanted then wait = math.ceil(tat - tolerance + lag - now) end
return {granted, wait, 0, other}
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
    check_seconds("RedisRateLimit.timeout", value)


@attrs.frozen(kw_only=True)
class RedisRateLimit:
    """A request budget shared through Redis: ``PoderoClient(rate_limit=RedisRateLimit(url=..., key=...))``.

    Every client, in any process, that names the same ``key`` on the same Redis shares one
    budget of ``per_second`` (``burst`` at once) and one 429 pause; the settings the key
    was first used with win over a client's other ones (with a warning) while they are in
    use. ``timeout`` bounds each round trip to Redis (connect and read). When Redis cannot
    be asked, a call raises RateLimitBackendError, or with ``on_redis_error="local"`` takes
    its slot from a local budget of the same size (so N processes may then send N times the
    budget) while Redis is asked again, every second, beside the callers. The URL is never
    shown: it may carry a password.
    """

    url: str = attrs.field(validator=_check_url, repr=False)
    key: str = attrs.field(validator=_check_key)
    per_second: float = attrs.field(validator=_per_second)
    burst: int = attrs.field(default=1, validator=_burst)
    on_redis_error: Literal["raise", "local"] = attrs.field(default="raise", validator=_check_on_error)
    timeout: float = attrs.field(default=1.0, validator=_check_timeout)

    def __attrs_post_init__(self) -> None:
        redis_asyncio("RedisRateLimit")  # at construction: a missing extra is found before the first request


def _settings(stored: bytes) -> str:
    """Stored settings ("interval tolerance", µs) as a RedisRateLimit would say them; as stored if unreadable."""
    try:
        interval, tolerance = (float(part) for part in stored.split())
        return f"per_second={1e6 / interval:g}, burst={round(tolerance / interval) + 1}"
    except (ValueError, ZeroDivisionError, OverflowError):  # Lua reads more number forms than Python
        return repr(stored.decode("ascii", "replace")[:60])


class RedisBudget:
    """The runtime of a RedisRateLimit in one client: two lanes of callers, one task asking Redis.

    With ``on_redis_error="local"``, a failed question to Redis turns the budget local: every
    call then takes its slot from the local budget at once, and one task beside them asks
    Redis again every second; no caller ever waits for that question.
    """

    def __init__(self, limit: RedisRateLimit, *, lifecycle: Lifecycle | None = None) -> None:
        self._limit = limit
        self._interval_us = 1e6 / limit.per_second
        self._tolerance_us = (limit.burst - 1) * self._interval_us
        # One hash slot for the three: fine on a cluster too.
        self._keys = [f"{{{limit.key}}}:gcra", f"{{{limit.key}}}:pause", f"{{{limit.key}}}:settings"]
        self._where = where(limit.url)
        self._lifecycle = lifecycle or Lifecycle()
        local_limit = RateLimit(per_second=limit.per_second, burst=limit.burst)
        self._local = LocalBudget(local_limit, lifecycle=self._lifecycle)
        self._batch = batch_of(local_limit)
        self._fallback = limit.on_redis_error == "local"
        self._local_only = False  # Redis failed, and the local budget stands in until it answers again
        self._back = asyncio.Event()  # set when Redis answers again: the callers in the local queue move to Redis's
        self._waiters = Waiters()
        self._task: asyncio.Task[None] | None = None
        self._probe: asyncio.Task[None] | None = None
        self._pauses: set[asyncio.Task[None]] = set()
        self._redis: Any = None
        self._script: Any = None
        self._paused_until = 0.0  # as this process last heard it
        self._other_settings: bytes | None = None  # the key's settings, when they differ from ours (warned once)
        self._wake = asyncio.Event()  # a user's call came while the dispatcher waits on the fleet's behalf
        self._asked_for_background = False  # the dispatcher's last question was for background calls only
        self._key_differs = False  # the key's last answer: it runs at other settings than ours

    async def _ask(
        self, mode: str, amount: float, *, background: bool = False, late: float = 0.0
    ) -> tuple[int, float, float]:
        """One run of the script: (granted, wait s, paused s); RateLimitBackendError for any failure.

        Any: this runs in background tasks, where an exception nobody awaits would vanish
        and leave the callers waiting for ever.
        """
        interval, tolerance = repr(self._interval_us), repr(self._tolerance_us)
        args = [mode, interval, tolerance, repr(amount), SETTINGS_TTL_MS, int(background), repr(late)]
        try:
            if self._redis is None:  # one try: the dispatcher decides what comes next
                self._redis = connect(self._limit.url, timeout=self._limit.timeout, feature="RedisRateLimit")
                self._script = self._redis.register_script(_SCRIPT)
            # Connect, then read: each bounded by the timeout.
            answer = await bounded(self._script(keys=self._keys, args=args), self._limit.timeout * 2)
        except Exception as exc:
            failure = redis_failure(exc) or f"failed: {type(exc).__name__}"
            raise RateLimitBackendError(f"Redis at {self._where} {failure}") from exc
        if (
            not isinstance(answer, list)
            or len(answer) != 4
            or not all(isinstance(part, int) and not isinstance(part, bool) and part >= 0 for part in answer[:3])
            or (mode == "take" and answer[0] > amount)
        ):
            raise RateLimitBackendError(f"Redis at {self._where} answered {answer!r}, which makes no sense")
        self._key_differs = isinstance(answer[3], bytes)
        self._check_settings(answer[3])
        return answer[0], answer[1] / 1e6, answer[2] / 1e6

    def _check_settings(self, other: object) -> None:
        """One WARNING when the key runs at other settings than ours (theirs win: one key, one budget)."""
        if not isinstance(other, bytes) or other == self._other_settings:
            return
        self._other_settings = other
        logger.warning(
            "RedisRateLimit key %r runs at %s, stored by the clients that use it; this client's "
            "per_second=%g, burst=%d are not used while they do (one key, one budget)",
            self._limit.key,
            _settings(other),
            self._limit.per_second,
            self._limit.burst,
        )

    async def acquire(self, request: httpx.Request, deadline: float | None) -> None:
        self._lifecycle.check()
        end = wait_deadline(request, deadline)  # once: a caller moved between the budgets keeps its timeout
        while True:
            if self._local_only and await self._from_local(request, end):
                return
            too_late(request, end, self._paused_until)
            waiter = self._waiters.add(request, end)
            if self._task is None:
                self._task = asyncio.get_running_loop().create_task(self._run())
            elif waiter.lane == INTERACTIVE and self._asked_for_background:
                self._wake.set()  # ask again now, as interactive: its slot may come before the background's
            if await self._waiters.wait(waiter):
                return
            # Redis failed, and the user asked for the local budget: the loop takes the slot from it.

    async def _from_local(self, request: httpx.Request, end: float | None) -> bool:
        """A slot from the local budget (True), or False when Redis answers again before it comes.

        A caller still waiting when Redis is back leaves the local queue for Redis's: the two
        budgets never serve at once, or a process would send up to twice its budget while the
        local queue drained beside the shared one.
        """
        local = asyncio.ensure_future(self._local.acquire(request, end))
        back = asyncio.ensure_future(self._back.wait())
        try:
            await asyncio.wait({local, back}, return_when=asyncio.FIRST_COMPLETED)
            if not local.done():
                local.cancel()  # its place in the local queue is skipped
                await asyncio.wait({local})
        except BaseException:  # the caller was cancelled
            if local.done() and not local.cancelled():
                local.exception()  # retrieved: a BudgetTimeout that came just then is not logged as lost
            local.cancel()
            raise
        finally:
            back.cancel()
        if local.cancelled():
            return False
        local.result()  # a slot came first; or BudgetTimeout, ClientClosedError: the caller's
        return True

    async def _run(self) -> None:
        """Ask Redis for the waiters' slots, in order, until none waits."""
        napped = False  # the last answer said "wait": the next question may come a little late for its slot
        try:
            while self._waiters.head() is not None:
                pause = self._paused_until - time.monotonic()
                if pause > 0:  # a 429 here: Redis may not have heard of it yet
                    await asyncio.sleep(pause)
                    continue
                try:
                    waiters = self._waiters
                    self._asked_for_background = not waiters.waiting[INTERACTIVE]
                    self._wake.clear()  # a user's call from now on, even while Redis answers, cuts the nap
                    granted, wait, paused = await self._ask(
                        "take",
                        min(waiters.live, _BATCH),
                        background=self._asked_for_background,
                        late=self._interval_us if napped else 0.0,
                    )
                except RateLimitBackendError as error:
                    self._failed(error)
                    continue
                self._heard_pause(paused)
                for _ in range(granted):
                    if self._waiters.head() is None:
                        break
                    self._waiters.grant()
                napped = wait > 0 and self._waiters.head() is not None
                if napped:
                    await self._nap(wait + self._hold(wait, granted))
        finally:
            self._task = None

    def _hold(self, wait: float, granted: int) -> float:
        """How long past the next slot to nap for a batch's slots (as the local budget's timer does).

        Only for background calls, whose nap a user's call cuts short: a process holding
        interactive calls back would leave their slots to another's fleet. Only after an answer
        that granted a slot: not through a pause (the probe after it goes alone), nor while other
        processes take the slots. Never on a key run at other settings than ours (a batch may
        not fit its burst).
        """
        if not granted or self._key_differs or not self._asked_for_background:
            return 0.0
        return self._waiters.batch_hold(self._batch, self._interval_us / 1e6, time.monotonic() + wait)

    async def _nap(self, seconds: float) -> None:
        """Sleep until the next slot, or until a user's call wants the slot the fleet waits for."""
        if not self._asked_for_background:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def _failed(self, error: RateLimitBackendError) -> None:
        """Redis could not be asked: the waiters get the error, or (``on_redis_error="local"``) the local budget."""
        if not self._fallback:
            self._waiters.fail(error)
            return
        logger.warning("%s; using the local request budget until it answers again", error)
        self._local_only = True
        self._back = asyncio.Event()
        while self._waiters.head() is not None:
            self._waiters.grant(False)
        if self._probe is None:
            self._probe = asyncio.get_running_loop().create_task(self._ask_again())

    async def _ask_again(self) -> None:
        """Every second, beside the callers (who use the local budget), ask Redis until it answers."""
        try:
            while True:
                await asyncio.sleep(_REDIS_RETRY_AFTER)
                try:
                    _, _, paused = await self._ask("take", 0)  # no slot taken: only "are you there?"
                except RateLimitBackendError:
                    continue
                self._heard_pause(paused)
                self._local_only = False
                self._back.set()
                logger.info("Redis at %s answers again; the shared request budget is back", self._where)
                return
        finally:
            self._probe = None

    def _heard_pause(self, paused: float) -> None:
        """Redis says every process is paused for ``paused`` seconds: so is this one, at once."""
        if paused:
            until = time.monotonic() + paused
            if until > self._paused_until:
                self._paused_until = until
                self._waiters.outlasted(until)
                self._local.pause_until(until)

    def cooldown(self, seconds: float, *, retry_after: float | None = None) -> None:
        """Pause this process now, and every process on the key once Redis has it."""
        seconds = min(seconds, MAX_COOLDOWN)
        self._local.cooldown(seconds, retry_after=retry_after)
        until = time.monotonic() + seconds
        if until > self._paused_until:
            self._paused_until = until
            self._waiters.outlasted(until)
        if self._lifecycle.closed:
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
            last_retry_after=local.last_retry_after,
        )

    async def aclose(self) -> None:
        """Wake every waiter with ClientClosedError, stop asking Redis, close its connections."""
        self._lifecycle.close()
        self._waiters.fail(closed_error("waited for its budget"))
        await self._local.aclose()
        tasks = [task for task in (self._task, self._probe, *self._pauses) if task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        if self._redis is not None:
            await self._redis.aclose()
