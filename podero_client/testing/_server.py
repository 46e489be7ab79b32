"""A fake Podero Partner API on 127.0.0.1, with fault injection, built on aiohttp.web."""

from __future__ import annotations

import asyncio
import base64
import collections
import functools
import heapq
import json
import math
import random
import secrets
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, NamedTuple, Self
from urllib.parse import unquote

import attrs
from aiohttp import web

from .._auth import ClientCredentials
from .._client import PoderoClient
from .._retry import RetryPolicy
from ._fleet import Fleet
from ._payloads import ORG_ID, USER_ID, WALLBOX_ID, ChargingSessions, wallbox_payload
from ._spec import Operation, SpecRoutes, load_spec

Endpoint = Literal["oauth2", "auth_token", "wallbox"]
WALLBOX_ROUTE = "/api/partners/v2.0/org/{org_id}/users/{user_id}/wallboxes/{wallbox_id}"
# The spec's operations that the hand-written handlers serve, by their spec route key.
_HANDWRITTEN = {"GET " + WALLBOX_ROUTE: "wallbox", "POST /api/partners/v2.0/auth/token": "auth_token"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_ISSUED_KEPT = 10_000  # tokens ``issued`` remembers for leak checks


@attrs.frozen(kw_only=True)
class Fault:
    """What the server does instead of its normal answer, for one request.

    ``status`` with ``json`` or ``body`` (raw bytes) and ``headers`` (Retry-After, say);
    ``delay`` seconds first; ``drop`` closes the connection without an answer;
    ``truncate`` sends half the body, then closes. ``json=None`` and ``body=None`` with
    ``status=200`` serve the normal payload (useful with ``delay`` or ``hold``). ``expire_tokens``
    revokes every access token first, so the request meets a 401. ``hold`` keeps the request
    waiting until the test sets that event (``FakePodero.close`` releases every held one),
    then answers as the rest of the fault says: tokens are checked at release time.
    """

    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = attrs.field(factory=dict)
    delay: float = 0.0
    drop: bool = False
    truncate: bool = False
    expire_tokens: bool = False
    hold: asyncio.Event | None = attrs.field(default=None, eq=False)


# One of each fault a partner's poller meets, for chaos runs (soak tests, serve-fake --chaos).
CHAOS_FAULTS = (
    Fault(status=503, json={"detail": "Service Unavailable"}),
    Fault(status=429, json={"detail": "Too Many Requests"}, headers={"Retry-After": "0.05"}),
    Fault(drop=True),
    Fault(delay=1.0),
    Fault(status=502, body=b"<html><body>502 Bad Gateway</body></html>"),
    Fault(expire_tokens=True),
)


class LoggedRequest(NamedTuple):
    """One request as the fake saw it arrive: ``FakePodero.request_log``."""

    at: float  # time.monotonic() in the server's process
    route: str  # as ``requests`` counts it: "wallbox", "oauth2", or a spec route key
    credentials: str  # the client id or username whose token (or Basic header) it carried
    path: str


# request_log keeps this many: a minute at 1,000 requests a second, and a bounded memory.
_LOG_SIZE = 100_000


def _json(status: int, data: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(data).encode(), content_type="application/json", headers=headers)


class FakePodero:
    """The fake server. ``async with FakePodero() as server: server.url``.

    Knows one wallbox (``ORG_ID``, ``USER_ID``, ``WALLBOX_ID``) unless told more with
    ``add_wallbox``. Faults queue up per endpoint with ``inject`` and are used in order.

    Every other operation of ``spec`` (default: the spec packaged with podero-client; or a
    mapping, or the path of a JSON file) is served too, under its route key
    ``"METHOD /path/template"`` (``route()`` also takes an operationId): the request is
    validated against the spec (422 in Django Ninja's shape), and the answer is the first
    documented 2xx with the spec's example or a schema-valid sample. ``set_answer`` fixes a
    route's answer, ``inject`` queues faults on it, and ``requests[route]`` counts its calls.

    With ``speed`` (or ``advance()``) the wallboxes live: charging, finished, unplugged.
    ``wallboxes=N`` adds a fleet of N more, each at its own point of its own session
    (``wallbox_keys()`` lists their keys, the same for the same N); ``inject_wallbox`` queues
    faults for one wallbox only, and ``wallbox_log`` holds (monotonic time, key) of the
    latest 100,000 wallbox requests.

    With ``rate_limit`` (requests per second, per client credentials: the client id or the
    username a token was issued to), a request past it within the last second is answered
    429 with ``Retry-After`` in whole seconds; ``rate_limited`` counts those. ``request_log``
    holds a ``LoggedRequest`` (server time, route, credentials, path) of each of the latest requests, 429s included,
    for tests and benchmarks that count what the server saw, and when.
    """

    def __init__(
        self,
        *,
        client_id: str = "test-client-id",
        client_secret: str = "test-client-secret",  # noqa: S107  # a test fixture's secret
        username: str = "partner@example.com",
        password: str = "test-password",  # noqa: S107
        token_ttl: float = 36000,
        port: int = 0,
        chaos: float = 0.0,
        seed: int | None = None,
        spec: Mapping[str, Any] | str | Path | None = None,
        speed: float = 0.0,
        ssl_context: ssl.SSLContext | None = None,
        wallboxes: int = 0,
        rate_limit: float | None = None,
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.username, self.password = username, password
        self.token_ttl = token_ttl
        # Wallboxes charge, finish and unplug on this clock; speed 0 stops it (see ChargingSessions).
        self.sessions = ChargingSessions(speed=speed)
        # As a live wallbox would be: its state read from the manufacturer a few minutes ago.
        recently = self.sessions.reading_time(0).isoformat().replace("+00:00", "Z")
        self.wallboxes: dict[tuple[str, str, str], dict[str, Any]] = {
            (ORG_ID, USER_ID, WALLBOX_ID): wallbox_payload(current_state_last_updated_at=recently, updated_at=recently)
        }
        self.faults: dict[str, collections.deque[Fault]] = collections.defaultdict(collections.deque)
        self.fleet = Fleet(wallboxes)
        self.wallbox_faults: dict[tuple[str, str, str], collections.deque[Fault]] = {}
        self.wallbox_log: collections.deque[tuple[float, tuple[str, str, str]]] = collections.deque(maxlen=_LOG_SIZE)
        # Per route: "oauth2", "auth_token", "wallbox", or a spec route key ("METHOD /path/template").
        self.requests: collections.Counter[str] = collections.Counter()
        self.spec = SpecRoutes(load_spec(spec))
        self._answers: dict[str, Fault] = {}
        self.token_grants: list[str] = []  # grant_type of each token request, in order
        self.last_headers: dict[str, str] = {}  # of the latest request to any endpoint
        self.wallbox_in_flight = 0
        self.max_wallbox_in_flight = 0
        self.token_content_types: list[str] = []  # Content-Type of each token request, in order
        self.connections: set[tuple[str, int]] = set()  # client (host, port) of every connection that sent a request
        self._held: set[asyncio.Event] = set()
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self._ssl_context = ssl_context
        self.issued: list[str] = []  # every access and refresh token handed out, for leak checks
        self._access_tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._expiries: list[tuple[float, str]] = []  # a heap of (expiry, token), for pruning
        self._refresh_tokens: set[str] = set()
        self._port = port
        # With no queued fault, this fraction of wallbox requests draws one of CHAOS_FAULTS.
        self.chaos = chaos
        self._random = random.Random(seed)  # noqa: S311  # fault draws, not secrets
        self._runner: web.AppRunner | None = None
        self.url = ""
        if rate_limit is not None and not (isinstance(rate_limit, int | float) and 0 < rate_limit < math.inf):
            raise ValueError(f"rate_limit must be a number of requests per second > 0, got {rate_limit!r}")
        self.rate_limit = rate_limit
        self.rate_limited = 0  # requests answered 429 by the rate limit
        self.request_log: collections.deque[LoggedRequest] = collections.deque(maxlen=_LOG_SIZE)
        self._token_owners: dict[str, str] = {}  # access token -> the credentials it was issued to
        self._recent: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)

    @property
    def token_requests(self) -> int:
        return self.requests["oauth2"] + self.requests["auth_token"]

    @property
    def wallbox_requests(self) -> int:
        return self.requests["wallbox"]

    @property
    def speed(self) -> float:
        """Fake seconds per real second on the wallboxes' clock: 60 makes 5 minutes pass in 5 s."""
        return self.sessions.speed

    @speed.setter
    def speed(self, value: float) -> None:
        self.sessions.speed = value

    def advance(self, seconds: float) -> None:
        """Move the wallboxes' clock forward at once: a new reading every 300 fake seconds."""
        self.sessions.advance(seconds)

    def client(self, **kwargs: Any) -> PoderoClient:
        """A PoderoClient for this server: its client credentials, and retries 100 times faster."""
        kwargs.setdefault("credentials", ClientCredentials(self.client_id, self.client_secret))
        kwargs.setdefault("retry", RetryPolicy(initial_backoff=0.005, max_backoff=0.08, max_retry_after=5.0))
        return PoderoClient(base_url=self.url, **kwargs)

    def add_wallbox(self, org_id: str, user_id: str, wallbox_id: str, payload: dict[str, Any]) -> None:
        self.wallboxes[(org_id, user_id, wallbox_id)] = payload

    def wallbox_keys(self) -> list[tuple[str, str, str]]:
        """The (org_id, user_id, wallbox_id) of the ``wallboxes=N`` fleet, in order."""
        return list(self.fleet.keys)

    def inject_wallbox(self, key: tuple[str, str, str], *faults: Fault) -> None:
        """Queue faults for the next requests to this one wallbox, one each, in order."""
        self.wallbox_faults.setdefault(tuple(map(str, key)), collections.deque()).extend(faults)  # type: ignore[arg-type]  # three strs

    def route(self, route: Endpoint | str) -> str:
        """The key that ``requests``, ``inject`` and ``set_answer`` use for ``route``.

        ``route`` is "oauth2", "auth_token", "wallbox", a spec route key
        ``"METHOD /path/template"`` or an operationId; KeyError when the spec has no such route.
        """
        if route in ("oauth2", "auth_token", "wallbox"):
            return route
        key = self.spec.key(route)
        return _HANDWRITTEN.get(key, key)

    def inject(self, endpoint: Endpoint | str, *faults: Fault) -> None:
        """Queue faults for the next requests to ``endpoint`` (any route), one each, in order."""
        self.faults[self.route(endpoint)].extend(faults)

    def set_answer(
        self,
        route: str,
        *,
        status: int = 200,
        json: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer every valid request to a spec route with this status, JSON (or raw ``body``) and headers.

        Requests are still authenticated and validated first; ``clear_answer`` restores the
        spec's answer. A 204 or a ``json=None`` without ``body`` answers with no content.
        """
        key = self.route(route)
        if key in _HANDWRITTEN.values():
            raise ValueError(f"{route!r} is served by its own handler; use inject() for it")
        self._answers[key] = Fault(status=status, json=json, body=body, headers=dict(headers or {}))

    def clear_answer(self, route: str) -> None:
        self._answers.pop(self.route(route), None)

    def expire_tokens(self) -> None:
        """Revoke every access token issued so far: the next API call with one gets a 401."""
        self._access_tokens.clear()

    def revoke_refresh_tokens(self) -> None:
        self._refresh_tokens.clear()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()`` holds, checked each time a request arrives or ends.

        For ordering a test on the server's state (``lambda: server.wallbox_requests >= 3``)
        without sleeping. TimeoutError after 10 s, so that a broken test fails instead of hanging.
        """
        if condition():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = (condition, future)
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(10.0):
                await future
        finally:
            self._waiters.remove(waiter)

    def _changed(self) -> None:
        for condition, future in self._waiters:
            if not future.done() and condition():
                future.set_result(None)

    async def start(self) -> Self:
        app = web.Application()
        app.router.add_post("/oauth2/token/", self._counted("oauth2", self._oauth2_token))
        app.router.add_post("/api/partners/v2.0/auth/token", self._counted("auth_token", self._partner_token))
        app.router.add_get(WALLBOX_ROUTE, self._counted("wallbox", self._wallbox))
        app.router.add_route("*", "/{tail:.*}", self._spec_route)  # every other operation of the spec
        # handler_cancellation: a request whose client went away (timed out, cancelled) ends
        # here too, so wallbox_in_flight tells what the client still has running.
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port, ssl_context=self._ssl_context)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"{'https' if self._ssl_context else 'http'}://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        for event in self._held:
            event.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _credentials_of(self, request: web.Request) -> str:
        """Whose request this is: the client id of a Basic header, the owner of a Bearer token."""
        authorization = request.headers.get("Authorization", "")
        if authorization.startswith("Bearer "):
            return self._token_owners.get(authorization[7:], "unknown token")
        if authorization.startswith("Basic "):
            try:
                return base64.b64decode(authorization[6:]).decode().partition(":")[0]
            except ValueError:
                return "bad basic"
        return "anonymous"  # the password grant names its user in the body, read later

    def rate_limit_wait(self, who: str, now: float) -> float:
        """0.0 and the request counted when ``who`` is within the rate limit; else seconds until it is."""
        assert self.rate_limit is not None
        recent = self._recent[who]
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        if len(recent) >= self.rate_limit:
            return recent[0] + 1.0 - now
        recent.append(now)
        return 0.0

    def _counted(self, endpoint: str, handler: Handler) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            now = time.monotonic()
            who = self._credentials_of(request)
            self.request_log.append(LoggedRequest(now, endpoint, who, request.path))
            if self.rate_limit is not None:
                wait = self.rate_limit_wait(who, now)
                if wait > 0:
                    self.rate_limited += 1
                    self._changed()
                    headers = {"Retry-After": str(max(1, math.ceil(wait)))}
                    return _json(429, {"detail": "Too Many Requests"}, headers=headers)
            self.requests[endpoint] += 1
            self.last_headers = dict(request.headers)
            if request.transport is not None:
                self.connections.add(request.transport.get_extra_info("peername")[:2])
            if endpoint in ("oauth2", "auth_token"):
                self.token_content_types.append(request.content_type)
            if endpoint == "wallbox":
                self.wallbox_in_flight += 1
                self.max_wallbox_in_flight = max(self.max_wallbox_in_flight, self.wallbox_in_flight)
            self._changed()
            try:
                fault = self.faults[endpoint].popleft() if self.faults[endpoint] else None
                if fault is None and endpoint == "wallbox" and self.chaos and self._random.random() < self.chaos:
                    fault = self._random.choice(CHAOS_FAULTS)
                if fault is None:
                    return await handler(request)
                return await self._apply(fault, request, handler)
            finally:
                if endpoint == "wallbox":
                    self.wallbox_in_flight -= 1
                self._changed()

        return handle

    async def _apply(self, fault: Fault, request: web.Request, handler: Handler) -> web.StreamResponse:
        if fault.hold is not None:
            self._held.add(fault.hold)
            await fault.hold.wait()
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.expire_tokens:
            self.expire_tokens()
        if fault.drop:
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if fault.status == 200 and fault.json is None and fault.body is None and not fault.truncate:
            return await handler(request)
        body = fault.body if fault.body is not None else json.dumps(fault.json).encode()
        if fault.truncate:
            response = web.StreamResponse(status=fault.status, headers=fault.headers)
            response.content_type = "application/json"
            response.content_length = len(body)
            await response.prepare(request)
            await response.write(body[: len(body) // 2])
            assert request.transport is not None
            request.transport.close()
            return response
        content_type = "application/json" if fault.body is None else "text/html"
        return web.Response(status=fault.status, body=body, headers=fault.headers, content_type=content_type)

    def _issue(self, *, with_refresh: bool, owner: str) -> dict[str, Any]:
        token = secrets.token_urlsafe(24)
        now = time.monotonic()
        # Expired tokens leave memory as new ones arrive: a long serve-fake run stays flat.
        while self._expiries and self._expiries[0][0] < now:
            _, old = heapq.heappop(self._expiries)
            if self._access_tokens.get(old, now) < now:
                del self._access_tokens[old]
                self._token_owners.pop(old, None)
        self._access_tokens[token] = now + self.token_ttl
        self._token_owners[token] = owner
        heapq.heappush(self._expiries, (now + self.token_ttl, token))
        issued: dict[str, Any] = {
            "access_token": token,
            "expires_in": self.token_ttl,
            "token_type": "Bearer",
            "scope": "read write",
        }
        if with_refresh:
            issued["refresh_token"] = secrets.token_urlsafe(24)
            self._refresh_tokens.add(issued["refresh_token"])
        self.issued.extend(value for key, value in issued.items() if key.endswith("_token"))
        if len(self.issued) > 2 * _ISSUED_KEPT:  # the newest are what a leak check looks for
            del self.issued[:-_ISSUED_KEPT]
        return issued

    async def _read_body(self, request: web.Request) -> dict[str, Any] | None:
        """The form or JSON body as a dict; None for one that does not decode (a 400, not a 500)."""
        try:
            if request.content_type == "application/x-www-form-urlencoded":
                return dict(await request.post())
            data = json.loads(await request.read())
        except (ValueError, RecursionError):  # bad JSON, too deep, or not UTF-8
            return None
        return data if isinstance(data, dict) else {}

    async def _oauth2_token(self, request: web.Request) -> web.Response:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        body = await self._read_body(request)
        if body is None:
            return _json(400, {"error": "invalid_request", "error_description": "the body does not decode"})
        self.token_grants.append(str(body.get("grant_type")))
        if request.headers.get("Authorization") != f"Basic {expected}":
            return _json(401, {"error": "invalid_client"})
        if body.get("grant_type") != "client_credentials":
            return _json(400, {"error": "unsupported_grant_type"})
        return _json(200, self._issue(with_refresh=False, owner=self.client_id))

    async def _partner_token(self, request: web.Request) -> web.Response:
        body = await self._read_body(request)
        if body is None:
            return _json(400, {"detail": "the body does not decode"})
        grant = body.get("grant_type")
        self.token_grants.append(str(grant))
        if grant == "password":
            if body.get("username") == self.username and body.get("password") == self.password:
                return _json(200, self._issue(with_refresh=True, owner=self.username))
            return _json(401, {"detail": "Invalid username or password"})
        if grant == "refresh_token":
            refresh_token = body.get("refresh_token")
            if refresh_token in self._refresh_tokens:
                self._refresh_tokens.discard(refresh_token)  # rotated: each refresh token works once
                return _json(200, self._issue(with_refresh=True, owner=self.username))
            return _json(401, {"detail": "Invalid refresh token"})
        return _json(422, {"detail": [{"loc": ["body", "grant_type"], "msg": "invalid grant_type", "type": "value"}]})

    async def _wallbox(self, request: web.Request) -> web.StreamResponse:
        key = (request.match_info["org_id"], request.match_info["user_id"], request.match_info["wallbox_id"])
        self.wallbox_log.append((time.monotonic(), key))
        faults = self.wallbox_faults.get(key)
        if faults:
            return await self._apply(faults.popleft(), request, self._wallbox_answer)
        return await self._wallbox_answer(request)

    async def _wallbox_answer(self, request: web.Request) -> web.Response:
        authorization = request.headers.get("Authorization", "")
        token = authorization.removeprefix("Bearer ")
        if not authorization.startswith("Bearer ") or self._access_tokens.get(token, 0) < time.monotonic():
            return _json(401, {"detail": "Unauthorized"})
        key = (request.match_info["org_id"], request.match_info["user_id"], request.match_info["wallbox_id"])
        payload = self.wallboxes.get(key)
        if payload is None and key in self.fleet:
            fleet_payload = self.fleet.payload(key, self.sessions)
            return _json(200, fleet_payload, headers={"X-Request-Id": secrets.token_hex(8)})
        include_deleted = request.query.get("include_deleted", "false").lower() == "true"
        if payload is None or (payload.get("deleted_at") and not include_deleted):
            return _json(404, {"detail": "Not Found"})
        return _json(200, self.sessions.state(payload), headers={"X-Request-Id": secrets.token_hex(8)})

    def _authorized(self, request: web.Request) -> bool:
        authorization = request.headers.get("Authorization", "")
        token = authorization.removeprefix("Bearer ")
        return authorization.startswith("Bearer ") and self._access_tokens.get(token, 0) >= time.monotonic()

    async def _spec_route(self, request: web.Request) -> web.StreamResponse:
        path = request.rel_url.raw_path
        found = self.spec.match(request.method, path)
        if found is None:
            allowed = self.spec.allowed_methods(path)
            if allowed:
                return _json(405, {"detail": "Method Not Allowed"}, headers={"Allow": ", ".join(allowed)})
            return _json(404, {"detail": "Not Found"})
        operation, raw_params = found
        params = {name: unquote(value) for name, value in raw_params.items()}
        handler = functools.partial(self._operation, operation, params)
        return await self._counted(operation.key, handler)(request)

    async def _operation(self, operation: Operation, params: dict[str, str], request: web.Request) -> web.Response:
        if self.spec.requires_auth(operation) and not self._authorized(request):
            return _json(401, {"detail": "Unauthorized"})
        body = await request.read()
        details = self.spec.validate(operation, params, request.query, body, request.headers.get("Content-Type", ""))
        if details:
            return _json(422, {"detail": details})
        answer = self._answers.get(operation.key)
        if answer is not None:
            if answer.body is not None:
                return web.Response(status=answer.status, body=answer.body, headers=answer.headers)
            if answer.json is None:
                return web.Response(status=answer.status, headers=answer.headers)
            return _json(answer.status, answer.json, headers=answer.headers)
        sample = self.spec.answer(operation)
        if sample.body is None:
            return web.Response(status=sample.status)
        return web.Response(
            status=sample.status,
            body=json.dumps(sample.body).encode(),
            headers={"Content-Type": sample.media_type, "X-Request-Id": secrets.token_hex(8)},
        )
