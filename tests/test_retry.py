"""The retry policy's decisions, unit by unit: backoff, Retry-After, what may be retried."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from _servers import HANG, RawRequest, ScriptedServer, hold, make_client, respond

from podero_client import APITimeoutError, InternalServerError, InvalidArgumentError, PoderoClient, RetryPolicy
from podero_client._context import CONTEXT_EXTENSION, TOKEN_GRANT
from podero_client._retry import GIVE_UP, Decision, RetryTransport, decide
from podero_client._utils import parse_retry_after
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID, FakePodero, Fault, wallbox_payload


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"max_attempts": 1.5}, {"max_attempts": True}, {"max_attempts": "3"},
     {"initial_backoff": -1}, {"initial_backoff": float("nan")}, {"initial_backoff": float("inf")},
     {"initial_backoff": "0.5"}, {"initial_backoff": True}, {"max_backoff": float("inf")}, {"max_backoff": -0.1},
     {"max_retry_after": float("nan")}, {"max_retry_after": float("inf")}, {"max_retry_after": "60"},
     {"deadline": 0}, {"deadline": -1}, {"deadline": float("nan")}, {"deadline": float("inf")}, {"deadline": "20"}],
)  # fmt: skip
def test_bad_policy_is_an_invalid_argument(kwargs: dict[str, float]) -> None:
    """Nonsense settings fail at construction, as a ValueError."""
    with pytest.raises(InvalidArgumentError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_backoff_is_exponential_capped_and_jittered() -> None:
    """Each wait lies in [half, full] of min(max_backoff, initial * 2**(n-1))."""
    policy = RetryPolicy(initial_backoff=0.5, max_backoff=3.0)
    for retry, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (10, 3.0)]:
        waits = {policy.backoff(retry) for _ in range(50)}
        assert all(ceiling / 2 <= wait <= ceiling for wait in waits)
        assert len(waits) > 1, "jittered"


DATE = "Sun, 06 Nov 1994 08:49:37 GMT"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": " 1.5 "}, 1.5),
        ({"Retry-After": "Sun, 06 Nov 1994 08:49:37 GMT", "Date": "Sun, 06 Nov 1994 08:49:07 GMT"}, 30.0),
        ({"Retry-After": "Sunday, 06-Nov-94 08:50:37 GMT", "Date": DATE}, 60.0),
        ({"Retry-After": "Sun Nov  6 08:49:47 1994", "Date": DATE}, 10.0),
        ({"Retry-After": "Sun Nov 16 08:49:37 1994", "Date": DATE}, 10 * 86400.0),
        ({"Retry-After": "Sun, 06 Nov 1994 08:49:37 GMT"}, 0.0),  # long past, by the local clock
        ({"Retry-After": "Sun, 06 Nov 1994 08:49:47 GMT", "Date": "yesterday"}, 0.0),  # a bad Date: local clock
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    """Delay-seconds and RFC 9110's three HTTP-date forms, measured against the server's Date."""
    assert parse_retry_after(httpx.Headers(headers)) == expected


@pytest.mark.parametrize(
    "value",
    ["soon", "-3", "+5", "1e3", "5 minutes", "1 2", "1, 2", "Tuesday", "Dec", "1994-11-06T08:49:57Z",
     "Sun, 06 Nov 1994 08:49:37", "sun, 06 nov 1994 08:49:37 gmt", "Sun, 31 Feb 1994 08:49:37 GMT",
     "Sun, 06 Nov 1994 25:49:37 GMT", "Sunday, 06-Nov-1994 08:49:37 GMT", "0x10", "inf", "nan", ""],
)  # fmt: skip
def test_retry_after_outside_rfc_9110_is_ignored(value: str) -> None:
    """Anything but delay-seconds or an HTTP-date is no Retry-After at all: the backoff applies."""
    assert parse_retry_after(httpx.Headers({"Retry-After": value, "Date": DATE})) is None


def test_repeated_retry_after_counts_only_when_the_values_agree() -> None:
    """Retry-After is a singleton field: two different values are ignored, two equal ones count."""
    assert parse_retry_after(httpx.Headers([("Retry-After", "1"), ("Retry-After", "2")])) is None
    assert parse_retry_after(httpx.Headers([("Retry-After", "3"), ("Retry-After", " 3")])) == 3.0


def test_retry_after_has_one_home_and_no_import_cycle() -> None:
    """_errors and _retry both take parse_retry_after from the leaf _utils, which imports neither."""
    import podero_client._errors as errors_module
    import podero_client._utils as utils_module

    assert errors_module.__dict__["parse_retry_after"] is parse_retry_after is utils_module.parse_retry_after
    package_import = re.compile(r"^\s*(from \.|from podero_client|import podero_client)", re.MULTILINE)
    assert not package_import.search(Path(utils_module.__file__).read_text())
    assert "._retry" not in Path(errors_module.__file__).read_text()


def test_backoff_is_capped_before_it_is_computed() -> None:
    """Any retry number gives a finite, capped wait: no OverflowError after 1,024 failures."""
    policy = RetryPolicy(initial_backoff=0.5, max_backoff=8.0)
    for retry in (1024, 1025, 1100, 10**6, 10**18):
        assert 4.0 <= policy.backoff(retry) <= 8.0
    assert RetryPolicy(max_attempts=1100).backoff(1100) <= 8.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "Sun Nov  6 08:50:37 1994", "Date": "Sun, 06 Nov 1994 08:49:37 GMT"}, 60.0),
        ({"Retry-After": "Sunday, 06-Nov-94 08:50:07 GMT", "Date": "Sun Nov  6 08:49:37 1994"}, 30.0),
    ],
    ids=["asctime", "rfc-850"],
)
def test_retry_after_dates_are_compared_in_utc(
    headers: dict[str, str], expected: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """asctime and RFC 850 dates are UTC, whatever the local zone."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert parse_retry_after(httpx.Headers(headers)) == expected
    finally:
        monkeypatch.undo()
        time.tzset()


async def _attempts(method: str, failure: Exception | int, *, extensions: dict[str, object] | None = None) -> int:
    """How many times RetryTransport sends a request whose every attempt fails this way."""
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if isinstance(failure, Exception):
            raise failure
        return httpx.Response(failure)

    transport = RetryTransport(httpx.MockTransport(handler), RetryPolicy(max_attempts=3, initial_backoff=0))
    request = httpx.Request(method, "https://app.podero.com/x", extensions=extensions or {})
    with contextlib.suppress(httpx.TransportError):
        await transport.handle_async_request(request)
    return calls


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 520, 527])
async def test_transient_statuses_are_retried_for_get(status: int) -> None:
    """A GET is retried on every transient status, up to max_attempts."""
    assert await _attempts("GET", status) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 501, 505, 599])
async def test_other_statuses_are_not_retried(status: int) -> None:
    """Other 4xx (and odd 5xx) are answered at once."""
    assert await _attempts("GET", status) == 1


@pytest.mark.parametrize(
    ("failure", "attempts"),
    [
        (httpx.ConnectError("refused"), 3),
        (httpx.ConnectTimeout("no SYN-ACK"), 3),
        (httpx.PoolTimeout("no free connection"), 3),
        (httpx.ReadTimeout("no answer"), 1),
        (httpx.WriteTimeout("stalled"), 1),
        (httpx.RemoteProtocolError("dropped"), 1),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
async def test_post_retried_only_for_failures_before_sending(failure: Exception, attempts: int) -> None:
    """Connect errors and connect or pool timeouts cannot have reached the server; later failures may have."""
    assert await _attempts("POST", failure) == attempts


async def _elapsed_with_waits(status: int, headers: dict[str, str], policy: RetryPolicy) -> tuple[float, int]:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(status if calls < policy.max_attempts else 200, headers=headers)

    transport = RetryTransport(httpx.MockTransport(handler), policy)
    started = time.monotonic()
    response = await transport.handle_async_request(httpx.Request("GET", "https://app.podero.com/x"))
    assert response.status_code == 200
    return time.monotonic() - started, calls


async def test_retry_after_is_really_waited() -> None:
    """Two Retry-After: 0.3 answers make the call take at least 0.6 s (a lower bound only)."""
    elapsed, calls = await _elapsed_with_waits(503, {"Retry-After": "0.3"}, RetryPolicy(max_attempts=3))
    assert calls == 3
    assert elapsed >= 0.6


async def test_backoff_is_really_waited() -> None:
    """Backoffs of at least half of 0.2 and 0.4 s make the call take at least 0.3 s."""
    elapsed, calls = await _elapsed_with_waits(503, {}, RetryPolicy(max_attempts=3, initial_backoff=0.2))
    assert calls == 3
    assert elapsed >= 0.1 + 0.2


async def test_post_is_retried_only_when_it_cannot_have_been_sent() -> None:
    """A POST is retried after a connect error, not after a read error or a 503."""
    assert await _attempts("POST", httpx.ConnectError("refused")) == 3
    assert await _attempts("POST", httpx.ReadError("reset")) == 1
    assert await _attempts("POST", 503) == 1
    assert await _attempts("GET", httpx.ReadError("reset")) == 3


async def test_a_request_can_declare_itself_idempotent() -> None:
    """A token grant (POST) marks itself safe to repeat."""
    assert await _attempts("POST", 503, extensions={CONTEXT_EXTENSION: TOKEN_GRANT}) == 3


async def test_deadline_stops_waiting() -> None:
    """A wait that would end past the deadline is not started: the last answer is returned."""
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503, headers={"Retry-After": "2"})

    policy = RetryPolicy(max_attempts=5, deadline=1.0)
    transport = RetryTransport(httpx.MockTransport(handler), policy)
    response = await transport.handle_async_request(httpx.Request("GET", "https://app.podero.com/x"))
    assert response.status_code == 503
    assert calls == 1


async def test_each_attempt_gets_only_the_time_left() -> None:
    """Case 6: with a deadline, every part of an attempt's timeout is capped at what is left of it."""
    seen: list[dict[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.extensions["timeout"]))
        return httpx.Response(503)

    policy = RetryPolicy(max_attempts=3, initial_backoff=0, deadline=2.0)
    transport = RetryTransport(httpx.MockTransport(handler), policy)
    timeout = httpx.Timeout(60.0, pool=None).as_dict()
    await transport.handle_async_request(
        httpx.Request("GET", "https://app.podero.com/x", extensions={"timeout": timeout})
    )
    assert len(seen) == 3
    for parts in seen:
        assert set(parts) == {"connect", "read", "write", "pool"}
        assert all(0 < value <= 2.0 for value in parts.values())
    assert seen[2]["read"] <= seen[0]["read"], "shrinking, from the request's own 60 s each time"


async def test_no_deadline_leaves_the_timeouts_alone() -> None:
    """Without a deadline, an attempt's timeouts are the request's own."""
    seen: list[object] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200)

    timeout = httpx.Timeout(60.0).as_dict()
    transport = RetryTransport(httpx.MockTransport(handler), RetryPolicy())
    await transport.handle_async_request(
        httpx.Request("GET", "https://app.podero.com/x", extensions={"timeout": timeout})
    )
    assert seen == [timeout]


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_request_that_could_not_be_written_is_not_retried(method: str) -> None:
    """httpx.LocalProtocolError (a header HTTP/1.1 forbids) is never retried: it would fail again."""
    assert await _attempts(method, httpx.LocalProtocolError("illegal header value")) == 1


POLICY = RetryPolicy(max_attempts=3, initial_backoff=1.0, max_backoff=1.0, max_retry_after=60.0)


def _answer(status: int, retry_after: str | None = None) -> httpx.Response:
    return httpx.Response(status, headers={} if retry_after is None else {"Retry-After": retry_after})


def _decide(outcome: httpx.Response | httpx.TransportError, *, attempt: int = 1, idempotent: bool = True,
            deadline: float | None = None) -> Decision:  # fmt: skip
    return decide(attempt, outcome, POLICY, idempotent=idempotent, now=100.0, deadline=deadline)


def test_the_decision_gives_up_on_an_answer_not_worth_a_retry() -> None:
    """A 200, a 404, or a 503 to a request that is not safe to repeat: give up, no pause."""
    assert _decide(_answer(200)) is GIVE_UP
    assert _decide(_answer(404)) is GIVE_UP
    assert _decide(_answer(503), idempotent=False) is GIVE_UP


def test_the_decision_retries_a_server_error_after_the_backoff_or_retry_after() -> None:
    """A 503: retried after the jittered backoff (0.5 to 1 s here), or after its Retry-After."""
    backoff = _decide(_answer(503))
    assert backoff.retry_in is not None
    assert 0.5 <= backoff.retry_in <= 1.0
    assert backoff.pause is None
    assert _decide(_answer(503, "3")) == Decision(3.0, None, 3.0, "HTTP 503")
    assert _decide(_answer(503), attempt=3) is GIVE_UP  # max_attempts counts the first try


def test_the_decision_pauses_the_client_for_a_429_capped_by_the_policy() -> None:
    """A 429 pauses for its Retry-After; past max_retry_after it gives up and pauses for the cap only."""
    assert _decide(_answer(429, "2")) == Decision(2.0, 2.0, 2.0, "HTTP 429")
    assert _decide(_answer(429, "86400")) == Decision(None, 60.0, 86400.0)
    assert _decide(_answer(429, "2"), attempt=3) == Decision(None, 2.0, 2.0)  # no retry left: still a pause
    assert _decide(_answer(429, "2"), idempotent=False) == Decision(None, 2.0, 2.0)  # a POST: paused, not retried


def test_the_decision_keeps_to_the_deadline() -> None:
    """A wait that would end past the call's deadline is not started; a 429's pause stands all the same."""
    assert _decide(_answer(503, "3"), deadline=102.0) == Decision(None, None, 3.0)
    assert _decide(_answer(429, "3"), deadline=102.0) == Decision(None, 3.0, 3.0)
    assert _decide(_answer(503, "3"), deadline=104.0).retry_in == 3.0


def test_the_decision_retries_a_failure_to_connect_for_any_method() -> None:
    """A connect error is retried even for a POST; a read error only when repeating is safe; a bad cert never."""
    connect = httpx.ConnectError("refused")
    assert _decide(connect, idempotent=False).cause == "ConnectError"
    assert _decide(httpx.ReadError("reset"), idempotent=False) is GIVE_UP
    assert _decide(httpx.ReadError("reset")).retry_in is not None
    assert _decide(httpx.LocalProtocolError("bad header")) is GIVE_UP
    assert _decide(connect, attempt=3) is GIVE_UP


IDS = (ORG_ID, USER_ID, WALLBOX_ID)


# Issue 11, case 6: the deadline bounds the whole call ------------------------------------------
DEADLINE = RetryPolicy(initial_backoff=0.01, max_backoff=0.01, deadline=0.5)


SLOW = httpx.Timeout(60.0)  # no timeout of its own would end these calls in time


async def test_deadline_bounds_a_body_trickled_byte_by_byte(scripted_server: ScriptedServer, backend: str) -> None:
    """Case 6: a body that never ends, a byte every 50 ms (no read timeout trips): APITimeoutError by the deadline."""

    async def trickle(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        while True:
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.05)

    scripted_server.api = trickle
    async with make_client(scripted_server, backend, retry=DEADLINE, timeout=SLOW) as podero:
        with pytest.raises(APITimeoutError):
            await asyncio.wait_for(podero.get_wallbox(*IDS), HANG)


async def test_deadline_bounds_the_wait_for_a_token(scripted_server: ScriptedServer, backend: str) -> None:
    """Case 6: a token endpoint that never answers: APITimeoutError by the deadline, not after the read timeout."""
    scripted_server.token = hold
    async with make_client(scripted_server, backend, retry=DEADLINE, timeout=SLOW) as podero:
        with pytest.raises(APITimeoutError):
            await asyncio.wait_for(podero.get_wallbox(*IDS), HANG)
    assert scripted_server.api_requests == []


async def test_deadline_shrinks_the_last_attempts_timeout(scripted_server: ScriptedServer, backend: str) -> None:
    """Case 6: a retry started just before the deadline waits only for what is left, not its whole timeout."""

    async def busy_then_hold(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        if len(scripted_server.api_requests) == 1:
            await asyncio.sleep(0.3)
            await respond(writer, 503, {"detail": "busy"})
        else:
            await hold(request, writer)

    scripted_server.api = busy_then_hold
    async with make_client(scripted_server, backend, retry=DEADLINE, timeout=SLOW) as podero:
        with pytest.raises(APITimeoutError):
            await asyncio.wait_for(podero.get_wallbox(*IDS), HANG)
    assert len(scripted_server.api_requests) == 2


async def test_deadline_bounds_the_replay_after_a_401(scripted_server: ScriptedServer, backend: str) -> None:
    """Case 6: a 401, a refresh, then a replay that never gets an answer: APITimeoutError by the deadline."""

    async def unauthorized_then_hold(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        if len(scripted_server.api_requests) == 1:
            await respond(writer, 401, {"detail": "expired"})
        else:
            await hold(request, writer)

    scripted_server.api = unauthorized_then_hold
    async with make_client(scripted_server, backend, retry=DEADLINE, timeout=SLOW) as podero:
        with pytest.raises(APITimeoutError):
            await asyncio.wait_for(podero.get_wallbox(*IDS), HANG)
    assert len(scripted_server.token_requests) == 2
    assert len(scripted_server.api_requests) == 2


async def test_each_attempt_timeout_is_capped_at_the_time_left(scripted_server: ScriptedServer, backend: str) -> None:
    """Case 6: with a deadline of 0.5 s and 60 s timeouts, a server that never answers ends the call by it."""
    scripted_server.api = hold
    async with make_client(scripted_server, backend, retry=DEADLINE, timeout=SLOW) as podero:
        with pytest.raises(APITimeoutError):
            await asyncio.wait_for(podero.get_wallbox(*IDS), HANG)


# Issue 11, case 7: Retry-After --------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["Tuesday", "Dec", "5 minutes", "1 2", "-1"])
async def test_garbage_retry_after_falls_back_to_the_backoff(
    scripted_server: ScriptedServer, backend: str, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Case 7: a Retry-After outside RFC 9110 is neither a huge wait nor 0 s: the backoff applies."""
    caplog.set_level(logging.INFO, logger="podero_client")

    async def busy_once(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        if len(scripted_server.api_requests) == 1:
            await respond(writer, 503, {"detail": "busy"}, [("Retry-After", value)])
        else:
            await respond(writer, 200, wallbox_payload())

    scripted_server.api = busy_once
    retry = RetryPolicy(initial_backoff=0.02, max_backoff=0.02, max_retry_after=60.0)
    async with make_client(scripted_server, backend, retry=retry) as podero:
        await podero.get_wallbox(*IDS)
    delays = [record.podero_delay for record in caplog.records if hasattr(record, "podero_delay")]
    assert len(delays) == 1
    assert 0.01 <= delays[0] <= 0.02, "the jittered backoff, not 0 and not the garbage read as a date"


async def test_two_different_retry_after_headers_fall_back_to_the_backoff(
    scripted_server: ScriptedServer, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Case 7: Retry-After: 1 and Retry-After: 2 in one response are ignored, not read as 0."""
    caplog.set_level(logging.INFO, logger="podero_client")

    async def busy_once(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        if len(scripted_server.api_requests) == 1:
            await respond(writer, 503, {"detail": "busy"}, [("Retry-After", "1"), ("Retry-After", "2")])
        else:
            await respond(writer, 200, wallbox_payload())

    scripted_server.api = busy_once
    async with make_client(
        scripted_server, backend, retry=RetryPolicy(initial_backoff=0.02, max_backoff=0.02)
    ) as podero:
        await podero.get_wallbox(*IDS)
    delays = [record.podero_delay for record in caplog.records if hasattr(record, "podero_delay")]
    assert len(delays) == 1
    assert 0.01 <= delays[0] <= 0.02


async def test_deadline_bounds_the_retries(new_client: Callable[..., PoderoClient], fake_podero: FakePodero) -> None:
    """With a deadline, a long Retry-After ends the call instead of waiting past it."""
    async with new_client(retry=RetryPolicy(deadline=0.5, max_retry_after=60)) as podero:
        fake_podero.inject("wallbox", Fault(status=503, headers={"Retry-After": "5"}))
        with pytest.raises(InternalServerError):
            await podero.get_wallbox(*IDS)
    assert fake_podero.wallbox_requests == 1
