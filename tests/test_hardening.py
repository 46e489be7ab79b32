"""A hostile or broken server, and a careless caller, against the whole layer, on both backends.

The servers here are raw asyncio sockets on 127.0.0.1, scripted per request, because
aiohttp.web cannot hold a token request forever, trickle a body, or send two Retry-After
headers. Each test names the case of issue 11 it pins.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from _servers import (
    CLIENT_ID,
    CLIENT_SECRET,
    HANG,
    RawRequest,
    ScriptedServer,
    StaticServer,
    hold,
    make_client,
    respond,
    token_body,
)

from podero_client import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BearerToken,
    ClientClosedError,
    ClientCredentials,
    InternalServerError,
    InvalidArgumentError,
    PasswordCredentials,
    PoderoClient,
    PoderoError,
    ResponseValidationError,
    RetryPolicy,
)
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID, wallbox_payload

IDS = (ORG_ID, USER_ID, WALLBOX_ID)
WALLBOX_PATH = f"/api/partners/v2.0/org/{ORG_ID}/users/{USER_ID}/wallboxes/{WALLBOX_ID}?include_deleted=false"


# 2. aclose() with calls in flight -------------------------------------------------------


async def test_aclose_ends_a_call_waiting_for_its_response(scripted_server: ScriptedServer, backend: str) -> None:
    """Case 2: a call whose response has not come when the client closes ends with ClientClosedError."""
    scripted_server.api = hold
    podero = make_client(scripted_server, backend)
    call = asyncio.ensure_future(podero.get_wallbox(*IDS))
    await scripted_server.wait_for(lambda: bool(scripted_server.api_requests))
    await podero.aclose()
    with pytest.raises(ClientClosedError):
        await asyncio.wait_for(call, HANG)


async def test_aclose_wakes_a_call_asleep_before_its_retry(scripted_server: ScriptedServer, backend: str) -> None:
    """Case 2: a call asleep for Retry-After: 15 ends at once with ClientClosedError when the client closes."""

    async def busy(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 503, {"detail": "busy"}, [("Retry-After", "15")])

    scripted_server.api = busy
    podero = make_client(scripted_server, backend)
    call = asyncio.ensure_future(podero.get_wallbox(*IDS))
    await scripted_server.wait_for(lambda: bool(scripted_server.api_requests))
    await asyncio.sleep(0.1)  # into the 15 s sleep
    await podero.aclose()
    with pytest.raises(ClientClosedError):
        await asyncio.wait_for(call, 5.0)  # well under the 15 s the server asked for
    assert len(scripted_server.api_requests) == 1


async def test_aclose_during_the_refresh_a_401_triggered(scripted_server: ScriptedServer, backend: str) -> None:
    """Case 2: a 401 starts a refresh; the client closes meanwhile: ClientClosedError, not RuntimeError."""
    tokens = 0

    async def token_then_hold(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        nonlocal tokens
        tokens += 1
        if tokens == 1:
            await respond(writer, 200, token_body())
        else:
            await hold(request, writer)

    async def unauthorized(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 401, {"detail": "expired"})

    scripted_server.token, scripted_server.api = token_then_hold, unauthorized
    podero = make_client(scripted_server, backend)
    call = asyncio.ensure_future(podero.get_wallbox(*IDS))
    await scripted_server.wait_for(lambda: len(scripted_server.token_requests) == 2)
    await podero.aclose()
    with pytest.raises(ClientClosedError):
        await asyncio.wait_for(call, HANG)


async def test_a_call_after_aclose_in_a_401_replay_is_client_closed(
    scripted_server: ScriptedServer, backend: str
) -> None:
    """Case 2: the client closes while a 401 is on its way; the refresh is not attempted."""
    release = asyncio.Event()

    async def slow_unauthorized(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        await respond(writer, 401, {"detail": "expired"})

    scripted_server.api = slow_unauthorized
    podero = make_client(scripted_server, backend)
    call = asyncio.ensure_future(podero.get_wallbox(*IDS))
    await scripted_server.wait_for(lambda: bool(scripted_server.api_requests))
    closing = asyncio.ensure_future(podero.aclose())
    release.set()
    await closing
    with pytest.raises(ClientClosedError):
        await asyncio.wait_for(call, HANG)
    assert len(scripted_server.token_requests) == 1


# 3. a watcher through a long outage ----------------------------------------------------


async def test_watcher_polls_through_more_than_1024_failures(
    scripted_server: ScriptedServer, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Case 3: 1,100 transient failures in a row, then an answer: the watcher yields it, no OverflowError."""
    caplog.set_level(logging.ERROR)  # a warning per failed poll is not the point here

    async def down_for_a_while(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        if len(scripted_server.api_requests) <= 1100:
            await respond(writer, 503, {"detail": "down"})
        else:
            await respond(writer, 200, wallbox_payload())

    scripted_server.api = down_for_a_while
    async with make_client(scripted_server, backend, retry=RetryPolicy(max_attempts=1, initial_backoff=0)) as podero:
        async for wallbox in podero.watch_wallbox(*IDS, interval=0.001):
            assert str(wallbox.id) == WALLBOX_ID
            break
    assert len(scripted_server.api_requests) == 1101


# 4. deeply nested JSON -------------------------------------------------------------------

DEEP = b"[" * 100_000 + b"]" * 100_000


async def test_deep_json_in_a_2xx_body_is_a_validation_error(scripted_server: ScriptedServer, backend: str) -> None:
    """Case 4: a 2xx body nested 100,000 deep is ResponseValidationError with the raw body."""

    async def deep(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 200, DEEP)

    scripted_server.api = deep
    async with make_client(scripted_server, backend) as podero:
        with pytest.raises(ResponseValidationError) as caught:
            await podero.get_wallbox(*IDS)
    assert caught.value.body == DEEP.decode()


async def test_deep_json_in_an_error_body_is_the_status_error(scripted_server: ScriptedServer, backend: str) -> None:
    """Case 4: a 500 whose body is nested 100,000 deep is InternalServerError, its body kept as text."""

    async def deep(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 500, DEEP)

    scripted_server.api = deep
    async with make_client(scripted_server, backend) as podero:
        with pytest.raises(InternalServerError) as caught:
            await podero.get_wallbox(*IDS)
    assert caught.value.body == DEEP.decode()


async def test_deep_json_in_a_token_body_is_a_validation_error(scripted_server: ScriptedServer, backend: str) -> None:
    """Case 4: a token body nested 100,000 deep is ResponseValidationError."""

    async def deep(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 200, DEEP)

    scripted_server.token = deep
    async with make_client(scripted_server, backend) as podero:
        with pytest.raises(ResponseValidationError, match="not a JSON object"):
            await podero.get_wallbox(*IDS)


# 5. token values -------------------------------------------------------------------------


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


# 6. the deadline bounds the whole call -------------------------------------------------

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


# 7. Retry-After --------------------------------------------------------------------------


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


# 9 and 10. base_url ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    ["https://user:hunter2-pass@app.podero.com", "https://hunter2-pass@app.podero.com",
     "https://user:hunter2#pass@app.podero.com", "http://user:hunter2-pass@127.0.0.1:1"],
)  # fmt: skip
def test_userinfo_in_base_url_is_refused_unseen(base_url: str, backend: str) -> None:
    """Case 9: a base_url with user:password@ is InvalidArgumentError that does not show the password."""
    with pytest.raises(InvalidArgumentError, match="user name or password") as caught:
        PoderoClient(credentials=BearerToken("tok-1"), base_url=base_url, http_backend=backend)  # type: ignore[arg-type]
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    "base_url", ["https://app.podero.com/p?x=1", "https://app.podero.com/p?", "https://app.podero.com/p#frag"]
)
def test_query_or_fragment_in_base_url_is_refused(base_url: str, backend: str) -> None:
    """Case 10: a base_url with ?query or #fragment is InvalidArgumentError: it would swallow the API path."""
    with pytest.raises(InvalidArgumentError, match=r"query|fragment"):
        PoderoClient(credentials=BearerToken("tok-1"), base_url=base_url, http_backend=backend)  # type: ignore[arg-type]


def test_userinfo_in_an_absolute_token_url_is_refused_unseen() -> None:
    """Case 9: the same rule for an absolute token_url."""
    credentials = ClientCredentials("id", "secret-1", token_url="https://u:hunter2-pass@auth.example/token")
    with pytest.raises(InvalidArgumentError) as caught:
        PoderoClient(credentials=credentials)
    assert "hunter2" not in str(caught.value)


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


# 11. settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [{"leeway": "60"}, {"leeway": float("nan")}, {"leeway": float("inf")}, {"leeway": -1}, {"leeway": True},
     {"timeout": float("nan")}, {"timeout": 0}, {"timeout": -1}, {"timeout": float("inf")}, {"timeout": "5"},
     {"timeout": True}, {"timeout": None}, {"timeout": httpx.Timeout(float("nan"))},
     {"timeout": httpx.Timeout(5.0, connect=0)}, {"timeout": httpx.Timeout(5.0, read=-1)},
     {"timeout": httpx.Timeout(5.0, pool=float("inf"))}, {"retry": {"max_attempts": 3}}],
)  # fmt: skip
def test_bad_settings_fail_at_construction(
    scripted_server: ScriptedServer, backend: str, settings: dict[str, Any]
) -> None:
    """Case 11: leeway, timeout (and each part of an httpx.Timeout) and retry are checked before any I/O."""
    with pytest.raises(InvalidArgumentError):
        make_client(scripted_server, backend, **settings)
    assert scripted_server.requests == []


async def test_good_settings_still_work(scripted_server: ScriptedServer, backend: str) -> None:
    """Case 11: the checks let through a float leeway, an httpx.Timeout with None parts, and an int timeout."""
    for settings in ({"leeway": 0, "timeout": 5}, {"leeway": 30.5, "timeout": httpx.Timeout(5.0, pool=None)}):
        async with make_client(scripted_server, backend, **settings) as podero:
            await podero.get_wallbox(*IDS)


# 12. redaction -----------------------------------------------------------------------------


async def test_echoed_secrets_are_masked_in_every_form(scripted_server: ScriptedServer, backend: str) -> None:
    """Case 12: a token endpoint echoing the password as escaped JSON, form-encoded and raw shows none of it."""
    password = 'pa"ss wörd&=\\1'
    echoes = [
        json.dumps({"password": password, "username": "u"}),
        "grant_type=password&username=u&password=" + httpx.QueryParams({"p": password}).get("p", ""),
        "password=" + str(httpx.QueryParams({"p": password})).removeprefix("p="),
        f"you said {password} and also {password!r}",
    ]

    async def echo(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 400, "\n".join(echoes).encode())

    scripted_server.token = echo
    credentials = PasswordCredentials("u", password)
    async with make_client(scripted_server, backend, credentials=credentials) as podero:
        with pytest.raises(AuthenticationError) as caught:
            await podero.get_wallbox(*IDS)
    shown = f"{caught.value}\n{caught.value!r}\n{caught.value.body}"
    forms = [password, json.dumps(password)[1:-1], str(httpx.QueryParams({"p": password})).removeprefix("p=")]
    assert [form for form in forms if form in shown] == []
    assert "[redacted]" in shown


async def test_an_api_error_echoing_the_bearer_token_is_masked(scripted_server: ScriptedServer, backend: str) -> None:
    """Case 12: a 400 from the API that echoes the access token it was sent does not show it."""

    async def echo(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        token = request.headers["authorization"].removeprefix("Bearer ")
        await respond(writer, 400, {"detail": f"bad request from token {token}", "echo": token})

    scripted_server.api = echo
    async with make_client(scripted_server, backend) as podero:
        with pytest.raises(PoderoError) as caught:
            await podero.get_wallbox(*IDS)
    shown = f"{caught.value}\n{caught.value!r}\n{getattr(caught.value, 'body', '')}"
    assert "tok-1" not in shown


# 13. ids -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_id",
    [" " + "a" * 30 + " ", "+" + "a" * 31, "a" * 32, "{" + WALLBOX_ID + "}", "urn:uuid:" + WALLBOX_ID,
     WALLBOX_ID + "\n", "_".join([WALLBOX_ID[:8], WALLBOX_ID[9:]]), WALLBOX_ID.replace("-", "") + "----",
     " " + WALLBOX_ID, "../../admin", ""],
)  # fmt: skip
async def test_ids_only_in_canonical_form(scripted_server: ScriptedServer, backend: str, bad_id: str) -> None:
    """Case 13: an id that is not 8-4-4-4-12 hex text is InvalidArgumentError, with no request sent."""
    async with make_client(scripted_server, backend) as podero:
        with pytest.raises(InvalidArgumentError):
            await podero.get_wallbox(ORG_ID, USER_ID, bad_id)
    assert scripted_server.requests == []


async def test_uppercase_ids_are_the_same_uuid(scripted_server: ScriptedServer, backend: str) -> None:
    """Case 13: the documented forms: canonical text in either case names the same device."""
    async with make_client(scripted_server, backend) as podero:
        await podero.get_wallbox(ORG_ID.upper(), USER_ID, WALLBOX_ID.upper())
    assert scripted_server.api_requests[0].path == WALLBOX_PATH


# 14. a refused refresh token ---------------------------------------------------------------


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


# Extras: certificates, event loops ---------------------------------------------------------


@pytest.fixture(scope="session")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that no trust store knows."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a certificate")
    command = "req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1"
    subprocess.run(  # noqa: S603  # our own fixed arguments
        [openssl, *command.split(), "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True
    )
    return cert, key


async def test_an_untrusted_certificate_is_not_retried(
    self_signed: tuple[Path, Path], backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Extra: a certificate that fails verification is one attempt and an APIConnectionError that says so."""
    caplog.set_level(logging.INFO, logger="podero_client")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*self_signed)
    server = await ScriptedServer(tls=context).start()
    try:
        podero = make_client(server, backend, credentials=BearerToken("tok-1"), retry=RetryPolicy(initial_backoff=0))
        async with podero:
            with pytest.raises(APIConnectionError, match="certificate") as caught:
                await podero.get_wallbox(*IDS)
    finally:
        await server.close()
    assert not isinstance(caught.value, APITimeoutError)
    assert [record for record in caplog.records if hasattr(record, "podero_attempt")] == [], "not retried"


async def test_a_trusted_self_signed_certificate_works(self_signed: tuple[Path, Path], backend: str) -> None:
    """Extra: the same server, its certificate trusted through verify=, answers (the failure above is the trust)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*self_signed)
    server = await ScriptedServer(tls=context).start()
    try:
        verify = ssl.create_default_context(cafile=str(self_signed[0]))
        async with make_client(server, backend, credentials=BearerToken("tok-1"), verify=verify) as podero:
            await podero.get_wallbox(*IDS)
    finally:
        await server.close()


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
