"""Retry as an httpx transport wrapper, so that every generated endpoint gets it.

Three small decisions, each its own function: may this failure be retried
(``_retryable_error``, ``_retryable_response``), what does the server's Retry-After say
(``parse_retry_after``, in the leaf module ``_utils`` that the error mapping reads too),
and how long do we wait (``RetryPolicy.backoff``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import TYPE_CHECKING, Any

import attrs
import httpx

from ._budget import Budget
from ._errors import ClientClosedError, InvalidArgumentError
from ._utils import certificate_failure, is_finite_number, parse_retry_after

if TYPE_CHECKING:
    from ._telemetry import Telemetry

__all__ = ["RetryPolicy", "RetryTransport"]

logger = logging.getLogger("podero_client")

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504, *range(520, 528)})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# A request that is safe to repeat although its method is not (a token grant) says so here.
IDEMPOTENT_EXTENSION = "podero_idempotent"
# A with_options view's RetryPolicy rides on its requests under this key, over the client's own.
RETRY_POLICY_EXTENSION = "podero_retry_policy"
# When the whole call must be over (time.monotonic()), set by whoever starts the call
# (the auth flow), so that the token wait, every attempt and the 401 replay share it.
DEADLINE_EXTENSION = "podero_deadline"
# The request's own timeouts, kept while each attempt's are shrunk to the time left.
_BASE_TIMEOUT_EXTENSION = "podero_base_timeout"
# Failures that happen before the request can have reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# 2 ** 64 times any sane initial_backoff is past any max_backoff; the exponent stops there.
_MAX_EXPONENT = 64


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not is_finite_number(value) or value < 0:
        raise InvalidArgumentError(f"RetryPolicy.{attribute.name} must be a finite number >= 0, got {value!r}")


def _positive_or_none(instance: object, attribute: attrs.Attribute[float | None], value: float | None) -> None:
    if value is not None and (not is_finite_number(value) or value <= 0):
        raise InvalidArgumentError(f"RetryPolicy.{attribute.name} must be None or a finite number > 0, got {value!r}")


def _at_least_one(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"RetryPolicy.{attribute.name} must be an int >= 1, got {value!r}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """When and how long to retry a request.

    The wait before retry ``n`` (1 for the first retry) is::

        min(max_backoff, initial_backoff * 2 ** min(n - 1, 64)) * uniform(0.5, 1.0)

    unless the response carries a valid ``Retry-After``, whose value is used as it is. A
    Retry-After longer than ``max_retry_after`` stops the retries at once: the caller gets
    the error, with ``retry_after`` set, instead of a task asleep for an hour.
    ``max_attempts`` counts the first try; ``RetryPolicy(max_attempts=1)`` turns retries off
    and ``initial_backoff=0`` makes them instant (tests). ``deadline`` bounds one call as a
    whole: the wait for a token, every attempt (its timeouts shrink to the time left, its
    body read included), every wait between attempts and the replay after a 401.
    Every field is checked at construction: finite numbers, in range.
    """

    max_attempts: int = attrs.field(default=4, validator=_at_least_one)
    initial_backoff: float = attrs.field(default=0.5, validator=_non_negative)
    max_backoff: float = attrs.field(default=8.0, validator=_non_negative)
    max_retry_after: float = attrs.field(default=60.0, validator=_non_negative)
    deadline: float | None = attrs.field(default=None, validator=_positive_or_none)

    def backoff(self, retry: int) -> float:
        """The wait before retry number ``retry`` (1-based), with jitter; any ``retry`` is fine."""
        # The exponent is capped first: 2.0 ** 1024 raises OverflowError, and a watcher
        # counts its failures without bound.
        exponent = min(max(retry - 1, 0), _MAX_EXPONENT)
        ceiling = min(self.max_backoff, self.initial_backoff * 2.0**exponent)
        return ceiling * random.uniform(0.5, 1.0)  # noqa: S311  # jitter, not cryptography


def start_deadline(request: httpx.Request, policy: RetryPolicy) -> float | None:
    """The call's deadline on ``request``, set now unless an earlier step already set it."""
    deadline: float | None = request.extensions.get(DEADLINE_EXTENSION)
    if deadline is None and policy.deadline is not None:
        deadline = time.monotonic() + policy.deadline
        request.extensions[DEADLINE_EXTENSION] = deadline
    return deadline


def _idempotent(request: httpx.Request) -> bool:
    return request.method in IDEMPOTENT_METHODS or bool(request.extensions.get(IDEMPOTENT_EXTENSION))


def _retryable_error(error: httpx.TransportError, request: httpx.Request) -> bool:
    """A failure to connect is retried for any method; a later one only when repeating is safe.

    An untrusted certificate is not transient, and a request we could not even write
    (LocalProtocolError: a header HTTP/1.1 forbids) would fail the same way: never retried.
    """
    if isinstance(error, httpx.LocalProtocolError) or certificate_failure(error):
        return False
    return isinstance(error, _NOT_SENT) or _idempotent(request)


def _retryable_response(response: httpx.Response, request: httpx.Request) -> bool:
    return response.status_code in RETRYABLE_STATUSES and _idempotent(request)


def _shrink_timeout(request: httpx.Request, remaining: float) -> None:
    """Cap each of this attempt's timeouts (connect, read, write, pool) at the time left."""
    base: dict[str, Any] = request.extensions.setdefault(_BASE_TIMEOUT_EXTENSION, request.extensions.get("timeout", {}))
    request.extensions["timeout"] = {
        part: remaining if value is None else min(value, remaining)
        for part, value in (base or dict.fromkeys(("connect", "read", "write", "pool"))).items()
    }


class RetryTransport(httpx.AsyncBaseTransport):
    """Wraps a transport and retries what ``policy`` allows, sleeping between attempts.

    Once closed, a call asleep between attempts wakes at once, and a call whose attempt
    failed because the pool closed under it, ends with ClientClosedError.
    With a ``budget`` (``rate_limit=``), every attempt waits for its slot first, and a 429
    pauses the whole budget: this is the one place every request of the client passes.
    """

    def __init__(self, wrapped: httpx.AsyncBaseTransport, policy: RetryPolicy, budget: Budget | None = None) -> None:
        self._wrapped = wrapped
        self._policy = policy
        self.budget = budget
        self._closed = False
        self._closing: asyncio.Event | None = None  # made on the first sleep, in the loop that sleeps
        self.telemetry: Telemetry | None = None  # set by PoderoClient when telemetry is on

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        policy = request.extensions.get(RETRY_POLICY_EXTENSION) or self._policy
        deadline = start_deadline(request, policy)
        budget = self.budget
        attempt = 1
        telemetry = self.telemetry
        while True:
            error: httpx.TransportError | None = None
            response = None
            retry_after: float | None = None
            if budget is not None:  # outside the try: a wait that timed out is not retried
                await budget.acquire(request, deadline)
            try:
                if telemetry is None:
                    response = await self._attempt(request, deadline)
                else:
                    response = await telemetry.attempt(self._attempt, request, deadline)
            except httpx.TransportError as exc:
                if self._closed:
                    raise ClientClosedError("the PoderoClient was closed while this call was in flight") from exc
                if attempt >= policy.max_attempts or not _retryable_error(exc, request):
                    raise
                error, delay, cause = exc, policy.backoff(attempt), type(exc).__name__
            else:
                final = attempt >= policy.max_attempts or not _retryable_response(response, request)
                pausing = response.status_code == 429 and budget is not None
                if final and not pausing:
                    return response
                retry_after = parse_retry_after(response.headers)
                delay = policy.backoff(attempt) if retry_after is None else retry_after
                if pausing and budget is not None:  # Podero asked this client to stop: every request waits
                    budget.cooldown(delay)
                if final or (retry_after is not None and retry_after > policy.max_retry_after):
                    return response
                cause = f"HTTP {response.status_code}"
            if deadline is not None and time.monotonic() + delay >= deadline:
                if error is not None:
                    raise error
                assert response is not None
                return response
            attempt += 1
            if telemetry is not None:
                telemetry.retrying(error, response, delay, retry_after is not None)
            logger.info(
                "retrying %s %s in %.2fs (attempt %d of %d) after %s",
                request.method,
                request.url.path,
                delay,
                attempt,
                policy.max_attempts,
                cause,
                extra={"podero_attempt": attempt, "podero_delay": delay, "podero_cause": cause},
            )
            await self._sleep(delay)

    async def _attempt(self, request: httpx.Request, deadline: float | None) -> httpx.Response:
        """One attempt; with a deadline, its timeouts and its body read end by the deadline."""
        if self._closed:
            raise ClientClosedError("this PoderoClient is closed; create a new one")
        if deadline is None:
            return await self._send_once(request)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise httpx.ConnectTimeout("the RetryPolicy deadline ran out before this attempt", request=request)
        _shrink_timeout(request, remaining)
        # The timeouts above bound each connect and each read; a body trickled a byte at a
        # time never trips a read timeout, so the attempt as a whole is bounded too.
        try:
            async with asyncio.timeout(remaining):
                return await self._send_once(request)
        except TimeoutError:  # only asyncio.timeout raises it: httpx's own are not TimeoutError
            raise httpx.ReadTimeout("the RetryPolicy deadline ran out during this attempt", request=request) from None

    async def _send_once(self, request: httpx.Request) -> httpx.Response:
        """One attempt, body included, so that a connection dropped mid-body is retried too."""
        response = await self._wrapped.handle_async_request(request)
        try:
            await response.aread()
        except BaseException:
            await response.aclose()  # give the connection back, even when cancelled
            raise
        return response

    async def _sleep(self, delay: float) -> None:
        """Wait ``delay`` seconds, or until the transport is closed: then ClientClosedError."""
        if self._closing is None:
            self._closing = asyncio.Event()
        try:
            await asyncio.wait_for(self._closing.wait(), delay)
        except TimeoutError:
            return
        raise ClientClosedError("the PoderoClient was closed while this call waited to retry")

    async def aclose(self) -> None:
        self._closed = True
        if self._closing is not None:
            self._closing.set()
        if self.budget is not None:
            await self.budget.aclose()
        await self._wrapped.aclose()
