"""Secrets never appear in a repr, a log record (DEBUG included) or an exception message."""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Callable

import pytest
from _servers import RawServer

from podero_client import (
    AuthenticationError,
    BearerToken,
    ClientCredentials,
    PasswordCredentials,
    PoderoClient,
    PoderoError,
    ResponseTooLargeError,
    ResponseValidationError,
)
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID, Endpoint, FakePodero, Fault

IDS = (ORG_ID, USER_ID, WALLBOX_ID)


def _leaks(texts: list[str], secrets: list[str]) -> list[str]:
    return [secret for secret in secrets if any(secret in text for text in texts)]


async def test_no_secret_in_logs_reprs_or_errors(
    new_client: Callable[..., PoderoClient], fake_podero: FakePodero, secret_logs: pytest.LogCaptureFixture
) -> None:
    """Every flow, with faults, at DEBUG on every logger: no secret shows anywhere."""
    seen: list[str] = []
    errors: list[PoderoError] = []
    fake_podero.inject("wallbox", Fault(status=503), Fault(drop=True))
    flows = [
        PasswordCredentials(fake_podero.username, fake_podero.password),
        ClientCredentials(fake_podero.client_id, fake_podero.client_secret),
        ClientCredentials(fake_podero.client_id, fake_podero.client_secret, body_encoding="form"),
    ]
    for credentials in flows:
        async with new_client(credentials=credentials) as podero:
            seen += [repr(credentials), repr(podero), str(podero)]
            await podero.get_wallbox(*IDS)
            fake_podero.expire_tokens()
            await podero.get_wallbox(*IDS)
            endpoint: Endpoint = "auth_token" if isinstance(credentials, PasswordCredentials) else "oauth2"
            fake_podero.inject(endpoint, Fault(json={"refresh_token": "leaky-refresh", "expires_in": 1}))
            fake_podero.expire_tokens()
            with pytest.raises(ResponseValidationError) as caught:
                await podero.get_wallbox(*IDS)
            errors.append(caught.value)
    bearer = fake_podero.issued[0]
    async with new_client(credentials=BearerToken(bearer)) as podero:
        seen += [repr(BearerToken(bearer)), repr(podero)]
        with pytest.raises(AuthenticationError) as auth_error:
            await podero.get_wallbox(*IDS)  # revoked above
        errors.append(auth_error.value)
    for wrong in (ClientCredentials("test-client-id", "wrong-secret-1"), PasswordCredentials("x", "wrong-password-1")):
        async with new_client(credentials=wrong) as podero:
            with pytest.raises(AuthenticationError) as refused:
                await podero.get_wallbox(*IDS)
            errors.append(refused.value)

    basic = base64.b64encode(f"{fake_podero.client_id}:{fake_podero.client_secret}".encode()).decode()
    secrets = [
        *fake_podero.issued,
        fake_podero.client_secret,
        fake_podero.password,
        basic,
        "leaky-refresh",
        "wrong-secret-1",
        "wrong-password-1",
    ]
    assert len(fake_podero.issued) >= 6
    seen += [record.getMessage() for record in secret_logs.records]
    seen += [repr(record.__dict__) for record in secret_logs.records]
    seen += [f"{error}\n{error!r}\n{getattr(error, 'body', '')}" for error in errors]
    assert any("requesting an access token" in text for text in seen), "the token fetches were logged"
    assert any("retrying GET" in text for text in seen), "the retries were logged"
    assert _leaks(seen, secrets) == []


async def test_an_echoing_token_endpoint_leaks_nothing(
    new_client: Callable[..., PoderoClient], fake_podero: FakePodero, secret_logs: pytest.LogCaptureFixture
) -> None:
    """Case 12: a token endpoint echoing a password with quotes, as JSON, form and raw, shows it nowhere."""
    password = 'quo"te\\d pass&word=1'
    echo = (
        json.dumps({"grant_type": "password", "password": password})
        + "\npassword="
        + urllib.parse.quote_plus(password)
        + "\n"
        + password
    )
    fake_podero.inject("auth_token", Fault(status=400, body=echo.encode()))
    async with new_client(credentials=PasswordCredentials("partner@example.com", password)) as podero:
        with pytest.raises(AuthenticationError) as caught:
            await podero.get_wallbox(*IDS)
    seen = [f"{caught.value}\n{caught.value!r}\n{caught.value.body}"]
    seen += [record.getMessage() for record in secret_logs.records]
    forms = [password, json.dumps(password)[1:-1], urllib.parse.quote_plus(password)]
    assert _leaks(seen, forms) == []


def _echo(password: str, at: int) -> bytes:
    """A token endpoint's over-long JSON echo of the grant, the password's value starting at byte ``at``."""
    head = '{"echo": {"grant_type": "password", "username": "u", "pad": "'
    tail = '", "password": "'
    pad = "x" * (at - len(head) - len(tail))
    return (head + pad + tail + password + '"}, "more": "' + "y" * 5000 + '"}').encode()


@pytest.mark.parametrize("at", [500, 990, 996], ids=["inside", "cut-in-two", "cut-early"])
async def test_too_large_token_echo_is_redacted(raw_server: RawServer, backend: str, at: int) -> None:
    """A token endpoint's echo over max_response_bytes keeps no part of the password in ResponseTooLargeError.body."""
    password = "hunter2-correct-horse-battery"
    # No Content-Length: the body is read until the bound, and its head is kept.
    raw_server.reply = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + _echo(password, at)
    client = PoderoClient(
        credentials=PasswordCredentials("u", password),
        base_url=raw_server.url,
        max_response_bytes=2000,
        http_backend=backend,  # type: ignore[arg-type]
    )
    async with client:
        with pytest.raises(ResponseTooLargeError) as caught:
            await client.get_wallbox(*IDS)
    assert caught.value.body.startswith('{"echo"')
    assert password[:3] not in caught.value.body
    assert password[:3] not in str(caught.value)


async def test_too_large_api_echo_is_redacted(raw_server: RawServer, backend: str) -> None:
    """An API answer over the bound that echoes the bearer token keeps it out of ResponseTooLargeError.body."""
    token = "tok-0123456789abcdef"
    raw_server.reply = b"HTTP/1.1 200 OK\r\n\r\n" + f"you sent {token} and ".encode() + b"z" * 5000
    client = PoderoClient(
        credentials=BearerToken(token),
        base_url=raw_server.url,
        max_response_bytes=1000,
        http_backend=backend,  # type: ignore[arg-type]
    )
    async with client:
        with pytest.raises(ResponseTooLargeError) as caught:
            await client.get_wallbox(*IDS)
    assert caught.value.body.startswith("you sent [redacted] and zz")
