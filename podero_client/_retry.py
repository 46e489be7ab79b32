"""Retry as an httpx transport wrapper, so that every generated endpoint gets it.

Three small decisions, each its own function: may this failure be retried
(``_retryable_error``, ``_retryable_response``), what does the server's Retry-After say
(``parse_retry_after``), and how long do we wait (``RetryPolicy.backoff``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from datetime import UTC, datetime

import attrs
import httpx

from ._errors import InvalidArgumentError

logger = logging.getLogger("podero_client")

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504, *range(520, 528)})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# A request that is safe to repeat although its method is not (a token grant) says so here.
IDEMPOTENT_EXTENSION = "podero_idempotent"
# A with_options view's RetryPolicy rides on its requests under this key, over the client's own.
RETRY_POLICY_EXTENSION = "podero_retry_policy"
# Failures that happen before the request can have reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float | None) -> None:
    if value is not None and not value >= 0:
        raise InvalidArgumentError(f"RetryPolicy.{attribute.name} must be >= 0, got {value!r}")


def _at_least_one(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"RetryPolicy.{attribute.name} must be an int >= 1, got {value!r}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """When and how long to retry a request.

    The wait before retry ``n`` (1 for the first retry) is::

        min(max_backoff, initial_backoff * 2 ** (n - 1)) * uniform(0.5, 1.0)

    unless the response carries ``Retry-After``, whose value is used as it is. A
    Retry-After longer than ``max_retry_after`` stops the retries at once: the caller gets
    the error, with ``retry_after`` set, instead of a task asleep for an hour.
    ``max_attempts`` counts the first try; ``RetryPolicy(max_attempts=1)`` turns retries off
    and ``initial_backoff=0`` makes them instant (tests). ``deadline`` bounds one call,
    attempts and waits together: a wait that would end past it is not started.
    """

    max_attempts: int = attrs.field(default=4, validator=_at_least_one)
    initial_backoff: float = attrs.field(default=0.5, validator=_non_negative)
    max_backoff: float = attrs.field(default=8.0, validator=_non_negative)
    max_retry_after: float = attrs.field(default=60.0, validator=_non_negative)
    deadline: float | None = attrs.field(default=None, validator=_non_negative)

    def backoff(self, retry: int) -> float:
        """The wait before retry number ``retry`` (1-based), with jitter."""
        ceiling = min(self.max_backoff, self.initial_backoff * 2.0 ** (retry - 1))
        return ceiling * random.uniform(0.5, 1.0)  # noqa: S311  # jitter, not cryptography


def parse_retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date.

    An HTTP-date is measured against the response's own ``Date`` header when there is one,
    so a skewed local clock does not stretch the wait. dateutil reads all three HTTP-date
    forms (RFC 9110 section 5.6.7) and the ISO 8601 dates some proxies send instead.
    Unparseable values give None.
    """
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    # Imported here: dateutil's parser adds ~17 ms to `import podero_client`, and most
    # servers send delta-seconds.
    from dateutil.parser import ParserError
    from dateutil.parser import parse as parse_date

    try:
        when = _as_utc(parse_date(value))
        server_now = headers.get("date")
        now = _as_utc(parse_date(server_now)) if server_now else datetime.now(UTC)
    except (ParserError, ValueError, OverflowError):
        return None
    return max(0.0, (when - now).total_seconds())


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _idempotent(request: httpx.Request) -> bool:
    return request.method in IDEMPOTENT_METHODS or bool(request.extensions.get(IDEMPOTENT_EXTENSION))


def _retryable_error(error: httpx.TransportError, request: httpx.Request) -> bool:
    """A failure to connect is retried for any method; a later one only when repeating is safe."""
    return isinstance(error, _NOT_SENT) or _idempotent(request)


def _retryable_response(response: httpx.Response, request: httpx.Request) -> bool:
    return response.status_code in RETRYABLE_STATUSES and _idempotent(request)


class RetryTransport(httpx.AsyncBaseTransport):
    """Wraps a transport and retries what ``policy`` allows, sleeping between attempts."""

    def __init__(self, wrapped: httpx.AsyncBaseTransport, policy: RetryPolicy) -> None:
        self._wrapped = wrapped
        self._policy = policy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        policy = request.extensions.get(RETRY_POLICY_EXTENSION) or self._policy
        started = time.monotonic()
        attempt = 1
        while True:
            error: httpx.TransportError | None = None
            response = None
            try:
                response = await self._send_once(request)
            except httpx.TransportError as exc:
                if attempt >= policy.max_attempts or not _retryable_error(exc, request):
                    raise
                error, delay, cause = exc, policy.backoff(attempt), type(exc).__name__
            else:
                if attempt >= policy.max_attempts or not _retryable_response(response, request):
                    return response
                retry_after = parse_retry_after(response.headers)
                if retry_after is not None and retry_after > policy.max_retry_after:
                    return response
                delay = policy.backoff(attempt) if retry_after is None else retry_after
                cause = f"HTTP {response.status_code}"
            if policy.deadline is not None and time.monotonic() - started + delay > policy.deadline:
                if error is not None:
                    raise error
                assert response is not None
                return response
            attempt += 1
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
            await asyncio.sleep(delay)

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
        await self._wrapped.aclose()
