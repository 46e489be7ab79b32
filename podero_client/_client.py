"""PoderoClient: the facade that owns one httpx.AsyncClient.

A call goes: facade -> generated endpoint (request builder and parser) ->
httpx.AsyncClient -> PoderoAuth (token flows) -> RetryTransport -> network.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import os
import random
import ssl
import uuid
from collections.abc import AsyncGenerator, Iterable, Mapping
from datetime import datetime
from types import ModuleType, TracebackType
from typing import Any, Generic, Self, TypeVar, cast

import attrs
import httpx

from ._auth import BearerToken, ClientCredentials, Credentials, PasswordCredentials, PoderoAuth, TokenManager
from ._body import ACCEPT_ENCODING
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ClientClosedError,
    InternalServerError,
    InvalidArgumentError,
    PoderoError,
    RateLimitError,
    ResponseValidationError,
    status_error,
)
from ._generated.api.user_wallboxes import retrieve_wallbox
from ._generated.client import AuthenticatedClient
from ._generated.models import WallboxDetailOutput
from ._retry import RetryPolicy, RetryTransport
from ._transport import DEFAULT_BACKEND, DEFAULT_LIMITS, DEFAULT_MAX_RESPONSE_BYTES, Backend, build_transport

PRODUCTION_URL = "https://app.podero.com"
SANDBOX_URL = "https://sandbox-app.podero.com"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)

T = TypeVar("T")
WallboxKey = tuple[uuid.UUID | str, uuid.UUID | str, uuid.UUID | str]
logger = logging.getLogger("podero_client")


@attrs.frozen
class APIResponse(Generic[T]):
    """A parsed model together with the raw response it came from."""

    parsed: T
    status_code: int
    headers: httpx.Headers
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


@functools.lru_cache(maxsize=4096)  # pollers ask for the same ids again and again
def _parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _as_uuid(name: str, value: uuid.UUID | str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    parsed = _parse_uuid(value) if isinstance(value, str) else None
    if parsed is None:
        raise InvalidArgumentError(f"{name} must be a UUID, got {value!r}")
    return parsed


def _transient(error: PoderoError) -> bool:
    """Worth polling again later: no answer, a server error, a rate limit or a garbled body."""
    if isinstance(error, APIStatusError):
        return isinstance(error, InternalServerError | RateLimitError) or error.status_code == 408
    return isinstance(error, APIConnectionError | ResponseValidationError)


def _fingerprint(wallbox: WallboxDetailOutput) -> object:
    """What tells two polls apart: the state's timestamps when it has them, else the payload."""
    stamps = (wallbox.current_state_last_updated_at, wallbox.updated_at)
    if any(isinstance(stamp, datetime) for stamp in stamps):
        return stamps
    return wallbox.to_dict()


def _request_of(error: httpx.HTTPError) -> httpx.Request | None:
    try:
        return error.request  # a property that raises when httpx never set it
    except RuntimeError:
        return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse_url(name: str, value: str) -> httpx.URL:
    try:
        return httpx.URL(value)
    except (httpx.InvalidURL, TypeError) as exc:
        raise InvalidArgumentError(f"{name} is not a valid URL: {value!r}") from exc


def _check_url(name: str, url: httpx.URL, *, allow_insecure_http: bool) -> None:
    """Credentials go to ``url``: it must be https, or http to loopback, or explicitly allowed."""
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidArgumentError(f"{name} must be an http(s) URL with a host, got {str(url)!r}")
    if url.scheme == "http" and not _is_loopback(url.host) and not allow_insecure_http:
        raise InvalidArgumentError(
            f"refusing to send credentials over plain http to {url.host}; "
            "use https, or pass allow_insecure_http=True if you really mean it"
        )


class _NoCookies(httpx.Cookies):
    """Podero authenticates by token: parsing Set-Cookie on every response is wasted CPU."""

    def extract_cookies(self, response: httpx.Response) -> None:
        pass


class PoderoClient:
    """An async client for the Podero Partner API; use it as ``async with PoderoClient(...) as podero``.

    One instance is meant to be shared by all the tasks of a process: it holds one
    connection pool and one token. Every argument is keyword-only.
    The bytes go through aiohttp by default (``http_backend="aiohttp"``), which costs a
    fraction of httpx's client CPU per request (BENCHMARKS.md); ``http_backend="httpx"``
    behaves the same. ``limits`` (default 100 connections), ``proxy``, ``trust_env``
    (HTTP(S)_PROXY and NO_PROXY) and ``max_response_bytes`` (10 MiB) apply to both.
    """

    def __init__(
        self,
        *,
        credentials: Credentials,
        base_url: str = PRODUCTION_URL,
        retry: RetryPolicy | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        leeway: float = 60.0,
        allow_insecure_http: bool = False,
        verify: bool | ssl.SSLContext = True,
        limits: httpx.Limits = DEFAULT_LIMITS,
        proxy: str | None = None,
        trust_env: bool = True,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        http_backend: Backend = DEFAULT_BACKEND,
    ) -> None:
        if not isinstance(credentials, ClientCredentials | PasswordCredentials | BearerToken):
            raise InvalidArgumentError(
                "credentials must be ClientCredentials, PasswordCredentials or BearerToken, "
                f"got {type(credentials).__name__}"
            )
        url = _parse_url("base_url", base_url)
        _check_url("base_url", url, allow_insecure_http=allow_insecure_http)
        token_url = getattr(credentials, "token_url", None)
        if token_url is not None and _parse_url("token_url", token_url).is_absolute_url:
            _check_url("token_url", httpx.URL(token_url), allow_insecure_http=allow_insecure_http)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float | httpx.Timeout):
            raise InvalidArgumentError(f"timeout must be a number of seconds or an httpx.Timeout, got {timeout!r}")

        self.base_url = str(url).rstrip("/")
        self.retry = retry or RetryPolicy()
        transport = build_transport(
            backend=http_backend,
            verify=verify,
            limits=limits,
            proxy=proxy,
            trust_env=trust_env,
            max_response_bytes=max_response_bytes,
        )
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=RetryTransport(transport, self.retry),
            timeout=timeout,
            # Never follow a redirect: it could carry the token to another origin.
            follow_redirects=False,
            # Accept-Encoding: only what the transports inflate with the max_response_bytes bound.
            headers={
                "Accept": "application/json",
                "Accept-Encoding": ACCEPT_ENCODING,
                "User-Agent": "podero-client-python",
            },
        )
        # No public switch: the jar httpx builds from ``cookies=`` is always a plain one.
        self._http._cookies = _NoCookies()
        # httpx parses a relative path plus params three times per request (about 70 µs);
        # an absolute httpx.URL, built once per endpoint and arguments, is taken as it is.
        self._prepared = functools.lru_cache(maxsize=4096)(self._prepare)
        self._tokens = TokenManager(credentials, self._http, leeway=leeway)
        self._http.auth = PoderoAuth(self._tokens)
        # The generated client only carries our httpx client; auth lives in PoderoAuth.
        self._api = AuthenticatedClient(base_url=self.base_url, token="").set_async_httpx_client(self._http)
        self._closed = False

    def __repr__(self) -> str:
        return f"PoderoClient(base_url={self.base_url!r}, credentials={self._tokens!r})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> Self:
        """Build a client from ``PODERO_*`` environment variables.

        Credentials, first match wins: ``PODERO_CLIENT_ID`` and ``PODERO_CLIENT_SECRET``;
        ``PODERO_USERNAME`` and ``PODERO_PASSWORD``; ``PODERO_TOKEN``. ``PODERO_BASE_URL``
        overrides the production URL. Other keyword arguments go to the constructor.
        """
        env = os.environ if environ is None else environ
        credentials: Credentials
        if env.get("PODERO_CLIENT_ID") and env.get("PODERO_CLIENT_SECRET"):
            credentials = ClientCredentials(env["PODERO_CLIENT_ID"], env["PODERO_CLIENT_SECRET"])
        elif env.get("PODERO_USERNAME") and env.get("PODERO_PASSWORD"):
            credentials = PasswordCredentials(env["PODERO_USERNAME"], env["PODERO_PASSWORD"])
        elif env.get("PODERO_TOKEN"):
            credentials = BearerToken(env["PODERO_TOKEN"])
        else:
            raise InvalidArgumentError(
                "no Podero credentials in the environment: set PODERO_CLIENT_ID and PODERO_CLIENT_SECRET, "
                "or PODERO_USERNAME and PODERO_PASSWORD, or PODERO_TOKEN (and optionally PODERO_BASE_URL)"
            )
        if env.get("PODERO_BASE_URL"):
            kwargs.setdefault("base_url", env["PODERO_BASE_URL"])
        return cls(credentials=credentials, **kwargs)

    def _ensure_open(self) -> None:
        if self._closed:
            raise ClientClosedError("this PoderoClient is closed; create a new one")

    async def __aenter__(self) -> Self:
        self._ensure_open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool. Calls made afterwards raise ClientClosedError."""
        self._closed = True
        await self._http.aclose()

    async def get_wallbox(
        self,
        org_id: uuid.UUID | str,
        user_id: uuid.UUID | str,
        wallbox_id: uuid.UUID | str,
        *,
        include_deleted: bool = False,
    ) -> WallboxDetailOutput:
        """The current state of one wallbox.

        Raises InvalidArgumentError (a ValueError) before any I/O when an id is not a UUID,
        an APIStatusError subclass for a non-2xx answer after retries, APIConnectionError
        or APITimeoutError when no answer came, and ResponseValidationError for a body
        that does not fit the schema.
        """
        response = await self.get_wallbox_response(org_id, user_id, wallbox_id, include_deleted=include_deleted)
        return response.parsed

    async def get_wallbox_response(
        self,
        org_id: uuid.UUID | str,
        user_id: uuid.UUID | str,
        wallbox_id: uuid.UUID | str,
        *,
        include_deleted: bool = False,
    ) -> APIResponse[WallboxDetailOutput]:
        """Like ``get_wallbox``, with the status, headers and raw body beside the model."""
        return await self._call(
            retrieve_wallbox,
            org_id=_as_uuid("org_id", org_id),
            user_id=_as_uuid("user_id", user_id),
            wallbox_id=_as_uuid("wallbox_id", wallbox_id),
            include_deleted=bool(include_deleted),
        )

    def _prepare(self, endpoint: ModuleType, arguments: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
        """The generated endpoint's request arguments, with an absolute URL instead of path and params."""
        request: dict[str, Any] = endpoint._get_kwargs(**dict(arguments))
        params = request.pop("params", None)
        request["url"] = httpx.URL(self.base_url + request["url"], params=params or None)
        return request

    async def _call(self, endpoint: ModuleType, **arguments: Any) -> APIResponse[Any]:
        """Send one generated endpoint's request and parse its answer, translating every failure."""
        self._ensure_open()
        key = tuple(arguments.items())
        try:
            prepared = self._prepared(endpoint, key)
        except TypeError:  # an unhashable argument, such as a request body: built every time
            prepared = self._prepare(endpoint, key)
        try:
            response = await self._http.request(**prepared)
        except httpx.TimeoutException as exc:
            raise APITimeoutError(f"timed out: {type(exc).__name__}", request=_request_of(exc)) from exc
        except httpx.HTTPError as exc:
            message = f"no response: {type(exc).__name__}: {exc}"
            raise APIConnectionError(message, request=_request_of(exc)) from exc
        if not response.is_success:
            raise status_error(response)
        try:
            parsed = endpoint._parse_response(client=self._api, response=response)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ResponseValidationError(
                f"{response.status_code} response does not fit the schema: {type(exc).__name__}: {exc}",
                body=response.text,
                response=response,
            ) from exc
        if parsed is None:
            raise ResponseValidationError(
                f"{response.status_code} is not a status the spec documents", body=response.text, response=response
            )
        return APIResponse(parsed, response.status_code, response.headers, response.content)

    async def get_wallboxes(
        self, keys: Iterable[WallboxKey], *, concurrency: int = 10, include_deleted: bool = False
    ) -> list[WallboxDetailOutput | PoderoError]:
        """Many wallboxes, at most ``concurrency`` requests at a time, results in input order.

        ``keys`` are (org_id, user_id, wallbox_id) triples. Each result is the wallbox or the
        PoderoError for that key (a malformed key gives InvalidArgumentError): one failure
        never fails the batch. Cancelling the call cancels the requests still in flight.
        """
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise InvalidArgumentError(f"concurrency must be an int >= 1, got {concurrency!r}")
        pending = list(keys)
        results: list[WallboxDetailOutput | PoderoError | None] = [None] * len(pending)
        queue = iter(enumerate(pending))

        async def worker() -> None:
            for index, key in queue:  # one shared iterator: each key is taken once
                results[index] = await self._wallbox_or_error(key, include_deleted)

        async with asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, len(pending))):
                group.create_task(worker())
        # Every slot is filled: the TaskGroup waited for every worker, and workers only store.
        return cast(list[WallboxDetailOutput | PoderoError], results)

    async def _wallbox_or_error(self, key: object, include_deleted: bool) -> WallboxDetailOutput | PoderoError:
        if not isinstance(key, tuple | list) or len(key) != 3:
            return InvalidArgumentError(f"a key must be an (org_id, user_id, wallbox_id) triple, got {key!r}")
        try:
            return await self.get_wallbox(*key, include_deleted=include_deleted)
        except PoderoError as error:
            return error

    async def watch_wallbox(
        self,
        org_id: uuid.UUID | str,
        user_id: uuid.UUID | str,
        wallbox_id: uuid.UUID | str,
        *,
        interval: float = 60.0,
        include_deleted: bool = False,
    ) -> AsyncGenerator[WallboxDetailOutput, None]:
        """Poll one wallbox every ``interval`` seconds (+-10 %), yielding it when it changed.

        The first poll always yields. A change is a new ``current_state_last_updated_at``
        or ``updated_at`` (the payload, when neither is set). Transient errors (no answer,
        5xx, 429, a garbled body) are logged and polled again after a backoff, capped at
        ``interval``; AuthenticationError, NotFoundError and other 4xx are raised. Stop with
        ``break`` or by cancelling the task. Podero refreshes device state every 5 to 15
        minutes, so an interval under a minute mostly yields nothing new.
        """
        if isinstance(interval, bool) or not isinstance(interval, int | float) or not interval > 0:
            raise InvalidArgumentError(f"interval must be a number of seconds > 0, got {interval!r}")
        ids = _as_uuid("org_id", org_id), _as_uuid("user_id", user_id), _as_uuid("wallbox_id", wallbox_id)
        last: object = None
        failures = 0
        while True:
            try:
                wallbox = await self.get_wallbox(*ids, include_deleted=include_deleted)
            except PoderoError as error:
                if not _transient(error):
                    raise
                failures += 1
                delay = min(interval, max(self.retry.backoff(failures), getattr(error, "retry_after", None) or 0.0))
                logger.warning("watch_wallbox: %s; polling again in %.1fs", error, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            fingerprint = _fingerprint(wallbox)
            if fingerprint != last:
                last = fingerprint
                yield wallbox
            await asyncio.sleep(interval * random.uniform(0.9, 1.1))  # noqa: S311  # spreads pollers out
