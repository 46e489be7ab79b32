"""The fleet watch: many wallboxes on one schedule, inside the client's request budget.

Podero has no push: a partner polls. Its guidance is a poll about every minute (device state
comes from the manufacturer every 5 to 15 minutes), every 3 s only while a boost is
requested, and ``current_state_last_updated_at`` to tell what is new. The watch keeps one
min-heap of due times and a bounded pool of workers that always take the most overdue
wallbox; when the budget (``PoderoClient(rate_limit=...)``) cannot keep up, every wallbox
gets staler by the same amount, oldest first, and none starves. It goes through the
facade's ``get_wallbox_response`` like any caller.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import itertools
import json
import logging
import random
import uuid
import weakref
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypedDict

import attrs

from ._errors import (
    AuthenticationError,
    ClientClosedError,
    InvalidArgumentError,
    NotFoundError,
    PoderoError,
    RateLimitBackendError,
)
from ._fleet_shared import KEY_TEXT, RedisFleet, SharedFleet
from ._generated.models import WallboxDetailOutput
from ._generated.types import APIResponse
from ._lifecycle import Lifecycle, closed_error
from ._settings import ID_TEXT, as_uuid, check_seconds

# A wallbox's key as events and keys() give it. Inside, the watch holds its text (as_key).
FleetKey = tuple[uuid.UUID, uuid.UUID, uuid.UUID]
# PoderoClient.get_wallbox_response, or a view's: (org_id, user_id, wallbox_id, *, include_deleted).
GetWallboxResponse = Callable[..., Awaitable[APIResponse[WallboxDetailOutput]]]
logger = logging.getLogger("podero_client")

# Quiet polls at fast_interval after a change before the wallbox goes back to the interval.
FAST_POLLS = 3
JITTER = 0.05  # each due time moves by up to +-5 % of its interval, so replicas drift apart
BUDGET_RETRY = 1.0  # seconds (about) before a wallbox whose budget could not be asked is tried again
# Keys checked, or scheduled, between two turns of the event loop at start-up: 20 to 30 ms on
# this project's 2-core machine (10,000 took 90-120 ms), so that the loop's other work goes on.
START_SLICE = 2_500


@attrs.frozen
class WallboxChanged:
    """A wallbox polled and found new: its first poll (``initial``, no ``changes``), or a change.

    ``changes`` maps each field that differs from the previous poll to ``(old, new)``;
    fields the SDK was not generated for are compared too (``additional_properties``).
    """

    key: FleetKey
    wallbox: WallboxDetailOutput
    changes: Mapping[str, tuple[Any, Any]] = attrs.field(factory=dict, hash=False)
    initial: bool = False


@attrs.frozen
class WallboxFailed:
    """A poll of one wallbox failed; the others go on. ``removed``: a 404 took it out of the watch."""

    key: FleetKey
    error: PoderoError
    removed: bool = False


FleetEvent = WallboxChanged | WallboxFailed


@attrs.frozen
class FleetStats:
    """How the watch keeps up.

    ``achieved_interval``: seconds between two regular polls of a wallbox, averaged over about
    the last round (None before any); above ``interval`` when the budget is short.
    ``slowest_age``: the age of the stalest data held: seconds since the last good answer for
    the wallbox that has waited longest for one (or since it was added); failed polls do not
    make it younger, so a fleet cut off from Podero shows it.
    ``waiting``: wallboxes due and not yet polled; ``in_flight``: polls under way.
    ``owned``: the wallboxes this watch polls (``size`` unless shared); ``replicas``: the
    live members of a shared fleet (1 alone); ``stream_held``: changes not yet written to
    the stream (Redis slow or away); ``stream_dropped``: changes dropped from a full buffer;
    ``redis_round_trips``: the shared fleet's round trips to Redis so far (its budget's apart).
    ``budget_unavailable``: polls put off because the shared budget (``RedisRateLimit``) could
    not be asked; nothing was sent, so they are neither ``polls`` nor ``failures``.
    """

    size: int
    interval: float
    achieved_interval: float | None
    slowest_age: float
    waiting: int
    in_flight: int
    polls: int
    failures: int
    changes: int
    owned: int = 0
    replicas: int = 1
    stream_held: int = 0
    stream_dropped: int = 0
    redis_round_trips: int = 0
    budget_unavailable: int = 0


class _Entry(TypedDict):
    """One watched wallbox: the last one seen and its schedule, as a plain dict the garbage collector never tracks.

    An instance of a class (``__slots__`` or not) is always tracked: at 100,000 wallboxes, 100,000 more
    objects for each full collection to walk (about 30 ms more, a stall of the loop). CPython never
    tracks an exact dict holding only untracked values (str, bytes, int, float, bool, None, datetime),
    and a TypedDict is one, its keys checked by mypy. Nothing tracked goes in: no tuple (the stamps are
    two fields) and no shared fleet's baseline (``FleetWatch._baselines``). Ten keys fill a dict's
    smallest table that holds them; an eleventh would double it (280 to 470 B a record).

    The last wallbox is held as its JSON body, compressed (about 1.3 KB for a 2.9 KB body), and
    its model built again when a change is compared or ``FleetWatch.wallbox`` asks: a held
    model costs about 4 KB and 15 objects the garbage collector walks again and again.
    """

    key: str
    body: bytes | None  # zlib-compressed JSON of the last wallbox seen
    state_at: datetime | None  # its _stamps(), the datetimes only
    updated_at: datetime | None
    due: float  # the schedule's own time, before jitter
    polled_at: float  # when the last poll's answer came (or when added)
    good_at: float  # when the last wallbox came (or when added): the age of what is held
    fast: int  # fast polls left
    removed: bool
    queued: int  # the number of its live heap item (those of earlier schedules are skipped)


def _new_entry(key: str, now: float) -> _Entry:
    """A wallbox just added at ``now``: never polled, due at once until its caller schedules it."""
    return {
        "key": key,
        "body": None,
        "state_at": None,
        "updated_at": None,
        "due": now,
        "polled_at": now,
        "good_at": now,
        "fast": 0,
        "removed": False,
        "queued": -1,
    }


def as_key(key: object) -> str:
    """A caller's (org_id, user_id, wallbox_id) triple as the watch holds it, ``"org_id:user_id:wallbox_id"``;
    or InvalidArgumentError.

    A str is one object the garbage collector never tracks, where a tuple of UUIDs is four it
    walks at each full collection: at 100,000 wallboxes, tens of µs per poll.
    """
    if not isinstance(key, tuple | list) or len(key) != 3:
        raise InvalidArgumentError(f"a key must be an (org_id, user_id, wallbox_id) triple, got {key!r}")
    org_id, user_id, wallbox_id = key
    if isinstance(org_id, str) and isinstance(user_id, str) and isinstance(wallbox_id, str):
        text = f"{org_id}:{user_id}:{wallbox_id}"
        if KEY_TEXT.fullmatch(text):  # a keys file's: one match, not three
            return text
    return f"{_id_text('org_id', org_id)}:{_id_text('user_id', user_id)}:{_id_text('wallbox_id', wallbox_id)}"


def _id_text(name: str, value: Any) -> str:
    """One id of a key as str(uuid.UUID) writes it; text already so, or a UUID, is not parsed."""
    if isinstance(value, str) and ID_TEXT.fullmatch(value):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(as_uuid(name, value))  # any case, or InvalidArgumentError naming the id


def key_tuple(key: str) -> FleetKey:
    """The UUIDs of a key the watch holds, as events and ``keys()`` give them (a poll's request takes its text)."""
    org_id, user_id, wallbox_id = key.split(":")
    return uuid.UUID(org_id), uuid.UUID(user_id), uuid.UUID(wallbox_id)


def _unpack(body: bytes) -> WallboxDetailOutput:
    """The model of a held body (it parsed once already, so it parses again)."""
    return WallboxDetailOutput.from_dict(json.loads(zlib.decompress(body)))


def _stamps(wallbox: WallboxDetailOutput) -> tuple[datetime | None, datetime | None] | None:
    """Podero's test of a new state, None without one; a stamp absent (UNSET, a tracked object) is None."""
    state_at: object = wallbox.current_state_last_updated_at
    updated_at: object = wallbox.updated_at
    if not isinstance(state_at, datetime) and not isinstance(updated_at, datetime):
        return None
    return (
        state_at if isinstance(state_at, datetime) else None,
        updated_at if isinstance(updated_at, datetime) else None,
    )


_FIELDS: dict[type, tuple[str, ...]] = {}


def changes(old: WallboxDetailOutput, new: WallboxDetailOutput) -> dict[str, tuple[Any, Any]]:
    """Each field (by its Python name, unknown ones by their JSON name) that differs, as (old, new)."""
    names = _FIELDS.get(type(new))
    if names is None:
        names = _FIELDS[type(new)] = tuple(
            field.name for field in attrs.fields(type(new)) if field.name != "_additional_properties"
        )
    found = {name: (getattr(old, name), value) for name in names if (value := getattr(new, name)) != getattr(old, name)}
    extra_old, extra_new = _extra(old), _extra(new)
    for name in extra_old.keys() | extra_new.keys():
        if extra_old.get(name) != extra_new.get(name):
            found[name] = (extra_old.get(name), extra_new.get(name))
    return found


def _extra(wallbox: WallboxDetailOutput) -> dict[str, Any]:
    """The fields the SDK was not generated for.

    Not ``additional_properties``: reading it creates an empty dict that every held wallbox then keeps.
    """
    extra: dict[str, Any] | None = getattr(wallbox, "_additional_properties", None)
    return extra or {}


_STAMP_FIELDS = ("current_state_last_updated_at", "updated_at")


def _credentials_refused(error: PoderoError) -> bool:
    """The token endpoint refused the client's credentials: the one error that ends a watch.

    A 401 or 403 to a wallbox's own request (it carried a Bearer token) concerns that key: a
    403 may be about one customer, and a 401 may follow a token revoked meanwhile. A token
    request never carries a Bearer token.
    """
    if not isinstance(error, AuthenticationError):
        return False
    authorization = error.response.request.headers.get("authorization", "")
    return not authorization.startswith("Bearer ")


def _coalesce(pending: FleetEvent, new: FleetEvent) -> FleetEvent | None:
    """What a reader gets for a wallbox whose ``pending`` event it has not read when ``new`` comes.

    Two changes are one, from the first's old values to the second's new ones (None when they
    cancel out); a change outlives a failed poll, unless a 404 removed the wallbox; else the newer.
    """
    if isinstance(new, WallboxChanged) and isinstance(pending, WallboxChanged):
        merged = dict(pending.changes)
        for name, (old, value) in new.changes.items():
            merged[name] = (merged[name][0] if name in merged else old, value)
        kept = {name: (old, value) for name, (old, value) in merged.items() if old != value}
        if not kept and not pending.initial:
            return None
        return WallboxChanged(new.key, new.wallbox, {} if pending.initial else kept, initial=pending.initial)
    if isinstance(new, WallboxFailed) and isinstance(pending, WallboxChanged) and not new.removed:
        return pending
    return new


def _boost_requested(wallbox: WallboxDetailOutput) -> bool:
    """A boost asked for and not yet running (``boost_state``, where the spec has it)."""
    state = getattr(wallbox, "boost_state", None)
    if state is None:
        state = _extra(wallbox).get("boost_state")
    return str(getattr(state, "value", state)) == "requested"


class FleetWatch:
    """Many wallboxes polled on one schedule; ``async with podero.watch_wallboxes(keys) as fleet``.

    Iterate it for ``WallboxChanged`` and ``WallboxFailed`` events; ``add`` and ``remove``
    keys while it runs; ``stats`` tells how it keeps up; ``wallbox(key)`` is the last one seen.
    Build it with ``PoderoClient.watch_wallboxes``.
    """

    def __init__(
        self,
        get_wallbox_response: GetWallboxResponse,
        keys: Iterable[object],
        *,
        interval: float,
        fast_interval: float,
        concurrency: int,
        include_deleted: bool,
        registry: Fleets | None = None,
        shared: RedisFleet | None = None,
    ) -> None:
        check_seconds("interval", interval)
        check_seconds("fast_interval", fast_interval)
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise InvalidArgumentError(f"concurrency must be an int >= 1, got {concurrency!r}")
        if isinstance(keys, str | bytes) or not isinstance(keys, Iterable):
            raise InvalidArgumentError(
                f"keys must be an iterable of (org_id, user_id, wallbox_id) triples, got {keys!r:.80}"
            )
        if shared is not None and not isinstance(shared, RedisFleet):
            raise InvalidArgumentError(f"shared must be a RedisFleet or None, got {type(shared).__name__}")
        self._get_wallbox_response = get_wallbox_response
        self._shared = SharedFleet(shared) if shared is not None else None
        self._coordinator: asyncio.Task[None] | None = None
        self.interval = float(interval)
        self.fast_interval = min(float(fast_interval), self.interval)
        self.concurrency = concurrency
        self.include_deleted = include_deleted
        self._registry = registry
        # The keys until the watch starts, in order (a dict: add() stays O(1)), each checked before any
        # I/O: the first START_SLICE here, the rest (_unchecked) when it is entered (_check_given).
        # Each value None (never seen), as a shared fleet's start gives the keys it has not seen.
        self._initial: dict[str, dict[str, Any] | None] = {}
        self._unchecked = list(keys)
        self._check_given(START_SLICE)
        self._entries: dict[str, _Entry] = {}
        # Shared fleets: the last state Redis held when this replica took a wallbox, until its first poll
        # here (none: never seen). Kept apart: a dict of JSON state in a record would make it tracked.
        self._baselines: dict[str, dict[str, Any]] = {}
        # (due, number, key): floats, ints and a str, which the garbage collector stops tracking;
        # an item whose number is not its entry's ``queued`` is stale (removed, or scheduled again).
        self._heap: list[tuple[float, int, str]] = []
        self._order = itertools.count()
        self._random = random.Random()  # noqa: S311  # spreads polls, not secrets
        # One pending event per wallbox, oldest first: a slow reader (or none) never stops the polls.
        self._pending: collections.OrderedDict[str, FleetEvent] = collections.OrderedDict()
        self._event_ready = asyncio.Event()
        self._take_lock = asyncio.Lock()
        self._wakeup: asyncio.Future[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._entering = False
        self._started = False
        self._ended = False
        # Entering: the keys not scheduled yet (a slice at a time); ``remove`` takes them out too.
        self._starting: dict[str, dict[str, Any] | None] = {}
        self._error: BaseException | None = None
        self._in_flight = 0
        self._polls = self._failures = self._changes = 0
        self._budget_unavailable = 0
        self._budget_away = False  # the budget could not be asked at the latest try: one warning per outage
        self._achieved: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._snapshot: FleetStats | None = None  # for readers on other threads

    def __repr__(self) -> str:
        shared = f", shared={self._shared.config!r}" if self._shared is not None else ""
        return f"FleetWatch(size={len(self)}, interval={self.interval:g}, fast_interval={self.fast_interval:g}{shared})"

    def __len__(self) -> int:
        return len(self._all_keys())

    def _all_keys(self) -> Mapping[str, object] | set[str]:
        """The fleet's keys: those given until it starts; then the shared set, or those polled here."""
        if not self._started:
            return self._given_keys()
        if self._shared is not None:
            return self._shared.keys
        return self._entries.keys() | self._starting.keys() if self._starting else self._entries

    def _check_given(self, count: int) -> None:
        """Check the next ``count`` keys given into the key list: about 3 µs each, so a slice at a time.

        A slice goes in whole or not at all: after an InvalidArgumentError, the malformed key is still next.
        """
        self._initial.update(dict.fromkeys(as_key(key) for key in self._unchecked[:count]))
        del self._unchecked[:count]

    def _given_keys(self) -> dict[str, dict[str, Any] | None]:
        """The key list before the watch starts, every key given checked: asked for, it is all of them."""
        self._check_given(len(self._unchecked))
        return self._initial

    def __contains__(self, key: object) -> bool:
        try:
            checked = as_key(key)
        except InvalidArgumentError:
            return False
        return checked in self._all_keys()

    def keys(self) -> list[FleetKey]:
        return [key_tuple(key) for key in self._all_keys()]

    def wallbox(self, key: object) -> WallboxDetailOutput | None:
        """The wallbox of ``key``'s last change (or first poll); None before it, or when not watched here."""
        entry = self._entries.get(as_key(key))
        return _unpack(body) if entry is not None and (body := entry["body"]) is not None else None

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> Self:
        if self._entering:
            raise RuntimeError("a FleetWatch runs once; call watch_wallboxes again for another")
        self._entering = True
        while self._unchecked:  # 100,000 keys take 0.3-0.5 s to check: the loop's other work goes on between slices
            await asyncio.sleep(0)
            self._check_given(START_SLICE)
        if self._registry is not None:
            self._registry.started(self)  # ClientClosedError on a closed client
        loop = asyncio.get_running_loop()
        owned: dict[str, dict[str, Any] | None] = self._initial
        if self._shared is not None:
            try:
                owned = await self._shared.start(self._initial)  # FleetBackendError: Redis unreachable
            except BaseException:
                if self._registry is not None:
                    self._registry.ended(self)
                await self._shared.aclose()
                raise
        self._started = True
        self._loop = loop
        self._initial, self._starting = {}, owned
        total, start = len(owned), loop.time()
        try:
            for first in range(0, total, START_SLICE):
                if first:
                    await asyncio.sleep(0)  # a large fleet's start-up lets the loop's other work through
                    if self._ended:  # the client closed meanwhile
                        raise closed_error()
                part = dict(itertools.islice(self._starting.items(), START_SLICE))
                for key in part:
                    del self._starting[key]
                self._take_over(part, self.interval, start=start, first=first, total=total)
        except BaseException:  # cancelled meanwhile: leave the registry (and a shared fleet) as if never entered
            await self.aclose()
            raise
        self._snapshot = self.stats
        self._tasks = [loop.create_task(self._worker(), name="podero-fleet-worker") for _ in range(self.concurrency)]
        if self._shared is not None:
            self._coordinator = loop.create_task(self._coordinate(self._shared), name="podero-fleet-coordinator")
        return self

    def _take_over(
        self,
        keys: Mapping[str, dict[str, Any] | None],
        window: float,
        *,
        start: float | None = None,
        first: int = 0,
        total: int | None = None,
    ) -> None:
        """Watch ``keys`` here, their first polls spread evenly over ``window`` s, each jittered in its slot.

        A key's value is the last state the shared fleet holds (compared with its first poll), or None.
        ``keys`` may be a slice of ``total`` keys taken over at ``start``, beginning with the ``first``-th.
        """
        now = start if start is not None else asyncio.get_running_loop().time()
        count = total if total is not None else len(keys)
        for number, (key, baseline) in enumerate(keys.items(), first):
            if key in self._entries:
                continue
            entry = self._entries[key] = _new_entry(key, now)
            if baseline is not None:
                self._baselines[key] = baseline
            entry["due"] = now + (number + self._random.random()) * window / count
            self._push(entry, entry["due"])

    async def _coordinate(self, shared: SharedFleet) -> None:
        """Renew this replica's membership every ``lease / 3``; take and hand over wallboxes as owners change."""
        # A wallbox taken from a replica that died was last polled before its lease ran out: its
        # first poll here comes within an interval of that, renewal delay included.
        window = max(0.0, self.interval - shared.renew_every)
        while not self._ended:
            await asyncio.sleep(shared.renew_every * self._random.uniform(0.9, 1.1))
            try:
                handover = await shared.renew()
            except Exception as exc:
                if not shared.failed(exc, "renewing its membership"):
                    self._finish(exc)
                    return
                continue
            for key in handover.lost:
                self._baselines.pop(key, None)
                entry = self._entries.pop(key, None)
                if entry is not None:
                    entry["removed"] = True
            self._take_over(handover.taken, window)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop polling: cancel the polls in flight and wait for them. Iteration then ends.

        A shared watch writes the changes it holds and leaves the fleet: the others take its
        wallboxes at their next renewal.
        """
        self._finish(None)
        tasks, self._tasks = self._tasks, []
        if self._coordinator is not None:
            tasks.append(self._coordinator)
            self._coordinator = None
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._shared is not None and self._started:
            await self._shared.aclose()
        if self._registry is not None:
            self._registry.ended(self)

    def _finish(self, error: BaseException | None) -> None:
        if not self._ended:
            self._ended = True
            self._error = error
        self._event_ready.set()
        self._wake()

    # ------------------------------------------------------------------ keys
    def add(self, key: object) -> None:
        """Watch one more wallbox; its first poll comes within one interval (spread, jittered).

        A key already watched is left as it is. InvalidArgumentError for a malformed key.
        """
        checked = as_key(key)
        if not self._started:
            self._given_keys()[checked] = None
            return
        if self._shared is not None:
            self._shared.add(checked)  # its owner, maybe this replica, takes it at the next renewal
            return
        if checked in self._entries or self._ended:
            return
        now = asyncio.get_running_loop().time()
        entry = self._entries[checked] = _new_entry(checked, now)
        entry["due"] = now + self._random.random() * self.interval
        self._push(entry, entry["due"])

    def remove(self, key: object) -> bool:
        """Stop watching a wallbox (a poll in flight is discarded); False when it was not watched."""
        return self._remove(as_key(key))

    def _remove(self, checked: str) -> bool:
        """``remove`` of a key already checked (a 404's own, too)."""
        if not self._started:
            return self._given_keys().pop(checked, False) is None
        watched = checked in self._all_keys()
        self._starting.pop(checked, None)  # not scheduled yet: it never will be
        if self._shared is not None:
            self._shared.remove(checked)
        self._baselines.pop(checked, None)
        entry = self._entries.pop(checked, None)
        if entry is None:
            return watched
        entry["removed"] = True  # a poll in flight is discarded; its heap item is skipped when it comes up
        self._pending.pop(checked, None)
        return True

    # ------------------------------------------------------------------ iteration
    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> FleetEvent:
        if not self._started:
            raise RuntimeError("iterate a FleetWatch inside `async with podero.watch_wallboxes(...) as fleet`")
        while not self._pending:
            if self._ended:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            self._event_ready.clear()
            await self._event_ready.wait()
        return self._pending.popitem(last=False)[1]

    def _emit(self, key: str, event: FleetEvent) -> None:
        """Queue ``event`` of ``key``; one not yet read for the same wallbox is merged with it (``_coalesce``)."""
        pending = self._pending.get(key)
        merged = event if pending is None else _coalesce(pending, event)
        if merged is None:
            del self._pending[key]
        else:
            self._pending[key] = merged  # a merged event keeps the older one's place
        self._event_ready.set()

    # ------------------------------------------------------------------ stats
    @property
    def stats(self) -> FleetStats:
        """A snapshot; it looks at every wallbox, so read it now and then, not per event."""
        now = asyncio.get_running_loop().time() if self._started else 0.0
        entries = self._entries.values()
        oldest = min((entry["good_at"] for entry in entries), default=now)
        waiting = sum(1 for item in self._heap if item[0] <= now and self._queued(item) is not None)
        return FleetStats(
            size=len(self),
            interval=self.interval,
            achieved_interval=self._achieved,
            slowest_age=max(0.0, now - oldest),
            waiting=waiting,
            in_flight=self._in_flight,
            polls=self._polls,
            failures=self._failures,
            changes=self._changes,
            owned=len(self._entries),
            replicas=max(1, shared.replicas) if (shared := self._shared) is not None else 1,
            stream_held=shared.held() if shared is not None else 0,
            stream_dropped=shared.dropped if shared is not None else 0,
            redis_round_trips=shared.round_trips if shared is not None else 0,
            budget_unavailable=self._budget_unavailable,
        )

    def latest_stats(self) -> FleetStats | None:
        """``stats`` from any thread, without waiting: on the watch's loop, fresh; elsewhere, the snapshot
        the loop took when last asked (at most one reading old), and a new one is asked for.

        None once the watch has ended. A metric reader's thread must never wait for the loop: the
        loop may be the one blocked in ``MeterProvider.shutdown()``.
        """
        loop = self._loop
        if loop is None or self._ended:
            return None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._snapshot = self.stats
        else:
            with contextlib.suppress(RuntimeError):  # a loop closed meanwhile: the snapshot stays
                loop.call_soon_threadsafe(self._take_snapshot)
        return self._snapshot

    def _take_snapshot(self) -> None:
        if not self._ended:
            self._snapshot = self.stats

    # ------------------------------------------------------------------ scheduling
    def _push(self, entry: _Entry, due: float) -> None:
        entry["queued"] = number = next(self._order)
        heapq.heappush(self._heap, (due, number, entry["key"]))
        if self._heap[0][1] == number:
            self._wake()  # a worker may be sleeping until a later due time

    def _queued(self, item: tuple[float, int, str]) -> _Entry | None:
        """The wallbox a heap item schedules; None when the item is stale."""
        entry = self._entries.get(item[2])
        return entry if entry is not None and entry["queued"] == item[1] else None

    def _first(self) -> tuple[float, _Entry] | None:
        """The heap's first live item as (due, entry), the stale ones before it dropped."""
        heap = self._heap
        while heap:
            if (entry := self._queued(heap[0])) is not None:
                return heap[0][0], entry
            heapq.heappop(heap)
        return None

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def _take(self) -> _Entry | None:
        """The most overdue wallbox, once due; one worker at a time waits on the clock."""
        async with self._take_lock:
            loop = asyncio.get_running_loop()
            while not self._ended:
                first = self._first()
                if first is not None and first[0] <= loop.time():
                    heapq.heappop(self._heap)
                    return first[1]
                self._wakeup = loop.create_future()
                timer = loop.call_at(first[0], self._wake) if first is not None else None
                try:
                    await self._wakeup
                finally:
                    self._wakeup = None
                    if timer is not None:
                        timer.cancel()
            return None

    async def _worker(self) -> None:
        while (entry := await self._take()) is not None:
            self._in_flight += 1
            try:
                await self._poll(entry)
            except Exception as error:  # a bug, not a failed poll: the consumer hears of it
                self._finish(error)
                return
            finally:
                self._in_flight -= 1

    def _reschedule(self, entry: _Entry, keeping_up: bool, started: float) -> None:
        every = self.fast_interval if entry["fast"] else self.interval
        if keeping_up:  # on the schedule's own phase (no drift from latency), jittered
            entry["due"] = due = entry["due"] + every
            self._push(entry, due + self._random.uniform(-JITTER, JITTER) * every)
        else:  # behind: from this poll's start, unjittered, so that the order stays oldest first
            entry["due"] = due = started + every
            self._push(entry, due)

    async def _poll(self, entry: _Entry) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        key = entry["key"]
        regular = not entry["fast"] and entry["body"] is not None
        # Late by more than the jitter explains (or than a fast poll's gap) is behind: a busy loop is not.
        keeping_up = started - entry["due"] < max(self.fast_interval, 2 * JITTER * self.interval)
        try:
            # The key's ids as text, as the URL takes them: no UUID built per poll.
            org_id, user_id, wallbox_id = key.split(":")
            response = await self._get_wallbox_response(
                org_id, user_id, wallbox_id, include_deleted=self.include_deleted
            )
        except ClientClosedError:
            self._finish(None)
            return
        except RateLimitBackendError as error:  # nothing was sent: Podero did not fail it (issue 23, section 5)
            self._put_off(entry, error)
            return
        except PoderoError as error:
            if _credentials_refused(error):  # no call of this client can succeed any more
                self._finish(error)
                return
            if entry["removed"]:
                return
            self._polls += 1
            self._failures += 1
            entry["polled_at"] = loop.time()
            gone = isinstance(error, NotFoundError)
            if gone:
                self._remove(key)
            else:
                self._reschedule(entry, keeping_up, started)
            self._emit(key, WallboxFailed(key_tuple(key), error, removed=gone))
            return
        if entry["removed"]:
            return
        wallbox = response.parsed
        self._polls += 1
        self._budget_away = False
        done = loop.time()
        if regular:
            gap = done - entry["polled_at"]
            weight = 2 / (min(len(self._entries), 2000) + 1)
            self._achieved = gap if self._achieved is None else self._achieved + weight * (gap - self._achieved)
        entry["polled_at"] = entry["good_at"] = done
        event: WallboxChanged | None = None
        stamps = _stamps(wallbox)
        body = entry["body"]
        # Else the state did not move (Podero's own test): the wallbox held stays, and the new
        # copy dies young, which spares the garbage collector and the heap's fragmentation.
        if body is None or stamps is None or stamps != (entry["state_at"], entry["updated_at"]):
            previous = None if body is None else _unpack(body)
            entry["body"] = zlib.compress(response.content, 1)
            entry["state_at"], entry["updated_at"] = stamps or (None, None)
            if self._shared is not None:
                event = self._shared_change(self._shared, key, wallbox, previous)
            elif previous is None:
                event = WallboxChanged(key_tuple(key), wallbox, {}, initial=True)
            elif found := changes(previous, wallbox):
                event = WallboxChanged(key_tuple(key), wallbox, found)
        # Following a change fast only pays while the watch keeps up: behind (a short budget),
        # those polls would come as late as the rest and take slots from the stalest wallboxes.
        if _boost_requested(wallbox) or (event is not None and not event.initial and keeping_up):
            entry["fast"] = FAST_POLLS
        elif entry["fast"]:
            entry["fast"] -= 1
        self._reschedule(entry, keeping_up, started)
        if event is not None:
            self._changes += not event.initial
            self._emit(key, event)

    def _put_off(self, entry: _Entry, error: RateLimitBackendError) -> None:
        """The shared budget could not be asked (its Redis away): the wallbox waits a short, jittered pause.

        Its data ages meanwhile (``slowest_age`` shows the outage); a ``WallboxFailed`` per poll would
        be thousands of failures per interval for requests never sent.
        """
        if entry["removed"]:
            return
        self._budget_unavailable += 1
        if not self._budget_away:
            self._budget_away = True
            logger.warning("fleet watch: the request budget could not be asked (%s); polls wait for it", error)
        pause = min(BUDGET_RETRY, self.interval) * self._random.uniform(1 - JITTER, 1 + JITTER)
        self._push(entry, asyncio.get_running_loop().time() + pause)

    def _shared_change(
        self, shared: SharedFleet, key: str, wallbox: WallboxDetailOutput, previous: WallboxDetailOutput | None
    ) -> WallboxChanged | None:
        """A shared fleet's event for this poll, written to Redis (the stream and the last state) when there is one.

        ``previous``: what this replica last held; else the last state the fleet held (a wallbox
        taken over, or a restart), compared with this poll: a change only if it moved meanwhile.
        """
        after = shared.state_of(wallbox.to_dict())
        if previous is not None:
            before: dict[str, Any] | None = shared.state_of(previous.to_dict())
        else:
            before = self._baselines.pop(key, None)
        if before is None:
            shared.publish(key, after, {}, initial=True)
            return WallboxChanged(key_tuple(key), wallbox, {}, initial=True)
        stamps = [before.get(name) for name in _STAMP_FIELDS]
        if previous is None and any(stamps) and stamps == [after.get(name) for name in _STAMP_FIELDS]:
            return None  # Podero's own test: the state did not move while nobody watched it here
        moved = {
            name: [before.get(name), after.get(name)]
            for name in before.keys() | after.keys()
            if before.get(name) != after.get(name)
        }
        if moved:  # else only what stays out of Redis moved (the owner's data, a link)
            shared.publish(key, after, moved, initial=False)
        if previous is not None:
            found = changes(previous, wallbox)
        elif not moved:
            return None
        else:
            try:  # both as models, blanked alike: changes name fields as every other event does
                found = changes(WallboxDetailOutput.from_dict(before), WallboxDetailOutput.from_dict(after))
            except Exception:  # a state written under another spec: as JSON instead
                found = {name: (old, new) for name, (old, new) in moved.items()}
        return WallboxChanged(key_tuple(key), wallbox, found) if found else None


class Fleets:
    """The fleet watches of one client (and its views): built, closed with it, read by telemetry.

    ``stats()`` may be called from any thread (a metric reader's): it never waits for the loop.
    """

    def __init__(self, lifecycle: Lifecycle) -> None:
        self._watches: weakref.WeakSet[FleetWatch] = weakref.WeakSet()
        self._lifecycle = lifecycle

    def watch(self, get_wallbox_response: GetWallboxResponse, keys: Iterable[object], **options: Any) -> FleetWatch:
        """A FleetWatch polling through ``get_wallbox_response``; ``options`` are ``PoderoClient.watch_wallboxes``'."""
        return FleetWatch(get_wallbox_response, keys, registry=self, **options)

    def stats(self) -> list[FleetStats]:
        """The stats of each running watch, at once from any thread (see ``FleetWatch.latest_stats``)."""
        try:
            watches = list(self._watches)
        except RuntimeError:  # the set changed under another thread's copy: nothing this time
            return []
        return [stats for watch in watches if (stats := watch.latest_stats()) is not None]

    def started(self, watch: FleetWatch) -> None:
        self._lifecycle.check()
        self._watches.add(watch)

    def ended(self, watch: FleetWatch) -> None:
        self._watches.discard(watch)

    async def aclose(self) -> None:
        """Called by the client's ``aclose`` (its lifecycle closed) before the pool closes: no poll outlives it."""
        watches = list(self._watches)
        await asyncio.gather(*(watch.aclose() for watch in watches), return_exceptions=True)
