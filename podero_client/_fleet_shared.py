"""One fleet watch shared by replicas through Redis: membership, ownership, the last state, the stream.

Ownership is rendezvous (highest random weight) hashing over heartbeated members, not a lease
per wallbox. Each replica heartbeats into one sorted set (score: Redis's own clock) every
``lease / 3`` and reads it back in the same script; a wallbox belongs to the live member with
the highest hash of (member, wallbox). Every replica computes the same owners from the same
list, with no assigner; a member that leaves (or stops heartbeating for a ``lease``) hands
over only its own wallboxes, and one that joins takes about its share, as Grafana Alloy's
clustering does. Per-wallbox leases (RedBeat, Quartz) would cost 30,000 lease renewals per
lease period; a Kafka-style assigner stops everyone at each rebalance. What it costs: for
up to one renewal (``lease / 3``) after a join, the joiner and the old owner may both poll
a wallbox; a dead member's wallboxes wait up to ``lease + lease / 3`` for a new owner.

Redis round trips of a replica: one script per renewal (three per lease), the key set only
when its version moved, the last states of the wallboxes it takes over, and the changes:
at most one pipeline (stream entries, last states, key-set edits) every ``_FLUSH_GAP`` s,
however many polls. A Redis that is gone leaves ownership as it was: the replica keeps
polling what it owned, holds up to ``STREAM_BUFFER`` stream entries (the oldest dropped and
counted beyond), logs one warning, and when Redis is back renews first (dropping what another
member owns now), then writes what it holds. Changes go through a script that writes an entry
or a state only when its stamp is newer than the fleet's for that wallbox: a replica cut off
alone (the others took its wallboxes after a lease) polls twice what they poll, but never
writes a stale state or an entry out of order. A Redis that lost the fleet (restarted empty,
a failover, an eviction) gets back the keys each replica was given, never adopted as empty.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import itertools
import json
import logging
import re
import secrets
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from ._errors import FleetBackendError, InvalidArgumentError
from ._redis import bounded, check_fleet_name, check_redis_url, connect, fleet_key, redis_asyncio, redis_failure, where
from ._settings import ID_TEXT, check_seconds

logger = logging.getLogger("podero_client")

# A wallbox's key as the fleet holds it, here, in FleetWatch and in Redis: "org_id:user_id:wallbox_id",
# each a UUID as str(uuid.UUID) writes it. One str, which the garbage collector does not track,
# where a tuple of 3 UUIDs is 4 objects it walks at every full collection.
KEY_TEXT = re.compile(f"{ID_TEXT.pattern}:{ID_TEXT.pattern}:{ID_TEXT.pattern}")

STREAM_MAXLEN = 100_000  # entries the change stream keeps, about (XADD MAXLEN ~)
STREAM_BUFFER = 10_000  # stream entries a replica holds while Redis is away; older ones are dropped
_FLUSH_GAP = 0.2  # seconds between two writes of changes: round trips bounded, not one per change
_CHUNK = 2000  # keys per command in a pipeline: no single reply of megabytes
_YIELD_EVERY = 1000  # keys scored between two turns of the loop
_SCRIPT_CHUNK = 500  # changes per write script: a few MB of arguments at most, Redis blocked a few ms
_SETTLE = 3.0  # seconds a starting replica waits for the others of a deploy to join, at most
_FORGET_AFTER = 10  # leases after which a silent member leaves the sorted set
# The lease's range: below a second, Redis's round trips and the loop's own delays eat the lease
# (no member would ever look live); above a day, a dead replica's wallboxes wait a day, and
# PEXPIRE's milliseconds times _FORGET_AFTER overflow long before 1e15.
MIN_LEASE = 1.0
MAX_LEASE = 86_400.0

# KEYS[1]: the members (sorted set, score = last heartbeat, ms on Redis's clock); KEYS[2]: the
# key set's version. ARGV: the member, the lease in ms, "leave" to leave. Answers
# {now ms, the live members, the version (nil when Redis holds none), 1 if the member was there}.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
local known = redis.call('ZSCORE', KEYS[1], ARGV[1])
if ARGV[3] == 'leave' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], now, ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - lease * %d)
redis.call('PEXPIRE', KEYS[1], lease * %d)
local live = redis.call('ZRANGEBYSCORE', KEYS[1], now - lease, '+inf')
return {now, live, redis.call('GET', KEYS[2]), known and 1 or 0}
""" % (_FORGET_AFTER, _FORGET_AFTER)  # noqa: UP031  # Lua's own braces would clash with str.format


# The changes, written only when newer than what the fleet holds: a replica that was cut off
# (or lost a wallbox meanwhile) never writes an older state over a newer one, nor an entry out
# of order. KEYS: the stream, the stamps (hash: key -> stamp, microseconds), the last states.
# ARGV: MAXLEN, the number of entries, then per entry: the key, its stamp ('' when none: written
# as it comes), the 7 stream fields; then per state: the key, its stamp, the state.
_WRITE = """
local function newer(key, stamp, or_equal)
  if stamp == '' then return true end
  local held = redis.call('HGET', KEYS[2], key)
  if not held then return true end
  local new, old = tonumber(stamp), tonumber(held)
  return new > old or (or_equal and new == old)
end
local count = tonumber(ARGV[2])
local i = 3
for _ = 1, count do
  local key, stamp = ARGV[i], ARGV[i + 1]
  if newer(key, stamp, false) then
    if stamp ~= '' then redis.call('HSET', KEYS[2], key, stamp) end
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
      'org_id', ARGV[i + 2], 'user_id', ARGV[i + 3], 'wallbox_id', ARGV[i + 4], 'stamp', ARGV[i + 5],
      'initial', ARGV[i + 6], 'changes', ARGV[i + 7], 'wallbox', ARGV[i + 8])
  end
  i = i + 9
end
while i <= #ARGV do
  local key, stamp = ARGV[i], ARGV[i + 1]
  if newer(key, stamp, true) then
    if stamp ~= '' then redis.call('HSET', KEYS[2], key, stamp) end
    redis.call('HSET', KEYS[3], key, ARGV[i + 2])
  end
  i = i + 3
end
return 1
"""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _stamp_order(stamp: str) -> str:
    """An ISO 8601 stamp as microseconds since the epoch, compared as a number in Redis ('' if none)."""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return str((moment - _EPOCH) // timedelta(microseconds=1))


def _check_url(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    check_redis_url("RedisFleet.url", value)


def _check_name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    check_fleet_name("RedisFleet.name", value)


def _check_timeout(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    check_seconds("RedisFleet.timeout", value)


def _check_lease(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    check_seconds("RedisFleet.lease", value, at_least=MIN_LEASE, at_most=MAX_LEASE)  # 1 s to a day


def _check_bool(instance: object, attribute: attrs.Attribute[bool], value: bool) -> None:
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"RedisFleet.{attribute.name} must be True or False, got {type(value).__name__}")


@attrs.frozen(kw_only=True)
class RedisFleet:
    """A fleet watch shared by replicas: ``podero.watch_wallboxes(keys, shared=RedisFleet(url=..., name=...))``.

    Every watch, in any process, that names the same ``name`` on the same Redis watches one
    set of keys (each may pass the full set; ``add``/``remove`` reach all within ``lease / 3``),
    and each wallbox is polled by one of them. A replica that stops heartbeating loses its
    wallboxes to the others after ``lease`` seconds. Each change is written to the stream
    ``podero:fleet:{name}:changes`` (docs/fleets.md) with the wallbox's new state, which a
    replica that takes the wallbox over compares its first poll with. Without
    ``include_personal_data``, the owner's email, names and external id and the link URLs
    are blanked before anything reaches Redis. ``timeout`` bounds each Redis round trip.
    The URL is never shown: it may carry a password.

    ``lease``: 1 s to 1 day, and at least 3 x ``timeout``, so that a renewal (every
    ``lease / 3``) fits its round trips; else InvalidArgumentError at construction.
    """

    url: str = attrs.field(validator=_check_url, repr=False)
    name: str = attrs.field(validator=_check_name)
    lease: float = attrs.field(default=15.0, validator=_check_lease)
    include_personal_data: bool = attrs.field(default=False, validator=_check_bool)
    timeout: float = attrs.field(default=2.0, validator=_check_timeout)

    def __attrs_post_init__(self) -> None:
        if self.lease < 3 * self.timeout:
            raise InvalidArgumentError(
                f"RedisFleet.lease ({self.lease:g} s) must be at least 3 x timeout ({self.timeout:g} s): "
                "a renewal every lease / 3 must fit its round trips; lower timeout or raise lease"
            )
        redis_asyncio("RedisFleet")  # at construction: a missing extra is found before the watch starts


def _blank_personal(wallbox: dict[str, Any]) -> dict[str, Any]:
    """The wallbox without its owner's personal data and link URLs (they may carry one-time secrets).

    Blanked, not removed, so that the state still fits the schema and can be read back as a model.
    """
    state = dict(wallbox)
    owner = state.get("owner")
    if isinstance(owner, dict):
        state["owner"] = {
            name: ("" if isinstance(value, str) else None) if name != "id" else value for name, value in owner.items()
        }
    for name in ("embeddable_url", "authorization_url"):
        if isinstance(state.get(name), str):
            state[name] = ""
    actions = state.get("actions")
    if isinstance(actions, list):
        state["actions"] = [_blank_link(action) for action in actions]
    return state


def _blank_link(action: object) -> object:
    if not isinstance(action, dict) or not isinstance(action.get("resolution_link"), dict):
        return action
    return {**action, "resolution_link": {**action["resolution_link"], "url": ""}}


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _mix(value: int) -> int:
    """splitmix64's finalizer: a well-spread 64-bit score from a key's and a member's hash."""
    value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
    value = (value ^ (value >> 27)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
    return value ^ (value >> 31)


def owners(keys: Iterable[str], members: Iterable[str]) -> dict[str, str]:
    """Rendezvous hashing: each key's owner, the member with the highest score of (member, key).

    A key is hashed as its text (``KEY_TEXT``): another input would move wallboxes between the
    replicas of a rolling upgrade (tests/test_fleet_shared.py pins the owners).
    """
    hashed = [(_hash(member), member) for member in sorted(members)]
    if not hashed:
        return {}
    found: dict[str, str] = {}
    for key in keys:
        key_hash = _hash(key)
        best = -1
        for member_hash, member in hashed:
            score = _mix(key_hash ^ member_hash)
            if score > best:
                best, found[key] = score, member
    return found


class Rendezvous:
    """``owners``, kept current as keys and members change, scoring again only what a change can move.

    A member that joins takes a key only if it outscores the key's owner: one score per key. A
    member that leaves hands over only its own keys, scored again over all; a new key is scored
    over all. The loop gets a turn every ``_YIELD_EVERY`` keys: 30,000 keys never hold it for long
    (a few ms at a time, against 90 to 200 ms in one go for 3 to 10 members).
    """

    def __init__(self) -> None:
        self._members: dict[str, int] = {}  # member -> its hash
        self._best: dict[str, tuple[int, str, int]] = {}  # key -> (its owner's score, its owner, its hash)

    async def owners(self, keys: Iterable[str], members: Iterable[str]) -> dict[str, str]:
        hashed = {member: _hash(member) for member in sorted(members)}
        everyone = [(member_hash, member) for member, member_hash in hashed.items()]
        joined = [(member_hash, member) for member, member_hash in hashed.items() if member not in self._members]
        left = self._members.keys() - hashed.keys()
        best: dict[str, tuple[int, str, int]] = {}
        for number, key in enumerate(keys if everyone else ()):
            if number % _YIELD_EVERY == _YIELD_EVERY - 1:
                await asyncio.sleep(0)
            held = self._best.get(key)
            if held is None or held[1] in left:
                key_hash = held[2] if held is not None else _hash(key)
                held = (-1, "", key_hash)
                candidates = everyone
            else:
                key_hash = held[2]
                candidates = joined
            for member_hash, member in candidates:
                score = _mix(key_hash ^ member_hash)
                if score > held[0]:
                    held = (score, member, key_hash)
            best[key] = held
        self._best, self._members = best, hashed
        return {key: held[1] for key, held in best.items()}


def key_of(raw: str | bytes) -> str | None:
    """A key read from Redis; None for a field that is not one (written by something else)."""
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    text = text.lower()  # another program's capitals: the same wallbox
    return text if KEY_TEXT.fullmatch(text) else None


@attrs.frozen
class Handover:
    """What a renewal changed for this replica: the keys it now owns (with their last state), those it lost."""

    taken: Mapping[str, dict[str, Any] | None]
    lost: frozenset[str]


class SharedFleet:
    """The runtime of a RedisFleet inside one watch: heartbeats, the key set, owners, and the writes."""

    def __init__(self, config: RedisFleet) -> None:
        self.config = config
        self.member = uuid.uuid4().hex
        self.renew_every = config.lease / 3
        self._where = where(config.url)
        self._members_key = fleet_key(config.name, "members")
        self._version_key = fleet_key(config.name, "keys-version")
        self._keys_key = fleet_key(config.name, "keys")
        self._state_key = fleet_key(config.name, "state")
        self._stream_key = fleet_key(config.name, "changes")
        self._stamps_key = fleet_key(config.name, "stamps")
        self._redis: Any = None
        self._renew_script: Any = None
        self._write_script: Any = None
        self.keys: set[str] = set()  # the fleet's keys, as last read
        # The keys this replica was given (at start, add, remove): written back when Redis lost the set.
        self._given: set[str] = set()
        self._beaten = False  # a heartbeat went through: from then on, this member missing means Redis lost it
        self._restoring = False  # the keys are being written back (one warning per loss)
        self.owned: set[str] = set()
        self.replicas = 0
        self._members: tuple[str, ...] = ()
        self._rendezvous = Rendezvous()
        self._version: bytes | None = None
        # Stream entries held: (number, key text, stamp order, the fields); numbered so that a write
        # forgets exactly what it wrote, whatever was dropped meanwhile.
        self._entries: collections.deque[tuple[int, str, str, tuple[str, ...]]] = collections.deque()
        self._numbers = itertools.count()
        self._states: dict[str, tuple[str, str]] = {}  # key text -> (stamp order, the state) to write
        self._edits: dict[str, bool] = {}  # key text -> True: add, False: remove
        self._forget: set[str] = set()  # removed keys whose state goes
        self.dropped = 0
        self.round_trips = 0
        self._away = False  # Redis did not answer the latest round trip (one warning per outage)
        self._wrote = asyncio.Event()
        self._renewed = asyncio.Event()  # a renewal went through: after an outage, writes wait for it
        self._writer: asyncio.Task[None] | None = None
        self._closing: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"SharedFleet(name={self.config.name!r}, redis={self._where}, member={self.member})"

    # ------------------------------------------------------------------ Redis
    def _client(self) -> Any:
        if self._redis is None:
            self._redis = connect(self.config.url, timeout=self.config.timeout, feature="RedisFleet")
            self._renew_script = self._redis.register_script(_RENEW)
            self._write_script = self._redis.register_script(_WRITE)
        return self._redis

    async def _bounded(self, awaitable: Any) -> Any:
        """One round trip to Redis (a command, a script or a pipeline), counted, and bounded by the timeout."""
        self.round_trips += 1
        return await bounded(awaitable, self.config.timeout * 2)  # connect, then read: each bounded

    def failed(self, exc: BaseException, doing: str) -> bool:
        """True when ``exc`` is Redis failing (one warning per outage); anything else is a bug, raised."""
        failure = redis_failure(exc)
        if failure is None:
            return False
        if not self._away:
            self._away = True
            logger.warning(
                "RedisFleet %r: Redis at %s %s while %s; polling goes on with the wallboxes owned, "
                "up to %d changes are held for the stream",
                self.config.name,
                self._where,
                failure,
                doing,
                STREAM_BUFFER,
            )
        return True

    def _back(self) -> None:
        self._renewed.set()
        if self._away:
            self._away = False
            logger.info("RedisFleet %r: Redis at %s answers again", self.config.name, self._where)

    # ------------------------------------------------------------------ lifecycle
    async def start(self, keys: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        """Join: add ``keys`` to the fleet, read it, and return the keys owned with their last state.

        FleetBackendError when Redis cannot be reached.
        """
        self._given = set(keys)
        texts = list(self._given)
        try:
            redis = self._client()
            async with redis.pipeline(transaction=False) as pipe:
                for start in range(0, len(texts), _CHUNK):
                    pipe.sadd(self._keys_key, *texts[start : start + _CHUNK])
                added = await self._bounded(pipe.execute())
            if any(added):
                await self._bounded(redis.incr(self._version_key))
            await self._beat()  # joined: the others see this member from their next renewal on
            # Replicas started together (a deploy) would each poll every wallbox until they saw one
            # another: wait for them to join first, as Kafka's initial rebalance delay (3 s) does.
            await asyncio.sleep(min(self.renew_every, _SETTLE))
            handover = await self.renew()
        except Exception as exc:
            failure = redis_failure(exc)
            if failure is None:
                raise
            self._away = True  # aclose() then skips its goodbye: nobody would hear it
            raise FleetBackendError(f"RedisFleet {self.config.name!r}: Redis at {self._where} {failure}") from exc
        self._writer = asyncio.get_running_loop().create_task(self._write_loop(), name="podero-fleet-writer")
        return dict(handover.taken)

    async def aclose(self) -> None:
        """Write what is held (bounded by the timeout), leave the members, close the connection.

        Called again (the watch and its client both close it), it waits for the first call to end.
        """
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
        if self._redis is None:
            return
        if not self._away:  # with Redis gone, each try would wait its timeout: the others notice after a lease
            with contextlib.suppress(Exception):
                await self._write()
                await self._bounded(
                    self._renew_script(keys=[self._members_key, self._version_key], args=self._args("leave"))
                )
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.config.timeout):
                await self._redis.aclose()

    # ------------------------------------------------------------------ membership
    def _args(self, mode: str) -> list[str]:
        return [self.member, str(int(self.config.lease * 1000)), mode]

    async def renew(self) -> Handover:
        """Heartbeat and read who is live; re-read the key set if it moved; work out what this replica owns.

        Raises what Redis raised; the caller keeps the ownership it has.
        """
        recovering = self._away
        members, keys_moved = await self._beat()
        handover = Handover({}, frozenset())
        if keys_moved or members != self._members:
            # Nothing is kept until all of it went through: a failure below recomputes at the next renewal.
            self._members = ()
            found = await self._rendezvous.owners(self.keys, members)  # each key's hash is of its text
            mine = {key for key, member in found.items() if member == self.member}
            states = await self._states_of(mine - self.owned)
            mine &= self.keys  # less what was removed meanwhile
            handover = Handover({key: states[key] for key in mine - self.owned}, frozenset(self.owned - mine))
            self._members, self.owned = members, mine
        if recovering:
            self._drop_others()
        self._back()
        return handover

    def _drop_others(self) -> None:
        """After an outage: the held changes of wallboxes another member owns now are dropped.

        That member polled them meanwhile, and its entries are newer (the write script would refuse
        these anyway: dropping them spares the bytes).
        """
        self._entries = collections.deque(entry for entry in self._entries if entry[1] in self.owned)
        self._states = {key: state for key, state in self._states.items() if key in self.owned}

    async def _beat(self) -> tuple[tuple[str, ...], bool]:
        """Heartbeat; the live members, and whether the key set moved (then it is read again)."""
        self._client()
        answer = await self._bounded(
            self._renew_script(keys=[self._members_key, self._version_key], args=self._args("beat"))
        )
        members = tuple(sorted(member.decode() if isinstance(member, bytes) else str(member) for member in answer[1]))
        version = answer[2]
        if version is None and not self._given and self._version is None:
            version = b""  # a new fleet with no keys yet: nothing was lost
        elif version is None or (self._beaten and not answer[3]):
            # Redis lost the fleet (restarted empty, a failover, an eviction): adopting the empty
            # set would stop every poll. Each replica writes back the keys it was given.
            version = await self._write_back()
        self._beaten = True
        version = version if isinstance(version, bytes) else str(version).encode()
        keys_moved = version != self._version
        if keys_moved:
            raw = await self._bounded(self._redis.smembers(self._keys_key))
            self.keys = {key for text in raw if (key := key_of(text)) is not None}
            for key, add in self._edits.items():  # this replica's edits not written yet
                (self.keys.add if add else self.keys.discard)(key)
            self._version = version
        self.replicas = len(members)
        return members, keys_moved

    async def _write_back(self) -> int:
        """The keys this replica was given, added to the fleet again; a key-set version no replica held before."""
        if not self._restoring:
            self._restoring = True
            logger.warning(
                "RedisFleet %r: Redis at %s no longer holds the fleet's key set or this replica's heartbeat "
                "(restarted empty, a failover, an eviction, or this replica cut off for %d leases); writing "
                "back the %d keys this replica was given",
                self.config.name,
                self._where,
                _FORGET_AFTER,
                len(self._given),
            )
        texts = list(self._given)
        async with self._redis.pipeline(transaction=False) as pipe:
            for start in range(0, len(texts), _CHUNK):
                pipe.sadd(self._keys_key, *texts[start : start + _CHUNK])
            pipe.incrby(self._version_key, secrets.randbelow(1 << 40) + 1)  # every replica reads the set again
            replies = await self._bounded(pipe.execute())
        self._restoring = False
        version: int = replies[-1]
        return version

    async def _states_of(self, keys: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        """The last state Redis holds of each key (None: the fleet never saw it); one pipeline."""
        ordered = list(keys)
        if not ordered:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for start in range(0, len(ordered), _CHUNK):
                pipe.hmget(self._state_key, ordered[start : start + _CHUNK])
            replies = await self._bounded(pipe.execute())
        found: dict[str, dict[str, Any] | None] = {}
        values = [value for reply in replies for value in reply]
        for key, value in zip(ordered, values, strict=True):
            try:
                state = json.loads(value) if value is not None else None
            except ValueError:  # garbled: as if never seen, the first poll is its initial
                state = None
            found[key] = state if isinstance(state, dict) else None
        return found

    # ------------------------------------------------------------------ keys
    def add(self, key: str) -> None:
        self.keys.add(key)
        self._given.add(key)
        self._edits[key] = True
        self._forget.discard(key)
        self._wrote.set()

    def remove(self, key: str) -> None:
        self.keys.discard(key)
        self._given.discard(key)
        self.owned.discard(key)
        self._edits[key] = False
        self._forget.add(key)
        self._states.pop(key, None)
        self._wrote.set()

    # ------------------------------------------------------------------ changes
    def state_of(self, wallbox: dict[str, Any]) -> dict[str, Any]:
        """The wallbox as it goes to Redis: without personal data unless the fleet asked for it."""
        return wallbox if self.config.include_personal_data else _blank_personal(wallbox)

    def publish(self, key: str, state: dict[str, Any], changes: Mapping[str, Any], initial: bool) -> None:
        """Queue one stream entry, and ``state`` as the wallbox's last; written within ``_FLUSH_GAP``."""
        stamp = state.get("current_state_last_updated_at") or state.get("updated_at") or ""
        stamp = stamp if isinstance(stamp, str) else ""
        if len(self._entries) >= STREAM_BUFFER:
            self._entries.popleft()
            self.dropped += 1
        wallbox = json.dumps(state, default=str)
        order = _stamp_order(stamp)
        fields = (*key.split(":"), stamp, "1" if initial else "0")  # org_id, user_id, wallbox_id, ...
        self._entries.append((next(self._numbers), key, order, (*fields, json.dumps(changes, default=str), wallbox)))
        self._states[key] = (order, wallbox)
        self._wrote.set()

    async def _write_loop(self) -> None:
        while True:
            await self._wrote.wait()
            self._wrote.clear()
            if self._away:  # after an outage, a renewal first: it drops what another member owns now
                self._renewed.clear()
                await self._renewed.wait()
            try:
                await self._write()
            except Exception as exc:
                if not self.failed(exc, "writing changes"):
                    raise
                self._wrote.set()  # still held: written after the next renewal that goes through
                continue
            await asyncio.sleep(_FLUSH_GAP)

    async def _write(self) -> None:
        """One pipeline (MULTI/EXEC): key-set edits, stream entries and their states; forgotten once written.

        Entries and states go through the write script: only those newer than the fleet's are written.
        """
        entries = list(self._entries)
        states = dict(self._states)
        edits = dict(self._edits)
        forget = set(self._forget)
        if not (entries or states or edits):
            return
        redis = self._client()
        async with redis.pipeline(transaction=True) as pipe:
            added = [text for text, add in edits.items() if add]
            removed = [text for text, add in edits.items() if not add]
            if added:
                pipe.sadd(self._keys_key, *added)
            if removed:
                pipe.srem(self._keys_key, *removed)
            if forget:
                pipe.hdel(self._state_key, *forget)
                pipe.hdel(self._stamps_key, *forget)
            if edits:
                pipe.incr(self._version_key)
            # Every entry before any state: a state is as new as its wallbox's latest entry, which
            # it would otherwise make look old.
            keys = [self._stream_key, self._stamps_key, self._state_key]
            for start in range(0, len(entries), _SCRIPT_CHUNK):
                part = entries[start : start + _SCRIPT_CHUNK]
                args = [str(STREAM_MAXLEN), str(len(part))]
                for _, text, order, fields in part:
                    args += [text, order, *fields]
                await self._write_script(keys=keys, args=args, client=pipe)  # queued in the pipeline
            held = list(states.items())
            for start in range(0, len(held), _SCRIPT_CHUNK):
                args = [str(STREAM_MAXLEN), "0"]
                for text, (order, state) in held[start : start + _SCRIPT_CHUNK]:
                    args += [text, order, state]
                await self._write_script(keys=keys, args=args, client=pipe)
            await self._bounded(pipe.execute())
        # Written: forget it, keep what came meanwhile (and what a full buffer dropped is gone already).
        if entries:
            while self._entries and self._entries[0][0] <= entries[-1][0]:
                self._entries.popleft()
        for text, value in states.items():
            if self._states.get(text) == value:
                del self._states[text]
        for text, add in edits.items():
            if self._edits.get(text) == add:
                del self._edits[text]
        self._forget -= forget

    def held(self) -> int:
        """Stream entries not yet written."""
        return len(self._entries)
