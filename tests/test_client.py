"""PoderoClient against the fake server over real sockets: the fault matrix and the safety rules."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable

import pytest
from _servers import RawServer

import podero_client
from podero_client import (
    APIConnectionError,
    APITimeoutError,
    BearerToken,
    ClientClosedError,
    InternalServerError,
    InvalidArgumentError,
    NotFoundError,
    PoderoClient,
    RateLimitError,
    ResponseValidationError,
    RetryPolicy,
    UnprocessableEntityError,
)
from podero_client.models import UnknownAction, WallboxDetailOutput
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID, FakePodero, Fault, wallbox_payload

IDS = (ORG_ID, USER_ID, WALLBOX_ID)


def _retry_delays(caplog: pytest.LogCaptureFixture) -> list[float]:
    return [record.podero_delay for record in caplog.records if hasattr(record, "podero_delay")]


async def test_get_wallbox_returns_the_typed_model(podero: PoderoClient) -> None:
    """The happy path: a WallboxDetailOutput with the payload's values."""
    wallbox = await podero.get_wallbox(uuid.UUID(ORG_ID), USER_ID, WALLBOX_ID)
    assert isinstance(wallbox, WallboxDetailOutput)
    assert wallbox.id == uuid.UUID(WALLBOX_ID)
    assert wallbox.charge_rate_w == 7360.0


async def test_raw_response_beside_the_model(podero: PoderoClient) -> None:
    """get_wallbox_response gives status, headers and body with the parsed model."""
    response = await podero.get_wallbox_response(*IDS)
    assert response.status_code == 200
    assert response.headers["x-request-id"]
    assert '"mode": "CHARGING"' in response.text
    assert response.parsed.mode == "CHARGING"


async def test_include_deleted_reaches_the_server(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """A soft-deleted wallbox is a 404 unless include_deleted=True."""
    fake_podero.wallboxes[IDS] = wallbox_payload(deleted_at="2026-11-01T00:00:00Z")
    with pytest.raises(NotFoundError):
        await podero.get_wallbox(*IDS)
    wallbox = await podero.get_wallbox(*IDS, include_deleted=True)
    assert wallbox.deleted_at is not None


async def test_two_503s_then_200_take_three_requests(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """Transient failures are retried and the caller never sees them."""
    fake_podero.inject("wallbox", Fault(status=503), Fault(status=503))
    await podero.get_wallbox(*IDS)
    assert fake_podero.wallbox_requests == 3


async def test_retry_after_is_honoured(
    fake_podero: FakePodero, podero: PoderoClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The server's Retry-After, in either form, is the wait, not the computed backoff."""
    caplog.set_level(logging.INFO, logger="podero_client")
    http_date = {"Retry-After": "Sun, 06 Nov 1994 08:49:38 GMT", "Date": "Sun, 06 Nov 1994 08:49:37 GMT"}
    fake_podero.inject(
        "wallbox",
        Fault(status=429, headers={"Retry-After": "0.25"}),
        Fault(status=503, headers=http_date),
    )
    await podero.get_wallbox(*IDS)
    assert fake_podero.wallbox_requests == 3
    first, second = _retry_delays(caplog)
    assert first == 0.25
    assert second == 1.0, "an HTTP-date is measured against the server's Date"


async def test_retry_after_beyond_the_limit_raises_at_once(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """A 429 asking for an hour is not slept on: RateLimitError with retry_after, one request."""
    fake_podero.inject("wallbox", Fault(status=429, json={"detail": "slow down"}, headers={"Retry-After": "3600"}))
    with pytest.raises(RateLimitError, match="slow down") as caught:
        await podero.get_wallbox(*IDS)
    assert caught.value.retry_after == 3600.0
    assert fake_podero.wallbox_requests == 1


async def test_520_gives_a_typed_error_after_retries(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """A CDN's 520 is retried max_attempts times, then raised as InternalServerError."""
    fake_podero.inject("wallbox", *[Fault(status=520, body=b"<html>origin error</html>")] * 4)
    with pytest.raises(InternalServerError) as caught:
        await podero.get_wallbox(*IDS)
    assert caught.value.status_code == 520
    assert caught.value.body == "<html>origin error</html>"
    assert fake_podero.wallbox_requests == 4


async def test_404_after_one_request(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """A missing wallbox is NotFoundError, with detail, and is not retried."""
    with pytest.raises(NotFoundError) as caught:
        await podero.get_wallbox(ORG_ID, USER_ID, uuid.uuid4())
    assert caught.value.detail == "Not Found"
    assert fake_podero.wallbox_requests == 1


async def test_422_detail_list(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """Django Ninja's list of validation errors becomes detail."""
    body = {"detail": [{"loc": ["query", "include_deleted"], "msg": "Input should be a valid boolean", "type": "x"}]}
    fake_podero.inject("wallbox", Fault(status=422, json=body))
    with pytest.raises(UnprocessableEntityError, match=r"query\.include_deleted: Input should be a valid boolean"):
        await podero.get_wallbox(*IDS)


async def test_dropped_connection_is_retried(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """A connection closed without an answer is retried for a GET."""
    fake_podero.inject("wallbox", Fault(drop=True), Fault(drop=True))
    await podero.get_wallbox(*IDS)
    assert fake_podero.wallbox_requests == 3


async def test_connection_errors_after_retries(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """Only dropped connections: APIConnectionError, no httpx exception."""
    await podero.get_wallbox(*IDS)  # the token first, so that only the wallbox drops
    fake_podero.inject("wallbox", *[Fault(drop=True)] * 4)
    with pytest.raises(APIConnectionError, match="RemoteProtocolError") as caught:
        await podero.get_wallbox(*IDS)
    assert not isinstance(caught.value, APITimeoutError)
    assert fake_podero.wallbox_requests == 1 + 4


async def test_connection_refused(refused_url: str, backend: str) -> None:
    """Nothing listening: APIConnectionError after the retries, on both backends."""
    async with PoderoClient(
        credentials=BearerToken("t"),
        base_url=refused_url.rsplit("/", 1)[0],
        retry=RetryPolicy(initial_backoff=0),
        http_backend=backend,  # type: ignore[arg-type]
    ) as podero:
        with pytest.raises(APIConnectionError, match=r"cannot connect: Connection refused$") as caught:
            await podero.get_wallbox(*IDS)
    assert not isinstance(caught.value, APITimeoutError)


# Far above a loaded machine's noise floor for an answered request; the held ones never answer.
READ_TIMEOUT = 1.0


async def test_slow_response_times_out(new_client: Callable[..., PoderoClient], fake_podero: FakePodero) -> None:
    """A response that never comes is APITimeoutError after the read timeout, after retries."""
    never = asyncio.Event()
    async with new_client(timeout=READ_TIMEOUT, retry=RetryPolicy(max_attempts=2, initial_backoff=0)) as podero:
        await podero.get_wallbox(*IDS)
        fake_podero.inject("wallbox", Fault(hold=never), Fault(hold=never))
        with pytest.raises(APITimeoutError, match="ReadTimeout"):
            await podero.get_wallbox(*IDS)
    assert fake_podero.wallbox_requests == 3


async def test_one_slow_response_is_retried(new_client: Callable[..., PoderoClient], fake_podero: FakePodero) -> None:
    """A single timeout is transient: the retry gets the wallbox."""
    async with new_client(timeout=READ_TIMEOUT) as podero:
        fake_podero.inject("wallbox", Fault(hold=asyncio.Event()))
        await podero.get_wallbox(*IDS)
    assert fake_podero.wallbox_requests == 2


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault(body=b"<html>maintenance</html>"), "JSONDecodeError"),
        (Fault(json=wallbox_payload(mode=None)), "does not fit the schema"),
        (Fault(json={**wallbox_payload(), "owner": "nobody"}), "does not fit the schema"),
        (Fault(json=[1, 2, 3]), "does not fit the schema"),
        (Fault(json=wallbox_payload(charge_deadline_at="tomorrow")), "field charge_deadline_at .*not an RFC 3339"),
        (Fault(status=204, body=b""), "not a status the spec documents"),
    ],
    ids=["html", "null-enum", "wrong-type", "json-list", "bad-date", "undocumented-2xx"],
)
async def test_malformed_2xx_body_is_a_validation_error(
    fake_podero: FakePodero, podero: PoderoClient, fault: Fault, expected: str
) -> None:
    """A 2xx body that does not fit: ResponseValidationError with the raw body."""
    fake_podero.inject("wallbox", fault)
    with pytest.raises(ResponseValidationError, match=expected) as caught:
        await podero.get_wallbox(*IDS)
    sent = fault.body.decode() if fault.body is not None else json.dumps(fault.json)
    assert caught.value.body == sent


async def test_missing_required_field(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """A payload without a required field carries the raw body in its error."""
    payload = wallbox_payload()
    del payload["owner"]
    fake_podero.inject("wallbox", Fault(json=payload))
    with pytest.raises(ResponseValidationError, match="KeyError") as caught:
        await podero.get_wallbox(*IDS)
    assert '"mode": "CHARGING"' in caught.value.body


async def test_truncated_body_is_retried(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """Half a body, then a closed connection, is transient: the retry gets the wallbox."""
    fake_podero.inject("wallbox", Fault(json=wallbox_payload(), truncate=True))
    await podero.get_wallbox(*IDS)
    assert fake_podero.wallbox_requests == 2


async def test_unknown_values_from_the_server_parse(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """New enum values, action codes and fields arrive intact through the whole stack."""
    payload = wallbox_payload(connection="degraded", price_zone="NO_2", boost_state="on")
    payload["actions"].append({"code": "pay_invoice", "amount": 3})
    fake_podero.inject("wallbox", Fault(json=payload))
    wallbox = await podero.get_wallbox(*IDS)
    assert wallbox.connection == "degraded"
    assert wallbox.price_zone == "NO_2"
    assert wallbox["boost_state"] == "on"
    assert isinstance(wallbox.actions, list)
    assert isinstance(wallbox.actions[-1], UnknownAction)
    assert wallbox.actions[-1].code == "pay_invoice"


def test_from_env_picks_the_first_complete_credentials() -> None:
    """Client credentials, then password, then token; PODERO_BASE_URL overrides the URL."""
    env = {"PODERO_USERNAME": "u", "PODERO_PASSWORD": "p", "PODERO_TOKEN": "t", "PODERO_BASE_URL": "http://127.0.0.1:1"}
    client = PoderoClient.from_env(env)
    assert "PasswordCredentials(username='u'," in repr(client)
    assert client.base_url == "http://127.0.0.1:1"
    client = PoderoClient.from_env({"PODERO_CLIENT_ID": "i", "PODERO_CLIENT_SECRET": "s", "PODERO_TOKEN": "t"})
    assert "ClientCredentials(client_id='i'" in repr(client)
    assert client.base_url == podero_client.PRODUCTION_URL
    assert "BearerToken()" in repr(PoderoClient.from_env({"PODERO_TOKEN": "t"}))


def test_from_env_names_the_variables_when_none_is_set() -> None:
    """With nothing set, the error lists what to set."""
    with pytest.raises(InvalidArgumentError, match=r"PODERO_CLIENT_ID and PODERO_CLIENT_SECRET.*PODERO_TOKEN"):
        PoderoClient.from_env({})
    with pytest.raises(InvalidArgumentError, match=r"^PODERO_CLIENT_ID is set but PODERO_CLIENT_SECRET is not"):
        PoderoClient.from_env({"PODERO_CLIENT_ID": "only-half"})


@pytest.mark.parametrize(
    "credentials",
    [
        {"PODERO_CLIENT_ID": "test-client-id", "PODERO_CLIENT_SECRET": "test-client-secret"},
        {"PODERO_USERNAME": "partner@example.com", "PODERO_PASSWORD": "test-password"},
        {"PODERO_USERNAME": "partner@example.com", "PODERO_TOKEN": "half-a-password-pair-is-ignored"},
    ],
    ids=["client-credentials", "password", "token"],
)
async def test_from_env_credentials_reach_the_server(
    fake_podero: FakePodero, monkeypatch: pytest.MonkeyPatch, credentials: dict[str, str]
) -> None:
    """from_env() reads os.environ, and each kind of credentials it builds is the one the server sees."""
    for name in ("PODERO_CLIENT_ID", "PODERO_CLIENT_SECRET", "PODERO_USERNAME", "PODERO_PASSWORD", "PODERO_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {**credentials, "PODERO_BASE_URL": fake_podero.url}.items():
        monkeypatch.setenv(name, value)
    async with PoderoClient.from_env() as podero:
        if "PODERO_TOKEN" in credentials:
            with pytest.raises(podero_client.AuthenticationError):
                await podero.get_wallbox(*IDS)
        else:
            await podero.get_wallbox(*IDS)
    if "PODERO_TOKEN" in credentials:
        assert fake_podero.last_headers["Authorization"] == f"Bearer {credentials['PODERO_TOKEN']}"
        assert fake_podero.token_requests == 0
    else:
        assert fake_podero.token_grants == ["client_credentials" if "PODERO_CLIENT_ID" in credentials else "password"]


def test_from_env_error_is_the_whole_sentence() -> None:
    """The error for missing credentials reads as one sentence, from its start to its end."""
    with pytest.raises(InvalidArgumentError) as caught:
        PoderoClient.from_env({})
    assert str(caught.value) == (
        "no Podero credentials in the environment: set PODERO_CLIENT_ID and PODERO_CLIENT_SECRET, "
        "or PODERO_USERNAME and PODERO_PASSWORD, or PODERO_TOKEN (and optionally PODERO_BASE_URL)"
    )


async def test_closed_client_raises_a_clear_error(
    new_client: Callable[..., PoderoClient], fake_podero: FakePodero
) -> None:
    """After the async with block, calls raise ClientClosedError before any I/O."""
    async with new_client() as podero:
        await podero.get_wallbox(*IDS)
    with pytest.raises(ClientClosedError, match="closed"):
        await podero.get_wallbox(*IDS)
    assert fake_podero.wallbox_requests == 1


async def test_redirects_are_not_followed(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """A redirect, which could carry the token elsewhere, is an error, not followed."""
    fake_podero.inject("wallbox", Fault(status=307, body=b"", headers={"Location": "https://evil.example.com/"}))
    with pytest.raises(podero_client.APIStatusError) as caught:
        await podero.get_wallbox(*IDS)
    assert caught.value.status_code == 307
    assert fake_podero.wallbox_requests == 1


async def test_sequential_calls_reuse_one_connection(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """The token request and every later call go over one kept-alive connection."""
    for _ in range(5):
        await podero.get_wallbox(*IDS)
    assert fake_podero.token_requests == 1
    assert len(fake_podero.connections) == 1


async def test_each_response_is_logged_as_httpx_logs_it(
    fake_podero: FakePodero, podero: PoderoClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The httpx logger still gets its INFO line per response, as from AsyncClient.send."""
    caplog.set_level(logging.INFO, logger="httpx")
    await podero.get_wallbox(*IDS)
    lines = [record.getMessage() for record in caplog.records if record.name == "httpx"]
    assert any(line.startswith("HTTP Request: GET ") and line.endswith('"HTTP/1.1 200 OK"') for line in lines), lines


async def test_a_replayed_call_keeps_the_first_401_in_its_history(
    fake_podero: FakePodero, podero: PoderoClient
) -> None:
    """A 401, a new token and a second 401: the error's response holds the first 401 in its history."""
    fake_podero.inject("wallbox", Fault(status=401), Fault(status=401))
    with pytest.raises(podero_client.AuthenticationError) as caught:
        await podero.get_wallbox(*IDS)
    assert [response.status_code for response in caught.value.response.history] == [401]
    assert fake_podero.wallbox_requests == 2


async def test_deadline_counts_attempts_and_waits_together(
    new_client: Callable[..., PoderoClient], fake_podero: FakePodero
) -> None:
    """Each wait fits the deadline alone, but their sum does not: the call ends at the deadline."""
    async with new_client(retry=RetryPolicy(max_attempts=10, deadline=1.0)) as podero:
        await podero.get_wallbox(*IDS)
        fake_podero.inject("wallbox", *[Fault(status=503, headers={"Retry-After": "0.4"})] * 10)
        with pytest.raises(InternalServerError):
            await podero.get_wallbox(*IDS)
    # Waits of 0.4 s each: the third would end at 1.2 s; a loaded machine may stop after two.
    assert 1 + 2 <= fake_podero.wallbox_requests <= 1 + 3


async def test_truncated_bodies_end_as_a_connection_error(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """Only truncated bodies: APIConnectionError after max_attempts."""
    fake_podero.inject("wallbox", *[Fault(json=wallbox_payload(), truncate=True)] * 4)
    with pytest.raises(APIConnectionError, match="RemoteProtocolError"):
        await podero.get_wallbox(*IDS)
    assert fake_podero.wallbox_requests == 4


async def test_cookies_are_neither_kept_nor_sent(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """Podero authenticates by token: a Set-Cookie from the server is ignored."""
    fake_podero.inject("wallbox", Fault(json=wallbox_payload(), headers={"Set-Cookie": "session=abc; Path=/"}))
    await podero.get_wallbox(*IDS)
    await podero.get_wallbox(*IDS)
    assert "Cookie" not in fake_podero.last_headers
    assert fake_podero.last_headers["Authorization"].startswith("Bearer ")


@pytest.mark.parametrize(
    "base_url",
    [
        "https://app.podero.com",
        "https://proxy.example.com/podero/",
        "http://127.0.0.1:9",
        "https://proxy.example.com/a%20b/c d/",
        "http://[::1]:8080//",
    ],
)
def test_prepared_requests_are_what_httpx_builds_and_copied_per_call(base_url: str) -> None:
    """Each call gets its own copy of the request httpx would build; auth and retry change only that copy."""
    from podero_client._generated.api.user_wallboxes import retrieve_wallbox

    client = PoderoClient(credentials=BearerToken("t"), base_url=base_url)
    for include_deleted in (False, True):
        arguments: dict[str, object] = dict(zip(("org_id", "user_id", "wallbox_id"), map(uuid.UUID, IDS), strict=True))
        arguments["include_deleted"] = include_deleted
        expected = client._http.build_request(**retrieve_wallbox._get_kwargs(**arguments))  # type: ignore[arg-type]
        first = client._request_for(retrieve_wallbox, dict(arguments))
        second = client._request_for(retrieve_wallbox, dict(arguments))
        for request in (first, second):
            assert (request.method, request.url, request.headers.raw) == (
                expected.method,
                expected.url,
                expected.headers.raw,
            )
            assert request.content == b""
            assert request.extensions == expected.extensions
        first.headers["Authorization"] = "Bearer x"
        first.extensions["podero"] = "changed by the first call"
        assert "Authorization" not in second.headers
        assert "podero" not in second.extensions
        assert "Authorization" not in client._request_for(retrieve_wallbox, dict(arguments)).headers


@pytest.mark.parametrize(
    ("headers", "shown"),
    [
        ({"X-Trace": "café-secret"}, "café-secret"),
        ({"X-Trace": "a\r\nX-Injected: secret-value"}, "secret-value"),
        ({"X-Trace": "a\nb-secret"}, "b-secret"),
        ({"X-Trace": " padded-secret"}, "padded-secret"),
        ({"X Trace": "v"}, None),
        ({"X-Tr\u00e4ce": "v"}, None),
        ({"": "v"}, None),
    ],
)
async def test_with_options_refuses_headers_http_forbids(
    podero: PoderoClient, fake_podero: FakePodero, headers: dict[str, str], shown: str | None
) -> None:
    """A header name that is not a token, or a value with CR, LF or non-ASCII, is refused unquoted, before any I/O."""
    with pytest.raises(InvalidArgumentError) as caught:
        podero.with_options(headers=headers)
    if shown is not None:
        assert shown not in str(caught.value)
    assert sum(fake_podero.requests.values()) == 0


async def test_with_options_takes_a_visible_ascii_header(podero: PoderoClient, fake_podero: FakePodero) -> None:
    """A header of visible ASCII, with spaces inside, is sent as it is."""
    await podero.with_options(headers={"X-Trace": "a b\tc"}).get_wallbox(*IDS)
    assert fake_podero.last_headers["X-Trace"] == "a b\tc"


@pytest.mark.parametrize("include_deleted", ["yes", 1, 0.0, "true", [True]])
async def test_query_parameters_are_type_checked_before_io(
    podero: PoderoClient, fake_podero: FakePodero, include_deleted: object
) -> None:
    """include_deleted="yes" (or 1) is InvalidArgumentError before any I/O, on every path to the operation."""
    with pytest.raises(InvalidArgumentError, match="include_deleted must be bool"):
        await podero.get_wallbox(*IDS, include_deleted=include_deleted)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="include_deleted"):
        await podero.user_wallboxes.retrieve_wallbox(*IDS, include_deleted=include_deleted)  # type: ignore[arg-type]
    [result] = await podero.get_wallboxes([IDS], include_deleted=include_deleted)  # type: ignore[arg-type]
    assert isinstance(result, InvalidArgumentError)
    assert sum(fake_podero.requests.values()) == 0


async def test_query_parameters_of_the_right_type_are_sent(podero: PoderoClient, fake_podero: FakePodero) -> None:
    """True and False pass the check and reach the server."""
    await podero.get_wallbox(*IDS, include_deleted=True)
    await podero.get_wallbox(*IDS, include_deleted=False)
    assert fake_podero.requests["wallbox"] == 2


async def test_a_view_closed_under_its_call_is_client_closed(
    new_client: Callable[..., PoderoClient], fake_podero: FakePodero
) -> None:
    """A with_options view whose client is closed mid-call raises ClientClosedError, not a generic PoderoError."""
    fake_podero.inject("wallbox", Fault(hold=asyncio.Event()))
    client = new_client()
    view = client.with_options(timeout=30)
    call = asyncio.create_task(view.get_wallbox(*IDS))
    await fake_podero.wait_until(lambda: fake_podero.wallbox_in_flight == 1)
    await client.aclose()
    with pytest.raises(ClientClosedError):
        await call
    with pytest.raises(ClientClosedError):
        await view.get_wallbox(*IDS)


async def test_a_422_with_any_detail_fails_only_its_key(
    raw_server: RawServer, raw_client: Callable[..., PoderoClient]
) -> None:
    """A 422 whose detail holds {"loc": 5} is an UnprocessableEntityError for its key, not a TypeError for the batch."""
    body = b'{"detail": [{"loc": 5, "msg": "odd"}]}'
    raw_server.reply = b"HTTP/1.1 422 Unprocessable\r\nContent-Type: application/json\r\n"
    raw_server.reply += b"Content-Length: %d\r\n\r\n" % len(body) + body
    async with raw_client() as podero:
        [result] = await podero.get_wallboxes([IDS])
    assert isinstance(result, UnprocessableEntityError)
    assert result.detail == "5: odd"


def test_from_env_warns_once_when_several_credential_kinds_are_set(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two kinds set: one warning per process naming the pair used and the ignored names, never a value."""
    monkeypatch.setattr(podero_client._settings, "_warned_credentials", set())  # as in a fresh process
    env = {"PODERO_CLIENT_ID": "i", "PODERO_CLIENT_SECRET": "s3cret-value", "PODERO_USERNAME": "u-warn-once"}
    with caplog.at_level(logging.WARNING, logger="podero_client"):
        PoderoClient.from_env(env)
        PoderoClient.from_env(env)
        PoderoClient.from_env({"PODERO_TOKEN": "t"})
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert warnings == [
        "more than one kind of Podero credentials in the environment: "
        "using PODERO_CLIENT_ID and PODERO_CLIENT_SECRET; ignoring PODERO_USERNAME (unset those)"
    ]
    assert "s3cret-value" not in caplog.text
