"""The token flows against the fake server: lazy, cached, single-flight, refreshed, never looping."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Callable

import aiohttp
import httpx
import pytest
from _servers import (
    CLIENT_ID,
    CLIENT_SECRET,
    WALLBOX_PATH,
    RawRequest,
    ScriptedServer,
    StaticServer,
    make_client,
    respond,
    token_body,
)
from aiohttp import web

from podero_client import (
    AuthenticationError,
    BearerToken,
    ClientCredentials,
    InternalServerError,
    InvalidArgumentError,
    PasswordCredentials,
    PoderoClient,
    PoderoError,
    ResponseValidationError,
)
from podero_client._auth import DEFAULT_TOKEN_LIFETIME, MAX_TOKEN_LIFETIME, TokenManager, _lifetime
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID, FakePodero, Fault, wallbox_payload

IDS = (ORG_ID, USER_ID, WALLBOX_ID)


def _password_client(new_client: Callable[..., PoderoClient], server: FakePodero) -> PoderoClient:
    return new_client(credentials=PasswordCredentials(server.username, server.password))


async def test_token_is_lazy_and_cached(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """No token request before the first call; one for many sequential calls."""
    assert fake_podero.token_requests == 0
    for _ in range(5):
        await podero.get_wallbox(*IDS)
    assert fake_podero.token_requests == 1
    assert fake_podero.token_grants == ["client_credentials"]


async def test_500_concurrent_calls_on_a_cold_client_make_one_token_request(
    fake_podero: FakePodero, podero: PoderoClient
) -> None:
    """Single flight: every caller waits for the same token request."""
    gate = asyncio.Event()
    fake_podero.inject("oauth2", Fault(hold=gate))
    calls = asyncio.gather(*(podero.get_wallbox(*IDS) for _ in range(500)))
    # Every caller asked for a token in its first step, before the token request was sent.
    await fake_podero.wait_until(lambda: fake_podero.token_requests >= 1)
    gate.set()
    results = await calls
    assert len(results) == 500
    assert fake_podero.token_requests == 1
    assert fake_podero.wallbox_requests == 500


async def test_expiring_all_tokens_makes_exactly_one_refresh(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """Fifty calls that all meet a 401 share one refresh, then each replays once."""
    await podero.get_wallbox(*IDS)
    fake_podero.expire_tokens()
    await asyncio.gather(*(podero.get_wallbox(*IDS) for _ in range(50)))
    assert fake_podero.token_requests == 2
    assert fake_podero.wallbox_requests == 1 + 50 + 50


async def test_token_is_refreshed_before_it_expires(
    new_client: Callable[..., PoderoClient], fake_podero: FakePodero
) -> None:
    """A token with a short life is refreshed proactively, without a 401 first."""
    fake_podero.token_ttl = 2.0  # refreshed after half its life, the leeway being longer
    async with new_client() as podero:
        await podero.get_wallbox(*IDS)
        await asyncio.sleep(1.1)
        await podero.get_wallbox(*IDS)
    assert fake_podero.token_requests == 2
    assert fake_podero.wallbox_requests == 2, "no 401 was needed"


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [(None, DEFAULT_TOKEN_LIFETIME), ("36000", DEFAULT_TOKEN_LIFETIME), (0, DEFAULT_TOKEN_LIFETIME),
     (-5, DEFAULT_TOKEN_LIFETIME), (True, DEFAULT_TOKEN_LIFETIME), (36000, 36000.0), (10**9, MAX_TOKEN_LIFETIME),
     (0.2, 1.0), (10**400, MAX_TOKEN_LIFETIME), (float("inf"), MAX_TOKEN_LIFETIME),
     (float("nan"), DEFAULT_TOKEN_LIFETIME)],
)  # fmt: skip
def test_absurd_expires_in_is_clamped(expires_in: object, lifetime: float) -> None:
    """Missing, zero, negative, NaN and years-long lifetimes (400 digits too) become sane ones."""
    assert _lifetime(expires_in) == lifetime


async def test_password_grant_then_refresh_grant(
    new_client: Callable[..., PoderoClient], fake_podero: FakePodero
) -> None:
    """The password grant signs in; after a 401 the refresh-token grant renews."""
    async with _password_client(new_client, fake_podero) as podero:
        await podero.get_wallbox(*IDS)
        fake_podero.expire_tokens()
        await podero.get_wallbox(*IDS)
    assert fake_podero.token_grants == ["password", "refresh_token"]


async def test_refused_refresh_falls_back_to_the_password_grant(
    new_client: Callable[..., PoderoClient], fake_podero: FakePodero
) -> None:
    """A refresh token the server refuses leads to one password grant, not an error."""
    async with _password_client(new_client, fake_podero) as podero:
        await podero.get_wallbox(*IDS)
        fake_podero.expire_tokens()
        fake_podero.revoke_refresh_tokens()
        await podero.get_wallbox(*IDS)
    assert fake_podero.token_grants == ["password", "refresh_token", "password"]


@pytest.mark.parametrize(
    "credentials",
    [
        ClientCredentials("test-client-id", "wrong-secret"),
        PasswordCredentials("partner@example.com", "wrong-password"),
    ],
    ids=["client-credentials", "password"],
)
async def test_refused_credentials_raise_at_once(
    new_client: Callable[..., PoderoClient], fake_podero: FakePodero, credentials: object
) -> None:
    """Bad credentials: AuthenticationError after one token request, no API call, no loop."""
    async with new_client(credentials=credentials) as podero:
        with pytest.raises(AuthenticationError, match="refused the credentials") as caught:
            await podero.get_wallbox(*IDS)
    assert caught.value.status_code == 401
    assert fake_podero.token_requests == 1
    assert fake_podero.wallbox_requests == 0


async def test_bearer_token_401_is_final(new_client: Callable[..., PoderoClient], fake_podero: FakePodero) -> None:
    """A fixed token that the API refuses gives AuthenticationError after one request."""
    async with new_client(credentials=BearerToken("not-a-valid-token")) as podero:
        with pytest.raises(AuthenticationError, match="401"):
            await podero.get_wallbox(*IDS)
    assert fake_podero.wallbox_requests == 1
    assert fake_podero.token_requests == 0


async def test_second_401_raises_instead_of_looping(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """401, refresh, replay, 401 again: AuthenticationError, with one refresh only."""
    unauthorized = Fault(status=401, json={"detail": "Unauthorized"})
    fake_podero.inject("wallbox", unauthorized, unauthorized)
    with pytest.raises(AuthenticationError):
        await podero.get_wallbox(*IDS)
    assert fake_podero.token_requests == 2
    assert fake_podero.wallbox_requests == 2


async def test_token_endpoint_503_is_retried(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """Transient token endpoint failures are retried under the policy."""
    fake_podero.inject("oauth2", Fault(status=503), Fault(drop=True))
    await podero.get_wallbox(*IDS)
    assert fake_podero.token_requests == 3


async def test_token_endpoint_failing_for_good_raises_a_status_error(
    fake_podero: FakePodero, podero: PoderoClient
) -> None:
    """After max_attempts token endpoint 500s, the caller gets InternalServerError."""
    fake_podero.inject("oauth2", *[Fault(status=500, json={"detail": "boom"})] * 4)
    with pytest.raises(InternalServerError, match="boom"):
        await podero.get_wallbox(*IDS)
    assert fake_podero.token_requests == 4


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        (Fault(json={"token_type": "Bearer", "refresh_token": "r-secret-1"}), "without access_token"),
        (Fault(body=b"<html>login</html>"), "not a JSON object"),
    ],
)
async def test_malformed_token_response_is_a_typed_error(
    fake_podero: FakePodero, podero: PoderoClient, fault: Fault, problem: str
) -> None:
    """A 200 from the token endpoint without a token says so, with secrets redacted."""
    fake_podero.inject("oauth2", fault)
    with pytest.raises(ResponseValidationError, match=problem) as caught:
        await podero.get_wallbox(*IDS)
    assert "r-secret-1" not in caught.value.body


async def test_form_body_encoding(new_client: Callable[..., PoderoClient], fake_podero: FakePodero) -> None:
    """body_encoding="form" sends the RFC 6749 form body, which the server accepts too."""
    credentials = ClientCredentials(fake_podero.client_id, fake_podero.client_secret, body_encoding="form")
    async with new_client(credentials=credentials) as podero:
        await podero.get_wallbox(*IDS)
    assert fake_podero.token_grants == ["client_credentials"]
    assert fake_podero.token_content_types == ["application/x-www-form-urlencoded"]


async def test_json_body_encoding_is_the_default(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """Podero's own examples send JSON to the token endpoint, and so does the default."""
    await podero.get_wallbox(*IDS)
    assert fake_podero.token_content_types == ["application/json"]


async def _token_gateway(upstream: str) -> tuple[web.AppRunner, str, list[str]]:
    """An identity provider on another host and path, which gets its tokens from ``upstream``."""
    seen: list[str] = []

    async def issue(request: web.Request) -> web.Response:
        seen.append(request.path)
        async with aiohttp.ClientSession() as session:
            answer = await session.post(upstream, data=await request.read(), headers=request.headers)
            return web.Response(status=answer.status, body=await answer.read(), content_type="application/json")

    app = web.Application()
    app.router.add_post("/identity/connect/token", issue)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.2", 0)  # all of 127.0.0.0/8 is loopback on Linux
    await site.start()
    return runner, f"http://127.0.0.2:{runner.addresses[0][1]}/identity/connect/token", seen


async def test_absolute_token_url(new_client: Callable[..., PoderoClient], fake_podero: FakePodero) -> None:
    """An absolute token_url on another host and path is where the token request goes."""
    runner, url, seen = await _token_gateway(f"{fake_podero.url}/api/partners/v2.0/auth/token")
    try:
        credentials = PasswordCredentials(fake_podero.username, fake_podero.password, token_url=url)
        async with new_client(credentials=credentials) as podero:
            await podero.get_wallbox(*IDS)
    finally:
        await runner.cleanup()
    assert seen == ["/identity/connect/token"]
    assert fake_podero.requests["auth_token"] == 1, "through the gateway"
    assert fake_podero.wallbox_requests == 1


async def test_cancelled_caller_does_not_break_the_refresh(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """The first caller is cancelled mid-refresh; the others still get the same token."""
    gate = asyncio.Event()
    fake_podero.inject("oauth2", Fault(hold=gate))
    first = asyncio.create_task(podero.get_wallbox(*IDS))
    await fake_podero.wait_until(lambda: fake_podero.token_requests == 1)
    others = [asyncio.create_task(podero.get_wallbox(*IDS)) for _ in range(5)]
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    gate.set()
    results = await asyncio.gather(*others)
    assert len(results) == 5
    assert fake_podero.token_requests == 1


async def test_stale_401_after_a_completed_refresh_keeps_the_new_token(
    fake_podero: FakePodero, podero: PoderoClient
) -> None:
    """A 401 for the old token, arriving after another call refreshed, replays with the new one."""
    await podero.get_wallbox(*IDS)
    gate = asyncio.Event()
    fake_podero.inject("wallbox", Fault(hold=gate))
    slow = asyncio.create_task(podero.get_wallbox(*IDS))  # sent with the first token, answered later
    await fake_podero.wait_until(lambda: fake_podero.wallbox_requests == 2)
    fake_podero.expire_tokens()
    await podero.get_wallbox(*IDS)  # 401, refresh, replay
    assert fake_podero.token_requests == 2
    gate.set()  # now the slow one meets its 401: the first token was revoked
    await slow
    assert fake_podero.token_requests == 2, "the newer token was kept, not refreshed again"
    assert fake_podero.wallbox_requests == 1 + 1 + 2 + 1


async def test_token_endpoint_400_raises_at_once(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """An OAuth error (400 invalid_grant) is AuthenticationError after one token request, not retried."""
    fake_podero.inject("oauth2", Fault(status=400, json={"error": "invalid_grant"}))
    with pytest.raises(AuthenticationError, match="refused the credentials") as caught:
        await podero.get_wallbox(*IDS)
    assert caught.value.status_code == 400
    assert fake_podero.token_requests == 1
    assert fake_podero.wallbox_requests == 0


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=429, json={"detail": "slow down"}, headers={"Retry-After": "0"}),
        Fault(drop=True),
        Fault(json={"access_token": "never-whole", "expires_in": 60}, truncate=True),
    ],
    ids=["429", "drop", "truncated"],
)
async def test_token_endpoint_transient_failures_are_retried(
    fake_podero: FakePodero, podero: PoderoClient, fault: Fault
) -> None:
    """A 429, a dropped connection or a cut body from the token endpoint is retried; the call succeeds."""
    fake_podero.inject("oauth2", fault, fault)
    await podero.get_wallbox(*IDS)
    assert fake_podero.token_requests == 3
    assert fake_podero.wallbox_requests == 1


async def test_leeway_refreshes_that_long_before_expiry(
    new_client: Callable[..., PoderoClient], fake_podero: FakePodero
) -> None:
    """leeway=1.5 on a 6 s token: not refreshed at half-life (3 s), refreshed after 4.5 s."""
    fake_podero.token_ttl = 6.0
    async with new_client(leeway=1.5) as podero:
        started = time.monotonic()
        await podero.get_wallbox(*IDS)
        got_token = time.monotonic()
        # Lower bounds only: a loaded machine makes these waits longer, never shorter.
        await asyncio.sleep(3.4 - (time.monotonic() - started))
        await podero.get_wallbox(*IDS)
        assert fake_podero.token_requests == 1, "past half-life, but the leeway has not begun"
        await asyncio.sleep(4.6 - (time.monotonic() - got_token))
        await podero.get_wallbox(*IDS)
    assert fake_podero.token_requests == 2
    assert fake_podero.wallbox_requests == 3, "refreshed before the token expired: no 401"


@pytest.mark.parametrize(("expires_in", "refresh_in"), [(36000, 36000 - 60), (3600, 3600 - 60), (100, 50)])
async def test_default_leeway_is_60_seconds(expires_in: float, refresh_in: float) -> None:
    """A token is due for refresh 60 s before expires_in runs out, or at half its life if that is later."""

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"access_token": "a", "expires_in": expires_in})

    async with httpx.AsyncClient(transport=httpx.MockTransport(token_endpoint), base_url="https://t") as http:
        tokens = TokenManager(ClientCredentials("id", "secret"), http)
        before = time.monotonic()
        token = await tokens.get_token()
        after = time.monotonic()
    assert before + refresh_in <= token.refresh_after <= after + refresh_in


async def _token_from(body: object) -> object:
    """What TokenManager makes of one token endpoint answer (a narrow unit test: MockTransport)."""

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(token_endpoint), base_url="https://t") as http:
        return await TokenManager(PasswordCredentials("u", "p"), http).get_token()


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"access_token": ""}, "a body without access_token"),
        ({"access_token": 12345}, "a body without access_token"),
        ({"token": "a"}, "a body without access_token"),
        (["a"], "a body that is not a JSON object"),
    ],
)
async def test_token_must_be_a_non_empty_string(body: object, problem: str) -> None:
    """An empty or non-string access_token is refused like a missing one, with the response attached."""
    with pytest.raises(ResponseValidationError) as caught:
        await _token_from(body)
    assert str(caught.value) == f"the token endpoint answered 200 with {problem}"
    assert caught.value.response is not None
    assert caught.value.response.status_code == 200


async def test_a_refresh_token_that_is_not_a_string_is_ignored() -> None:
    """A non-string refresh_token is not kept, so it is never sent back."""
    token = await _token_from({"access_token": "a", "expires_in": 60, "refresh_token": 12345})
    assert token.refresh_token is None  # type: ignore[attr-defined]


async def test_token_log_lines(
    new_client: Callable[..., PoderoClient], fake_podero: FakePodero, caplog: pytest.LogCaptureFixture
) -> None:
    """The token's lifetime and a refused refresh token are each logged in a readable line."""
    caplog.set_level(logging.INFO, logger="podero_client")
    async with _password_client(new_client, fake_podero) as podero:
        await podero.get_wallbox(*IDS)
        fake_podero.expire_tokens()
        fake_podero.revoke_refresh_tokens()
        await podero.get_wallbox(*IDS)
    messages = [record.getMessage() for record in caplog.records if record.name == "podero_client"]
    assert "got an access token valid for 36000s" in messages
    assert "refresh token refused; signing in again with the password grant" in messages


async def test_failed_refresh_leaves_no_error_in_the_event_loop(
    fake_podero: FakePodero, podero: PoderoClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A token request that fails is the caller's error only: the loop logs nothing, the next call retries."""
    caplog.set_level(logging.ERROR, logger="asyncio")
    fake_podero.inject("oauth2", Fault(status=401, json={"error": "invalid_client"}))
    with pytest.raises(AuthenticationError):
        await podero.get_wallbox(*IDS)
    await podero.get_wallbox(*IDS)
    assert [record.getMessage() for record in caplog.records if record.name == "asyncio"] == []
    assert fake_podero.token_requests == 2


@pytest.mark.parametrize("encoding", ["xml", "JSON", "", None])
def test_body_encoding_must_be_json_or_form(encoding: object) -> None:
    """ClientCredentials(body_encoding="xml") is InvalidArgumentError, not a silent JSON body."""
    with pytest.raises(InvalidArgumentError, match="body_encoding"):
        ClientCredentials("id", "secret", body_encoding=encoding)  # type: ignore[arg-type]


# Issue 11, case 5: token values ----------------------------------------------------------------
@pytest.mark.parametrize("token", ["tok\r\nX-Injected: 1", "tok en", "tök", "tok\x00"])
async def test_a_token_that_is_no_header_value_is_refused_unseen(
    scripted_server: ScriptedServer, backend: str, token: str
) -> None:
    """Case 5: an access_token with CR/LF, a space or non-ASCII is ResponseValidationError that never shows it."""

    async def bad_token(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 200, token_body(token))

    scripted_server.token = bad_token
    async with make_client(scripted_server, backend) as podero:
        with pytest.raises(ResponseValidationError, match="not a valid header value") as caught:
            await podero.get_wallbox(*IDS)
    shown = f"{caught.value}\n{caught.value!r}\n{caught.value.body}"
    assert token not in shown
    assert json.dumps(token)[1:-1] not in shown
    assert scripted_server.api_requests == []


async def test_a_lifetime_of_400_digits_is_clamped(scripted_server: ScriptedServer, backend: str) -> None:
    """Case 5: expires_in with 400 digits is a day, not OverflowError; the token is used."""

    async def long_lived(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 200, b'{"access_token": "tok-1", "expires_in": ' + b"9" * 400 + b"}")

    scripted_server.token = long_lived
    async with make_client(scripted_server, backend) as podero:
        await podero.get_wallbox(*IDS)
        await podero.get_wallbox(*IDS)
    assert len(scripted_server.token_requests) == 1
    assert scripted_server.api_requests[0].headers["authorization"] == "Bearer tok-1"


def test_a_bearer_token_that_is_no_header_value_is_refused_at_construction() -> None:
    """Case 5: BearerToken("a\\r\\nb") is InvalidArgumentError, which does not quote it."""
    with pytest.raises(InvalidArgumentError) as caught:
        BearerToken("secret\r\nX-Injected: 1")
    assert "secret" not in str(caught.value)


async def test_token_request_carries_exactly_the_configured_credentials(
    scripted_server: ScriptedServer, backend: str
) -> None:
    """Case 9: the client-credentials request has the configured Basic header and nothing else secret."""
    async with make_client(scripted_server, backend) as podero:
        await podero.get_wallbox(*IDS)
    (token_request,) = scripted_server.token_requests
    expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert token_request.headers["authorization"] == f"Basic {expected}"
    assert token_request.json == {"grant_type": "client_credentials"}
    assert scripted_server.api_requests[0].path == WALLBOX_PATH


# Issue 11, case 14: a refused refresh token ----------------------------------------------------
async def test_a_refused_refresh_token_is_dropped(scripted_server: ScriptedServer, backend: str) -> None:
    """Case 14: once the server refuses a refresh token, later sign-ins go straight to the password grant."""
    grants: list[str] = []

    async def token(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        grants.append(request.json["grant_type"])
        if request.json["grant_type"] == "refresh_token":
            await respond(writer, 401, {"detail": "Invalid refresh token"})
        elif len(grants) == 1:  # only the first sign-in hands out a refresh token
            await respond(writer, 200, token_body(f"tok-{len(grants)}", refresh_token="refresh-1"))
        else:
            await respond(writer, 200, token_body(f"tok-{len(grants)}"))

    async def first_try_of_each_call_unauthorized(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        if len(scripted_server.api_requests) % 2:
            await respond(writer, 401, {"detail": "expired"})
        else:
            await respond(writer, 200, wallbox_payload())

    scripted_server.token, scripted_server.api = token, first_try_of_each_call_unauthorized
    credentials = PasswordCredentials("u", "password-1")
    async with make_client(scripted_server, backend, credentials=credentials) as podero:
        for _ in range(2):  # each call: a 401, a new token, a replay
            await podero.get_wallbox(*IDS)
    assert grants == ["password", "refresh_token", "password", "password"]


# Issue 11, extras: one event loop per client ------------------------------------------------------


def test_a_client_used_from_a_second_event_loop_says_so(static_server: StaticServer, backend: str) -> None:
    """Extra: the first call binds the client to its loop; a call from another loop is a clear PoderoError."""
    static_server.routes[WALLBOX_PATH] = (200, "application/json", json.dumps(wallbox_payload()).encode())
    podero = PoderoClient(
        credentials=BearerToken("tok-1"),
        base_url=static_server.url,
        http_backend=backend,  # type: ignore[arg-type]  # the fixture's values are the Literal's
    )

    async def call() -> None:
        await podero.get_wallbox(*IDS)

    first = asyncio.new_event_loop()
    try:
        first.run_until_complete(call())
        with pytest.raises(PoderoError, match="event loop"):
            asyncio.run(call())
        first.run_until_complete(podero.aclose())
    finally:
        first.close()
