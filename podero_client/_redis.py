"""Redis for the parts that share state through it: the request budget, the fleet, the change stream.

redis-py is imported only when one of them is built (the ``redis`` extra), so the base
install never imports it. A Redis URL may carry a password: no message here shows more
than its scheme, host and port.
"""

from __future__ import annotations

import asyncio
import importlib
import urllib.parse
from collections.abc import Awaitable
from typing import Any, TypeVar

from ._errors import InvalidArgumentError
from ._extras import install_hint

SCHEMES = ("redis", "rediss", "unix")
T = TypeVar("T")


def redis_asyncio(feature: str) -> Any:
    """redis.asyncio, or one line saying that ``feature`` needs the extra."""
    try:
        return importlib.import_module("redis.asyncio")
    except ImportError:
        raise ImportError(f"{feature} needs redis-py: {install_hint('redis')}", name="redis") from None


def check_redis_url(owner: str, value: object) -> str:
    """``value``, parsed as redis-py will parse it at the first connection; InvalidArgumentError if it cannot be.

    ``owner`` names the setting in messages (``"RedisRateLimit.url"``). The URL itself is never shown.
    """
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{owner} must be a redis://, rediss:// or unix:// URL, got {type(value).__name__}")
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:  # "redis://[::1": an IPv6 host that is never closed
        raise InvalidArgumentError(f"{owner} is not a URL: its host cannot be read") from None
    try:
        parts.port  # noqa: B018  # a port that is not a number raises here, not at the first call
    except ValueError as exc:
        problem = "out of range 0-65535" if "range" in str(exc) else "not a number"
        raise InvalidArgumentError(f"{owner} has a port that is {problem}") from None
    if parts.scheme not in SCHEMES:
        raise InvalidArgumentError(f"{owner} must be a redis://, rediss:// or unix:// URL, got {parts.scheme!r}")
    if (parts.scheme == "unix" and not parts.path) or (parts.scheme != "unix" and not parts.hostname):
        raise InvalidArgumentError(f"{owner} names no {'path' if parts.scheme == 'unix' else 'host'}")
    module = redis_asyncio(owner.partition(".")[0])  # a missing extra says so, before redis-py's parser is asked
    errors = importlib.import_module("redis.exceptions")
    try:
        # What redis-py builds at the first call, built now (no I/O): its pool checks
        # max_connections, its connection protocol and ssl_cert_reqs, which its parser lets by.
        pool = module.ConnectionPool.from_url(value)
        pool.connection_class(**pool.connection_kwargs)
    except (ValueError, TypeError, errors.RedisError) as exc:
        raise InvalidArgumentError(f"{owner} cannot be parsed by redis-py: {_reason(exc)}") from None
    settings = pool.connection_kwargs
    if isinstance(settings.get("db"), int) and settings["db"] < 0:
        raise InvalidArgumentError(f"{owner} names database {settings['db']}: Redis numbers them from 0")
    for option in ("socket_timeout", "socket_connect_timeout"):  # redis-py takes -1, then times out at once
        if isinstance(settings.get(option), int | float) and settings[option] <= 0:
            raise InvalidArgumentError(f"{owner} sets {option} to {settings[option]!r}: it must be > 0")
    return value


def _reason(exc: BaseException) -> str:
    """redis-py's message, which names the query argument ("Invalid value for 'db' ..."); never one showing the URL."""
    text = str(exc)
    return text if text and "://" not in text and "@" not in text else type(exc).__name__


def where(url: str) -> str:
    """The Redis address without credentials, for messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "unix":
        return f"unix:{parts.path}"
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}"


def connect(url: str, *, timeout: float, feature: str) -> Any:
    """A ``redis.asyncio.Redis`` whose connect and each read are bounded by ``timeout``, with no retry of its own.

    The caller decides what follows a failure; redis-py's own retries would multiply the timeout.
    """
    module = redis_asyncio(feature)
    retry = importlib.import_module("redis.asyncio.retry")
    backoff = importlib.import_module("redis.backoff")
    try:
        return module.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=retry.Retry(backoff.NoBackoff(), 0),
        )
    except ValueError as exc:  # check_redis_url refuses these first; a bare ValueError must never escape
        raise InvalidArgumentError(f"{feature} cannot use its Redis URL: {_reason(exc)}") from None


async def bounded(call: Awaitable[T], seconds: float) -> T:
    """``call``'s result within ``seconds`` (TimeoutError after), run as a task of its own.

    Every round trip to Redis goes through here. redis-py can swallow a cancellation that
    lands while a read returns (redis/redis-py#2028), and a cancelled caller would go on:
    waiting on a task of its own keeps the cancellation with the caller, where asyncio raises it.
    """
    task = asyncio.ensure_future(call)
    task.add_done_callback(_observe)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        raise TimeoutError(f"no answer within {seconds:.1f} s")
    return task.result()


def _observe(task: asyncio.Future[Any]) -> None:
    """Retrieve the outcome of a call given up on, so asyncio logs no 'exception never retrieved'."""
    if not task.cancelled():
        task.exception()


def redis_failure(exc: BaseException) -> str | None:
    """What went wrong, in a few words, if ``exc`` is Redis being gone, slow or refusing; None for anything else."""
    if isinstance(exc, TimeoutError | OSError):
        return f"did not answer: {type(exc).__name__}"
    errors = importlib.import_module("redis.exceptions")  # imported lazily, as redis-py is
    if isinstance(exc, errors.ConnectionError | errors.TimeoutError):
        return f"did not answer: {exc}"
    if isinstance(exc, errors.RedisError):
        return f"failed: {type(exc).__name__}: {exc}"
    return None


def check_fleet_name(owner: str, value: object) -> str:
    """A fleet's name: a non-empty printable string (it is part of every Redis key of the fleet)."""
    if not isinstance(value, str) or not value or not value.isprintable() or len(value) > 200:
        raise InvalidArgumentError(f"{owner} must be a non-empty printable string of at most 200 characters")
    return value


def fleet_key(name: str, part: str) -> str:
    """The Redis key of one part of fleet ``name`` (``"changes"`` is the stream).

    The name sits in a hash tag, so every key of one fleet lands in one Redis Cluster slot
    and a Lua script may touch several of them.
    """
    return f"podero:fleet:{{{name}}}:{part}"
