"""The client's request budget: every request it sends (each attempt, each token grant) takes a slot.

The algorithm is GCRA (the generic cell rate algorithm, a leaky bucket kept as one number):
a request conforms when ``now >= tat - tolerance``, and then moves ``tat`` (the theoretical
arrival time) on by ``1 / per_second``; ``tolerance = (burst - 1) / per_second`` lets
``burst`` requests through at once after a quiet spell. One float of state, O(1) per request.

Callers over the budget wait in a FIFO of futures; one timer (``loop.call_later``) wakes the
head when its slot comes: no busy loop, no task per waiter. A 429 pauses the whole budget
(``cooldown``): nothing leaves until the pause ends, and then the bucket starts empty, one
request per interval, so the restart is not a burst. Without a budget the retry transport
skips all this: an ``is None`` test per attempt and one per 429.
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from typing import Protocol

import attrs
import httpx

from ._errors import ClientClosedError, InvalidArgumentError

# A Retry-After of 10**400 seconds parses to inf; no pause is kept longer than a day.
MAX_COOLDOWN = 86400.0


def _per_second(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
        or not math.isfinite(1.0 / value)  # a denormal: its interval would be infinite
    ):
        raise InvalidArgumentError(f"{type(instance).__name__}.per_second must be a finite number > 0, got {value!r}")


def _burst(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"{type(instance).__name__}.burst must be an int >= 1, got {value!r}")


@attrs.frozen(kw_only=True)
class RateLimit:
    """A request budget for one PoderoClient: ``PoderoClient(rate_limit=RateLimit(per_second=50, burst=10))``.

    At most ``per_second`` requests a second on average, at most ``burst`` at once after a
    quiet spell; every attempt and every token grant counts. Callers over it wait their
    turn, first come first served. A 429 pauses the whole client for its Retry-After (or the
    retry policy's backoff without one); then the budget restarts at one request per interval.
    """

    per_second: float = attrs.field(validator=_per_second)
    burst: int = attrs.field(default=1, validator=_burst)


@attrs.frozen(kw_only=True)
class RateLimitState:
    """What the budget is doing, as ``podero.rate_limit_state`` reads it now.

    ``waiting``: calls waiting for a slot; ``cooldown_remaining``: seconds until a 429's
    pause ends (0.0 when none is on); ``last_cooldown``: the length of the latest pause in
    seconds (None before the first); ``cooldowns``: how many pauses so far.
    """

    waiting: int
    cooldown_remaining: float
    last_cooldown: float | None
    cooldowns: int


class BudgetTimeout(httpx.PoolTimeout):
    """The call's timeout (pool) or deadline ran out before the budget had a slot; never retried."""


class Budget(Protocol):
    """What the retry transport needs of a budget; LocalBudget and RedisBudget both fit."""

    async def acquire(self, request: httpx.Request, deadline: float | None) -> None: ...

    def cooldown(self, seconds: float) -> None: ...

    def state(self) -> RateLimitState: ...

    async def aclose(self) -> None: ...


def wait_deadline(request: httpx.Request, deadline: float | None) -> float | None:
    """When a wait for the budget must end: the call's deadline or its pool timeout, whichever is first.

    Waiting for a slot is like waiting for a pooled connection, so the pool timeout bounds it.
    """
    timeout = request.extensions.get("timeout")
    pool = timeout.get("pool") if isinstance(timeout, dict) else None
    if pool is None:
        return deadline
    end: float = time.monotonic() + pool
    return end if deadline is None else min(end, deadline)


def too_late(request: httpx.Request, end: float | None, ready: float) -> None:
    """BudgetTimeout when the earliest slot (``ready``, monotonic) comes after ``end``: fail now, not then."""
    if end is not None and ready > end:
        raise BudgetTimeout(
            f"the request budget has no slot before this call's timeout ({ready - time.monotonic():.2f}s away)",
            request=request,
        )


class Waiters:
    """A FIFO of futures, each a caller waiting for its slot; done ones (given up) are skipped lazily."""

    def __init__(self) -> None:
        self.queue: collections.deque[asyncio.Future[bool]] = collections.deque()
        self.live = 0  # futures not done yet: callers still waiting for a slot

    def add(self) -> asyncio.Future[bool]:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.queue.append(future)
        self.live += 1
        return future

    def head(self) -> asyncio.Future[bool] | None:
        queue = self.queue
        while queue and queue[0].done():
            queue.popleft()
        return queue[0] if queue else None

    def grant(self, value: bool = True) -> None:
        """Wake the head (``head()`` was not None just before)."""
        self.queue.popleft().set_result(value)
        self.live -= 1

    def fail(self, error: BaseException) -> None:
        while self.queue:
            future = self.queue.popleft()
            if not future.done():
                future.set_exception(error)
                self.live -= 1

    async def wait(self, future: asyncio.Future[bool], request: httpx.Request, end: float | None) -> bool:
        """The future's value; BudgetTimeout at ``end``; given up (timeout, cancel) it is skipped later."""
        try:
            if end is None:
                return await future
            async with asyncio.timeout(end - time.monotonic()):
                return await future
        except TimeoutError:
            raise BudgetTimeout("the call's timeout ran out waiting for the request budget", request=request) from None
        finally:
            # Given up before its slot came (a cancelled task cancels the future it awaits):
            # skipped when it reaches the head.
            if future.cancelled() or not future.done():
                future.cancel()
                self.live -= 1


class LocalBudget:
    """One process's budget: GCRA on the monotonic clock, FIFO waiters, one timer."""

    def __init__(self, limit: RateLimit) -> None:
        self.interval = 1.0 / limit.per_second
        self.tolerance = (limit.burst - 1) * self.interval
        self._tat = 0.0  # the bucket starts full: ``burst`` requests may go at once
        self._paused_until = 0.0
        self._waiters = Waiters()
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._last_cooldown: float | None = None
        self._cooldowns = 0

    def _take(self, now: float, lag: float = 0.0) -> float:
        """0.0 when a slot is free now, and takes it; else the seconds until the next one.

        ``lag``: how late ``now`` may be for the slot that was due; the timer's wake-ups
        run late on a busy loop, and each would otherwise lose that much of the budget.
        """
        if now < self._paused_until:
            return self._paused_until - now
        tat = max(self._tat, now - lag)
        wait = tat - self.tolerance - now
        if wait > 0:
            return wait
        self._tat = tat + self.interval
        return 0.0

    def ready_at(self, now: float, position: int) -> float:
        """The earliest time a caller behind ``position`` others could have its slot."""
        earliest = max(self._tat, now) - self.tolerance + position * self.interval
        return max(self._paused_until, earliest)

    async def acquire(self, request: httpx.Request, deadline: float | None) -> None:
        if self._closed:
            raise ClientClosedError("this PoderoClient is closed; create a new one")
        now = time.monotonic()
        if not self._waiters.live and self._take(now) == 0.0:
            return
        end = wait_deadline(request, deadline)
        too_late(request, end, self.ready_at(now, self._waiters.live))
        future = self._waiters.add()
        if self._timer is None:
            self._dispatch()
        await self._waiters.wait(future, request, end)

    def _dispatch(self) -> None:
        """Wake every waiter whose slot has come, in order; then sleep until the next slot."""
        self._timer = None
        now = time.monotonic()
        while self._waiters.head() is not None:
            # Callers have waited since the timer was set: serve the slots that were due, at
            # most one interval late, so a late wake-up costs no slot and grants no burst.
            wait = self._take(now, self.interval)
            if wait > 0:
                self._timer = asyncio.get_running_loop().call_later(wait, self._dispatch)
                return
            self._waiters.grant()

    def cooldown(self, seconds: float) -> None:
        """Pause every request for ``seconds`` (a 429's Retry-After); the bucket is empty afterwards."""
        seconds = min(seconds, MAX_COOLDOWN)
        now = time.monotonic()
        self._cooldowns += 1
        self._last_cooldown = seconds
        until = now + seconds
        if until <= self._paused_until:
            return
        self._paused_until = until
        self._tat = until + self.tolerance  # empty: the first request at ``until``, then one per interval
        if self._timer is not None:
            self._timer.cancel()
            self._timer = asyncio.get_running_loop().call_later(seconds, self._dispatch)

    def state(self) -> RateLimitState:
        return RateLimitState(
            waiting=self._waiters.live,
            cooldown_remaining=max(0.0, self._paused_until - time.monotonic()),
            last_cooldown=self._last_cooldown,
            cooldowns=self._cooldowns,
        )

    async def aclose(self) -> None:
        """Wake every waiter with ClientClosedError; later acquires raise it too."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._waiters.fail(ClientClosedError("the PoderoClient was closed while this call waited for its budget"))
