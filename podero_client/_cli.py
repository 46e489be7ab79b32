"""The ``podero-client`` command: read or watch a wallbox, run the demo, serve the fake API."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import logging
import math
import os
import signal
import socket
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from ._budget import RateLimit
from ._client import PRODUCTION_URL, SANDBOX_URL, PoderoClient
from ._errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    ChangeStreamError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    PoderoError,
    ResponseValidationError,
)
from ._extras import install_hint
from ._fleet import FleetEvent, FleetStats, WallboxChanged, WallboxFailed
from ._fleet_changes import FleetChange, FleetChanges
from ._fleet_shared import MAX_LEASE, MIN_LEASE, RedisFleet
from ._redis import where
from ._redis_budget import RedisRateLimit
from ._render import change_line, printable, summary
from ._version import __version__

EXIT_OK = 0
EXIT_BAD_ARGUMENTS = 2
EXIT_AUTHENTICATION = 3
EXIT_NOT_FOUND = 4
EXIT_API_ERROR = 5
EXIT_CONNECTION = 6
EXIT_TOKEN_ENDPOINT = 7
EXIT_INTERRUPTED = 130  # the shell's own code for Ctrl-C (128 + SIGINT)

CREDENTIALS_HELP = f"""\
credentials come from the environment: PODERO_CLIENT_ID and PODERO_CLIENT_SECRET,
or PODERO_USERNAME and PODERO_PASSWORD, or PODERO_TOKEN; PODERO_BASE_URL overrides
the production URL ({PRODUCTION_URL}).
"""
EXIT_CODES_HELP = f"""\
exit codes:
  {EXIT_OK}  ok
  {EXIT_BAD_ARGUMENTS}  bad arguments or settings (missing credentials, a busy port, a missing extra)
  {EXIT_AUTHENTICATION}  the API refused the call: authentication or permission (401, 403)
  {EXIT_NOT_FOUND}  not found: the organization, user or wallbox does not exist (404)
  {EXIT_API_ERROR}  other API error
  {EXIT_CONNECTION}  no connection, or timed out
  {EXIT_TOKEN_ENDPOINT}  no token: the token endpoint refused the credentials or failed
     (check the credentials, PODERO_BASE_URL and the token URL)
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)
"""


# demo and serve-fake talk to a fake on 127.0.0.1 only: no credentials, no API errors.
def _local_exit_codes(bad: str) -> str:
    return f"exit codes:\n  {EXIT_OK}  ok\n  {EXIT_BAD_ARGUMENTS}  {bad}\n  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)\n"


EPILOG = f"""\
{CREDENTIALS_HELP}
{EXIT_CODES_HELP}
examples:
  podero-client demo                         the SDK against an embedded fake Podero, no credentials
  podero-client demo --trace                 ... and the OpenTelemetry span tree of its retried call
  podero-client serve-fake --port 8765       serve the fake API for your own services
  podero-client wallbox ORG_ID USER_ID WALLBOX_ID --json
  podero-client watch ORG_ID USER_ID WALLBOX_ID --interval 60
  podero-client watch --keys-file keys.txt --rate-limit 50   a fleet, one "ORG_ID USER_ID WALLBOX_ID" a line
  podero-client changes --redis redis://127.0.0.1:6379/0 --fleet partner-42   tail a fleet's change stream
"""


def _token_request(error: PoderoError) -> bool:
    """Whether ``error`` came from a token request.

    This command sends only GETs to the API; its one POST is a token grant.
    """
    response = getattr(error, "response", None)
    request = response.request if response is not None else getattr(error, "request", None)
    return request is not None and request.method == "POST"


def _exit_code(error: PoderoError) -> int:
    if isinstance(error, InvalidArgumentError):
        return EXIT_BAD_ARGUMENTS
    if isinstance(error, APIConnectionError | ChangeStreamError):
        return EXIT_CONNECTION
    if isinstance(error, APIStatusError | ResponseValidationError) and _token_request(error):
        return EXIT_TOKEN_ENDPOINT
    if isinstance(error, AuthenticationError | PermissionDeniedError):
        return EXIT_AUTHENTICATION
    if isinstance(error, NotFoundError):
        return EXIT_NOT_FOUND
    return EXIT_API_ERROR


def _one_line(error: PoderoError) -> str:
    """The SDK's own message (status, method, path, detail), with the host it went to."""
    response = getattr(error, "response", None)
    request = response.request if response is not None else getattr(error, "request", None)
    message = str(error).splitlines()[0][:300] if str(error) else type(error).__name__
    origin = f"{request.url.scheme}://{request.url.netloc.decode()}" if request is not None else ""
    where = f" (at {origin})" if origin not in message else ""  # a connection error names it already
    line = f"error: {type(error).__name__}: {message}{where}"
    if _exit_code(error) == EXIT_TOKEN_ENDPOINT:
        line += "; check the credentials, PODERO_BASE_URL and the token URL"
    return line


def _client(args: argparse.Namespace, rate_limit: RedisRateLimit | None = None) -> PoderoClient:
    base_url = SANDBOX_URL if args.sandbox else args.base_url
    kwargs: dict[str, Any] = {"base_url": base_url} if base_url else {}
    if rate_limit is not None:
        kwargs["rate_limit"] = rate_limit
    elif getattr(args, "rate_limit", None):
        # A burst of 2 % of a second's budget: a little slack, so that a late timer loses no slots.
        kwargs["rate_limit"] = RateLimit(per_second=args.rate_limit, burst=max(1, round(args.rate_limit / 50)))
    if getattr(args, "timeout", None) is not None:
        kwargs["timeout"] = args.timeout
    return PoderoClient.from_env(**kwargs)


def read_keys(path: str) -> list[tuple[str, str, str]]:
    """The keys of a keys file: one ``org_id user_id wallbox_id`` a line (spaces or commas); # comments.

    InvalidArgumentError naming the file and line for a line that is not three ids, or a missing file.
    """
    try:
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except OSError as error:
        raise InvalidArgumentError(f"cannot read --keys-file {path}: {error.strerror or error}") from None
    keys = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].replace(",", " ").split()
        if not text:
            continue
        if len(text) != 3:
            raise InvalidArgumentError(
                f"{path} line {number}: expected org_id user_id wallbox_id, got {line.strip()!r}"
            )
        keys.append((text[0], text[1], text[2]))
    return keys


def _fleet_line(event: FleetEvent) -> str:
    if isinstance(event, WallboxFailed):
        what = "removed (404)" if event.removed else "poll failed"
        message = str(event.error).splitlines()[0][:200] if str(event.error) else ""
        return printable(f"{event.key[2]}  {what}: {type(event.error).__name__}: {message}")
    fields = "first poll" if event.initial else "changed: " + ", ".join(sorted(event.changes))
    return f"{event.key[2]}  {change_line(event.wallbox)}  ({fields})"


def _stats_line(stats: FleetStats, shared: bool = False) -> str:
    achieved = (
        f"{stats.achieved_interval:.1f} s"
        if stats.achieved_interval is not None
        else "not known yet (no wallbox polled twice)"
    )
    line = (
        f"fleet: {stats.size} wallboxes, interval {stats.interval:g} s, achieved {achieved}, "
        f"slowest age {stats.slowest_age:.1f} s, {stats.waiting} waiting, {stats.polls} polls, "
        f"{stats.failures} failed"
    )
    if shared:
        line += (
            f"; {stats.owned} owned here of {stats.replicas} replicas, {stats.stream_dropped} stream entries dropped"
        )
    return line


async def _until_sigterm(work: Coroutine[Any, Any, int]) -> int:
    """``work``, ended quietly (exit 0) by SIGTERM, as a deploy stops a replica; its ``async with`` blocks unwind."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    terminated = False

    def stop() -> None:
        nonlocal terminated
        terminated = True
        if task is not None:
            task.cancel()

    with contextlib.suppress(NotImplementedError, RuntimeError):  # no signal handlers here: SIGTERM as usual
        loop.add_signal_handler(signal.SIGTERM, stop)
    try:
        return await work
    except asyncio.CancelledError:
        if terminated:
            return EXIT_OK
        raise
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGTERM)


REDIS_URL_VARIABLE = "PODERO_REDIS_URL"


def _redis_url(args: argparse.Namespace) -> str | None:
    """--redis, else $PODERO_REDIS_URL: in the environment, the URL's password stays out of ``ps``."""
    return args.redis or os.environ.get(REDIS_URL_VARIABLE) or None


def _shared_fleet(args: argparse.Namespace) -> tuple[RedisFleet | None, RedisRateLimit | None]:
    """--redis, --fleet and --lease: the RedisFleet, and --rate-limit as one budget shared by the fleet's replicas."""
    url = _redis_url(args) if args.fleet is not None else args.redis  # the variable alone makes no replica
    if url is None:
        if args.fleet is not None or args.lease is not None:
            raise InvalidArgumentError(f"--fleet and --lease need --redis URL (or {REDIS_URL_VARIABLE})")
        return None, None
    if args.fleet is None:
        raise InvalidArgumentError("--redis needs --fleet NAME: the replicas that name the same fleet share it")
    lease = 15.0 if args.lease is None else args.lease
    fleet = RedisFleet(url=url, name=args.fleet, lease=lease, timeout=min(2.0, lease / 3))
    budget = None
    if args.rate_limit:
        # Its own key, one hash tag (RedisRateLimit wraps the key in braces): not one of the fleet's
        # keys, which no script touches with it, so it need not share their cluster slot.
        budget = RedisRateLimit(
            url=url,
            key=f"podero:fleet:{args.fleet}:budget",
            per_second=args.rate_limit,
            burst=max(1, round(args.rate_limit / 50)),
        )
    return fleet, budget


async def _watch_fleet(args: argparse.Namespace, keys: list[tuple[str, str, str]]) -> int:
    shared, budget = _shared_fleet(args)
    async with _client(args, budget) as podero:
        watch = podero.watch_wallboxes(
            keys,
            interval=args.interval,
            fast_interval=args.fast_interval,
            include_deleted=args.include_deleted,
            shared=shared,
        )
        joined = f" with fleet {args.fleet!r} on {where(shared.url)}" if shared is not None else ""
        print(f"watching {len(keys)} wallboxes every {args.interval:g} s{joined} (Ctrl-C to stop)", file=sys.stderr)
        async with watch as fleet:
            loop = asyncio.get_running_loop()
            next_stats = loop.time() + args.stats_every
            seen = 0
            async for event in fleet:
                print(_fleet_line(event), flush=True)
                if loop.time() >= next_stats:
                    print(_stats_line(fleet.stats, shared is not None), file=sys.stderr, flush=True)
                    next_stats = loop.time() + args.stats_every
                seen += isinstance(event, WallboxChanged)
                if args.count is not None and seen >= args.count:
                    break
            print(_stats_line(fleet.stats, shared is not None), file=sys.stderr, flush=True)
    return EXIT_OK


async def _wallbox_command(args: argparse.Namespace) -> int:
    async with _client(args) as podero:
        response = await podero.get_wallbox_response(
            args.org_id, args.user_id, args.wallbox_id, include_deleted=args.include_deleted
        )
    if args.json:
        print(_strict_json(response.content))
    else:
        print(summary(response.parsed))
    return EXIT_OK


def _finite(text: str) -> float | None:
    number = float(text)
    return number if math.isfinite(number) else None


def _strict_json(content: bytes) -> str:
    """The payload as strict JSON: NaN and infinities (which Python's json reads) become null.

    Non-ASCII text stays readable; a lone surrogate, which no terminal encoding takes, makes
    the whole document \\u-escaped instead.
    """
    data = json.loads(content, parse_constant=lambda _: None, parse_float=_finite)
    try:
        text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    except RecursionError:  # nested deeper than the indenting encoder goes: one line instead
        text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("ascii", "backslashreplace").decode("ascii")
    return text


async def _watch_command(args: argparse.Namespace) -> int:
    given = [args.org_id, args.user_id, args.wallbox_id]
    if any(given) and not all(given):
        raise InvalidArgumentError("give all three of ORG_ID USER_ID WALLBOX_ID, or none with --keys-file")
    if args.keys_file:
        keys = read_keys(args.keys_file)
        if all(given):
            keys.append((args.org_id, args.user_id, args.wallbox_id))
        if not keys:
            raise InvalidArgumentError(f"no keys in {args.keys_file}: one 'ORG_ID USER_ID WALLBOX_ID' a line")
        return await _watch_fleet(args, keys)
    if not all(given):
        raise InvalidArgumentError("watch needs ORG_ID USER_ID WALLBOX_ID, or --keys-file FILE")
    if args.redis is not None:
        raise InvalidArgumentError("--redis shares a fleet: give --keys-file FILE")
    async with _client(args) as podero:
        changes = podero.watch_wallbox(
            args.org_id, args.user_id, args.wallbox_id, interval=args.interval, include_deleted=args.include_deleted
        )
        print(f"watching wallbox {args.wallbox_id} every {args.interval:g} s (Ctrl-C to stop)", file=sys.stderr)
        seen = 0
        async for wallbox in changes:
            print(change_line(wallbox), flush=True)
            seen += 1
            if args.count is not None and seen >= args.count:
                break
        await changes.aclose()
    return EXIT_OK


def _stream_line(change: FleetChange) -> str:
    """One change of the stream: the wallbox, its state (when the entry carries a whole one), what moved."""
    fields = "first poll" if change.initial else "changed: " + ", ".join(sorted(change.changes))
    if change.wallbox is not None:
        state = change_line(change.wallbox)
    else:
        state = f"{change.stamp:%H:%M:%S}" if change.stamp is not None else "--:--:--"
    return printable(f"{change.key[2]}  {state}  ({fields})")  # field names come from Redis: escaped


def _stream_json(change: FleetChange) -> str:
    org_id, user_id, wallbox_id = (str(part) for part in change.key)
    record = {
        "id": change.id,
        "entry_id": change.entry_id,
        "org_id": org_id,
        "user_id": user_id,
        "wallbox_id": wallbox_id,
        "stamp": change.stamp.isoformat() if change.stamp is not None else None,
        "initial": change.initial,
        "changes": {field: list(pair) for field, pair in change.changes.items()},
        "wallbox": change.wallbox_data,
    }
    return json.dumps(record, allow_nan=False)  # ASCII: a lone surrogate in the JSON cannot break the terminal


async def _changes_command(args: argparse.Namespace) -> int:
    consumer = args.consumer or socket.gethostname()
    url = _redis_url(args)
    if url is None:
        raise InvalidArgumentError(f"changes needs --redis URL (or {REDIS_URL_VARIABLE})")
    reader = FleetChanges(url=url, name=args.fleet, group=args.group, consumer=consumer)
    async with reader as changes:
        print(
            f"reading fleet {args.fleet!r}'s changes as {consumer!r} of group {args.group!r} (Ctrl-C to stop)",
            file=sys.stderr,
            flush=True,
        )
        async for change in changes:
            print(_stream_json(change) if args.json else _stream_line(change), flush=True)
            await changes.ack(change)  # after printing: a change cut off by the end is printed again next time
    return EXIT_OK  # pragma: no cover  # the stream has no end


def _write_keys(path: str, keys: list[tuple[str, str, str]]) -> None:
    with open(path, "w", encoding="utf-8") as file:
        file.writelines(" ".join(key) + "\n" for key in keys)


async def _serve_fake(args: argparse.Namespace) -> int:
    from .testing import ORG_ID, READING_INTERVAL, USER_ID, WALLBOX_ID, FakePodero

    try:
        server = FakePodero(
            port=args.port,
            chaos=args.chaos,
            speed=args.speed,
            spec=args.spec,
            rate_limit=args.rate_limit or None,
            wallboxes=args.wallboxes,
        )
    except (OSError, ValueError) as error:  # a missing or unreadable file, or not JSON
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        print(f"error: cannot read --spec {args.spec}: {reason}", file=sys.stderr)
        return EXIT_BAD_ARGUMENTS
    if args.keys_file:
        try:
            _write_keys(args.keys_file, server.wallbox_keys())  # before serving: once, and small
        except OSError as error:
            print(f"error: cannot write --keys-file {args.keys_file}: {error.strerror or error}", file=sys.stderr)
            return EXIT_BAD_ARGUMENTS
    try:
        await server.start()
    except OSError as error:
        await server.close()
        reason = os.strerror(error.errno) if error.errno else str(error)
        print(f"error: cannot serve on 127.0.0.1:{args.port}: {reason}; pick another --port", file=sys.stderr)
        return EXIT_BAD_ARGUMENTS
    try:
        print(f"Fake Podero API at {server.url}  (Ctrl-C to stop)")
        print(f"  {len(server.spec.operations)} operations of {args.spec or 'the packaged spec'}")
        print(f"  export PODERO_BASE_URL={server.url}")
        print(f"  export PODERO_CLIENT_ID={server.client_id} PODERO_CLIENT_SECRET={server.client_secret}")
        print(f"  or PODERO_USERNAME={server.username} PODERO_PASSWORD={server.password}")
        print(f"  a wallbox: {ORG_ID} {USER_ID} {WALLBOX_ID}")
        if args.wallboxes:
            where = f"keys in {args.keys_file}" if args.keys_file else "--keys-file FILE writes their keys"
            print(f"  and a fleet of {args.wallboxes} more, each in its own charging session ({where})")
        if args.rate_limit:
            print(f"  at most {args.rate_limit:g} requests/s per client credentials, else 429 (--rate-limit)")
        if args.speed:
            print(f"  its state changes every {READING_INTERVAL / args.speed:g} s (--speed {args.speed:g})")
            print(f"  its clock started at the real time and runs {args.speed:g} times as fast (--speed 1: real time)")
        print(end="", flush=True)
        await asyncio.Event().wait()
    finally:
        await server.close()
    return EXIT_OK  # pragma: no cover


def _number(low: float, high: float, *, cast: type = float, high_open: bool = False, low_open: bool = False) -> Any:
    """An argparse type: a number in [low, high] (or open at either end), else a one-line usage error."""
    bound = f"{low:g} to {high:g}" if math.isfinite(high) else f"{'>' if low_open else '>='} {low:g}"

    def parse(text: str) -> Any:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number {bound}, got {text!r}") from None
        too_high = value >= high if high_open else value > high
        too_low = value <= low if low_open else value < low
        if not math.isfinite(value) or too_low or too_high:
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    # -v is accepted before and after the subcommand; SUPPRESS keeps a subcommand's default
    # from overwriting a -v given before it.
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log token requests and retries"
    )
    parser = argparse.ArgumentParser(
        prog="podero-client",
        description="Read wallboxes from the Podero Partner API.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[verbose],
    )
    parser.add_argument("--version", action="version", version=f"podero-client {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str, *, epilog: str = EPILOG, logs: bool = True) -> argparse.ArgumentParser:
        # logs=False: the command makes no token requests or retries, so -v would promise nothing.
        return commands.add_parser(
            name, help=text, epilog=epilog, formatter_class=parser.formatter_class, parents=[verbose] if logs else []
        )

    reader_epilog = f"{CREDENTIALS_HELP}\n{EXIT_CODES_HELP}"
    wallbox = command("wallbox", "show one wallbox", epilog=reader_epilog)
    watch = command("watch", "print a line each time a wallbox's state changes", epilog=reader_epilog)
    for reader in (wallbox, watch):
        optional: dict[str, Any] = {"nargs": "?"} if reader is watch else {}  # watch may take --keys-file instead
        reader.add_argument("org_id", help="the organization's UUID", **optional)
        reader.add_argument("user_id", help="the user's UUID", **optional)
        reader.add_argument("wallbox_id", help="the wallbox's UUID", **optional)
        reader.add_argument("--include-deleted", action="store_true", help="also find a soft-deleted wallbox")
        reader.add_argument(
            "--timeout",
            type=_number(0, math.inf, low_open=True),
            metavar="S",
            help="seconds for each connect, read and write and the wait for a free connection "
            "(default: 5 to connect, 30 for the rest)",
        )
        where = reader.add_mutually_exclusive_group()
        where.add_argument("--base-url", help=f"the API's origin (default: $PODERO_BASE_URL or {PRODUCTION_URL})")
        where.add_argument("--sandbox", action="store_true", help=f"use {SANDBOX_URL}")
    wallbox.add_argument("--json", action="store_true", help="print the full payload as JSON")
    watch.add_argument(
        "--interval",
        type=_number(0, math.inf, low_open=True),  # watch_wallbox's own limit: > 0
        default=60.0,
        help="seconds between polls (default 60; Podero refreshes device state every 5 to 15 minutes)",
    )
    watch.add_argument("--count", type=_number(1, math.inf, cast=int), help="stop after this many changes")
    watch.add_argument(
        "--keys-file",
        metavar="FILE",
        help="watch a fleet: one 'ORG_ID USER_ID WALLBOX_ID' a line (# comments); prints a line per change "
        "and, on stderr, the achieved interval and the slowest wallbox's age",
    )
    watch.add_argument(
        "--rate-limit",
        type=_number(0, math.inf),
        metavar="R",
        help="send at most R requests per second (a RateLimit for the client; default: no limit)",
    )
    watch.add_argument(
        "--fast-interval",
        type=_number(0, math.inf, low_open=True),
        default=3.0,
        help="with --keys-file: seconds between polls of a wallbox in a transition (default 3)",
    )
    watch.add_argument(
        "--redis",
        metavar="URL",
        help="with --keys-file and --fleet: share the watch with every replica of the fleet through this Redis "
        f"(redis://, rediss:// or unix://; default ${REDIS_URL_VARIABLE}, which keeps a password out of ps); "
        "--rate-limit is then one budget for all of them",
    )
    watch.add_argument("--fleet", metavar="NAME", help="with --redis: the fleet's name, the same in every replica")
    watch.add_argument(
        "--lease",
        type=_number(MIN_LEASE, MAX_LEASE),
        metavar="S",
        help="with --redis: seconds after which a silent replica's wallboxes go to the others (default 15)",
    )
    watch.add_argument(
        "--stats-every",
        type=_number(0, math.inf),
        default=10.0,
        metavar="S",
        help="with --keys-file: print the fleet's figures on stderr every S seconds (default 10)",
    )

    changes = command(
        "changes",
        "print each change of a fleet's change stream as it comes (a consumer of a group)",
        epilog=f"""\
each change is printed, then acknowledged: a change printed just before the end may be printed
again next time (at-least-once). A new group starts at the oldest change the stream holds.

exit codes:
  {EXIT_OK}  ended by SIGTERM
  {EXIT_BAD_ARGUMENTS}  bad arguments: a URL, fleet, group or consumer name that cannot be used
  {EXIT_CONNECTION}  Redis could not be reached
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)
""",
    )
    changes.add_argument(
        "--redis",
        metavar="URL",
        help=f"the fleet's Redis: redis://, rediss:// or unix:// (default ${REDIS_URL_VARIABLE}, "
        "which keeps a password out of ps)",
    )
    changes.add_argument("--fleet", required=True, metavar="NAME", help="the fleet's name, as its replicas name it")
    changes.add_argument(
        "--group", default="podero-client", metavar="G", help="the consumer group (default podero-client)"
    )
    changes.add_argument(
        "--consumer", metavar="C", help="this reader's name in the group; it resumes by it (default: the host name)"
    )
    changes.add_argument("--json", action="store_true", help="one JSON object a line")

    demo = command(
        "demo",
        "run the SDK against an embedded fake Podero: no credentials, no network",
        epilog=_local_exit_codes("the 'testing' extra is not installed, or --trace without the 'demo' extra"),
    )
    demo.add_argument(
        "--trace",
        action="store_true",
        help="print the OpenTelemetry spans of the token refresh and the retried call (the demo extra)",
    )
    serve = command(
        "serve-fake",
        "serve the fake Podero API on 127.0.0.1",
        epilog=_local_exit_codes("bad arguments: a busy port, an unreadable --spec, the 'testing' extra missing"),
        logs=False,
    )
    serve.add_argument(
        "--port", type=_number(0, 65535, cast=int), default=8765, help="default 8765; 0 picks a free one"
    )
    serve.add_argument(
        "--chaos",
        type=_number(0, 1),
        default=0.0,
        help="the fraction of wallbox requests that meet a random fault (0 to 1)",
    )
    serve.add_argument(
        "--speed",
        type=_number(0, math.inf),
        default=60.0,
        help="how fast the fake's clock runs: it starts at the real time and runs SPEED fake seconds a second, so "
        "with 60 (the default) a new state comes every 5 s, stamped ahead of the real time; 1 keeps real time, "
        "0 freezes it",
    )
    serve.add_argument(
        "--rate-limit",
        type=_number(0, math.inf),
        metavar="R",
        help="answer 429 with Retry-After past R requests per second per client credentials (default 0: no limit)",
    )
    serve.add_argument(
        "--wallboxes",
        type=_number(0, math.inf, cast=int),
        default=0,
        metavar="N",
        help="serve a fleet of N more wallboxes, each in its own charging session (default 0)",
    )
    serve.add_argument(
        "--keys-file",
        metavar="FILE",
        help="write the fleet's keys to FILE, one 'ORG_ID USER_ID WALLBOX_ID' a line (for watch --keys-file)",
    )
    serve.add_argument(
        "--spec", metavar="FILE", help="serve every operation of this OpenAPI JSON file (default: the packaged spec)"
    )
    return parser


def _log_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("podero_client", "httpx"):
        logging.getLogger(name).addHandler(handler)
        logging.getLogger(name).setLevel(logging.INFO)


def _has_otel_sdk() -> bool:
    # find_spec of a submodule imports its parent, which may be missing too.
    return (
        importlib.util.find_spec("opentelemetry") is not None
        and importlib.util.find_spec("opentelemetry.sdk") is not None
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "verbose", False):
        _log_to_stderr()
    try:
        if args.command == "wallbox":
            return asyncio.run(_wallbox_command(args))
        if args.command == "watch":
            return asyncio.run(_until_sigterm(_watch_command(args)))
        if args.command == "changes":
            return asyncio.run(_until_sigterm(_changes_command(args)))
        if args.command == "demo":
            from ._demo import run_demo

            if args.trace and not _has_otel_sdk():
                print(f"demo --trace needs opentelemetry-sdk: {install_hint('demo')}", file=sys.stderr)
                return EXIT_BAD_ARGUMENTS
            return asyncio.run(run_demo(trace=args.trace))
        return asyncio.run(_serve_fake(args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except PoderoError as error:
        print(_one_line(error), file=sys.stderr)
        return _exit_code(error)
    except ImportError as error:
        # podero_client.testing names its extra itself; other optional imports get the same form.
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_ARGUMENTS
