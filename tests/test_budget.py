"""The client's request budget (RateLimit), counted at the real fake server by the server's own clock."""

from __future__ import annotations

import asyncio
import collections
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

import httpx
import pytest

from podero_client import (
    APITimeoutError,
    ClientClosedError,
    InvalidArgumentError,
    PasswordCredentials,
    PoderoClient,
    RateLimit,
    RateLimitError,
    RetryPolicy,
)
from podero_client._budget import BACKGROUND, INTERACTIVE, LocalBudget, Waiters, next_lane
from podero_client._context import CallContext, Priority, with_context
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID, FakePodero, Fault, LoggedRequest, wallbox_payload

IDS = (ORG_ID, USER_ID, WALLBOX_ID)


def max_in_window(times: Sequence[float], width: float) -> int:
    """The most requests the server saw inside any window of ``width`` seconds."""
    times = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - width:
            start += 1
        most = max(most, end - start + 1)
    return most


async def until(condition: Callable[[], bool]) -> None:
    """Wait until ``condition()`` holds, checked every millisecond; TimeoutError after 10 s, never a hang."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110  # the client's state changes with no event to wait on
            await asyncio.sleep(0.001)


def after(log: Sequence[LoggedRequest], start: float, stop: float) -> list[LoggedRequest]:
    return [entry for entry in log if start < entry.at < stop]


@pytest.mark.parametrize(
    ("per_second", "burst"),
    [(0, 1), (-1, 1), (math.nan, 1), (math.inf, 1), (1e-320, 1), ("5", 1), (True, 1), (None, 1),
     (5, 0), (5, -1), (5, 1.5), (5, True), (5, "2"), (5, None)],
)  # fmt: skip
def test_bad_rate_limits_are_refused(per_second: object, burst: object) -> None:
    """Each nonsensical per_second or burst is InvalidArgumentError at construction."""
    with pytest.raises(InvalidArgumentError, match=r"RateLimit\.(per_second|burst)"):
        RateLimit(per_second=per_second, burst=burst)  # type: ignore[arg-type]  # the point of the test


def test_rate_limit_of_the_wrong_type_is_refused(fake_podero: FakePodero) -> None:
    """rate_limit takes a RateLimit, a RedisRateLimit or None; anything else fails before any I/O."""
    with pytest.raises(InvalidArgumentError, match="rate_limit must be"):
        fake_podero.client(rate_limit=50)


async def test_no_rate_limit_has_no_state(fake_podero: FakePodero) -> None:
    """Without rate_limit there is no budget, and rate_limit_state says so with None."""
    async with fake_podero.client() as podero:
        await podero.get_wallbox(*IDS)
        assert podero.rate_limit_state is None


async def test_the_budget_holds_under_a_thousand_concurrent_callers(fake_podero: FakePodero) -> None:
    """1,000 concurrent calls at 500/s, burst 20: no half-second at the server holds more than the budget."""
    rate, burst = 500, 20
    async with fake_podero.client(rate_limit=RateLimit(per_second=rate, burst=burst)) as podero:
        calls = [asyncio.create_task(podero.get_wallbox(*IDS)) for _ in range(1000)]
        await fake_podero.wait_until(lambda: len(fake_podero.request_log) >= 200)
        waiting = podero.rate_limit_state
        await asyncio.gather(*calls)
    assert waiting is not None
    assert waiting.waiting > 0, "callers were waiting for the budget mid-run"
    times = [entry.at for entry in fake_podero.request_log]
    assert len(times) == 1001  # the token grant and the 1,000 calls
    # GCRA: at most burst + rate * w in any window of w seconds (grant times); the server's arrival
    # times jitter by up to ~0.2 s on a loaded machine, hence 20 %. Without a budget all 1,000 arrive in one.
    assert max_in_window(times, 1.0) <= (burst + rate) * 1.2
    assert max(times) - min(times) >= (1001 - burst) / rate * 0.9, "the server saw the calls spread out"


async def test_callers_are_served_first_come_first_served(fake_podero: FakePodero) -> None:
    """Calls over the budget leave in the order they were made: the server sees the wallboxes in order."""
    wallboxes = [str(uuid.uuid4()) for _ in range(15)]
    for wallbox in wallboxes:
        fake_podero.add_wallbox(ORG_ID, USER_ID, wallbox, wallbox_payload())
    async with fake_podero.client(rate_limit=RateLimit(per_second=40, burst=1)) as podero:
        await podero.get_wallbox(*IDS)  # the token, first
        calls = []
        for wallbox in wallboxes:
            calls.append(asyncio.create_task(podero.get_wallbox(ORG_ID, USER_ID, wallbox)))
            await asyncio.sleep(0)  # each call reaches the budget before the next is made
        await asyncio.gather(*calls)
    seen = [entry.path.rpartition("/")[2] for entry in fake_podero.request_log][2:]
    assert seen == wallboxes


async def test_a_429_pauses_the_whole_client(fake_podero: FakePodero) -> None:
    """One 429 with Retry-After: 1 and 20 busy callers: nothing new leaves for that second, then no burst.

    Timed from the instant the client began the pause (read off its state), not from the 429's
    arrival: on a slow machine the 429 takes a while to reach the client, and what it grants
    meanwhile is legitimate. A caller awaits one call at a time, so at most one request of each
    of the 19 other callers can have left before the pause and still arrive inside it.
    """
    rate, callers = 100, 20
    fake_podero.inject(
        "wallbox", *[Fault()] * 100, Fault(status=429, json={"detail": "slow"}, headers={"Retry-After": "1"})
    )
    async with fake_podero.client(rate_limit=RateLimit(per_second=rate, burst=60)) as podero:
        pause_ends: list[float] = []

        async def watch_for_the_pause() -> None:
            await until(lambda: podero.rate_limit_state is not None and podero.rate_limit_state.cooldowns > 0)
            state = podero.rate_limit_state
            assert state is not None
            assert state.cooldown_remaining > 0, "read while the pause is on: its end is then exact"
            pause_ends.append(time.monotonic() + state.cooldown_remaining)

        async def caller() -> None:
            for _ in range(12):
                await podero.get_wallbox(*IDS)

        watcher = asyncio.create_task(watch_for_the_pause())
        await asyncio.gather(*[caller() for _ in range(callers)])
        await watcher
        state = podero.rate_limit_state
    assert fake_podero.rate_limited == 0
    assert fake_podero.wallbox_requests == 241  # 240 calls, one retried
    assert state is not None
    assert state.last_cooldown == 1.0
    assert state.cooldowns == 1
    (pause_end,) = pause_ends
    pause_start = pause_end - state.last_cooldown
    log = list(fake_podero.request_log)
    (hit,) = [entry for entry in log if entry.route == "wallbox"][100:101]  # the 101st wallbox request got the 429
    assert hit.at <= pause_start
    # Without the pause: about 100 in that second; a pause of half of it: about 50.
    assert len(after(log, pause_start, pause_end)) <= callers - 1, "only requests that left before the pause"
    # Empty, the half-second after the pause holds 1 + 50 (plus the server's jitter); a full bucket: 60 + 50.
    restarted = after(log, pause_end, pause_end + 0.5)
    assert len(restarted) <= 1 + rate * 0.5 * 1.5, "the budget restarted empty, not with a burst"


async def test_a_429_without_retry_after_pauses_for_the_backoff(fake_podero: FakePodero) -> None:
    """A 429 without Retry-After pauses the client for the retry policy's backoff: a pause is recorded."""
    fake_podero.inject("wallbox", Fault(status=429, json={"detail": "slow"}))
    retry = RetryPolicy(initial_backoff=0.2, max_backoff=0.2)
    async with fake_podero.client(rate_limit=RateLimit(per_second=100), retry=retry) as podero:
        await podero.get_wallbox(*IDS)
        state = podero.rate_limit_state
    assert state is not None
    assert state.cooldowns == 1
    assert state.last_cooldown is not None
    assert 0.1 <= state.last_cooldown <= 0.2  # backoff's jitter: 0.5 to 1


async def test_a_pause_longer_than_the_timeout_fails_waiting_calls_at_once(fake_podero: FakePodero) -> None:
    """A 429 with Retry-After: 30 and a 1 s pool timeout: the other calls end with APITimeoutError, no hang."""
    hold = asyncio.Event()
    fake_podero.inject("wallbox", Fault(status=429, json={"detail": "slow"}, headers={"Retry-After": "30"}, hold=hold))
    retry = RetryPolicy(max_retry_after=5.0)  # the caller that got the 429 gets it as RateLimitError
    timeout = httpx.Timeout(5.0, pool=1.0)
    async with fake_podero.client(rate_limit=RateLimit(per_second=5), retry=retry, timeout=timeout) as podero:
        first = asyncio.create_task(podero.get_wallbox(*IDS))
        await fake_podero.wait_until(lambda: fake_podero.wallbox_requests == 1)
        second = asyncio.create_task(podero.get_wallbox(*IDS))  # waits for its slot, 0.2 s away
        await until(lambda: podero.rate_limit_state is not None and podero.rate_limit_state.waiting == 1)
        hold.set()
        with pytest.raises(RateLimitError):
            await first
        with pytest.raises(APITimeoutError, match="budget"):
            await second  # it waited, and the pause outlasted its timeout
        with pytest.raises(APITimeoutError, match="budget"):
            await podero.get_wallbox(*IDS)  # a new call: no slot before its timeout, fails now
        state = podero.rate_limit_state
    assert state is not None
    assert state.cooldown_remaining > 3
    assert state.last_cooldown == 5.0  # the policy's max_retry_after: the server's 30 s is beside it
    assert state.last_retry_after == 30.0
    assert fake_podero.wallbox_requests == 1


async def test_token_grants_take_a_slot(fake_podero: FakePodero) -> None:
    """A cold client's token grant takes the only slot: its call then times out waiting for the budget."""
    timeout = httpx.Timeout(5.0, pool=0.3)
    async with fake_podero.client(rate_limit=RateLimit(per_second=1), timeout=timeout) as podero:
        with pytest.raises(APITimeoutError, match="budget"):
            await podero.get_wallbox(*IDS)
    assert fake_podero.token_requests == 1
    assert fake_podero.wallbox_requests == 0


async def test_every_retry_attempt_takes_a_slot(fake_podero: FakePodero) -> None:
    """A 503 and its retry: the retry waits for a slot like any request, and its timeout bounds that wait."""
    async with fake_podero.client(rate_limit=RateLimit(per_second=1, burst=3)) as podero:
        await podero.get_wallbox(*IDS)  # token and call: 2 of the burst of 3
        fake_podero.inject("wallbox", Fault(status=503, json={"detail": "busy"}))
        view = podero.with_options(timeout=httpx.Timeout(5.0, pool=0.3))
        with pytest.raises(APITimeoutError, match="budget"):
            await view.get_wallbox(*IDS)  # its attempt takes the last of the burst; its retry has no slot for 1 s
    assert fake_podero.wallbox_requests == 2


async def test_closing_the_client_wakes_waiting_calls(fake_podero: FakePodero) -> None:
    """Calls waiting for the budget end with ClientClosedError when the client closes, and new calls are refused."""
    podero: PoderoClient = fake_podero.client(rate_limit=RateLimit(per_second=2))
    await podero.get_wallbox(*IDS)  # cold: token, then the call 0.5 s later
    waiting = [asyncio.create_task(podero.get_wallbox(*IDS)) for _ in range(5)]
    await until(lambda: podero.rate_limit_state is not None and podero.rate_limit_state.waiting == 5)
    await podero.aclose()
    for call in waiting:
        with pytest.raises(ClientClosedError):
            await call
    assert fake_podero.wallbox_requests == 1


async def test_cancelled_waiters_do_not_hold_up_the_queue(fake_podero: FakePodero) -> None:
    """Callers cancelled while waiting leave the queue: the ones behind them get their slots, waiting drops to 0."""
    async with fake_podero.client(rate_limit=RateLimit(per_second=20)) as podero:
        await podero.get_wallbox(*IDS)
        cancelled = [asyncio.create_task(podero.get_wallbox(*IDS)) for _ in range(10)]
        kept = [asyncio.create_task(podero.get_wallbox(*IDS)) for _ in range(3)]
        await asyncio.sleep(0)
        for call in cancelled:
            call.cancel()
        await asyncio.gather(*kept)
        assert all(call.cancelled() for call in cancelled)
        state = podero.rate_limit_state
    assert state is not None
    assert state.waiting == 0
    assert fake_podero.wallbox_requests == 4


async def test_the_fake_answers_429_past_its_rate_limit_per_credentials() -> None:
    """FakePodero(rate_limit=5): a sixth request within a second is a 429 with Retry-After: 1, per credentials."""
    async with FakePodero(rate_limit=5) as server:
        no_retry = RetryPolicy(max_attempts=1)
        password = PasswordCredentials(server.username, server.password)
        async with server.client(retry=no_retry) as one, server.client(retry=no_retry, credentials=password) as two:
            results = await asyncio.gather(*[one.get_wallbox(*IDS) for _ in range(8)], return_exceptions=True)
            other = await asyncio.gather(*[two.get_wallbox(*IDS) for _ in range(4)])
    errors = [result for result in results if isinstance(result, BaseException)]
    assert len(errors) == 4  # 5 a second: the token grant and 4 calls
    assert all(isinstance(error, RateLimitError) and error.retry_after == 1.0 for error in errors)
    assert len(other) == 4  # the password grant and its 4 calls are its own 5
    assert server.rate_limited == 4


async def test_the_budget_keeps_a_client_under_the_fakes_rate_limit() -> None:
    """A budget of 40/s against a fake that allows 50/s: 60 concurrent calls, not one 429."""
    async with FakePodero(rate_limit=50) as server, server.client(rate_limit=RateLimit(per_second=40)) as podero:
        await asyncio.gather(*[podero.get_wallbox(*IDS) for _ in range(60)])
    assert server.rate_limited == 0
    assert server.wallbox_requests == 60


@pytest.mark.parametrize("rate_limit", [0, -1, math.nan, math.inf, "5"])
def test_the_fake_refuses_a_bad_rate_limit(rate_limit: object) -> None:
    """FakePodero(rate_limit=...) takes a finite number > 0 or None."""
    with pytest.raises(ValueError, match="rate_limit must be"):
        FakePodero(rate_limit=rate_limit)  # type: ignore[arg-type]  # the point of the test


def test_a_late_wake_up_serves_the_slot_that_was_due() -> None:
    """A dispatch up to one interval late grants the slot that was due: a busy loop loses no budget."""
    budget = LocalBudget(RateLimit(per_second=10, burst=1))
    assert budget._take(100.0) == 0.0  # this slot; the next is due at 100.1
    assert budget._take(100.15, lag=budget.interval) == 0.0  # woken 50 ms late: the 100.1 slot
    assert budget._take(100.15, lag=budget.interval) == pytest.approx(0.05)  # the next at 100.2, not 100.25
    assert budget._take(100.5) == 0.0  # a caller with no one queued starts from now
    assert budget._take(100.5) == pytest.approx(0.1)


async def woken_together(acquire: Callable[[], Awaitable[None]], callers: int) -> list[int]:
    """``callers`` tasks await ``acquire()`` at once: how many each loop iteration woke, in the order woken.

    A task counts the loop's iterations and every caller notes the one it was woken in, so
    the callers that one wake-up of a budget's timer (or one answer from Redis) served share it.
    """
    iterations = 0

    async def count_iterations() -> None:
        nonlocal iterations
        while True:
            iterations += 1
            await asyncio.sleep(0)

    woken: list[int] = []

    async def caller() -> None:
        await acquire()
        woken.append(iterations)

    counter = asyncio.create_task(count_iterations())
    try:
        await asyncio.gather(*(caller() for _ in range(callers)))
    finally:
        counter.cancel()
    return list(collections.Counter(woken).values())  # a Counter keeps the order of first sight


async def test_a_queue_of_callers_is_woken_a_batch_at_a_time() -> None:
    """1,000/s, burst 10, 100 callers at once: the burst, then timer wake-ups of five slots (half the burst)."""
    budget = LocalBudget(RateLimit(per_second=1000, burst=10))
    request = lane_request("interactive")
    started = time.monotonic()
    batches = await woken_together(lambda: budget.acquire(request, None), 100)
    elapsed = time.monotonic() - started
    # Never more than GCRA allows at once: the burst, and a slot due an interval ago.
    assert max(batches) <= 11
    # The burst, then 18 batches of five; one slot per wake-up would be 91 batches.
    assert len(batches) <= 24, batches
    assert elapsed >= (100 - 11) / 1000, "the batches kept to the budget's rate"


def lane_request(priority: Priority) -> httpx.Request:
    """A bare request in ``priority``'s lane, for a budget alone."""
    request = httpx.Request("GET", "http://podero.invalid/")
    with_context(request, CallContext(priority=priority))
    return request


def first_slot_in(budget: LocalBudget, seconds: float) -> float:
    """Empty the bucket so that its next slot comes in ``seconds``: that time (monotonic)."""
    budget._tat = time.monotonic() + seconds + budget.tolerance
    return budget._tat - budget.tolerance


async def queued(budget: LocalBudget, ends: Sequence[float | None]) -> list[asyncio.Task[None]]:
    """One waiting caller per end (None: no timeout), queued in that order."""
    request = lane_request("interactive")
    tasks = [asyncio.create_task(budget.acquire(request, end)) for end in ends]
    await asyncio.sleep(0)
    assert budget.state().waiting == len(ends)
    return tasks


def wake_up_after_next_slot(budget: LocalBudget) -> float:
    """How long after the next slot the budget's timer is set for."""
    assert budget._timer is not None
    return budget._timer.when() - (budget._tat - budget.tolerance)


async def test_a_caller_alone_in_the_queue_is_not_held_back_for_a_batch() -> None:
    """One caller waiting: the timer is set for its own slot, not for the slots of a batch."""
    budget = LocalBudget(RateLimit(per_second=1000, burst=10))
    first_slot_in(budget, 1.0)
    tasks = await queued(budget, [None])
    assert wake_up_after_next_slot(budget) == pytest.approx(0, abs=budget.interval / 10)
    await budget.aclose()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.parametrize(
    ("per_second", "burst", "batch"),
    [(400, 6, 3), (400, 20, 5), (100, 10, 2), (1000, 1, 1)],
    ids=["half-the-burst", "the-slots-of-10-ms", "slow", "burst-1-no-batches"],
)
async def test_the_timer_waits_for_the_slots_of_one_batch(per_second: float, burst: int, batch: int) -> None:
    """Once the head has its slot, the timer waits for the slots of a batch: the window's, at most half the burst."""
    budget = LocalBudget(RateLimit(per_second=per_second, burst=burst))
    first_slot_in(budget, 0.002)
    tasks = await queued(budget, [None] * 30)
    await tasks[0]  # the head's slot (the timer was set with it alone in the queue); then the next batch's
    waiting = budget.state().waiting  # 29, or fewer when that wake-up came late and served several due slots
    held = (min(batch, waiting) - 1) * budget.interval
    assert wake_up_after_next_slot(budget) == pytest.approx(held, abs=budget.interval / 10)
    await budget.aclose()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_caller_whose_timeout_comes_first_is_not_held_for_a_batch() -> None:
    """A batch's wake-up never comes after the end of a caller it serves: the timer is set for the slot instead."""
    budget = LocalBudget(RateLimit(per_second=100, burst=10))  # batches of two
    first = first_slot_in(budget, 0.002)
    tasks = await queued(budget, [None, first + 1.5 * budget.interval, None, None])
    await tasks[0]
    assert budget.state().waiting == 3  # a wake-up 10 ms late would have served the second at once
    assert wake_up_after_next_slot(budget) == pytest.approx(0, abs=budget.interval / 10)  # not one interval later
    await budget.aclose()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_caller_joining_a_held_batch_with_an_earlier_end_sets_the_timer_again() -> None:
    """A user's call whose timeout comes before the held wake-up: the timer goes back to the next slot."""
    budget = LocalBudget(RateLimit(per_second=100, burst=10))  # batches of two
    first = first_slot_in(budget, 0.002)
    fleet = [asyncio.create_task(budget.acquire(lane_request("background"), None)) for _ in range(4)]
    await fleet[0]  # then the timer is held one interval past the next slot, for a batch of two
    assert wake_up_after_next_slot(budget) == pytest.approx(budget.interval, abs=budget.interval / 10)
    end = first + 1.5 * budget.interval  # after the next slot (it goes first: interactive), before the batch's
    user = asyncio.create_task(budget.acquire(lane_request("interactive"), end))
    await asyncio.sleep(0)
    assert wake_up_after_next_slot(budget) == pytest.approx(0, abs=budget.interval / 10)
    await user  # its slot, not BudgetTimeout
    await budget.aclose()
    await asyncio.gather(*fleet, return_exceptions=True)


async def test_a_batch_checks_the_ends_of_callers_still_waiting_only() -> None:
    """Callers who gave up (still in the queue until they reach its head) are not counted among a batch's."""
    waiters = Waiters()
    request = lane_request("interactive")
    gone = [asyncio.create_task(waiters.wait(waiters.add(request, None))) for _ in range(2)]
    await asyncio.sleep(0)
    for task in gone:
        task.cancel()  # they give up; they stay in the queue until they reach its head
    await asyncio.gather(*gone, return_exceptions=True)
    waiters.add(request, 5.0)
    waiters.add(request, None)
    assert waiters.batch_hold(2, 1.0, 3.5) == 1.0  # the batch's two go at 4.5, before the first's end
    assert waiters.batch_hold(2, 1.0, 4.5) == 0.0  # they would go at 5.5: the first must give up at 5.0


@pytest.mark.parametrize("queued_first", [False, True], ids=["pause-then-queue", "queue-then-pause"])
async def test_the_first_request_after_a_pause_goes_alone(queued_first: bool) -> None:
    """Callers queued through a pause: the probe goes alone (no batch held for), then the batches."""
    budget = LocalBudget(RateLimit(per_second=100, burst=10))  # batches of two
    request = lane_request("interactive")
    if queued_first:
        first_slot_in(budget, 1.0)
    else:
        budget.cooldown(0.05)
    woken = asyncio.create_task(woken_together(lambda: budget.acquire(request, None), 7))
    if queued_first:
        await until(lambda: budget.state().waiting == 7)
        budget.cooldown(0.05)  # the timer set for the queue is set again, for the pause's end
    batches = await woken
    assert batches[0] == 1, batches  # held for a batch, the first wake-up would serve two
    assert len(batches) <= 5, batches  # then batches of two: [1, 2, 2, 2]


FAR_DATE = "Tue, 07 Dec 2027 13:00:00 GMT"  # a year ahead of the response's own Date below


@pytest.mark.parametrize(
    ("route", "headers", "asked"),
    [
        ("wallbox", {"Retry-After": "86400"}, 86400.0),
        ("wallbox", {"Retry-After": FAR_DATE, "Date": "Mon, 07 Dec 2026 13:00:00 GMT"}, 31536000.0),
        ("oauth2", {"Retry-After": "86400"}, 86400.0),
    ],
    ids=["seconds", "http-date", "token-endpoint"],
)
async def test_a_retry_after_past_the_cap_pauses_for_the_cap_only(
    fake_podero: FakePodero, caplog: pytest.LogCaptureFixture, route: str, headers: dict[str, str], asked: float
) -> None:
    """Retry-After of a day (or a year), API or token endpoint: RateLimitError, one WARNING, the cap's pause only."""
    fake_podero.inject(route, Fault(status=429, json={"detail": "slow"}, headers=headers))
    retry = RetryPolicy(max_retry_after=0.3)
    async with fake_podero.client(rate_limit=RateLimit(per_second=100), retry=retry) as podero:
        with pytest.raises(RateLimitError) as caught:
            await podero.get_wallbox(*IDS)
        state = podero.rate_limit_state
        assert state is not None
        assert state.last_cooldown == 0.3
        assert state.last_retry_after == asked
        assert 0 < state.cooldown_remaining <= 0.3
        await until(lambda: podero.rate_limit_state is not None and podero.rate_limit_state.cooldown_remaining == 0)
        await podero.get_wallbox(*IDS)  # the probe: the pause was the cap, not a day
    assert caught.value.retry_after == asked
    warnings = [record for record in caplog.records if record.levelname == "WARNING"]
    assert len(warnings) == 1
    assert f"{asked:.0f}" in warnings[0].getMessage()
    assert "0.3" in warnings[0].getMessage()
    assert fake_podero.token_requests + fake_podero.wallbox_requests == 3  # the refused one, the token, the probe


async def test_a_known_pause_fails_queued_calls_it_would_outlast_at_once(fake_podero: FakePodero) -> None:
    """Calls queued behind a 429 whose pause outlasts their 60 s pool timeout fail at once, not after 60 s."""
    hold = asyncio.Event()
    fake_podero.inject("wallbox", Fault(status=429, json={"detail": "slow"}, headers={"Retry-After": "30"}, hold=hold))
    retry = RetryPolicy(max_attempts=1, max_retry_after=120.0)  # the 429 is the first call's answer, not retried
    timeout = httpx.Timeout(5.0, pool=20.0)
    async with fake_podero.client(rate_limit=RateLimit(per_second=1), retry=retry, timeout=timeout) as podero:
        first = asyncio.create_task(podero.get_wallbox(*IDS))
        await fake_podero.wait_until(lambda: fake_podero.wallbox_requests == 1)
        queued = [asyncio.create_task(podero.get_wallbox(*IDS)) for _ in range(3)]
        await until(lambda: podero.rate_limit_state is not None and podero.rate_limit_state.waiting == 3)
        hold.set()
        with pytest.raises(RateLimitError):
            await first
        async with asyncio.timeout(10):  # a guard, not a measure: without the fix they wait 20 s
            results = await asyncio.gather(*queued, return_exceptions=True)
    assert all(isinstance(result, APITimeoutError) for result in results), results
    assert fake_podero.wallbox_requests == 1


def test_the_lane_decision_gives_the_background_one_slot_in_five() -> None:
    """Both lanes waiting: interactive first, every fifth slot the background's; one lane alone takes every slot."""
    lanes = [next_lane(True, True, contended) for contended in range(10)]
    assert lanes.count(BACKGROUND) == 2
    assert lanes[:4] == [INTERACTIVE] * 4
    assert next_lane(False, True, 0) == BACKGROUND
    assert next_lane(True, False, 4) == INTERACTIVE


def test_a_bad_priority_is_refused(fake_podero: FakePodero) -> None:
    """with_options(priority=...) takes "interactive" or "background" only."""
    podero = fake_podero.client()
    for bad in ("urgent", "", 1, True):
        with pytest.raises(InvalidArgumentError, match="priority"):
            podero.with_options(priority=bad)  # type: ignore[arg-type]  # the point of the test


async def lanes_at_the_server(
    fake_podero: FakePodero, podero: PoderoClient, background: int, interactive: int
) -> list[str]:
    """``background`` calls queued first, then ``interactive`` ones: the order the server saw them in, by lane."""
    users = {"background": str(uuid.uuid4()), "interactive": str(uuid.uuid4())}
    for user in users.values():
        fake_podero.add_wallbox(ORG_ID, user, WALLBOX_ID, wallbox_payload())
    await podero.get_wallbox(*IDS)  # the token, first
    since = len(fake_podero.request_log)
    bulk = podero.with_options(priority="background")
    calls = [asyncio.create_task(bulk.get_wallbox(ORG_ID, users["background"], WALLBOX_ID)) for _ in range(background)]
    await until(lambda: podero.rate_limit_state is not None and podero.rate_limit_state.waiting >= background - 2)
    user = users["interactive"]
    calls += [asyncio.create_task(podero.get_wallbox(ORG_ID, user, WALLBOX_ID)) for _ in range(interactive)]
    await asyncio.gather(*calls)
    by_user = {user: lane for lane, user in users.items()}
    return [by_user[entry.path.split("/")[-3]] for entry in list(fake_podero.request_log)[since:]]


async def test_interactive_calls_go_before_waiting_background_calls(fake_podero: FakePodero) -> None:
    """30 background calls waiting on 40/s, then 8 interactive: these reach the server first (1 slot in 5 excepted)."""
    async with fake_podero.client(rate_limit=RateLimit(per_second=40)) as podero:
        seen = await lanes_at_the_server(fake_podero, podero, background=30, interactive=8)
    assert_interactive_first(seen)


def assert_interactive_first(seen: list[str]) -> None:
    """The 8 interactive calls came before most of the 30 background ones, which still had 1 slot in 5."""
    last_interactive = max(index for index, lane in enumerate(seen) if lane == "interactive")
    # FIFO would put them after the 30 (index >= 30); with lanes, 8 interactive + 2 background turns + the 2 in flight.
    assert last_interactive <= 8 + 2 + 3
    contended = seen[seen.index("interactive") : last_interactive + 1]
    assert contended.count("background") >= 1, "the background lane kept its share while both waited"


async def test_get_wallboxes_waits_in_the_background_lane(fake_podero: FakePodero) -> None:
    """A batch of 30 on 40/s queued first, then one interactive call: it reaches the server within a few slots."""
    user = str(uuid.uuid4())
    fake_podero.add_wallbox(ORG_ID, user, WALLBOX_ID, wallbox_payload())
    async with fake_podero.client(rate_limit=RateLimit(per_second=40)) as podero:
        await podero.get_wallbox(*IDS)  # the token, first
        since = len(fake_podero.request_log)
        batch = asyncio.create_task(podero.get_wallboxes([IDS] * 30, concurrency=30))
        await until(lambda: podero.rate_limit_state is not None and podero.rate_limit_state.waiting >= 25)
        await podero.get_wallbox(ORG_ID, user, WALLBOX_ID)
        await batch
    seen = [entry.path.split("/")[-3] for entry in list(fake_podero.request_log)[since:]]
    assert seen.index(user) <= 5 + 2, seen.index(user)  # FIFO: after the 30
