"""Retry as an httpx transport wrapper, so that every generated endpoint gets it.

What happens after an attempt is one pure function, ``decide``, of the attempt number, its
outcome, the policy and the clock; it answers with a ``Decision`` (retry after so long,
or give up; and whether to pause the client, a 429). It is built from three small
questions: may this failure be retried (``_retryable_error``, ``RETRYABLE_STATUSES``),
what does the server's Retry-After say (``parse_retry_after``, in the leaf module
``_utils`` that the error mapping reads too), and how long do we wait
(``RetryPolicy.backoff``). ``RetryTransport.handle_async_request`` is the loop around it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import TYPE_CHECKING

import attrs
import httpx

from ._budget import Budget
from ._context import context_of, with_context
from ._errors import InvalidArgumentError
from ._lifecycle import Lifecycle, closed_error
from ._utils import certificate_failure, is_finite_number, parse_retry_after

if TYPE_CHECKING:
    from ._telemetry import Telemetry

__all__ = ["RetryPolicy", "RetryTransport"]

logger = logging.getLogger("podero_client")

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504, *range(520, 528)})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
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
    the error, with ``retry_after`` set, instead of a task asleep for an hour, and a
    warning is logged. With a ``rate_limit``, a 429 pauses the whole client for its wait,
    but never longer than ``max_retry_after``.
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


@attrs.frozen
class Decision:
    """What follows an attempt: ``retry_in`` seconds (None: give up, the outcome is the caller's).

    ``pause``: a 429 asks the whole client to stop for this long (already capped at
    ``max_retry_after``); ``retry_after``: the server's own Retry-After, if it gave one;
    ``cause``: why, for the log.
    """

    retry_in: float | None
    pause: float | None = None
    retry_after: float | None = None
    cause: str = ""


GIVE_UP = Decision(None)


def decide(
    attempt: int,
    outcome: httpx.Response | httpx.TransportError,
    policy: RetryPolicy,
    *,
    idempotent: bool,
    now: float,
    deadline: float | None,
) -> Decision:
    """What happens after attempt number ``attempt`` (1-based) ended in ``outcome``; no I/O.

    A response that is not worth a second look (a 2xx, a 404) gives up at once, before any
    header is read. A 429 pauses the client for its Retry-After (or the backoff) capped at
    ``max_retry_after``, retried or not. A Retry-After past that cap gives up; so does a
    wait that would end after ``deadline``.
    """
    if isinstance(outcome, httpx.Response):
        status = outcome.status_code
        retryable = attempt < policy.max_attempts and status in RETRYABLE_STATUSES and idempotent
        if status != 429 and not retryable:
            return GIVE_UP
        retry_after = parse_retry_after(outcome.headers)
        delay = policy.backoff(attempt) if retry_after is None else retry_after
        pause = min(delay, policy.max_retry_after) if status == 429 else None
        if not retryable or (retry_after is not None and retry_after > policy.max_retry_after):
            return Decision(None, pause, retry_after)
        cause = f"HTTP {status}"
    else:
        if attempt >= policy.max_attempts or not _retryable_error(outcome, idempotent=idempotent):
            return GIVE_UP
        delay, pause, retry_after, cause = policy.backoff(attempt), None, None, type(outcome).__name__
    if deadline is not None and now + delay >= deadline:
        return Decision(None, pause, retry_after)
    return Decision(delay, pause, retry_after, cause)


def start_deadline(request: httpx.Request, policy: RetryPolicy) -> float | None:
    """The call's deadline on ``request``, set now unless an earlier step already set it."""
    context = context_of(request)
    if context.deadline is None and policy.deadline is not None:
        context = with_context(request, attrs.evolve(context, deadline=time.monotonic() + policy.deadline))
    return context.deadline


def _retryable_error(error: httpx.TransportError, *, idempotent: bool) -> bool:
    """A failure to connect is retried for any method; a later one only when repeating is safe.

    An untrusted certificate is not transient, and a request we could not even write
    (LocalProtocolError: a header HTTP/1.1 forbids) would fail the same way: never retried.
    """
    if isinstance(error, httpx.LocalProtocolError) or certificate_failure(error):
        return False
    return isinstance(error, _NOT_SENT) or idempotent


def _shrink_timeout(request: httpx.Request, remaining: float) -> None:
    """Cap each of this attempt's timeouts (connect, read, write, pool) at the time left."""
    context = context_of(request)
    base = context.base_timeout
    if base is None:
        base = request.extensions.get("timeout") or dict.fromkeys(("connect", "read", "write", "pool"))
        with_context(request, attrs.evolve(context, base_timeout=base))
    request.extensions["timeout"] = {
        part: remaining if value is None else min(value, remaining) for part, value in base.items()
    }


class RetryTransport(httpx.AsyncBaseTransport):
    """Wraps a transport and retries what ``policy`` allows, sleeping between attempts.

    Once closed, a call asleep between attempts wakes at once, and a call whose attempt
    failed because the pool closed under it, ends with ClientClosedError.
    With a ``budget`` (``rate_limit=``), every attempt waits for its slot first, and a 429
    pauses the whole budget: this is the one place every request of the client passes.
    """

    def __init__(
        self,
        wrapped: httpx.AsyncBaseTransport,
        policy: RetryPolicy,
        budget: Budget | None = None,
        *,
        lifecycle: Lifecycle | None = None,
    ) -> None:
        self._wrapped = wrapped
        self._policy = policy
        self.budget = budget
        self._lifecycle = lifecycle or Lifecycle()
        self.telemetry: Telemetry | None = None  # set by PoderoClient when telemetry is on

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        context = context_of(request)
        policy = context.policy or self._policy
        deadline = start_deadline(request, policy)
        idempotent = context.idempotent or request.method in IDEMPOTENT_METHODS
        budget = self.budget
        attempt = 1
        while True:
            if budget is not None:  # outside the try: a wait that timed out is not retried
                await budget.acquire(request, deadline)
            outcome: httpx.Response | httpx.TransportError
            try:  # inline, not a helper: a coroutine frame per attempt is measurable on the hot path
                if self.telemetry is None:
                    outcome = await self._attempt(request, deadline)
                else:
                    outcome = await self.telemetry.attempt(self._attempt, request, deadline)
            except httpx.TransportError as exc:
                if self._lifecycle.closed:
                    raise closed_error("was in flight") from exc
                outcome = exc
            decision = decide(attempt, outcome, policy, idempotent=idempotent, now=time.monotonic(), deadline=deadline)
            if decision.pause is not None:
                self._pause(request, decision, policy)
            if decision.retry_in is None:
                if isinstance(outcome, httpx.Response):
                    return outcome
                raise outcome
            attempt += 1
            self._retrying(request, outcome, decision, attempt, policy)
            await self._lifecycle.sleep(decision.retry_in, during="waited to retry")

    def _retrying(
        self,
        request: httpx.Request,
        outcome: httpx.Response | httpx.TransportError,
        decision: Decision,
        attempt: int,
        policy: RetryPolicy,
    ) -> None:
        """Say so (log, telemetry) before the wait for attempt number ``attempt``."""
        assert decision.retry_in is not None  # a retry: mypy cannot see it through the caller
        if self.telemetry is not None:
            error = None if isinstance(outcome, httpx.Response) else outcome
            response = outcome if isinstance(outcome, httpx.Response) else None
            self.telemetry.retrying(error, response, decision.retry_in, decision.retry_after is not None)
        logger.info(
            "retrying %s %s in %.2fs (attempt %d of %d) after %s",
            request.method,
            request.url.path,
            decision.retry_in,
            attempt,
            policy.max_attempts,
            decision.cause,
            extra={"podero_attempt": attempt, "podero_delay": decision.retry_in, "podero_cause": decision.cause},
        )

    def _pause(self, request: httpx.Request, decision: Decision, policy: RetryPolicy) -> None:
        """A 429: the whole client stops for ``decision.pause``; a longer Retry-After is said once, loudly."""
        asked = decision.retry_after
        if asked is not None and asked > policy.max_retry_after:
            logger.warning(
                "%s %s: the server asked to wait %.0fs (Retry-After), past RetryPolicy.max_retry_after=%gs: "
                "this call fails now%s",
                request.method,
                request.url.path,
                asked,
                policy.max_retry_after,
                "" if self.budget is None else f" and the client pauses for {policy.max_retry_after:g}s only",
                extra={"podero_retry_after": asked, "podero_max_retry_after": policy.max_retry_after},
            )
        if self.budget is not None and decision.pause is not None:
            self.budget.cooldown(decision.pause, retry_after=asked)

    async def _attempt(self, request: httpx.Request, deadline: float | None) -> httpx.Response:
        """One attempt; with a deadline, its timeouts and its body read end by the deadline."""
        self._lifecycle.check()
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

    async def aclose(self) -> None:
        self._lifecycle.close()
        if self.budget is not None:
            await self.budget.aclose()
        await self._wrapped.aclose()
