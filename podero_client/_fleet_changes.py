"""The reader of a fleet's change stream: a Redis Streams consumer group, at-least-once.

The fleet's replicas write one entry per change to the stream ``fleet_key(name, "changes")``
(docs/change-stream.md gives its format for a service in any language). ``FleetChanges``
reads it as one consumer of a consumer group:

- A new group starts at the oldest entry the stream still holds (or, with
  ``start="latest"``, at the next one), as a new service expects a replay.
- A restarted consumer first gets its own pending entries (read, never acknowledged),
  then new ones: it resumes after the last entry it acknowledged.
- A live reader keeps its unacknowledged entries fresh: every ``claim_after / 3`` seconds
  one script resets their idle time (``XCLAIM ... JUSTID`` to itself, only for entries it
  still owns). So an entry idle for ``claim_after`` belongs to a reader that stopped, and
  ``XAUTOCLAIM`` with that min-idle-time takes it over: a dead reader's work moves, a slow
  handler's never does, however long it takes (a min-idle-time alone must guess the
  slowest handler; too short, and it steals from live readers).
- Consumers that stopped with nothing pending leave the group (after 10 x ``claim_after``
  without a read), so the list does not grow with every deploy's new pod names.
- Redis gone while reading: the reader retries with a jittered backoff, logs one warning
  per outage and one line when it is back, and recreates its group if Redis lost it.
- Every round trip runs in a task of its own, bounded by ``timeout`` (``_redis.bounded``):
  redis-py can swallow a cancellation during a blocking read, and a cancelled reader must stop.
- Once a round trip has failed, ``ack()`` queues and returns at once; the acknowledgements
  go with the next read, or the next ``ack()`` after a round trip succeeded.
- After ``aclose()`` the iteration ends: nothing is read any more.

redis-py is imported only when a ``FleetChanges`` is built (the ``redis`` extra).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import attrs

from ._errors import ChangeStreamError, InvalidArgumentError
from ._generated.models import WallboxDetailOutput
from ._generated.types import parse_datetime, parse_uuid
from ._redis import bounded, check_fleet_name, check_redis_url, connect, fleet_key, redis_failure, where
from ._settings import check_seconds

logger = logging.getLogger("podero_client")
T = TypeVar("T")

BATCH = 100  # entries per read or claim: XAUTOCLAIM's own default
MAX_BLOCK = 2.0  # seconds one XREADGROUP waits for new entries, at most
BACKOFF_CAP = 2.0  # seconds between two tries while Redis is gone, at most
FORGET_AFTER = 10  # a consumer with nothing pending and no read for this many claim_after is removed
MAX_CLAIM_AFTER = 86400.0  # a day: longer, and a dead reader's entries wait past any sensible retention

# KEYS[1]: the stream. ARGV: group, consumer, then entry ids. Resets the idle time of each
# entry that this consumer still owns (one another reader took over stays with it).
_TOUCH = """
local touched = 0
for i = 3, #ARGV do
  local entry = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if entry[1] and entry[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    touched = touched + 1
  end
end
return touched
"""

# KEYS[1]: the stream. ARGV: group, idle ms. Removes the consumers that hold no pending entry
# and have not read for that long; a live reader reads every few seconds.
_FORGET = """
local removed = 0
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #consumer, 2 do info[consumer[i]] = consumer[i + 1] end
  if info['pending'] == 0 and info['idle'] > tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    removed = removed + 1
  end
end
return removed
"""


@attrs.frozen
class FleetChange:
    """One change of one wallbox, as a replica of the fleet wrote it to the stream.

    ``id`` is the same for every entry that describes the same state of the wallbox (its id,
    ``stamp`` and ``updated_at``): a duplicate after a takeover or a redelivery has the id of
    the first. ``entry_id`` is the stream's own id, which ``ack()`` acknowledges.
    ``wallbox`` is the parsed model (written without personal data, its owner's email, names and
    external id and its link URLs are ``""``), or None when the stored JSON does not fit the schema;
    ``wallbox_data`` is that JSON as written, always.
    ``changes`` maps each field that moved to ``(old, new)``, as JSON values.
    """

    id: str
    entry_id: str
    key: tuple[uuid.UUID, uuid.UUID, uuid.UUID]
    stamp: datetime | None
    initial: bool
    changes: Mapping[str, tuple[Any, Any]] = attrs.field(hash=False)
    wallbox: WallboxDetailOutput | None = attrs.field(hash=False, repr=False)
    wallbox_data: Mapping[str, Any] = attrs.field(hash=False, repr=False)


@attrs.frozen
class FleetChangesStats:
    """Where a reader stands.

    From Redis, for the whole group: ``pending`` (delivered, not yet acknowledged) and
    ``behind`` (in the stream, not yet delivered to the group; None when Redis cannot tell,
    after a trim or a deletion). ``mine``: the pending entries of this consumer. Counted by
    this reader since it opened: ``delivered``, ``acked``, ``claimed`` (taken over from a
    stopped reader), ``malformed`` (skipped), ``trimmed`` (pending entries the stream no
    longer held).
    """

    pending: int
    behind: int | None
    mine: int
    delivered: int
    acked: int
    claimed: int
    malformed: int
    trimmed: int


class _Malformed(Exception):  # a reason, never shown to the caller
    """An entry that is not in the stream's format; the message says why, without its content."""


def _text(fields: Mapping[Any, Any], name: str) -> str:
    value = fields.get(name.encode(), fields.get(name))  # str keys and values: a URL with decode_responses
    if value is None:
        raise _Malformed(f"no {name} field")
    if isinstance(value, str):
        return value
    try:
        return bytes(value).decode()
    except UnicodeDecodeError:
        raise _Malformed(f"{name} is not UTF-8") from None


def _uuid(fields: Mapping[Any, Any], name: str) -> uuid.UUID:
    try:
        return parse_uuid(_text(fields, name))
    except ValueError:
        raise _Malformed(f"{name} is not a UUID") from None


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


def _json_object(fields: Mapping[Any, Any], name: str) -> dict[str, Any]:
    try:  # strict: NaN and Infinity, which Python's json reads, are not JSON
        value = json.loads(_text(fields, name), parse_constant=_not_json)
    except (ValueError, RecursionError):
        raise _Malformed(f"{name} is not JSON") from None
    if not isinstance(value, dict):
        raise _Malformed(f"{name} is not a JSON object")
    return value


def _change_id(wallbox_id: uuid.UUID, stamp: datetime | None, updated_at: object) -> str:
    """The wallbox and the two times Podero moves when it has something new: one state, one id.

    ``updated_at`` too, as a change of settings (not of state) moves only that one; times are
    written back in one form, so "Z" and "+00:00" from two writers give one id.
    """
    state = stamp.isoformat() if stamp is not None else ""
    try:
        updated = parse_datetime(updated_at).isoformat() if isinstance(updated_at, str) else ""
    except ValueError:
        updated = updated_at if isinstance(updated_at, str) else ""
    return f"{wallbox_id}@{state}@{updated}" if updated and updated != state else f"{wallbox_id}@{state}"


def parse_entry(entry_id: str, fields: Mapping[Any, Any]) -> FleetChange:
    """A stream entry as a FleetChange; _Malformed saying what does not fit the format."""
    key = (_uuid(fields, "org_id"), _uuid(fields, "user_id"), _uuid(fields, "wallbox_id"))
    stamp_text = _text(fields, "stamp")
    try:
        # The models' own parser: the writer wrote the stamp with the model's to_dict().
        stamp = parse_datetime(stamp_text) if stamp_text else None
    except ValueError:
        raise _Malformed("stamp is not an ISO 8601 date-time") from None
    initial = _text(fields, "initial")
    if initial not in ("0", "1"):
        raise _Malformed("initial is not 0 or 1")
    changes: dict[str, tuple[Any, Any]] = {}
    for field, pair in _json_object(fields, "changes").items():
        if not isinstance(pair, list) or len(pair) != 2:
            raise _Malformed("changes is not an object of [old, new] pairs")
        changes[field] = (pair[0], pair[1])
    data = _json_object(fields, "wallbox")
    # Written without personal data, the wallbox has no owner: the model gets one with only its
    # id, which is the key's user (a wallbox's owner is the user it is listed under).
    parsed = data if "owner" in data else {**data, "owner": {"id": str(key[1])}}
    try:
        wallbox: WallboxDetailOutput | None = WallboxDetailOutput.from_dict(parsed)
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError):
        wallbox = None
    return FleetChange(
        id=_change_id(key[2], stamp, data.get("updated_at")),
        entry_id=entry_id,
        key=key,
        stamp=stamp,
        initial=initial == "1",
        changes=changes,
        wallbox=wallbox,
        wallbox_data=data,
    )


def _entries(answer: Any) -> list[tuple[Any, Any]]:
    """The entries of XREADGROUP's answer for the one stream read, in RESP2's or RESP3's shape."""
    if not answer:
        return []
    if isinstance(answer, dict):  # RESP3 (a URL with protocol=3): {key: [[entries]]}
        (entries,) = answer.values()
        return entries[0] if entries and isinstance(entries[0], list) else entries
    return answer[0][1]  # type: ignore[no-any-return]


def _id(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


class FleetChanges:
    """Read fleet ``name``'s change stream as ``consumer`` of ``group``.

    ``async with FleetChanges(url=..., name=..., group=..., consumer=...) as changes:``
    then ``async for change in changes: ...; await changes.ack(change)``. At-least-once: an
    entry not acknowledged is delivered again (to this consumer after a restart, or to
    another of the group once this one has stopped for ``claim_after`` seconds); drop
    duplicates by ``change.id``. Each consumer of a group needs its own, stable name (a pod
    or host name): the name is what resumes.

    ``start``: where a group that does not exist yet begins: ``"oldest"`` (the default: the
    oldest entry the stream still holds) or ``"latest"``. ``timeout`` bounds each round
    trip to Redis. While Redis is gone the reader retries; ``give_up_after`` (seconds, None
    for never) makes the ``async for`` raise ChangeStreamError instead. Bad settings are
    InvalidArgumentError here, before any I/O; the URL is never shown.
    """

    def __init__(
        self,
        *,
        url: str,
        name: str,
        group: str,
        consumer: str,
        start: Literal["oldest", "latest"] = "oldest",
        claim_after: float = 30.0,
        timeout: float = 5.0,
        give_up_after: float | None = None,
    ) -> None:
        self._url = check_redis_url("FleetChanges.url", url)
        self.name = check_fleet_name("FleetChanges.name", name)
        # A group's and a consumer's names have the rules of a fleet's: printable, short, not empty.
        self.group = check_fleet_name("FleetChanges.group", group)
        self.consumer = check_fleet_name("FleetChanges.consumer", consumer)
        if start not in ("oldest", "latest"):
            raise InvalidArgumentError(f'FleetChanges.start must be "oldest" or "latest", got {start!r}')
        self._start = "0" if start == "oldest" else "$"
        self._timeout = check_seconds("FleetChanges.timeout", timeout)
        # At least 3 x timeout: the entries held are kept fresh every claim_after / 3, which must
        # leave room for that round trip (near 0, XAUTOCLAIM would take live readers' entries).
        # At most a day: Redis refuses a min-idle-time far larger, and a dead reader's entries
        # would wait that long.
        self._claim_after = check_seconds(
            "FleetChanges.claim_after",
            claim_after,
            at_least=round(3 * self._timeout, 9),  # rounded: 3 * 0.2 is 0.6000000000000001, and 0.6 must pass
            at_most=MAX_CLAIM_AFTER,
        )
        self._give_up_after = (
            None if give_up_after is None else check_seconds("FleetChanges.give_up_after", give_up_after)
        )
        self._key = fleet_key(name, "changes")
        self._where = where(url)
        self._block = min(MAX_BLOCK, self._timeout / 2)  # a blocked read ends well inside the socket's timeout
        self._redis: Any = None
        self._touch_script: Any = None
        self._forget_script: Any = None
        self._touch_task: asyncio.Task[None] | None = None
        self._buffer: deque[tuple[str, Mapping[Any, Any]]] = deque()
        self._held: set[str] = set()  # read by this reader and not acknowledged: kept fresh
        self._acks: set[str] = set()  # acknowledged while Redis was gone: sent when it is back
        self._own_from: str | None = "0"  # where the next read of this consumer's own pending starts
        self._claim_from = "0-0"  # XAUTOCLAIM's cursor
        self._next_claim = 0.0
        self._next_forget = 0.0
        self._down_since: float | None = None
        self._unreachable = False  # the latest round trip failed: ack() only queues
        self._failures = 0  # tries since Redis went away
        self._closed = False
        self._counts = dict.fromkeys(("delivered", "acked", "claimed", "malformed", "trimmed"), 0)

    def __repr__(self) -> str:
        return f"FleetChanges(name={self.name!r}, group={self.group!r}, consumer={self.consumer!r})"

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> Self:
        return self

    async def open(self) -> None:
        """Connect and create the group if it is missing; ChangeStreamError if Redis cannot be asked."""
        if self._closed:
            raise ChangeStreamError("this FleetChanges is closed; create a new one")
        if self._redis is not None:
            return
        self._redis = connect(self._url, timeout=self._timeout, feature="FleetChanges")
        self._touch_script = self._redis.register_script(_TOUCH)
        self._forget_script = self._redis.register_script(_FORGET)
        try:
            await self._ask(self._create_group)
        except BaseException:
            await self.aclose()
            raise
        self._touch_task = asyncio.get_running_loop().create_task(self._keep_fresh())

    async def _ask(self, command: Callable[[], Awaitable[T]]) -> T:
        """One round trip, bounded; ChangeStreamError naming what failed; NOGROUP recreates the group."""
        for attempt in range(2):
            try:
                answer = await bounded(command(), self._timeout * 2 + self._block)  # connect, then a (blocked) read
                self._unreachable = False
                return answer
            except Exception as exc:
                if attempt == 0 and "NOGROUP" in str(exc):  # Redis lost the stream (a restart without persistence)
                    logger.warning(
                        "change stream of fleet %r: the group %r was gone; created again", self.name, self.group
                    )
                    await self._ask(self._create_group)
                    continue
                failure = redis_failure(exc)
                if failure is None:
                    raise
                self._unreachable = True
                raise ChangeStreamError(f"Redis at {self._where} {failure}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _create_group(self) -> None:
        try:
            await self._redis.xgroup_create(self._key, self.group, id=self._start, mkstream=True)
        except Exception as exc:
            if "BUSYGROUP" not in str(exc):  # the group exists: it keeps its position
                raise

    async def __anext__(self) -> FleetChange:
        """The next change; the iteration ends once the reader is closed, with no round trip to Redis.

        Entries read and not yet handed out stay pending, as after a crash.
        """
        if self._redis is None and not self._closed:
            await self.open()
        while True:
            if self._closed:  # like an async generator after aclose(): its entries could never be acknowledged
                raise StopAsyncIteration
            while self._buffer and not self._closed:
                entry_id, fields = self._buffer.popleft()
                try:
                    change = parse_entry(entry_id, fields)
                except _Malformed as reason:
                    self._counts["malformed"] += 1
                    logger.warning(
                        "change stream of fleet %r: entry %s is malformed (%s); acknowledged and skipped",
                        self.name,
                        entry_id,
                        reason,
                    )
                    await self._ack_ids([entry_id])
                    continue
                self._counts["delivered"] += 1
                return change
            await self._fill()

    async def _fill(self) -> None:
        """Fill the buffer: own pending first, then a dead reader's entries when due, then new ones."""
        while True:
            try:
                await self._read()
            except ChangeStreamError as error:
                if self._closed:
                    raise StopAsyncIteration from None
                await self._wait_for_redis(error)
                continue
            if self._down_since is not None:
                logger.warning(
                    "change stream of fleet %r: Redis at %s answers again after %.1f s",
                    self.name,
                    self._where,
                    time.monotonic() - self._down_since,
                )
                self._down_since = None
            return

    async def _wait_for_redis(self, error: ChangeStreamError) -> None:
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
            self._failures = 0
            logger.warning("change stream of fleet %r: %s; trying again", self.name, error)
        if self._give_up_after is not None and now - self._down_since >= self._give_up_after:
            raise ChangeStreamError(f"{error}, for {now - self._down_since:.1f} s") from error
        self._failures += 1
        # Jittered: readers that lost Redis together do not all come back at one instant.
        await asyncio.sleep(min(BACKOFF_CAP, 0.05 * 2**self._failures) * random.uniform(0.5, 1.0))  # noqa: S311

    async def _read(self) -> None:
        if self._acks:
            await self._ack_ids(list(self._acks))
        if self._own_from is not None:
            await self._read_own()
        if self._own_from is None and not self._buffer and time.monotonic() >= self._next_claim:
            await self._claim()
        if not self._buffer:
            answer = await self._ask(
                lambda: self._redis.xreadgroup(
                    self.group, self.consumer, {self._key: ">"}, count=BATCH, block=max(1, round(self._block * 1000))
                )
            )
            self._take(_entries(answer))

    async def _read_own(self) -> None:
        """This consumer's pending entries, oldest first: what it read before a restart and never acknowledged."""
        start = self._own_from
        answer = await self._ask(
            lambda: self._redis.xreadgroup(self.group, self.consumer, {self._key: start}, count=BATCH)
        )
        entries = _entries(answer)
        if not entries:
            self._own_from = None
            return
        self._own_from = _id(entries[-1][0])
        trimmed = [_id(entry_id) for entry_id, fields in entries if not fields]
        if trimmed:  # in the pending list, but the stream's cap took the entry itself
            self._trimmed(len(trimmed))
            await self._ack_ids(trimmed)
        self._take(entries)

    async def _claim(self) -> None:
        """Take over entries idle for ``claim_after``: their reader stopped keeping them fresh."""
        cursor, claimed, deleted = await self._ask(
            lambda: self._redis.xautoclaim(
                self._key,
                self.group,
                self.consumer,
                min_idle_time=round(self._claim_after * 1000),
                start_id=self._claim_from,
                count=BATCH,
            )
        )
        self._claim_from = _id(cursor)
        if self._claim_from == "0-0":  # a whole pass over the group's pending entries: the next one later
            self._next_claim = time.monotonic() + self._claim_after / 3
            await self._forget_stopped_readers()
        if deleted:  # XAUTOCLAIM already removed these from the pending list
            self._trimmed(len(deleted))
        if claimed:
            self._counts["claimed"] += len(claimed)
            logger.info(
                "change stream of fleet %r: %s took over %d entries of a stopped reader",
                self.name,
                self.consumer,
                len(claimed),
            )
            self._take(claimed)

    async def _forget_stopped_readers(self) -> None:
        """Remove the group's consumers that hold nothing and read nothing for ``FORGET_AFTER`` x ``claim_after``.

        Consumer names come and go with pods; without this the group's list of consumers grows
        at every deploy. One script checks and removes, so no entry read in between is lost.
        """
        if time.monotonic() < self._next_forget:
            return
        self._next_forget = time.monotonic() + self._claim_after * FORGET_AFTER
        idle_ms = round(self._claim_after * FORGET_AFTER * 1000)
        removed = await self._ask(lambda: self._forget_script(keys=[self._key], args=[self.group, idle_ms]))
        if removed:
            logger.info(
                "change stream of fleet %r: removed %d consumers of group %r that had stopped with nothing pending",
                self.name,
                removed,
                self.group,
            )

    def _trimmed(self, count: int) -> None:
        self._counts["trimmed"] += count
        logger.warning(
            "change stream of fleet %r: %d pending entries were trimmed from the stream before they were handled",
            self.name,
            count,
        )

    def _take(self, entries: list[tuple[Any, Any]]) -> None:
        for raw_id, fields in entries:
            if fields:  # an empty one was trimmed: counted where it was read
                entry_id = _id(raw_id)
                self._held.add(entry_id)
                self._buffer.append((entry_id, fields))

    async def ack(self, change: FleetChange) -> None:
        """Acknowledge ``change``: the group will not deliver it again.

        Redis known to be gone (a round trip failed since the last that succeeded): the
        acknowledgement is queued, sent when Redis is back, and this returns at once; if the
        process ends first, the entry is delivered again (at-least-once).
        """
        if self._closed:
            raise ChangeStreamError("this FleetChanges is closed: the change stays pending and is delivered again")
        if self._unreachable:  # each try would wait the whole timeout: the next read sends it
            self._acks.add(change.entry_id)
            return
        await self._ack_ids([change.entry_id, *self._acks])

    async def _ack_ids(self, entry_ids: list[str]) -> None:
        try:
            await self._ask(lambda: self._redis.xack(self._key, self.group, *entry_ids))
        except ChangeStreamError:
            self._acks.update(entry_ids)
            return
        self._acks.difference_update(entry_ids)
        self._held.difference_update(entry_ids)
        self._counts["acked"] += len(entry_ids)

    async def _keep_fresh(self) -> None:
        """Reset the idle time of the entries this reader holds, so no live reader loses them."""
        while True:
            await asyncio.sleep(self._claim_after / 3)
            held = sorted(self._held)
            try:
                for start in range(0, len(held), BATCH):
                    await self._touch(held[start : start + BATCH])
            except ChangeStreamError:
                pass  # the read loop tells of Redis being gone; the next round tries again

    async def _touch(self, entry_ids: list[str]) -> None:
        await self._ask(lambda: self._touch_script(keys=[self._key], args=[self.group, self.consumer, *entry_ids]))

    async def stats(self) -> FleetChangesStats:
        """The group's pending and lag from Redis, and this reader's counts; ChangeStreamError if Redis is gone."""
        if self._redis is None:
            await self.open()
        groups = await self._ask(lambda: self._redis.xinfo_groups(self._key))
        group: dict[str, Any] = next((info for info in groups if _id(info["name"]) == self.group), {})
        summary = await self._ask(lambda: self._redis.xpending(self._key, self.group))
        own = next((entry["pending"] for entry in summary["consumers"] if _id(entry["name"]) == self.consumer), 0)
        return FleetChangesStats(
            pending=int(group.get("pending", 0)),
            behind=None if group.get("lag") is None else int(group["lag"]),
            mine=int(own),
            **self._counts,
        )

    async def aclose(self) -> None:
        """Stop keeping entries fresh, send the acknowledgements Redis missed, close the connections.

        Entries read and not acknowledged stay pending: this consumer gets them again when it
        restarts, another takes them over after ``claim_after``.
        """
        if self._closed:
            return
        self._closed = True
        if self._touch_task is not None:
            self._touch_task.cancel()
            with contextlib.suppress(BaseException):
                await self._touch_task
        if self._redis is None:
            return
        if self._acks:
            with contextlib.suppress(ChangeStreamError):
                await self._ask(lambda: self._redis.xack(self._key, self.group, *self._acks))
        with contextlib.suppress(Exception):
            await self._redis.aclose()
