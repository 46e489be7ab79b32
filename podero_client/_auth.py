"""Podero's token flows, as an ``httpx.Auth``, so that every generated endpoint is authenticated.

A token is fresh until ``leeway`` seconds before it expires (monotonic clock); then the
next request refreshes it first. At most one token request is in flight: concurrent
callers await the same task, shielded, so a caller that is cancelled does not cancel
the refresh the others wait for. A 401 invalidates only the token that request used,
refreshes once and replays once; a second 401 is the caller's AuthenticationError.
A refresh token the server refuses is dropped. With a RetryPolicy deadline, the wait for
a token counts against the call's deadline like its attempts do.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import re
import time
import urllib.parse
from collections.abc import AsyncGenerator, Generator, Iterable
from typing import TYPE_CHECKING, Literal

import attrs
import httpx

from ._context import CONTEXT_EXTENSION, TOKEN_GRANT, context_of
from ._errors import (
    AuthenticationError,
    InvalidArgumentError,
    PoderoError,
    ResponseTooLargeError,
    ResponseValidationError,
    redact,
    redact_head,
    status_error,
)
from ._lifecycle import Lifecycle, closed_error
from ._retry import RetryPolicy, start_deadline
from ._utils import loads_json

if TYPE_CHECKING:
    from ._telemetry import Telemetry

logger = logging.getLogger("podero_client")

# expires_in is clamped into this range; a missing, zero or negative one is taken as the default.
MIN_TOKEN_LIFETIME = 1.0
MAX_TOKEN_LIFETIME = 24 * 3600.0
DEFAULT_TOKEN_LIFETIME = 300.0
# What may follow "Bearer " in a header: visible ASCII, no space (RFC 6750's b64token is a
# subset). Anything else would be refused by the HTTP stack with the token in its message.
_HEADER_SAFE_TOKEN = re.compile(r"[\x21-\x7e]+")


def _check_header_safe(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not _HEADER_SAFE_TOKEN.fullmatch(value):
        # The value itself is a secret: it is never shown.
        raise InvalidArgumentError(f"{attribute.name} must be a non-empty string of visible ASCII characters")


def _check_str(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(f"{attribute.name} must be a non-empty string")


def _check_encoding(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in ("json", "form"):
        raise InvalidArgumentError(f'{attribute.name} must be "json" or "form", got {value!r}')


@attrs.frozen
class ClientCredentials:
    """Podero's server-to-server flow: Basic auth to ``token_url``, no refresh token.

    ``body_encoding="form"`` sends the RFC 6749 form body instead of Podero's JSON.
    """

    client_id: str = attrs.field(validator=_check_str)
    client_secret: str = attrs.field(repr=False, validator=_check_str)
    token_url: str = attrs.field(default="/oauth2/token/", kw_only=True)
    body_encoding: Literal["json", "form"] = attrs.field(default="json", kw_only=True, validator=_check_encoding)


@attrs.frozen
class PasswordCredentials:
    """The password grant, renewed with the refresh-token grant while the server allows it."""

    username: str = attrs.field(validator=_check_str)
    password: str = attrs.field(repr=False, validator=_check_str)
    token_url: str = attrs.field(default="/api/partners/v2.0/auth/token", kw_only=True)


@attrs.frozen
class BearerToken:
    """A fixed access token: no token requests, no refresh; a 401 is final."""

    token: str = attrs.field(repr=False, validator=_check_header_safe)


Credentials = ClientCredentials | PasswordCredentials | BearerToken


@attrs.frozen
class _Token:
    access_token: str = attrs.field(repr=False)
    refresh_after: float  # time.monotonic() value
    refresh_token: str | None = attrs.field(default=None, repr=False)


def _lifetime(expires_in: object) -> float:
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or not expires_in > 0:
        return DEFAULT_TOKEN_LIFETIME
    # Compared before float(): a 400-digit int does not fit a float (OverflowError).
    if expires_in >= MAX_TOKEN_LIFETIME:
        return MAX_TOKEN_LIFETIME
    return max(float(expires_in), MIN_TOKEN_LIFETIME)


def _secret_forms(secret: str) -> Iterable[str]:
    """A secret as it may be echoed: raw, JSON-escaped, form- and URL-encoded."""
    yield secret
    yield json.dumps(secret)[1:-1]
    yield urllib.parse.quote_plus(secret)
    yield urllib.parse.quote(secret, safe="")


class TokenManager:
    """Fetches, caches and refreshes the access token for one set of credentials."""

    def __init__(
        self,
        credentials: Credentials,
        http: httpx.AsyncClient,
        *,
        leeway: float = 60.0,
        lifecycle: Lifecycle | None = None,
    ) -> None:
        self._credentials = credentials
        self._http = http  # the PoderoClient's own client: same pool, retries and timeouts
        self._leeway = leeway
        self._token: _Token | None = None
        self._refresh_token: str | None = None  # outlives an invalidated access token
        if isinstance(credentials, BearerToken):
            self._token = _Token(credentials.token, refresh_after=float("inf"))
        self._refresh: asyncio.Task[_Token] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lifecycle = lifecycle or Lifecycle()  # the client's: closed when it is
        self.telemetry: Telemetry | None = None  # set by PoderoClient when telemetry is on

    def __repr__(self) -> str:
        return f"TokenManager({self._credentials!r})"

    @property
    def can_refresh(self) -> bool:
        return not isinstance(self._credentials, BearerToken)

    def secrets(self) -> list[str]:
        """Every secret value this client holds, in each form a server might echo it."""
        credentials = self._credentials
        raw = [self._refresh_token]
        if self._token is not None:
            raw += [self._token.access_token, self._token.refresh_token]
        if isinstance(credentials, ClientCredentials):
            raw += [credentials.client_secret, _basic(credentials)]
        elif isinstance(credentials, PasswordCredentials):
            raw.append(credentials.password)
        elif isinstance(credentials, BearerToken):
            raw.append(credentials.token)
        return [form for secret in raw if secret for form in _secret_forms(secret)]

    def check_loop(self) -> None:
        """Bind to the running event loop on first use; refuse any other loop after that.

        The pool's connections and the token task belong to one loop; used from another,
        they fail deep inside asyncio with an untyped RuntimeError.
        """
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        if self._loop is None:
            self._loop = loop
            return
        raise PoderoError(
            "this PoderoClient was first used in another event loop and cannot be used in this one; "
            "create one PoderoClient per event loop (for example inside the function asyncio.run runs)"
        )

    def fresh(self) -> _Token | None:
        """The current token while it is fresh, else None: then ``get_token`` fetches one."""
        token = self._token
        return token if token is not None and time.monotonic() < token.refresh_after else None

    async def get_token(self, deadline: float | None = None) -> _Token:
        """The current token, refreshed first when it is missing or about to expire.

        With ``deadline`` (time.monotonic()), waiting for a token request ends by then with
        httpx.PoolTimeout; the token request itself goes on for the other callers.
        """
        token = self.fresh()
        if token is not None:
            return token
        if self._lifecycle.closed or self._http.is_closed:
            raise closed_error("was in flight")
        first = self._refresh is None
        if first:
            self._refresh = asyncio.get_running_loop().create_task(self._fetch())
            self._refresh.add_done_callback(self._refresh_done)
        refresh = self._refresh
        assert refresh is not None  # set just above when it was not: mypy cannot see it through ``first``
        if self.telemetry is not None:
            self.telemetry.waiting_for_token(first)
        try:
            if deadline is None:
                return await asyncio.shield(refresh)
            return await asyncio.wait_for(asyncio.shield(refresh), deadline - time.monotonic())
        except TimeoutError:
            raise httpx.PoolTimeout("the RetryPolicy deadline ran out waiting for an access token") from None
        except asyncio.CancelledError:
            if refresh.cancelled() and self._lifecycle.closed:  # aclose() cancelled it, not our caller
                raise closed_error("was in flight") from None
            raise

    async def aclose(self) -> None:
        """Cancel a token request still in flight: nobody will use its token any more.

        Its waiters, if any, end with ClientClosedError rather than hang or leak its connection.
        """
        self._lifecycle.close()
        refresh = self._refresh
        if refresh is not None and not refresh.done():
            refresh.cancel()
            with contextlib.suppress(BaseException):
                await refresh

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
                # Dropped, or every later sign-in would offer it again first.
                self._refresh_token = None
                logger.info("refresh token refused; signing in again with the password grant")
        if isinstance(credentials, PasswordCredentials):
            body = {"grant_type": "password", "username": credentials.username, "password": credentials.password}
            return await self._request_token(credentials.token_url, body)
        if isinstance(credentials, ClientCredentials):
            return await self._request_token(credentials.token_url, {"grant_type": "client_credentials"})
        raise AssertionError("a BearerToken is never fetched")  # pragma: no cover

    async def _request_token(self, url: str, body: dict[str, str]) -> _Token:
        """One token request; with telemetry, inside its span (the grant type, never a secret)."""
        if self.telemetry is None:
            return await self._send_token_request(url, body)
        return await self.telemetry.token_request(self._send_token_request(url, body), body["grant_type"], url)

    async def _send_token_request(self, url: str, body: dict[str, str]) -> _Token:
        credentials = self._credentials
        headers = {"Accept": "application/json"}
        form = isinstance(credentials, ClientCredentials) and credentials.body_encoding == "form"
        if isinstance(credentials, ClientCredentials):
            headers["Authorization"] = f"Basic {_basic(credentials)}"
        request = self._http.build_request(
            "POST",
            url,
            headers=headers,
            data=body if form else None,
            json=None if form else body,
            extensions={CONTEXT_EXTENSION: TOKEN_GRANT},  # a token grant is safe to repeat
        )
        logger.info("requesting an access token (grant_type=%s) from %s", body["grant_type"], request.url.path)
        try:
            response = await self._http.send(request, auth=None)  # read in full: not streamed
        except ResponseTooLargeError as exc:  # the token endpoint may echo the password
            exc.body = redact_head(exc.body, self.secrets())
            raise
        except RuntimeError as exc:  # httpx: "the client has been closed"
            if isinstance(exc, PoderoError) or not self._http.is_closed:
                raise
            raise closed_error("was in flight") from exc
        if response.is_error:
            raise status_error(response, token_endpoint=True, secrets=self.secrets())
        return self._parse_token(response)

    def _parse_token(self, response: httpx.Response) -> _Token:
        try:
            data = loads_json(response.content)
        except ValueError:
            data = None
        access_token = data.get("access_token") if isinstance(data, dict) else None
        problem = None
        if not isinstance(access_token, str) or not access_token:
            problem = "a body without access_token" if isinstance(data, dict) else "a body that is not a JSON object"
        elif not _HEADER_SAFE_TOKEN.fullmatch(access_token):
            problem = "an access_token that is not a valid header value"
        if problem is not None:
            secrets = self.secrets()
            if isinstance(access_token, str) and access_token:
                secrets += _secret_forms(access_token)
            raise ResponseValidationError(
                f"the token endpoint answered {response.status_code} with {problem}",
                body=redact(response.text, secrets),
                response=response,
            )
        assert isinstance(data, dict)
        assert isinstance(access_token, str)
        lifetime = _lifetime(data.get("expires_in"))
        refresh_token = data.get("refresh_token")
        logger.info("got an access token valid for %.0fs", lifetime)
        return _Token(
            access_token,
            refresh_after=time.monotonic() + max(lifetime - self._leeway, lifetime / 2),
            refresh_token=refresh_token if isinstance(refresh_token, str) else None,
        )


def _basic(credentials: ClientCredentials) -> str:
    return base64.b64encode(f"{credentials.client_id}:{credentials.client_secret}".encode()).decode()


class PoderoAuth(httpx.Auth):
    """Sets ``Authorization: Bearer`` on each request; on a 401, refreshes once and replays once.

    With a RetryPolicy deadline (the client's, or a ``with_options`` view's), the call's
    deadline starts here, before the wait for a token, and the retry transport keeps to it
    on every attempt and the replay.
    """

    def __init__(self, tokens: TokenManager, policy: RetryPolicy) -> None:
        self._tokens = tokens
        self._policy = policy

    def __repr__(self) -> str:
        return f"PoderoAuth({self._tokens!r})"

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        self._tokens.check_loop()
        deadline = start_deadline(request, context_of(request).policy or self._policy)
        # A fresh token, the usual case, costs no coroutine: no lock, no task, no await.
        token = self._tokens.fresh() or await self._tokens.get_token(deadline)
        request.headers["Authorization"] = f"Bearer {token.access_token}"
        response = yield request
        if response.status_code != 401 or not self._tokens.can_refresh:
            return
        self._tokens.invalidate(token)
        token = await self._tokens.get_token(deadline)
        request.headers["Authorization"] = f"Bearer {token.access_token}"
        yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise NotImplementedError("podero-client is async only")
