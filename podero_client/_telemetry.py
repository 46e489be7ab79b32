"""OpenTelemetry traces and metrics of PoderoClient's calls, retries and token requests.

It only observes: nothing here changes a request but its ``traceparent`` header. The
client imports this module with the package when ``opentelemetry-api`` (the ``otel``
extra) is installed, not in a client's constructor, which runs inside an event loop;
without it nothing is imported, and each hook below is behind one ``is None`` check on the
request path. One call makes::

    podero.user_wallboxes.retrieve_wallbox         INTERNAL  the operation
    ├── GET /api/partners/v2.0/org/{org_id}/...    CLIENT    attempt 1: 503
    ├── podero.token                               INTERNAL  a token request, linked to its waiters
    │   └── POST /oauth2/token/                    CLIENT
    └── GET /api/partners/v2.0/org/{org_id}/...    CLIENT    http.request.resend_count=1

Attributes carry the path template, never the path: ids, tokens and secrets stay out, and
so do exception messages (they name the path), hence no exception events.
"""

from __future__ import annotations

import contextvars
import time
import weakref
from collections.abc import Callable, Coroutine, Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from opentelemetry import context, metrics, trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, ObservableGauge, Observation
    from opentelemetry.trace import Span, TracerProvider

    from ._budget import Budget, RateLimitState
    from ._fleet import Fleets, FleetStats
    from ._generated.types import APIResponse

T = TypeVar("T")
SCOPE = "podero_client"
# The HTTP semantic conventions' advice for http.client.request.duration, in seconds.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
AUTH_SPAN = "podero.token"
_DEFAULT_PORTS = {"https": 443, "http": 80}


class _Operation:
    """What the attempts of one operation (or one token request) share: names, counts, the last retry."""

    __slots__ = ("attempt_name", "retry", "sends", "server", "template", "traced", "url_full")

    def __init__(self, attempt_name: str, template: str | None, url_full: str | None, *, traced: bool = True) -> None:
        self.traced = traced  # False under a no-op tracer: its attempts are measured, not traced
        self.attempt_name = attempt_name  # the convention's "{method} {url.template}"
        self.template = template
        self.url_full = url_full  # the template under the base URL: the ids never appear
        self.sends = 0  # attempts made so far, the 401 replay included
        self.retry: dict[str, Any] | None = None  # why the next attempt is a retry, and the wait before it
        self.server: tuple[str, int] | None = None  # another host than the base URL's (a token URL)


# The operation the current task is in: its attempts, deeper in the retry transport, read it.
_current: contextvars.ContextVar[_Operation | None] = contextvars.ContextVar("podero_operation", default=None)


def _error_type(exc: BaseException) -> str:
    """A low-cardinality ``error.type``: the status code of a status error, else the class name."""
    status = getattr(exc, "status_code", None)
    return str(status) if isinstance(status, int) else type(exc).__qualname__


def _server(url: httpx.URL) -> tuple[str, int]:
    return url.host, url.port or _DEFAULT_PORTS.get(url.scheme, 443)


class Telemetry:
    """The tracer, the instruments and the hooks that the client, retry and auth layers call."""

    def __init__(
        self, base_url: str, tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None
    ) -> None:
        from ._version import __version__

        self._base_url = base_url.rstrip("/")
        url = httpx.URL(self._base_url)
        self._host, self._port = _server(url)
        self._tracer = trace.get_tracer(SCOPE, __version__, tracer_provider=tracer_provider)
        instruments = _instruments(meter_provider)
        self._instruments = instruments
        self._meter = instruments.meter
        self._duration, self._retries, self._refreshes = (
            instruments.duration,
            instruments.retries,
            instruments.refreshes,
        )
        self._endpoints: dict[ModuleType, tuple[str, dict[str, Any], str, str]] = {}
        self._token_span: Span | None = None
        self._token_waiters: list[Link] = []

    # -- the operation: PoderoClient._call ------------------------------------------------------

    def _endpoint(self, endpoint: ModuleType) -> tuple[str, dict[str, Any], str, str]:
        """Span name, attributes, attempt name and url.full of an operation; built once per endpoint."""
        known = self._endpoints.get(endpoint)
        if known is None:
            *_, tag, operation = endpoint.__name__.split(".")
            method, template = endpoint.METHOD, endpoint.PATH
            attributes = {
                "http.request.method": method,
                "url.template": template,
                "server.address": self._host,
                "server.port": self._port,
                "podero.operation.tag": tag,
                "podero.operation.name": operation,
            }
            known = (f"podero.{tag}.{operation}", attributes, f"{method} {template}", self._base_url + template)
            self._endpoints[endpoint] = known
        return known

    async def operation(self, endpoint: ModuleType, call: Coroutine[Any, Any, APIResponse[T]]) -> APIResponse[T]:
        """Run ``call`` (the untraced ``_call``) inside its operation's span."""
        name, attributes, attempt_name, url_full = self._endpoint(endpoint)
        span = self._tracer.start_span(name, kind=SpanKind.INTERNAL, attributes=attributes)
        template = attributes["url.template"]
        if not span.is_recording() and not span.get_span_context().is_valid:
            # A no-op tracer (no SDK configured): no context to carry, nothing to propagate.
            untraced = _current.set(_Operation(attempt_name, template, url_full, traced=False))
            try:
                return await call
            finally:
                _current.reset(untraced)
        otel_token = context.attach(trace.set_span_in_context(span))
        operation_token = _current.set(_Operation(attempt_name, template, url_full))
        try:
            response = await call
        except BaseException as exc:
            _fail(span, exc)
            raise
        else:
            span.set_attribute("http.response.status_code", response.status_code)
            return response
        finally:
            _current.reset(operation_token)
            context.detach(otel_token)
            span.end()

    # -- attempts and retries: RetryTransport ----------------------------------------------------

    async def attempt(
        self,
        send: Callable[[httpx.Request, float | None], Coroutine[Any, Any, httpx.Response]],
        request: httpx.Request,
        deadline: float | None,
    ) -> httpx.Response:
        """One attempt as the convention's HTTP client span, with ``traceparent`` on the request."""
        operation = _current.get()
        if operation is None:  # a request that came by another way: no template, so no path either
            operation = _Operation(request.method, None, None)
        elif not operation.traced:
            return await self._measured(send, request, deadline, operation)
        host, port = _server(request.url)
        attributes: dict[str, Any] = {
            "http.request.method": request.method,
            "server.address": host,
            "server.port": port,
        }
        if operation.template is not None:
            attributes["url.template"] = operation.template
        if operation.url_full is not None:
            attributes["url.full"] = operation.url_full
        if operation.sends:
            attributes["http.request.resend_count"] = operation.sends
        if operation.retry is not None:
            attributes.update(operation.retry)
            operation.retry = None
        operation.sends += 1
        span = self._tracer.start_span(operation.attempt_name, kind=SpanKind.CLIENT, attributes=attributes)
        _inject(request.headers, trace.set_span_in_context(span))
        metric = {key: attributes[key] for key in ("http.request.method", "server.address", "server.port")}
        if operation.template is not None:
            metric["url.template"] = operation.template
        started = time.perf_counter()
        try:
            response = await send(request, deadline)
        except BaseException as exc:
            metric["error.type"] = _error_type(exc)
            _fail(span, exc)
            raise
        else:
            status = response.status_code
            metric["http.response.status_code"] = status
            span.set_attribute("http.response.status_code", status)
            if status >= 400:
                metric["error.type"] = str(status)
                span.set_attribute("error.type", str(status))
                span.set_status(Status(StatusCode.ERROR))
            return response
        finally:
            self._duration.record(time.perf_counter() - started, metric)
            span.end()

    async def _measured(
        self,
        send: Callable[[httpx.Request, float | None], Coroutine[Any, Any, httpx.Response]],
        request: httpx.Request,
        deadline: float | None,
        operation: _Operation,
    ) -> httpx.Response:
        """One attempt, measured but not traced: the duration histogram only."""
        host, port = operation.server or (self._host, self._port)
        metric: dict[str, Any] = {"http.request.method": request.method, "server.address": host, "server.port": port}
        if operation.template is not None:
            metric["url.template"] = operation.template
        started = time.perf_counter()
        try:
            response = await send(request, deadline)
        except BaseException as exc:
            metric["error.type"] = _error_type(exc)
            raise
        else:
            metric["http.response.status_code"] = response.status_code
            if response.status_code >= 400:
                metric["error.type"] = str(response.status_code)
            return response
        finally:
            self._duration.record(time.perf_counter() - started, metric)

    def retrying(
        self, error: BaseException | None, response: httpx.Response | None, wait: float, retry_after: bool
    ) -> None:
        """A retry is decided: count it by cause, and tell the next attempt why and how long it waited."""
        if response is not None:
            cause, error_type = "status", str(response.status_code)
        else:
            cause = "timeout" if isinstance(error, httpx.TimeoutException) else "connection"
            error_type = _error_type(error) if error is not None else "_OTHER"
        self._retries.add(1, {"podero.retry.cause": cause, "error.type": error_type})
        operation = _current.get()
        if operation is not None:
            operation.retry = {
                "podero.retry.cause": cause,
                "podero.retry.error_type": error_type,
                "podero.retry.wait": wait,
                "podero.retry.wait_source": "retry_after" if retry_after else "backoff",
            }

    # -- token requests: TokenManager -----------------------------------------------------------

    def waiting_for_token(self, first: bool) -> None:
        """The current call waits for a token request (``first``: it just started it): link them."""
        if first:
            self._token_waiters = []
        waiter = trace.get_current_span().get_span_context()
        if not waiter.is_valid:
            return
        self._token_waiters.append(Link(waiter))
        span = self._token_span
        if span is not None and span.is_recording():
            span.add_link(waiter)

    async def token_request(self, request: Coroutine[Any, Any, T], grant_type: str, url: str) -> T:
        """Run one token request inside its span: the grant type only, never a secret or the token."""
        span = self._tracer.start_span(
            AUTH_SPAN,
            kind=SpanKind.INTERNAL,
            attributes={"podero.token.grant_type": grant_type},
            links=list(self._token_waiters),
        )
        self._token_span = span
        otel_token = context.attach(trace.set_span_in_context(span))
        # Its attempts are named after the token URL, as httpx joins it to the base URL: it holds no id.
        full = httpx.URL(url if "://" in url else f"{self._base_url}/{url.lstrip('/')}").copy_with(query=None)
        traced = span.is_recording() or span.get_span_context().is_valid  # a no-op tracer: measured only
        operation = _Operation(f"POST {full.path}", full.path, str(full), traced=traced)
        operation.server = _server(full)
        operation_token = _current.set(operation)
        outcome = "failure"
        try:
            result = await request
        except BaseException as exc:
            _fail(span, exc)
            raise
        else:
            outcome = "success"
            return result
        finally:
            self._refreshes.add(1, {"podero.token.grant_type": grant_type, "podero.token.outcome": outcome})
            _current.reset(operation_token)
            context.detach(otel_token)
            self._token_span = None
            span.end()

    # -- gauges: the rate budget and the fleet report into these --------------------------------

    def observe(self, budget: Budget | None, fleets: Fleets) -> None:
        """Report a client's request budget and fleet watches in the gauges of this meter.

        The gauges are made once per meter and read every part observed through it, held
        weakly. A metric reader collects from its own thread; both parts answer it at once
        (``Budget.state()``, ``Fleets.stats()``), never waiting for the client's event loop,
        which may be the very thread blocked in ``MeterProvider.shutdown()``.
        """
        instruments = self._instruments
        if not instruments.gauges:  # the first client of this meter provider: make its gauges
            instruments.gauges = True
            self._gauges(instruments.budgets, instruments.fleets)
        if budget is not None:
            instruments.budgets.add(budget)
        instruments.fleets.add(fleets)

    def _gauges(self, budgets_seen: weakref.WeakSet[Budget], fleets_seen: weakref.WeakSet[Fleets]) -> None:
        def budgets() -> list[RateLimitState]:
            return [budget.state() for budget in list(budgets_seen)]

        def fleets() -> list[FleetStats]:
            return [stats for part in list(fleets_seen) for stats in part.stats()]

        def total(values: list[float]) -> Iterable[tuple[float, dict[str, Any]]]:
            return [(sum(values), {})] if values else []

        def most(values: list[float]) -> Iterable[tuple[float, dict[str, Any]]]:
            return [(max(values), {})] if values else []

        self.gauge(
            "podero.client.rate_limit.waiting",
            "{request}",
            "Calls waiting for the request budget.",
            lambda: total([state.waiting for state in budgets()]),
        )
        self.gauge(
            "podero.client.rate_limit.cooldown",
            "s",
            "Seconds left of the pause a 429 started.",
            lambda: most([state.cooldown_remaining for state in budgets()]),
        )
        self.gauge(
            "podero.client.fleet.size",
            "{wallbox}",
            "Wallboxes the fleet watches poll (of a shared fleet, those this process owns).",
            lambda: total([stats.owned for stats in fleets()]),
        )
        self.gauge(
            "podero.client.fleet.slowest_age",
            "s",
            "Seconds since the last good answer of the stalest watched wallbox.",
            lambda: most([stats.slowest_age for stats in fleets()]),
        )

    def gauge(
        self, name: str, unit: str, description: str, read: Callable[[], Iterable[tuple[float, dict[str, Any]]]]
    ) -> ObservableGauge:
        """An observable gauge read at each collection: ``read()`` yields (value, attributes) pairs."""

        def observe(options: CallbackOptions) -> Iterable[Observation]:
            return [metrics.Observation(value, attributes) for value, attributes in read()]

        return self._meter.create_observable_gauge(name, callbacks=[observe], unit=unit, description=description)


def _inject(headers: httpx.Headers, span_context: context.Context) -> None:
    """``traceparent`` (the global propagator: W3C trace context unless the app chose another).

    Imported at the first traced attempt: loading the propagators reads every installed
    package's entry points (about 25 ms), which a client under a no-op tracer never needs.
    """
    from opentelemetry import propagate

    propagate.inject(headers, context=span_context)


class _Instruments:
    """A meter provider's instruments, made once: an SDK warns when a name is made again."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.duration = meter.create_histogram(
            "http.client.request.duration",
            unit="s",
            description="Duration of HTTP client requests: one per attempt.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.retries = meter.create_counter(
            "podero.client.retries", unit="{retry}", description="Attempts retried, by cause."
        )
        self.refreshes = meter.create_counter(
            "podero.client.token.refreshes", unit="{request}", description="Token requests, by grant type and outcome."
        )
        self.budgets: weakref.WeakSet[Budget] = weakref.WeakSet()  # what the gauges read
        self.fleets: weakref.WeakSet[Fleets] = weakref.WeakSet()
        self.gauges = False


_INSTRUMENTS: weakref.WeakKeyDictionary[Any, _Instruments] = weakref.WeakKeyDictionary()


def _instruments(meter_provider: MeterProvider | None) -> _Instruments:
    from ._version import __version__

    provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
    instruments = _INSTRUMENTS.get(provider)
    if instruments is None:
        instruments = _INSTRUMENTS[provider] = _Instruments(provider.get_meter(SCOPE, __version__))
    return instruments


def _fail(span: Span, exc: BaseException) -> None:
    """Mark a span failed by the error's type; its message is left out, it names the path."""
    span.set_attribute("error.type", _error_type(exc))
    span.set_status(Status(StatusCode.ERROR))
