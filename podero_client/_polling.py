"""The conveniences over ``get_wallbox``: a bounded batch, and change-only polling.

Plain functions of the ``get_wallbox`` they are handed: the facade binds them to its own.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from datetime import datetime
from typing import cast

from ._errors import (
    APIConnectionError,
    APIStatusError,
    InternalServerError,
    InvalidArgumentError,
    PoderoError,
    RateLimitError,
    ResponseValidationError,
)
from ._generated.models import WallboxDetailOutput
from ._retry import RetryPolicy
from ._settings import as_uuid
from ._utils import is_finite_number

WallboxKey = tuple[uuid.UUID | str, uuid.UUID | str, uuid.UUID | str]
# PoderoClient.get_wallbox, or a view's: (org_id, user_id, wallbox_id, *, include_deleted).
GetWallbox = Callable[..., Awaitable[WallboxDetailOutput]]
logger = logging.getLogger("podero_client")


def _transient(error: PoderoError) -> bool:
    """Worth polling again later: no answer, a server error, a rate limit or a garbled body."""
    if isinstance(error, APIStatusError):
        return isinstance(error, InternalServerError | RateLimitError) or error.status_code == 408
    return isinstance(error, APIConnectionError | ResponseValidationError)


def _fingerprint(wallbox: WallboxDetailOutput) -> object:
    """What tells two polls apart: the state's timestamps when it has them, else the payload."""
    stamps = (wallbox.current_state_last_updated_at, wallbox.updated_at)
    if any(isinstance(stamp, datetime) for stamp in stamps):
        return stamps
    return wallbox.to_dict()


async def get_wallboxes(
    get_wallbox: GetWallbox, keys: Iterable[WallboxKey], *, concurrency: int, include_deleted: bool
) -> list[WallboxDetailOutput | PoderoError]:
    """``PoderoClient.get_wallboxes``: each key through ``get_wallbox``, at most ``concurrency`` at a time."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidArgumentError(f"concurrency must be an int >= 1, got {concurrency!r}")
    pending = list(keys)
    results: list[WallboxDetailOutput | PoderoError | None] = [None] * len(pending)
    queue = iter(enumerate(pending))

    async def worker() -> None:
        for index, key in queue:  # one shared iterator: each key is taken once
            results[index] = await _wallbox_or_error(get_wallbox, key, include_deleted)

    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, len(pending))):
            group.create_task(worker())
    # Every slot is filled: the TaskGroup waited for every worker, and workers only store.
    return cast(list[WallboxDetailOutput | PoderoError], results)


async def _wallbox_or_error(
    get_wallbox: GetWallbox, key: object, include_deleted: bool
) -> WallboxDetailOutput | PoderoError:
    if not isinstance(key, tuple | list) or len(key) != 3:
        return InvalidArgumentError(f"a key must be an (org_id, user_id, wallbox_id) triple, got {key!r}")
    try:
        return await get_wallbox(*key, include_deleted=include_deleted)
    except PoderoError as error:
        return error


async def watch_wallbox(
    get_wallbox: GetWallbox,
    retry: RetryPolicy,
    key: WallboxKey,
    *,
    interval: float,
    include_deleted: bool,
) -> AsyncGenerator[WallboxDetailOutput, None]:
    """``PoderoClient.watch_wallbox``: ``get_wallbox`` every ``interval``, transient errors backed off by ``retry``."""
    if not is_finite_number(interval) or interval <= 0:
        raise InvalidArgumentError(f"interval must be a finite number of seconds > 0, got {interval!r}")
    org_id, user_id, wallbox_id = key
    ids = as_uuid("org_id", org_id), as_uuid("user_id", user_id), as_uuid("wallbox_id", wallbox_id)
    last: object = None
    failures = 0
    while True:
        try:
            wallbox = await get_wallbox(*ids, include_deleted=include_deleted)
        except PoderoError as error:
            if not _transient(error):
                raise
            failures += 1
            delay = min(interval, max(retry.backoff(failures), getattr(error, "retry_after", None) or 0.0))
            logger.warning("watch_wallbox: %s; polling again in %.1fs", error, delay)
            await asyncio.sleep(delay)
            continue
        failures = 0
        fingerprint = _fingerprint(wallbox)
        if fingerprint != last:
            last = fingerprint
            yield wallbox
        await asyncio.sleep(interval * random.uniform(0.9, 1.1))  # noqa: S311  # spreads pollers out
