"""``podero-client demo``: the whole SDK against an embedded fake Podero, in a few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

from ._auth import ClientCredentials
from ._budget import RateLimit
from ._client import PoderoClient
from ._errors import NotFoundError
from ._fleet import WallboxChanged
from ._render import change_line, summary
from ._retry import RetryPolicy
from .testing import ORG_ID, READING_INTERVAL, USER_ID, WALLBOX_ID, FakePodero, Fault, wallbox_payload

# The watch step: the fake's clock runs this many times faster, so that a charging session's
# readings (one every READING_INTERVAL fake seconds) come every 0.4 s; it starts near the
# session's end, to show it finish, unplug and start again.
WATCH_SPEED = 750.0
WATCH_FROM_READING = 6
WATCH_CHANGES = 8
# The fleet step: 200 wallboxes asked for every 0.5 s (400 requests/s) on a budget of 200/s,
# each taking a new reading every 2 s; it runs 2 s.
FLEET_SIZE, FLEET_INTERVAL, FLEET_BUDGET, FLEET_SPEED, FLEET_SECONDS = 200, 0.5, 200.0, 150.0, 2.0


class _Indented(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        print(f"   log: {record.getMessage()}")


def _counts(server: FakePodero) -> str:
    return f"{server.token_requests} token request(s), {server.wallbox_requests} wallbox request(s) so far"


async def _fleet_step(server: FakePodero, credentials: ClientCredentials, retry: RetryPolicy) -> None:
    budget = RateLimit(per_second=FLEET_BUDGET, burst=4)  # a little slack: a late timer loses no slots
    print(
        f"7. watch_wallboxes: {FLEET_SIZE} wallboxes asked for every {FLEET_INTERVAL:g} s, on a budget of "
        f"{FLEET_BUDGET:g} requests/s (PoderoClient(rate_limit=...)); each wallbox changes every "
        f"{READING_INTERVAL / FLEET_SPEED:g} s"
    )
    server.speed = FLEET_SPEED
    polls = server.wallbox_requests
    first = changed = 0
    async with (
        PoderoClient(credentials=credentials, base_url=server.url, retry=retry, rate_limit=budget) as podero,
        podero.watch_wallboxes(server.wallbox_keys(), interval=FLEET_INTERVAL) as fleet,
    ):
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FLEET_SECONDS):
                async for event in fleet:
                    if not isinstance(event, WallboxChanged):
                        continue
                    first += event.initial
                    changed += not event.initial
                    if not event.initial and changed <= 4:
                        fields = ", ".join(sorted(name for name in event.changes if not name.endswith("_at")))
                        what = f"changed: {fields}" if fields else "a new reading, same values"
                        print(f"   {str(event.key[2])[:8]}  {change_line(event.wallbox)}  ({what})")
        stats = fleet.stats
    server.speed = 0
    achieved = f"{stats.achieved_interval:.2f} s" if stats.achieved_interval is not None else "-"
    print(f"   ... {changed} changes and {first} first polls in {server.wallbox_requests - polls} polls")
    print(
        f"   -> achieved interval {achieved} (the budget allows {FLEET_SIZE / FLEET_BUDGET:g} s), "
        f"slowest wallbox {stats.slowest_age:.2f} s old\n"
    )


async def run_demo(*, trace: bool = False) -> int:
    """The demo; ``trace`` (needs the ``demo`` extra) prints the spans of the 401 replay and the retried 503."""
    tracing = None
    if trace:
        from ._demo_trace import DemoTrace  # opentelemetry-sdk: only with --trace

        tracing = DemoTrace()
    started = time.monotonic()
    logger = logging.getLogger("podero_client")
    handler = _Indented()
    logger.addHandler(handler)
    previous_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        async with FakePodero(wallboxes=FLEET_SIZE) as server:
            print(f"podero-client demo: the real SDK against an embedded fake Podero API at {server.url}\n")
            credentials = ClientCredentials(server.client_id, server.client_secret)
            retry = RetryPolicy(initial_backoff=0.1, max_backoff=1.0)
            provider = tracing.provider if tracing is not None else None
            async with PoderoClient(
                credentials=credentials, base_url=server.url, retry=retry, tracer_provider=provider
            ) as podero:
                print("1. get_wallbox: the token is fetched on first use, then the wallbox")
                wallbox = await podero.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID)
                print()
                print(summary(wallbox))
                print(f"   ({_counts(server)})\n")
                if tracing is not None:
                    tracing.clear()

                print("2. The server expires every token: the next call meets a 401, refreshes once, replays")
                server.expire_tokens()
                wallbox = await podero.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID)
                print(f"   -> {wallbox.mode}, {_counts(server)}\n")
                if tracing is not None:
                    tracing.print_tree()
                    print()

                print("3. The server answers 503 with Retry-After: 0.2; the SDK waits as told and retries")
                server.inject("wallbox", Fault(status=503, json={"detail": "busy"}, headers={"Retry-After": "0.2"}))
                wallbox = await podero.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID)
                print(f"   -> {wallbox.mode}, {_counts(server)}\n")
                if tracing is not None:
                    tracing.print_tree()
                    print()

                print("4. get_wallboxes: 10 wallboxes, at most 4 at a time; one id does not exist")
                keys = [(ORG_ID, USER_ID, str(uuid.UUID(int=n + 1))) for n in range(10)]
                for number, key in enumerate(keys[:9]):
                    server.add_wallbox(*key, wallbox_payload(id=key[2], charge_rate_w=1000.0 * number))
                server.inject("wallbox", *[Fault(delay=0.02)] * len(keys))  # slow enough to overlap
                results = await podero.get_wallboxes(keys, concurrency=4)
                kinds = [type(result).__name__ for result in results]
                print(
                    f"   -> {kinds.count('WallboxDetailOutput')} wallboxes and {kinds[-1]} for the last key, in order"
                )
                print(f"      (at most {server.max_wallbox_in_flight} requests were in flight at once)\n")

                print("5. Errors are typed: a wallbox that does not exist")
                try:
                    await podero.get_wallbox(ORG_ID, USER_ID, uuid.UUID(int=999))
                except NotFoundError as error:
                    print(f"   -> {type(error).__name__}: status {error.status_code}, detail {error.detail!r}\n")

                every = READING_INTERVAL / WATCH_SPEED
                print(f"6. watch_wallbox: the fake wallbox lives, a new state every {every:g} s; 5 polls per state")
                server.advance(WATCH_FROM_READING * READING_INTERVAL)
                server.speed = WATCH_SPEED
                polls = server.wallbox_requests
                changes = podero.watch_wallbox(ORG_ID, USER_ID, WALLBOX_ID, interval=every / 5)
                seen = 0
                # Bounded, so that a fake whose clock is stuck fails the demo instead of hanging it.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(WATCH_CHANGES * every * 10):
                        async for wallbox in changes:
                            print(f"   {change_line(wallbox)}")
                            seen += 1
                            if seen == WATCH_CHANGES:
                                break
                await changes.aclose()
                server.speed = 0
                print(f"   -> {seen} changes in {server.wallbox_requests - polls} polls\n")
                if seen < WATCH_CHANGES:
                    print(f"The watched wallbox changed {seen} times, not {WATCH_CHANGES}: the fake's clock is stuck.")
                    return 1
            await _fleet_step(server, credentials, retry)
        print(f"Done in {time.monotonic() - started:.1f} s, with no credentials and no network beyond 127.0.0.1.")
        return 0
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
