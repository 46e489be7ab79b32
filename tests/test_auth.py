"""The token flows against the fake server: lazy, cached, single-flight, refreshed, never looping."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from podero_client import (
    AuthenticationError,
    BearerToken,
    ClientCredentials,
    InternalServerError,
    PasswordCredentials,
    PoderoClient,
    ResponseValidationError,
)
from podero_client._auth import DEFAULT_TOKEN_LIFETIME, MAX_TOKEN_LIFETIME, _lifetime
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID, FakePodero, Fault

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
    fake_podero.inject("oauth2", Fault(delay=0.05))
    results = await asyncio.gather(*(podero.get_wallbox(*IDS) for _ in range(500)))
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


async def test_absolute_token_url(new_client: Callable[..., PoderoClient], fake_podero: FakePodero) -> None:
    """A token_url may be absolute."""
    url = f"{fake_podero.url}/api/partners/v2.0/auth/token"
    credentials = PasswordCredentials(fake_podero.username, fake_podero.password, token_url=url)
    async with new_client(credentials=credentials) as podero:
        await podero.get_wallbox(*IDS)
    assert fake_podero.requests["auth_token"] == 1


async def test_cancelled_caller_does_not_break_the_refresh(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """The first caller is cancelled mid-refresh; the others still get the same token."""
    fake_podero.inject("oauth2", Fault(delay=0.5))
    first = asyncio.create_task(podero.get_wallbox(*IDS))
    await asyncio.sleep(0.05)
    others = [asyncio.create_task(podero.get_wallbox(*IDS)) for _ in range(5)]
    await asyncio.sleep(0.05)
    first.cancel()
    results = await asyncio.gather(*others)
    assert len(results) == 5
    assert first.cancelled()
    assert fake_podero.token_requests == 1
