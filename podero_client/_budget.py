"""The client's request budget: every request it sends (each attempt, each token grant) takes a slot.

The algorithm is GCRA (the generic cell rate algorithm, a leaky bucket kept as one number):
a request conforms when ``now >= tat - tolerance``, and then moves ``tat`` (the theoretical
arrival time) on by ``1 / per_second``; ``tolerance = (burst - 1) / per_second`` lets
``burst`` requests through at once after a quiet spell. One float of state, O(1) per request.

Callers over the budget wait in two FIFOs of futures, one per lane: interactive calls first,
background ones (the fleet, ``get_wallboxes``, ``watch_wallbox``) with one slot in five
whenever both wait (``next_lane``). One timer (``loop.call_later``) wakes the queue when its
slots come, a batch at a time (``BATCH_WINDOW``): no busy loop, no task per waiter. A 429
pauses the whole budget (``cooldown``, never longer than the retry policy's
``max_retry_after``): nothing leaves until the pause ends, calls whose timeout comes first
fail at once, and then the bucket starts empty, so the first request after the pause goes
alone (the probe) and the rest follow at the budget's rate. Without a budget the retry
transport skips all this: an ``is None`` test per attempt.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import math
import time
from typing import Protocol

import attrs
import httpx

from ._context import context_of
from ._errors import InvalidArgumentError
from ._lifecycle import Lifecycle, closed_error

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
    turn, first come first served in their lane: interactive calls first, background ones
    (``with_options(priority="background")``) with one slot in five while both wait. A 429
    pauses the whole client for its Retry-After (or the retry policy's backoff without one),
    at most ``RetryPolicy.max_retry_after``; then the budget restarts empty: the first request goes alone.
    """

    per_second: float = attrs.field(validator=_per_second)
    burst: int = attrs.field(default=1, validator=_burst)


@attrs.frozen(kw_only=True)
class RateLimitState:
    """What the budget is doing, as ``podero.rate_limit_state`` reads it now.

    ``waiting``: calls waiting for a slot; ``cooldown_remaining``: seconds until a 429's
    pause ends (0.0 when none is on); ``last_cooldown``: the length of the latest pause in
    seconds (None before the first), never more than ``RetryPolicy.max_retry_after``;
    ``cooldowns``: how many pauses so far; ``last_retry_after``: the wait the server asked
    for with that pause (its Retry-After, which may be longer; None without one).
    """

    waiting: int
    cooldown_remaining: float
    last_cooldown: float | None
    cooldowns: int
    last_retry_after: float | None = None


class BudgetTimeout(httpx.PoolTimeout):
    """The call's timeout (pool) or deadline ran out before the budget had a slot; never retried."""


class Budget(Protocol):
    """What the retry transport needs of a budget; LocalBudget and RedisBudget both fit."""

    async def acquire(self, request: httpx.Request, deadline: float | None) -> None: ...

    def cooldown(self, seconds: float, *, retry_after: float | None = None) -> None: ...

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


# When both lanes wait, every BACKGROUND_TURN-th slot goes to the background lane: 1 in 5, 20 %.
BACKGROUND_TURN = 5
INTERACTIVE, BACKGROUND = 0, 1


def next_lane(interactive_waiting: bool, background_waiting: bool, contended: int) -> int:
    """The lane the next slot goes to; ``contended``: slots given so far while both lanes waited.

    Interactive first, except that every ``BACKGROUND_TURN``-th contended slot is the
    background lane's, so bulk work keeps 20 % of a budget that clicks would otherwise fill.
    """
    if not background_waiting:
        return INTERACTIVE
    if not interactive_waiting:
        return BACKGROUND
    return BACKGROUND if contended % BACKGROUND_TURN == BACKGROUND_TURN - 1 else INTERACTIVE


def lane_of(request: httpx.Request) -> int:
    return BACKGROUND if context_of(request).priority == "background" else INTERACTIVE


@attrs.define(eq=False)
class Waiter:
    """One caller waiting for its slot: woken with True (a slot) or False (take it from the local budget)."""

    future: asyncio.Future[bool]
    request: httpx.Request
    end: float | None  # when its wait must end (monotonic), None: never
    lane: int


class Waiters:
    """Two FIFOs of waiting callers, interactive and background; done ones (given up) are skipped lazily."""

    def __init__(self) -> None:
        self.lanes: tuple[collections.deque[Waiter], collections.deque[Waiter]] = (
            collections.deque(),
            collections.deque(),
        )
        self.waiting = [0, 0]  # per lane: callers still waiting (their future not done)
        self.live = 0  # both lanes
        self._contended = 0  # slots given while both lanes waited: the background lane's turn comes from it
        self._next = INTERACTIVE  # the lane of the head, as ``head()`` chose it
        self._both = False  # both lanes waited when ``head()`` chose

    def add(self, request: httpx.Request, end: float | None) -> Waiter:
        lane = lane_of(request)
        waiter = Waiter(asyncio.get_running_loop().create_future(), request, end, lane)
        self.lanes[lane].append(waiter)
        self.waiting[lane] += 1
        self.live += 1
        return waiter

    def ahead(self, request: httpx.Request) -> int:
        """How many are served before a new caller of ``request``'s lane, at least."""
        return self.waiting[INTERACTIVE] if lane_of(request) == INTERACTIVE else self.live

    def head(self) -> Waiter | None:
        """The caller the next slot goes to; ``grant`` wakes it."""
        for queue in self.lanes:
            while queue and queue[0].future.done():
                queue.popleft()
        interactive, background = self.lanes
        if not interactive and not background:
            return None
        self._both = bool(interactive) and bool(background)
        self._next = next_lane(bool(interactive), bool(background), self._contended)
        return self.lanes[self._next][0]

    def grant(self, value: bool = True) -> None:
        """Wake the head (``head()`` was not None just before)."""
        waiter = self.lanes[self._next].popleft()
        self._contended += self._both
        waiter.future.set_result(value)
        self._gone(waiter)

    def batch_hold(self, batch: int, interval: float, slot: float) -> float:
        """How long past the next slot (``slot``, monotonic) to wait for the slots of a batch of ``batch``.

        One interval per other caller of the batch; none when a caller of the batch must give
        up before the batch would go (its own slot comes in time: it gets it).
        """
        hold = (min(batch, self.live) - 1) * interval
        for queue in self.lanes if hold else ():
            waiting = (waiter for waiter in queue if not waiter.future.done())  # given-up ones: skipped later
            if any(waiter.end is not None and waiter.end < slot + hold for waiter in itertools.islice(waiting, batch)):
                return 0.0
        return hold

    def _gone(self, waiter: Waiter) -> None:
        self.waiting[waiter.lane] -= 1
        self.live -= 1

    def fail(self, error: BaseException) -> None:
        for queue in self.lanes:
            while queue:
                waiter = queue.popleft()
                if not waiter.future.done():
                    waiter.future.set_exception(error)
                    self._gone(waiter)

    def outlasted(self, until: float) -> None:
        """Fail now every caller whose wait must end before ``until`` (a pause's end): it would only wait to fail."""
        away = until - time.monotonic()
        for queue in self.lanes:
            for waiter in queue:
                if waiter.end is not None and waiter.end < until and not waiter.future.done():
                    waiter.future.set_exception(
                        BudgetTimeout(
                            f"the request budget is paused for {away:.2f}s, past this call's timeout",
                            request=waiter.request,
                        )
                    )
                    self._gone(waiter)

    async def wait(self, waiter: Waiter) -> bool:
        """The waiter's value; BudgetTimeout at its end; given up (timeout, cancel) it is skipped later."""
        future, end = waiter.future, waiter.end
        try:
            if end is None:
                return await future
            async with asyncio.timeout(end - time.monotonic()):
                return await future
        except TimeoutError:
            raise BudgetTimeout(
                "the call's timeout ran out waiting for the request budget", request=waiter.request
            ) from None
        finally:
            # Given up before its slot came (a cancelled task cancels the future it awaits):
            # skipped when it reaches the head.
            if future.cancelled() or not future.done():
                future.cancel()
                self._gone(waiter)


# Callers queued for the budget are woken in batches: once the head has its slot, the timer
# sleeps until the slots of BATCH_WINDOW have come and serves them at once. One wake-up, one
# loop iteration and one burst on the wire for several slots, instead of one each: at 500/s
# with burst 10, 5 slots every 10 ms rather than one every 2 ms, about a quarter less CPU per
# paced call (BENCHMARKS.md, fleet-profile). A batch takes at most half the burst (rounded
# up): the bucket holds ``burst`` slots, and the other half absorbs a wake-up running up to
# that many intervals late without losing a slot. Never held for: a caller alone in the queue
# when the timer is set, the probe after a pause, a caller whose timeout would come first
# (one that comes later sets the timer again).
BATCH_WINDOW = 0.010


def batch_of(limit: RateLimit) -> int:
    """The slots a queue's wake-up waits for: those of ``BATCH_WINDOW``, at most half the burst (rounded up)."""
    return min((limit.burst + 1) // 2, 1 + int(BATCH_WINDOW * limit.per_second + 1e-9))


class LocalBudget:
    """One process's budget: GCRA on the monotonic clock, two lanes of FIFO waiters, one timer."""

    def __init__(self, limit: RateLimit, *, lifecycle: Lifecycle | None = None) -> None:
        self.interval = 1.0 / limit.per_second
        self.tolerance = (limit.burst - 1) * self.interval
        self._batch = batch_of(limit)
        self._tat = 0.0  # the bucket starts full: ``burst`` requests may go at once
        self._paused_until = 0.0
        self._waiters = Waiters()
        self._timer: asyncio.TimerHandle | None = None
        self._lifecycle = lifecycle or Lifecycle()
        self._last_cooldown: float | None = None
        self._last_retry_after: float | None = None
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
        self._lifecycle.check()
        now = time.monotonic()
        if not self._waiters.live and self._take(now) == 0.0:
            return
        end = wait_deadline(request, deadline)
        too_late(request, end, self.ready_at(now, self._waiters.ahead(request)))
        waiter = self._waiters.add(request, end)
        if self._timer is None:
            self._dispatch()
        elif end is not None and end < self._timer.when():  # the timer may be held for a batch past its end
            self._timer.cancel()
            self._dispatch()
        await self._waiters.wait(waiter)

    def _dispatch(self) -> None:
        """Wake every waiter whose slot has come, in order; then sleep until the next slot."""
        self._timer = None
        now = time.monotonic()
        while self._waiters.head() is not None:
            # Callers have waited since the timer was set: serve the slots that were due, at
            # most one interval late, so a late wake-up costs no slot and grants no burst.
            wait = self._take(now, self.interval)
            if wait > 0:
                # Held for a batch; the timer set by a queue's first caller (alone then) or by a
                # pause (``pause_until``) is not, so the probe after a pause goes alone.
                hold = self._waiters.batch_hold(self._batch, self.interval, now + wait)
                self._timer = asyncio.get_running_loop().call_later(wait + hold, self._dispatch)
                return
            self._waiters.grant()

    def cooldown(self, seconds: float, *, retry_after: float | None = None) -> None:
        """Pause every request for ``seconds`` (a 429's wait, capped by the retry policy); empty afterwards.

        ``retry_after``: what the server asked for, kept for ``state()``. Waiting calls whose
        timeout comes before the pause's end fail now.
        """
        self._cooldowns += 1
        self._last_cooldown = seconds
        self._last_retry_after = retry_after
        self.pause_until(time.monotonic() + min(seconds, MAX_COOLDOWN))

    def pause_until(self, until: float) -> None:
        """Nothing leaves before ``until`` (monotonic); the bucket is empty then, so the first request goes alone."""
        if until <= self._paused_until:
            return
        self._paused_until = until
        self._tat = until + self.tolerance  # empty: the first request at ``until``, then the budget's rate
        self._waiters.outlasted(until)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = asyncio.get_running_loop().call_later(until - time.monotonic(), self._dispatch)

    def state(self) -> RateLimitState:
        return RateLimitState(
            waiting=self._waiters.live,
            cooldown_remaining=max(0.0, self._paused_until - time.monotonic()),
            last_cooldown=self._last_cooldown,
            cooldowns=self._cooldowns,
            last_retry_after=self._last_retry_after,
        )

    async def aclose(self) -> None:
        """Wake every waiter with ClientClosedError; later acquires raise it too."""
        self._lifecycle.close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._waiters.fail(closed_error("waited for its budget"))
