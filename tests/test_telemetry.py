"""OpenTelemetry: the spans and metrics of calls, attempts, retries and token requests, against the fake."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest
from conftest import SPAN_LEAKS
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider, SpanKind, StatusCode

from podero_client import InvalidArgumentError, NotFoundError, PoderoClient, RateLimit, RateLimitError
from podero_client._extras import install_hint
from podero_client._telemetry import DURATION_BUCKETS
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID, FakePodero, Fault

OPERATION = "podero.user_wallboxes.retrieve_wallbox"
TEMPLATE = "/api/partners/v2.0/org/{org_id}/users/{user_id}/wallboxes/{wallbox_id}"
ATTEMPT = f"GET {TEMPLATE}"


@attrs.frozen
class Otel:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.finished() if span.name == name]

    def points(self, name: str) -> list[Any]:
        data = self.metrics.get_metrics_data()
        if data is None:  # nothing was recorded at all
            return []
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]


@pytest.fixture
def otel() -> Iterator[Otel]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    tracer_provider.add_span_processor(SPAN_LEAKS)  # these spans are checked for leaks too
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Otel(spans, reader, tracer_provider, meter_provider)
    tracer_provider.shutdown()
    meter_provider.shutdown()


@pytest.fixture
def traced(fake_podero: FakePodero, otel: Otel, backend: str) -> Callable[..., PoderoClient]:
    def make(**kwargs: Any) -> PoderoClient:
        return fake_podero.client(
            tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider, http_backend=backend, **kwargs
        )

    return make


def _children(otel: Otel, parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return sorted(
        (span for span in otel.finished() if span.parent is not None and span.parent.span_id == parent.context.span_id),
        key=lambda span: span.start_time or 0,
    )


async def test_a_retried_call_is_one_operation_span_with_one_span_per_attempt(
    traced: Callable[..., PoderoClient], fake_podero: FakePodero, otel: Otel
) -> None:
    """503 (Retry-After: 0.01), 200: one operation span, two attempt spans; the second says resend 1 and the wait."""
    async with traced() as podero:
        await podero.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID)  # the token first, out of the way
        otel.spans.clear()
        fake_podero.inject("wallbox", Fault(status=503, json={"detail": "busy"}, headers={"Retry-After": "0.01"}))
        await podero.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID)
    [operation] = otel.named(OPERATION)
    assert operation.kind is SpanKind.INTERNAL
    assert operation.parent is None
    assert operation.attributes is not None
    assert operation.attributes["http.response.status_code"] == 200
    assert operation.attributes["url.template"] == TEMPLATE
    assert operation.attributes["podero.operation.tag"] == "user_wallboxes"
    assert "error.type" not in operation.attributes
    first, second = _children(otel, operation)
    assert (first.name, second.name) == (ATTEMPT, ATTEMPT)
    assert first.kind is SpanKind.CLIENT
    assert second.kind is SpanKind.CLIENT
    assert first.attributes is not None
    assert second.attributes is not None
    assert first.attributes["http.response.status_code"] == 503
    assert first.attributes["error.type"] == "503"
    assert first.status.status_code is StatusCode.ERROR
    assert "http.request.resend_count" not in first.attributes
    assert second.attributes["http.request.resend_count"] == 1
    assert second.attributes["podero.retry.cause"] == "status"
    assert second.attributes["podero.retry.error_type"] == "503"
    assert second.attributes["podero.retry.wait"] == 0.01
    assert second.attributes["podero.retry.wait_source"] == "retry_after"
    assert second.attributes["http.response.status_code"] == 200
    assert second.attributes["url.full"] == fake_podero.url + TEMPLATE
    assert second.attributes["server.port"] == int(fake_podero.url.rsplit(":", 1)[1])
    # W3C trace context: the last request carried the second attempt's span as its parent.
    assert second.context is not None
    trace_id, span_id = f"{second.context.trace_id:032x}", f"{second.context.span_id:016x}"
    assert fake_podero.last_headers["traceparent"].startswith(f"00-{trace_id}-{span_id}-")


async def test_a_401_replay_shows_the_token_request_under_the_call(
    traced: Callable[..., PoderoClient], fake_podero: FakePodero, otel: Otel
) -> None:
    """An expired token: attempt (401), the token span (grant type only, linked to the call), the replay (resend 1)."""
    async with traced() as podero:
        await podero.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID)
        otel.spans.clear()
        fake_podero.expire_tokens()
        await podero.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID)
    [operation] = otel.named(OPERATION)
    rejected, token, replay = _children(otel, operation)
    assert rejected.attributes is not None
    assert rejected.attributes["http.response.status_code"] == 401
    assert token.name == "podero.token"
    assert dict(token.attributes or {}) == {"podero.token.grant_type": "client_credentials"}
    assert operation.context is not None
    assert [link.context.span_id for link in token.links] == [operation.context.span_id]
    [token_attempt] = _children(otel, token)
    assert token_attempt.name == "POST /oauth2/token/"
    assert token_attempt.attributes is not None
    assert token_attempt.attributes["url.full"] == fake_podero.url + "/oauth2/token/"
    assert replay.attributes is not None
    assert replay.attributes["http.request.resend_count"] == 1
    assert replay.attributes["http.response.status_code"] == 200
    refreshes = otel.points("podero.client.token.refreshes")
    assert {(p.attributes["podero.token.outcome"], p.value) for p in refreshes} == {("success", 2)}


async def test_one_token_request_is_linked_to_every_call_that_waited_for_it(
    traced: Callable[..., PoderoClient], otel: Otel
) -> None:
    """Three calls start together with no token: one token span, with a link to each of the three operations."""
    async with traced() as podero:
        await asyncio.gather(*[podero.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID) for _ in range(3)])
    operations = otel.named(OPERATION)
    [token] = otel.named("podero.token")
    assert len(operations) == 3
    linked = {link.context.span_id for link in token.links}
    assert linked == {span.context.span_id for span in operations if span.context is not None}


async def test_a_call_that_comes_while_the_token_is_on_its_way_is_linked_too(
    traced: Callable[..., PoderoClient], otel: Otel, fake_podero: FakePodero
) -> None:
    """A call that starts waiting after the token request began is linked to its span as well."""
    fake_podero.inject("oauth2", Fault(status=200, delay=0.3))
    async with traced() as podero:
        first = asyncio.create_task(podero.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID))
        await fake_podero.wait_until(lambda: fake_podero.token_requests == 1)
        await asyncio.gather(first, podero.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID))
    operations = otel.named(OPERATION)
    [token] = otel.named("podero.token")
    assert len(operations) == 2
    linked = {link.context.span_id for link in token.links}
    assert linked == {span.context.span_id for span in operations if span.context is not None}


async def test_a_404_sets_error_type_on_the_operation_and_its_attempt(
    traced: Callable[..., PoderoClient], otel: Otel
) -> None:
    """A wallbox that does not exist: error.type "404" and an error status, on both spans and on the duration."""
    async with traced() as podero:
        await podero.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID)  # the token first, out of the way
        otel.spans.clear()
        with pytest.raises(NotFoundError):
            await podero.get_wallbox(ORG_ID, USER_ID, uuid.UUID(int=404))
    [operation] = otel.named(OPERATION)
    [attempt] = _children(otel, operation)
    for span in (operation, attempt):
        assert span.attributes is not None
        assert span.attributes["error.type"] == "404"
        assert span.status.status_code is StatusCode.ERROR
        assert not span.events, "no exception event: its message names the path"
    durations = otel.points("http.client.request.duration")
    assert any(point.attributes.get("error.type") == "404" for point in durations)


async def test_metrics_follow_the_http_client_convention(
    traced: Callable[..., PoderoClient], fake_podero: FakePodero, otel: Otel
) -> None:
    """http.client.request.duration (s, the convention's buckets) per attempt; retries by cause (a drop: connection)."""
    async with traced() as podero:
        fake_podero.inject("wallbox", Fault(status=503), Fault(drop=True))
        await podero.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID)
    durations: list[Any] = otel.points("http.client.request.duration")  # HistogramDataPoint
    assert all(tuple(point.explicit_bounds) == DURATION_BUCKETS for point in durations)
    wallbox = [point for point in durations if point.attributes.get("url.template") == TEMPLATE]
    assert sum(point.count for point in wallbox) == 3
    assert {key for point in wallbox for key in point.attributes} >= {
        "http.request.method",
        "server.address",
        "server.port",
        "url.template",
    }
    retries: list[Any] = otel.points("podero.client.retries")  # NumberDataPoint
    assert {point.attributes["podero.retry.cause"]: point.value for point in retries} == {"status": 1, "connection": 1}


async def test_gauges_report_what_their_reader_returns(otel: Otel, fake_podero: FakePodero) -> None:
    """The gauge hook (for the rate budget and the fleet): each collection reads the current values."""
    values = [(3.0, {"podero.budget": "default"})]
    async with fake_podero.client(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider) as podero:
        assert podero._telemetry is not None
        podero._telemetry.gauge("podero.test.waiting", "{request}", "a test gauge", lambda: values)
        assert [point.value for point in otel.points("podero.test.waiting")] == [3.0]
        values[0] = (5.0, values[0][1])
        assert [point.value for point in otel.points("podero.test.waiting")] == [5.0]


async def test_telemetry_false_makes_no_span_and_sends_no_traceparent(fake_podero: FakePodero, otel: Otel) -> None:
    """telemetry=False: no span, no metric, no traceparent header, even with providers given."""
    async with fake_podero.client(
        telemetry=False, tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider
    ) as podero:
        await podero.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID)
    assert otel.finished() == []
    assert "traceparent" not in fake_podero.last_headers
    assert otel.points("http.client.request.duration") == []


def test_telemetry_must_be_a_bool_or_none(fake_podero: FakePodero) -> None:
    """telemetry="yes" is refused before any I/O."""
    with pytest.raises(InvalidArgumentError, match="telemetry must be"):
        fake_podero.client(telemetry="yes")


def test_the_suite_traces_into_the_leak_check() -> None:
    """The suite's global provider checks every span; a span with an id in an attribute is caught."""
    before = len(SPAN_LEAKS.leaks)
    trace.get_tracer("test").start_span("probe", attributes={"url.path": f"/wallboxes/{WALLBOX_ID}"}).end()
    caught = SPAN_LEAKS.leaks[before:]
    del SPAN_LEAKS.leaks[before:]
    assert caught == [f"probe: url.path='/wallboxes/{WALLBOX_ID}'"]


def test_without_the_extra_nothing_is_imported() -> None:
    """No opentelemetry: a client is made, nothing of telemetry is imported, and telemetry=True says what to install."""
    program = """
import sys
sys.modules["opentelemetry"] = None  # as if the otel extra were not installed
from podero_client import BearerToken, InvalidArgumentError, PoderoClient
client = PoderoClient(credentials=BearerToken("t"))
assert client._telemetry is None
assert not [name for name in sys.modules if name.startswith("podero_client._telemetry")]
try:
    PoderoClient(credentials=BearerToken("t"), telemetry=True)
except InvalidArgumentError as error:
    print(error)
"""
    command = [sys.executable, "-c", program]
    result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)  # noqa: S603  # our program
    assert f"telemetry needs opentelemetry-api: {install_hint('otel')}" in result.stdout


async def test_demo_trace_prints_the_span_tree_of_the_replay_and_the_retry(capsys: pytest.CaptureFixture[str]) -> None:
    """demo --trace: the 401 replay's tree shows the token span and its POST; the retry's, the wait it took."""
    from podero_client._demo import run_demo

    assert await run_demo(trace=True) == 0
    trace_lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("   trace: ")]
    text = "\n".join(trace_lines)
    assert f"├── {ATTEMPT}" in text
    assert "├── podero.token" in text
    assert "│   └── POST /oauth2/token/" in text
    assert "resend 1, after status, waited 0.2s, from retry_after" in text
    assert (
        sum(line == f"   trace: {OPERATION}" or line.startswith(f"   trace: {OPERATION} ") for line in trace_lines) == 2
    )


def _gauge(otel: Otel, name: str) -> list[float]:
    return [point.value for point in otel.points(name)]


async def test_the_rate_budget_reports_calls_waiting_and_its_cooldown(fake_podero: FakePodero, otel: Otel) -> None:
    """With rate_limit: the gauges read the budget's state (one call waiting; a 429's capped pause), from any thread."""
    budget = RateLimit(per_second=0.5, burst=1)
    async with fake_podero.client(rate_limit=budget, meter_provider=otel.meter_provider) as podero:
        assert _gauge(otel, "podero.client.rate_limit.waiting") == [0]
        first = asyncio.create_task(podero.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID))  # the token takes the slot
        async with asyncio.timeout(10):  # the call queues behind the token request
            while not (state := podero.rate_limit_state) or not state.waiting:  # noqa: ASYNC110  # no event to await
                await asyncio.sleep(0.005)
        assert _gauge(otel, "podero.client.rate_limit.waiting") == [1]
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first
    fake_podero.inject("wallbox", Fault(status=429, headers={"Retry-After": "30"}))
    async with fake_podero.client(rate_limit=RateLimit(per_second=100), meter_provider=otel.meter_provider) as podero:
        with pytest.raises(RateLimitError):
            await podero.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID)
        # A periodic reader collects from its own thread: the gauge reads the state all the same.
        [cooldown] = await asyncio.to_thread(_gauge, otel, "podero.client.rate_limit.cooldown")
        assert 3 < cooldown <= 5  # the fake's client: RetryPolicy(max_retry_after=5) caps the 30 s


async def test_a_fleet_watch_reports_its_size_and_its_slowest_wallbox(fake_podero: FakePodero, otel: Otel) -> None:
    """watch_wallboxes: fleet.size and fleet.slowest_age read its stats, on the loop and from another thread."""
    async with (
        fake_podero.client(meter_provider=otel.meter_provider) as podero,
        podero.watch_wallboxes([(ORG_ID, USER_ID, WALLBOX_ID)], interval=0.2) as fleet,
    ):
        assert _gauge(otel, "podero.client.fleet.size") == [1]
        await anext(aiter(fleet))  # its first poll
        [age] = await asyncio.to_thread(_gauge, otel, "podero.client.fleet.slowest_age")
        assert 0 <= age < 60
    assert _gauge(otel, "podero.client.fleet.size") == []


class _KeptMetrics(MetricExporter):
    """A push exporter that keeps what it is given (the SDK has an in-memory reader, not exporter)."""

    def __init__(self) -> None:
        super().__init__()
        self.exported: list[MetricsData] = []

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        self.exported.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


async def test_a_meter_provider_shut_down_on_the_loop_exports_the_fleet_gauges_at_once(fake_podero: FakePodero) -> None:
    """MeterProvider.shutdown() called on the watch's loop: its reader thread gets the fleet gauges without the loop.

    The final collection runs on the periodic reader's thread while the loop is blocked in
    shutdown(); a gauge that waited for the loop would time out and export nothing.
    """
    exporter = _KeptMetrics()
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    meter_provider = MeterProvider(metric_readers=[reader])
    keys = [(ORG_ID, USER_ID, WALLBOX_ID)]
    async with (
        fake_podero.client(meter_provider=meter_provider) as podero,
        podero.watch_wallboxes(keys, interval=0.2) as fleet,
    ):
        await anext(aiter(fleet))
        meter_provider.shutdown()  # blocks this loop's thread until the reader's last export
    exported = {
        metric.name: [point.value for point in metric.data.data_points if isinstance(point, NumberDataPoint)]
        for data in exporter.exported
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name.startswith("podero.client.fleet.")
    }
    assert exported["podero.client.fleet.size"] == [1]
    assert len(exported["podero.client.fleet.slowest_age"]) == 1


async def test_a_no_op_tracer_still_measures_every_attempt(fake_podero: FakePodero, otel: Otel) -> None:
    """NoOpTracerProvider (no SDK): no span, no traceparent, yet a duration for the token request and the call."""
    async with fake_podero.client(tracer_provider=NoOpTracerProvider(), meter_provider=otel.meter_provider) as podero:
        await podero.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID)
    assert "traceparent" not in fake_podero.last_headers
    templates = {point.attributes["url.template"] for point in otel.points("http.client.request.duration")}
    assert templates == {"/oauth2/token/", TEMPLATE}


async def test_a_timed_out_attempt_is_retried_with_cause_timeout(
    traced: Callable[..., PoderoClient], fake_podero: FakePodero, otel: Otel
) -> None:
    """An answer slower than the read timeout: the attempt span says ReadTimeout, the retry's cause is timeout."""
    async with traced(timeout=0.3) as podero:
        await podero.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID)  # the token first, out of the way
        otel.spans.clear()
        fake_podero.inject("wallbox", Fault(delay=2.0))
        await podero.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID)
    [operation] = otel.named(OPERATION)
    slow, retry = _children(otel, operation)
    assert slow.attributes is not None
    assert retry.attributes is not None
    assert slow.attributes["error.type"] == "ReadTimeout"
    assert "http.response.status_code" not in slow.attributes
    assert retry.attributes["podero.retry.cause"] == "timeout"
    assert retry.attributes["podero.retry.wait_source"] == "backoff"
    retries = otel.points("podero.client.retries")
    assert [(point.attributes["podero.retry.cause"], point.value) for point in retries] == [("timeout", 1)]
