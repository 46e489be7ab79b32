"""Podero's token flows, as an ``httpx.Auth``, so that every generated endpoint is authenticated.

A token is fresh until ``leeway`` seconds before it expires (monotonic clock); then the
next request refreshes it first. At most one token request is in flight: concurrent
callers await the same task, shielded, so a caller that is cancelled does not cancel
the refresh the others wait for. A 401 invalidates only the token that request used,
refreshes once and replays once; a second 401 is the caller's AuthenticationError.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import AsyncGenerator, Generator
from typing import Literal

import attrs
import httpx

from ._errors import AuthenticationError, ResponseValidationError, redact, status_error
from ._retry import IDEMPOTENT_EXTENSION

logger = logging.getLogger("podero_client")

# expires_in is clamped into this range; a missing, zero or negative one is taken as the default.
MIN_TOKEN_LIFETIME = 1.0
MAX_TOKEN_LIFETIME = 24 * 3600.0
DEFAULT_TOKEN_LIFETIME = 300.0


@attrs.frozen
class ClientCredentials:
    """Podero's server-to-server flow: Basic auth to ``token_url``, no refresh token.

    ``body_encoding="form"`` sends the RFC 6749 form body instead of Podero's JSON.
    """

    client_id: str
    client_secret: str = attrs.field(repr=False)
    token_url: str = attrs.field(default="/oauth2/token/", kw_only=True)
    body_encoding: Literal["json", "form"] = attrs.field(default="json", kw_only=True)


@attrs.frozen
class PasswordCredentials:
    """The password grant, renewed with the refresh-token grant while the server allows it."""

    username: str
    password: str = attrs.field(repr=False)
    token_url: str = attrs.field(default="/api/partners/v2.0/auth/token", kw_only=True)


@attrs.frozen
class BearerToken:
    """A fixed access token: no token requests, no refresh; a 401 is final."""

    token: str = attrs.field(repr=False)


Credentials = ClientCredentials | PasswordCredentials | BearerToken


@attrs.frozen
class _Token:
    access_token: str = attrs.field(repr=False)
    refresh_after: float  # time.monotonic() value
    refresh_token: str | None = attrs.field(default=None, repr=False)


def _lifetime(expires_in: object) -> float:
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or not expires_in > 0:
        return DEFAULT_TOKEN_LIFETIME
    return min(max(float(expires_in), MIN_TOKEN_LIFETIME), MAX_TOKEN_LIFETIME)


class TokenManager:
    """Fetches, caches and refreshes the access token for one set of credentials."""

    def __init__(self, credentials: Credentials, http: httpx.AsyncClient, *, leeway: float = 60.0) -> None:
        self._credentials = credentials
        self._http = http  # the PoderoClient's own client: same pool, retries and timeouts
        self._leeway = leeway
        self._token: _Token | None = None
        self._refresh_token: str | None = None  # outlives an invalidated access token
        if isinstance(credentials, BearerToken):
            self._token = _Token(credentials.token, refresh_after=float("inf"))
        self._refresh: asyncio.Task[_Token] | None = None

    def __repr__(self) -> str:
        return f"TokenManager({self._credentials!r})"

    @property
    def can_refresh(self) -> bool:
        return not isinstance(self._credentials, BearerToken)

    async def get_token(self) -> _Token:
        """The current token, refreshed first when it is missing or about to expire."""
        token = self._token
        if token is not None and time.monotonic() < token.refresh_after:
            return token
        if self._refresh is None:
            self._refresh = asyncio.get_running_loop().create_task(self._fetch())
            self._refresh.add_done_callback(self._refresh_done)
        return await asyncio.shield(self._refresh)

    def _refresh_done(self, task: asyncio.Task[_Token]) -> None:
        self._refresh = None
        if not task.cancelled() and task.exception() is None:
            self._token = task.result()
            self._refresh_token = self._token.refresh_token or self._refresh_token

    def invalidate(self, token: _Token) -> None:
        """Forget ``token`` if it is still the current one; a newer one is kept."""
        if self._token is token:
            self._token = None

    async def _fetch(self) -> _Token:
        credentials = self._credentials
        if isinstance(credentials, PasswordCredentials) and self._refresh_token:
            try:
                return await self._request_token(
                    credentials.token_url, {"grant_type": "refresh_token", "refresh_token": self._refresh_token}
                )
            except AuthenticationError:
                logger.info("refresh token refused; signing in again with the password grant")
        if isinstance(credentials, PasswordCredentials):
            body = {"grant_type": "password", "username": credentials.username, "password": credentials.password}
            return await self._request_token(credentials.token_url, body)
        if isinstance(credentials, ClientCredentials):
            return await self._request_token(credentials.token_url, {"grant_type": "client_credentials"})
        raise AssertionError("a BearerToken is never fetched")  # pragma: no cover

    async def _request_token(self, url: str, body: dict[str, str]) -> _Token:
        credentials = self._credentials
        headers = {"Accept": "application/json"}
        form = isinstance(credentials, ClientCredentials) and credentials.body_encoding == "form"
        if isinstance(credentials, ClientCredentials):
            basic = base64.b64encode(f"{credentials.client_id}:{credentials.client_secret}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
        request = self._http.build_request(
            "POST",
            url,
            headers=headers,
            data=body if form else None,
            json=None if form else body,
            extensions={IDEMPOTENT_EXTENSION: True},  # a token grant is safe to repeat
        )
        logger.info("requesting an access token (grant_type=%s) from %s", body["grant_type"], request.url.path)
        response = await self._http.send(request, auth=None)  # read in full: not streamed
        if response.is_error:
            raise status_error(response, token_endpoint=True)
        return self._parse_token(response)

    def _parse_token(self, response: httpx.Response) -> _Token:
        try:
            data = response.json()
        except ValueError:
            data = None
        access_token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(access_token, str) or not access_token:
            problem = "a body without access_token" if isinstance(data, dict) else "a body that is not a JSON object"
            raise ResponseValidationError(
                f"the token endpoint answered {response.status_code} with {problem}",
                body=redact(response.text),
                response=response,
            )
        assert isinstance(data, dict)
        lifetime = _lifetime(data.get("expires_in"))
        refresh_token = data.get("refresh_token")
        logger.info("got an access token valid for %.0fs", lifetime)
        return _Token(
            access_token,
            refresh_after=time.monotonic() + max(lifetime - self._leeway, lifetime / 2),
            refresh_token=refresh_token if isinstance(refresh_token, str) else None,
        )


class PoderoAuth(httpx.Auth):
    """Sets ``Authorization: Bearer`` on each request; on a 401, refreshes once and replays once."""

    def __init__(self, tokens: TokenManager) -> None:
        self._tokens = tokens

    def __repr__(self) -> str:
        return f"PoderoAuth({self._tokens!r})"

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._tokens.get_token()
        request.headers["Authorization"] = f"Bearer {token.access_token}"
        response = yield request
        if response.status_code != 401 or not self._tokens.can_refresh:
            return
        self._tokens.invalidate(token)
        token = await self._tokens.get_token()
        request.headers["Authorization"] = f"Bearer {token.access_token}"
        yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise NotImplementedError("podero-client is async only")
