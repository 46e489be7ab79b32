"""PoderoClient: the facade that owns one httpx.AsyncClient.

A call goes: facade -> generated endpoint (request builder and parser) ->
httpx.AsyncClient (builds the request, once per endpoint and arguments) ->
PoderoAuth (token flows) -> RetryTransport -> network. Both of the latter are the
httpx client's too; the facade drives them itself (``_send``), without httpx's
redirect, hook and cookie layers, which this client never uses.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import logging
import os
import ssl
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Iterable, Mapping
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import attrs
import httpx

from . import _polling
from ._auth import BearerToken, ClientCredentials, Credentials, PasswordCredentials, PoderoAuth, TokenManager
from ._body import ACCEPT_ENCODING
from ._budget import Budget, LocalBudget, RateLimit, RateLimitState
from ._context import CONTEXT_EXTENSION, PRIORITIES, CallContext, Priority
from ._errors import (
    InvalidArgumentError,
    PoderoError,
    ResponseTooLargeError,
    ResponseValidationError,
    redact,
    redact_head,
    status_error,
    transport_error,
)
from ._extras import install_hint
from ._fleet import Fleets, FleetWatch
from ._fleet_shared import RedisFleet
from ._generated.api import Resources
from ._generated.client import AuthenticatedClient
from ._generated.models import WallboxDetailOutput
from ._generated.types import UNSET, APIResponse
from ._lifecycle import Lifecycle, closed_error
from ._pages import paginate
from ._redis_budget import RedisBudget, RedisRateLimit
from ._requests import RequestBuilder
from ._retry import RetryPolicy, RetryTransport
from ._settings import as_id_argument as _as_id_argument
from ._settings import check_headers, check_leeway, check_timeout, check_url, warn_of_other_credentials
from ._transport import DEFAULT_BACKEND, DEFAULT_LIMITS, DEFAULT_MAX_RESPONSE_BYTES, Backend, build_transport

try:  # the otel extra: imported with the package, so that no client's construction blocks its event loop
    from ._telemetry import Telemetry
except ImportError:
    Telemetry = None  # type: ignore[assignment,misc]  # without the extra: nothing of OpenTelemetry is imported

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

PRODUCTION_URL = "https://app.podero.com"
SANDBOX_URL = "https://sandbox-app.podero.com"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)

T = TypeVar("T")
# What an operation's answer may not fit: the generated parsers raise these on a bad body.
_PARSE_ERRORS = (ValueError, KeyError, TypeError, AttributeError, RecursionError, OverflowError)
logger = logging.getLogger("podero_client")
_httpx_logger = logging.getLogger("httpx")  # the line httpx's own send logs for each response


def _wrong_type(value: object, types: tuple[type, ...]) -> bool:
    """Not one of ``types``; a bool is not an int here (isinstance says it is)."""
    return not isinstance(value, types) or (isinstance(value, bool) and bool not in types)


@attrs.frozen
class _Options:
    """Per-call settings of a ``with_options`` view, applied to each request it sends.

    ``context`` is what its requests carry below the facade (its retry policy and its
    lane), built once here, not per call.
    """

    timeout: httpx.Timeout | None = None
    retry: RetryPolicy | None = None
    headers: tuple[tuple[str, str], ...] = ()
    priority: Priority = "interactive"
    context: CallContext = attrs.field(
        default=attrs.Factory(lambda self: CallContext(policy=self.retry, priority=self.priority), takes_self=True)
    )


def _copy_request(prepared: httpx.Request, extensions: dict[str, Any]) -> httpx.Request:
    """A copy of a prepared request with its own headers and extensions, which auth and retry change.

    The body stream is shared: it is bytes. httpx's copy protocol (``__getstate__``) drops
    the stream, so the fields are copied here.
    """
    request = httpx.Request.__new__(httpx.Request)
    request.__dict__.update(prepared.__dict__)
    request.headers = prepared.headers.copy()
    request.extensions = extensions
    return request


def _load_telemetry(
    base_url: str,
    enabled: bool | None,
    tracer_provider: TracerProvider | None,
    meter_provider: MeterProvider | None,
) -> Telemetry | None:
    """The client's Telemetry: on by default when opentelemetry-api is installed."""
    if enabled is not None and not isinstance(enabled, bool):
        raise InvalidArgumentError(f"telemetry must be True, False or None, got {type(enabled).__name__}")
    if enabled is False:
        return None
    if Telemetry is None:
        if enabled or tracer_provider is not None or meter_provider is not None:
            raise InvalidArgumentError(f"telemetry needs opentelemetry-api: {install_hint('otel')}") from None
        return None
    return Telemetry(base_url, tracer_provider, meter_provider)


def _budget_for(rate_limit: object, lifecycle: Lifecycle) -> Budget | None:
    """The runtime budget of a ``rate_limit`` setting; InvalidArgumentError for anything else."""
    if rate_limit is None:
        return None
    if isinstance(rate_limit, RateLimit):
        return LocalBudget(rate_limit, lifecycle=lifecycle)
    if isinstance(rate_limit, RedisRateLimit):
        return RedisBudget(rate_limit, lifecycle=lifecycle)
    raise InvalidArgumentError(
        f"rate_limit must be a RateLimit, a RedisRateLimit or None, got {type(rate_limit).__name__}"
    )


class _NoCookies(httpx.Cookies):
    """Podero authenticates by token: parsing Set-Cookie on every response is wasted CPU."""

    def extract_cookies(self, response: httpx.Response) -> None:
        pass


class PoderoClient(Resources):
    """An async client for the Podero Partner API; use it as ``async with PoderoClient(...) as podero``.

    Every operation of the spec is a method of one attribute per tag:
    ``await podero.user_wallboxes.retrieve_wallbox(org_id, user_id, wallbox_id)``; each
    attribute's ``with_raw_response`` has the same methods returning an ``APIResponse``.
    One instance is meant to be shared by all the tasks of a process: it holds one
    connection pool and one token. Every argument is keyword-only.
    The bytes go through aiohttp by default (``http_backend="aiohttp"``), which costs a
    fraction of httpx's client CPU per request (BENCHMARKS.md); ``http_backend="httpx"``
    behaves the same. ``limits`` (default 100 connections), ``proxy``, ``trust_env``
    (HTTP(S)_PROXY and NO_PROXY) and ``max_response_bytes`` (10 MiB) apply to both.
    With ``opentelemetry-api`` installed (the ``otel`` extra), every call, attempt and token
    request is traced and measured, through the global providers unless ``tracer_provider``
    or ``meter_provider`` is given; ``telemetry=False`` turns it off (docs/observability.md).
    ``rate_limit`` (a ``RateLimit``, or a ``RedisRateLimit`` shared by several processes)
    bounds every request the client sends; see docs/rate-limits.md.
    """

    def __init__(
        self,
        *,
        credentials: Credentials,
        base_url: str = PRODUCTION_URL,
        retry: RetryPolicy | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        leeway: float = 60.0,
        allow_insecure_http: bool = False,
        verify: bool | ssl.SSLContext = True,
        limits: httpx.Limits = DEFAULT_LIMITS,
        proxy: str | None = None,
        trust_env: bool = True,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        http_backend: Backend = DEFAULT_BACKEND,
        telemetry: bool | None = None,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        rate_limit: RateLimit | RedisRateLimit | None = None,
    ) -> None:
        if not isinstance(credentials, ClientCredentials | PasswordCredentials | BearerToken):
            raise InvalidArgumentError(
                "credentials must be ClientCredentials, PasswordCredentials or BearerToken, "
                f"got {type(credentials).__name__}"
            )
        url = check_url("base_url", base_url, allow_insecure_http=allow_insecure_http)
        token_url = getattr(credentials, "token_url", None)
        if token_url is not None:
            check_url("token_url", token_url, allow_insecure_http=allow_insecure_http, absolute=False)
        check_timeout(timeout)
        leeway = check_leeway(leeway)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidArgumentError(f"retry must be a RetryPolicy or None, got {type(retry).__name__}")
        lifecycle = Lifecycle()  # one for the client, its views and every part below
        budget = _budget_for(rate_limit, lifecycle)

        self.base_url = str(url).rstrip("/")
        self.retry = retry or RetryPolicy()
        transport = build_transport(
            backend=http_backend,
            verify=verify,
            limits=limits,
            proxy=proxy,
            trust_env=trust_env,
            max_response_bytes=max_response_bytes,
            lifecycle=lifecycle,
        )
        # Kept here too: _send drives the auth flow and this transport itself.
        self.rate_limit = rate_limit
        self._lifecycle = lifecycle
        self._transport = RetryTransport(transport, self.retry, budget, lifecycle=self._lifecycle)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=self._transport,
            timeout=timeout,
            # Never follow a redirect: it could carry the token to another origin.
            follow_redirects=False,
            # Accept-Encoding: only what the transports inflate with the max_response_bytes bound.
            headers={
                "Accept": "application/json",
                "Accept-Encoding": ACCEPT_ENCODING,
                "User-Agent": "podero-client-python",
            },
        )
        # No public switch: the jar httpx builds from ``cookies=`` is always a plain one.
        self._http._cookies = _NoCookies()
        self._requests = RequestBuilder(self._http, self.base_url)
        self._tokens = TokenManager(credentials, self._http, leeway=leeway, lifecycle=self._lifecycle)
        self._auth = PoderoAuth(self._tokens, self.retry)
        self._http.auth = self._auth
        # The generated client only carries our httpx client; auth lives in PoderoAuth.
        self._api = AuthenticatedClient(base_url=self.base_url, token="").set_async_httpx_client(self._http)
        self._options: _Options | None = None
        self._telemetry = _load_telemetry(self.base_url, telemetry, tracer_provider, meter_provider)
        self._transport.telemetry = self._tokens.telemetry = self._telemetry
        self._fleets = Fleets(self._lifecycle)  # shared by with_options views
        if self._telemetry is not None:  # the budget and fleet gauges read these two parts, nothing else
            self._telemetry.observe(budget, self._fleets)
        # The generated resources (podero.<tag>) send every operation through the one core below.
        self._bind_resources(self._call, self._paginate)

    def __repr__(self) -> str:
        return f"PoderoClient(base_url={self.base_url!r}, credentials={self._tokens!r})"

    @property
    def rate_limit_state(self) -> RateLimitState | None:
        """The request budget now (calls waiting, the 429 pause); None without ``rate_limit``."""
        budget = self._transport.budget
        return None if budget is None else budget.state()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> Self:
        """Build a client from ``PODERO_*`` environment variables.

        Credentials, first match wins: ``PODERO_CLIENT_ID`` and ``PODERO_CLIENT_SECRET``;
        ``PODERO_USERNAME`` and ``PODERO_PASSWORD``; ``PODERO_TOKEN``. When others are set
        too, a warning (once per process) names the ones used. ``PODERO_BASE_URL``
        overrides the production URL. Other keyword arguments go to the constructor.
        """
        env = os.environ if environ is None else environ
        credentials: Credentials
        warn_of_other_credentials(env)
        if env.get("PODERO_CLIENT_ID") and env.get("PODERO_CLIENT_SECRET"):
            credentials = ClientCredentials(env["PODERO_CLIENT_ID"], env["PODERO_CLIENT_SECRET"])
        elif env.get("PODERO_USERNAME") and env.get("PODERO_PASSWORD"):
            credentials = PasswordCredentials(env["PODERO_USERNAME"], env["PODERO_PASSWORD"])
        elif env.get("PODERO_TOKEN"):
            credentials = BearerToken(env["PODERO_TOKEN"])
        else:
            pairs = [("PODERO_CLIENT_ID", "PODERO_CLIENT_SECRET"), ("PODERO_USERNAME", "PODERO_PASSWORD")]
            for first, second in pairs:
                if bool(env.get(first)) != bool(env.get(second)):
                    given, missing = (first, second) if env.get(first) else (second, first)
                    raise InvalidArgumentError(f"{given} is set but {missing} is not: set both, or neither")
            raise InvalidArgumentError(
                "no Podero credentials in the environment: set PODERO_CLIENT_ID and PODERO_CLIENT_SECRET, "
                "or PODERO_USERNAME and PODERO_PASSWORD, or PODERO_TOKEN (and optionally PODERO_BASE_URL)"
            )
        if env.get("PODERO_BASE_URL"):
            kwargs.setdefault("base_url", env["PODERO_BASE_URL"])
        return cls(credentials=credentials, **kwargs)

    def _ensure_open(self) -> None:
        # The pool's own flag too: closed by hand (``podero._http``), it says so first.
        if self._lifecycle.closed or self._http.is_closed:
            raise closed_error()

    def with_options(
        self,
        *,
        timeout: float | httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        priority: Priority | None = None,
    ) -> Self:
        """A view of this client whose calls use other settings; it shares the pool, the token and the budget.

        ``timeout`` and ``retry`` replace the client's for the view's calls; ``headers`` are
        added to each of its requests (a view of a view keeps its parent's and adds its own).
        ``priority`` is the lane its calls wait in for the request budget (``rate_limit``):
        ``"interactive"`` (the default: served first) or ``"background"`` (bulk work, which
        keeps a share of the budget; ``get_wallboxes`` and ``watch_wallbox`` use it).
        Closing a view closes the shared pool: close the client instead, once, when done.
        """
        if timeout is not None:
            check_timeout(timeout)  # the constructor's check: nan, 0 and -1 are refused here too
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidArgumentError(f"retry must be a RetryPolicy, got {type(retry).__name__}")
        if priority is not None and priority not in PRIORITIES:
            raise InvalidArgumentError(f'priority must be "interactive" or "background", got {priority!r}')
        current = self._options or _Options()
        extra = {**dict(current.headers), **check_headers(headers)}
        if any(name.lower() == "authorization" for name in extra):
            raise InvalidArgumentError("headers must not set Authorization: the client manages the token")
        options = _Options(
            timeout=httpx.Timeout(timeout) if timeout is not None else current.timeout,
            retry=retry or current.retry,
            headers=tuple(extra.items()),
            priority=priority or current.priority,
        )
        view = copy.copy(self)
        view._options = options
        if retry is not None:
            view.retry = retry
        view._bind_resources(view._call, view._paginate)
        return view

    async def __aenter__(self) -> Self:
        self._ensure_open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool. Calls in flight and calls made afterwards raise ClientClosedError."""
        self._lifecycle.close()
        await self._fleets.aclose()  # first: their polls are cancelled, not cut off by the pool
        await self._tokens.aclose()  # first: a token request in flight is cancelled, not cut off
        await self._http.aclose()

    async def get_wallbox(
        self,
        org_id: uuid.UUID | str,
        user_id: uuid.UUID | str,
        wallbox_id: uuid.UUID | str,
        *,
        include_deleted: bool = False,
    ) -> WallboxDetailOutput:
        """The current state of one wallbox: ``user_wallboxes.retrieve_wallbox``.

        Raises InvalidArgumentError (a ValueError) before any I/O when an id is not a UUID,
        an APIStatusError subclass for a non-2xx answer after retries, APIConnectionError
        or APITimeoutError when no answer came, and ResponseValidationError for a body
        that does not fit the schema.
        """
        return await self.user_wallboxes.retrieve_wallbox(org_id, user_id, wallbox_id, include_deleted=include_deleted)

    async def get_wallbox_response(
        self,
        org_id: uuid.UUID | str,
        user_id: uuid.UUID | str,
        wallbox_id: uuid.UUID | str,
        *,
        include_deleted: bool = False,
    ) -> APIResponse[WallboxDetailOutput]:
        """Like ``get_wallbox``, with the status, headers and raw body beside the model."""
        raw = self.user_wallboxes.with_raw_response
        return await raw.retrieve_wallbox(org_id, user_id, wallbox_id, include_deleted=include_deleted)

    async def get_wallboxes(
        self, keys: Iterable[_polling.WallboxKey], *, concurrency: int = 10, include_deleted: bool = False
    ) -> list[WallboxDetailOutput | PoderoError]:
        """Many wallboxes, at most ``concurrency`` requests at a time, results in input order.

        ``keys`` are (org_id, user_id, wallbox_id) triples. Each result is the wallbox or the
        PoderoError for that key (a malformed key gives InvalidArgumentError): one failure
        never fails the batch. Cancelling the call cancels the requests still in flight.
        With a ``rate_limit``, its calls wait in the budget's background lane.
        """
        background = self.with_options(priority="background")
        return await _polling.get_wallboxes(
            background.get_wallbox, keys, concurrency=concurrency, include_deleted=include_deleted
        )

    def watch_wallbox(
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
        return _polling.watch_wallbox(
            self.with_options(priority="background").get_wallbox,
            self.retry,
            (org_id, user_id, wallbox_id),
            interval=interval,
            include_deleted=include_deleted,
        )

    def watch_wallboxes(
        self,
        keys: Iterable[_polling.WallboxKey] = (),
        *,
        interval: float = 60.0,
        fast_interval: float = 3.0,
        concurrency: int = 100,
        include_deleted: bool = False,
        shared: RedisFleet | None = None,
    ) -> FleetWatch:
        """Watch many wallboxes: ``async with podero.watch_wallboxes(keys) as fleet: async for event in fleet``.

        ``keys`` are (org_id, user_id, wallbox_id) triples, checked here (InvalidArgumentError,
        before any I/O); ``fleet.add(key)`` and ``fleet.remove(key)`` work while it runs.
        Each wallbox is polled about every ``interval`` seconds (+-5 % jitter), the first polls
        spread evenly over the first interval; every ``fast_interval`` seconds while a boost is
        requested (``boost_state``, where the spec has it) and, while the watch keeps up, for 3
        polls after a change.
        A poll whose ``current_state_last_updated_at`` and ``updated_at`` did not move yields
        nothing, and ``fleet.wallbox(key)`` stays the wallbox of the last change. Events:

        - ``WallboxChanged``: the first poll of each wallbox (``initial=True``, no changes),
          then each change, with ``changes`` = {field: (old, new)};
        - ``WallboxFailed``: one poll failed (after the client's retries) and the others go
          on; a 404 removes that wallbox (``removed=True``); a 401 or 403 concerns that key.

        Only the token endpoint refusing the credentials ends the watch: iteration raises that
        AuthenticationError. Events not yet read are kept one per wallbox (a second change
        merges into the first, from its old values to the latest), so a slow reader, or none
        (a watch used as a cache through ``fleet.wallbox(key)``), never stops the polls.
        Closing the client, ``fleet.aclose()`` or leaving the ``async with`` ends it and
        cancels the polls in flight; a watch on a closed client raises ClientClosedError.
        At most ``concurrency`` polls are in flight; with ``PoderoClient(rate_limit=...)`` they
        wait their turn in its budget, most overdue first (the pool timeout does not bound that
        wait: only Podero's answer, or the retry policy's ``deadline``, fails a poll), so a
        short budget makes every wallbox equally stale (``fleet.stats``).

        ``shared=RedisFleet(url=..., name=...)`` shares the watch with every replica that names
        the same fleet on the same Redis (docs/fleets.md): each polls the wallboxes it owns,
        a wallbox taken over or polled after a restart is compared with the last state the
        fleet wrote (``initial`` only for one it never saw), and each change also goes to the
        fleet's Redis stream. Entering such a watch raises FleetBackendError when Redis cannot
        be reached; later, Redis going away only holds the stream's entries back.
        """
        self._ensure_open()
        return self._fleets.watch(
            self._fleet_view().get_wallbox_response,
            keys,
            interval=interval,
            fast_interval=fast_interval,
            concurrency=concurrency,
            include_deleted=include_deleted,
            shared=shared,
        )

    def _fleet_view(self) -> Self:
        """The view every poll of a fleet watch goes through: the one place its calls are set up.

        In the budget's background lane: a user's call made meanwhile goes first.
        Without a pool timeout: a poll waits its turn for the budget (and a connection) however
        long the queue; its connect, read and write timeouts and the retry deadline still hold.
        """
        timeout = self._options.timeout if self._options is not None and self._options.timeout else self._http.timeout
        return self.with_options(
            timeout=httpx.Timeout(connect=timeout.connect, read=timeout.read, write=timeout.write, pool=None),
            priority="background",
        )

    def _request_for(self, endpoint: ModuleType, arguments: dict[str, Any]) -> httpx.Request:
        """Check the arguments and build the request; a wrong argument is InvalidArgumentError, before any I/O.

        The request is built by ``RequestBuilder`` (cached for arguments asked for again) and
        copied per call.
        """
        for name in endpoint.UUID_PARAMETERS:
            arguments[name] = _as_id_argument(name, arguments[name])
        zoned = False
        for name, types in endpoint.QUERY_TYPES:  # else httpx sends include_deleted="yes" as it is
            value = arguments.get(name)
            zoned = zoned or isinstance(value, datetime.datetime)
            if value is not None and value is not UNSET and _wrong_type(value, types):
                expected = " or ".join(kind.__name__ for kind in types)
                operation = endpoint.__name__.rpartition(".")[2]
                raise InvalidArgumentError(
                    f"bad argument for {operation}: {name} must be {expected} or None, got {type(value).__name__}"
                )
        key = tuple(arguments.items())
        options = self._options
        headers = options.headers if options is not None else ()
        try:
            if zoned:  # two datetimes of one instant in different zones are equal keys: built as given
                prepared = self._requests.build(endpoint, key, headers)
            else:
                try:
                    prepared = self._requests.prepared(endpoint, key, headers)
                except TypeError:  # an unhashable argument, such as a request body: built every time
                    prepared = self._requests.build(endpoint, key, headers)
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            # The generated builder calls .isoformat(), .to_dict(), .value on what it was given.
            name = endpoint.__name__.rpartition(".")[2]
            raise InvalidArgumentError(f"bad argument for {name}: {type(exc).__name__}: {exc}") from exc
        extensions = dict(prepared.extensions)  # the client's timeout, as build_request set it
        if options is not None:
            if options.timeout is not None:
                extensions["timeout"] = options.timeout.as_dict()
            extensions[CONTEXT_EXTENSION] = options.context
        return _copy_request(prepared, extensions)

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """``AsyncClient.send`` for our requests: the auth flow, then the retry transport.

        What httpx's send adds is what this client never uses: redirects (never followed),
        event hooks (none), cookies (ignored) and streaming (the retry transport reads every
        body); skipping its layers saves about 40 µs per call.
        """
        flow = self._auth.async_auth_flow(request)
        history: list[httpx.Response] = []  # the 401 before a replay, as httpx keeps it
        try:
            request = await flow.__anext__()
            while True:
                try:
                    response = await self._transport.handle_async_request(request)
                except httpx.RequestError as exc:
                    exc.request = request  # as AsyncClient.send does: the error names its request
                    raise
                response.request = request  # httpx's own transport leaves it unset
                if _httpx_logger.isEnabledFor(logging.INFO):  # its arguments cost more than the check
                    _httpx_logger.info(
                        'HTTP Request: %s %s "%s %d %s"',
                        request.method,
                        request.url,
                        response.http_version,
                        response.status_code,
                        response.reason_phrase,
                    )
                try:
                    request = await flow.asend(response)
                except StopAsyncIteration:
                    response.history = history
                    return response
                history.append(response)
        finally:
            await flow.aclose()

    def _call(self, endpoint: ModuleType, arguments: dict[str, Any]) -> Awaitable[APIResponse[Any]]:
        """``_untraced_call``, inside its operation's span when telemetry is on; off, no frame is added."""
        if self._telemetry is None:
            return self._untraced_call(endpoint, arguments)
        return self._telemetry.operation(endpoint, self._untraced_call(endpoint, arguments))

    async def _untraced_call(self, endpoint: ModuleType, arguments: dict[str, Any]) -> APIResponse[Any]:
        """The one request path of every operation: send, then parse the answer or raise its typed error.

        Auth (PoderoAuth) and retry (RetryTransport) sit below, driven by ``_send``. A 2xx the
        spec documents gives its model (None without content); any other status raises the
        APIStatusError for it, with ``parsed`` set when the spec documents that status's body.
        """
        self._ensure_open()
        request = self._request_for(endpoint, arguments)
        try:
            response = await self._send(request)
        except ResponseTooLargeError as exc:  # its body is the cut head of what came: an echo, maybe
            exc.body = redact_head(exc.body, self._tokens.secrets())
            raise
        except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: a pool closed under the call
            closed = self._lifecycle.closed or self._http.is_closed
            raise transport_error(exc, closed=closed, secrets=self._tokens.secrets(), operation=request) from exc
        status = response.status_code
        if status in endpoint.SUCCESS_STATUSES:
            try:
                parsed = endpoint._parse_response(client=self._api, response=response)
            except _PARSE_ERRORS as exc:
                secrets = self._tokens.secrets()
                raise ResponseValidationError(
                    redact(f"{status} response does not fit the schema: {type(exc).__name__}: {exc}", secrets),
                    body=redact(response.text, secrets),
                    response=response,
                ) from exc
            return APIResponse(parsed, status, response.headers, response.content)
        if response.is_success:
            raise ResponseValidationError(
                f"{status} is not a status the spec documents for {endpoint.METHOD} {endpoint.PATH}",
                body=redact(response.text, self._tokens.secrets()),
                response=response,
            )
        error = status_error(response, secrets=self._tokens.secrets())
        if status in endpoint.DOCUMENTED_ERROR_STATUSES:
            with contextlib.suppress(*_PARSE_ERRORS):  # a body off its schema: the raw body is still there
                error.parsed = endpoint._parse_response(client=self._api, response=response)
        raise error

    def _paginate(self, endpoint: ModuleType, arguments: dict[str, Any], total: str) -> AsyncIterator[Any]:
        """Every item of a ``{total|count, items}`` list operation, through this client's (or view's) ``_call``."""
        return paginate(self._call, self._tokens.secrets, endpoint, arguments, total)
