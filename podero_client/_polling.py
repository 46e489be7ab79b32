"""The conveniences over ``get_wallbox``: a bounded batch, and change-only polling."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import AsyncGenerator, Iterable
from datetime import datetime
from typing import Self, cast

from ._context import Priority
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


class WallboxPolling:
    """Mixed into PoderoClient: everything here goes through its ``get_wallbox``."""

    retry: RetryPolicy

    async def get_wallbox(
        self,
        org_id: uuid.UUID | str,
        user_id: uuid.UUID | str,
        wallbox_id: uuid.UUID | str,
        *,
        include_deleted: bool = False,
    ) -> WallboxDetailOutput:
        raise NotImplementedError  # pragma: no cover  # PoderoClient's

    def with_options(self, *, priority: Priority | None = None) -> Self:
        raise NotImplementedError  # pragma: no cover  # PoderoClient's

    async def get_wallboxes(
        self, keys: Iterable[WallboxKey], *, concurrency: int = 10, include_deleted: bool = False
    ) -> list[WallboxDetailOutput | PoderoError]:
        """Many wallboxes, at most ``concurrency`` requests at a time, results in input order.

        ``keys`` are (org_id, user_id, wallbox_id) triples. Each result is the wallbox or the
        PoderoError for that key (a malformed key gives InvalidArgumentError): one failure
        never fails the batch. Cancelling the call cancels the requests still in flight.
        With a ``rate_limit``, its calls wait in the budget's background lane.
        """
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise InvalidArgumentError(f"concurrency must be an int >= 1, got {concurrency!r}")
        pending = list(keys)
        results: list[WallboxDetailOutput | PoderoError | None] = [None] * len(pending)
        queue = iter(enumerate(pending))
        background = self.with_options(priority="background")

        async def worker() -> None:
            for index, key in queue:  # one shared iterator: each key is taken once
                results[index] = await background._wallbox_or_error(key, include_deleted)

        async with asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, len(pending))):
                group.create_task(worker())
        # Every slot is filled: the TaskGroup waited for every worker, and workers only store.
        return cast(list[WallboxDetailOutput | PoderoError], results)

    async def _wallbox_or_error(self, key: object, include_deleted: bool) -> WallboxDetailOutput | PoderoError:
        if not isinstance(key, tuple | list) or len(key) != 3:
            return InvalidArgumentError(f"a key must be an (org_id, user_id, wallbox_id) triple, got {key!r}")
        try:
            return await self.get_wallbox(*key, include_deleted=include_deleted)
        except PoderoError as error:
            return error

    async def watch_wallbox(
        self,
        org_id: uuid.UUID | str,
        user_id: uuid.UUID | str,
        wallbox_id: uuid.UUID | str,
        *,
        interval: float = 60.0,
        include_deleted: bool = False,
    ) -> AsyncGenerator[WallboxDetailOutput, None]:
        """Poll one wallbox every ``interval`` seconds (+-10 %), yielding it when it changed.

        The first poll always yields. A change is a new ``current_state_last_updated_at``
        or ``updated_at`` (the payload, when neither is set). Transient errors (no answer,
        5xx, 429, a garbled body) are logged and polled again after a backoff, capped at
        ``interval``; AuthenticationError, NotFoundError and other 4xx are raised. Stop with
        ``break`` or by cancelling the task. Podero refreshes device state every 5 to 15
        minutes, so an interval under a minute mostly yields nothing new. With a
        ``rate_limit``, its polls wait in the budget's background lane.
        """
        if not is_finite_number(interval) or interval <= 0:
            raise InvalidArgumentError(f"interval must be a finite number of seconds > 0, got {interval!r}")
        ids = as_uuid("org_id", org_id), as_uuid("user_id", user_id), as_uuid("wallbox_id", wallbox_id)
        last: object = None
        failures = 0
        background = self.with_options(priority="background")
        while True:
            try:
                wallbox = await background.get_wallbox(*ids, include_deleted=include_deleted)
            except PoderoError as error:
                if not _transient(error):
                    raise
                failures += 1
                delay = min(interval, max(self.retry.backoff(failures), getattr(error, "retry_after", None) or 0.0))
                logger.warning("watch_wallbox: %s; polling again in %.1fs", error, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            fingerprint = _fingerprint(wallbox)
            if fingerprint != last:
                last = fingerprint
                yield wallbox
            await asyncio.sleep(interval * random.uniform(0.9, 1.1))  # noqa: S311  # spreads pollers out
