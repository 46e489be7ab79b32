"""The wire under httpx (_transport.py) on both backends: settings, proxies, closing mid-call, the loop, TLS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import trustme
from _servers import RawServer, ScriptedServer, make_client

from podero_client import (
    APIConnectionError,
    APITimeoutError,
    BearerToken,
    ClientClosedError,
    ClientCredentials,
    InvalidArgumentError,
    PoderoClient,
    RetryPolicy,
)
from podero_client._transport import DEFAULT_LIMITS, build_transport
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID, FakePodero, Fault, wallbox_payload

IDS = (ORG_ID, USER_ID, WALLBOX_ID)
PAYLOAD = json.dumps(wallbox_payload()).encode()


# ---------------------------------------------------------------- settings
def test_the_default_is_the_aiohttp_wire_with_100_connections() -> None:
    """One documented default on both backends: 100 connections, all kept alive; aiohttp the wire."""
    client = PoderoClient(credentials=BearerToken("t"))
    wire = client._http._transport._wrapped  # type: ignore[attr-defined]
    assert wire.backend == "aiohttp"
    assert wire.limits == DEFAULT_LIMITS
    assert (DEFAULT_LIMITS.max_connections, DEFAULT_LIMITS.max_keepalive_connections) == (100, 100)
    assert wire.max_response_bytes == 10 * 2**20


def test_importing_the_package_does_not_import_aiohttp() -> None:
    """aiohttp is imported on the first request, in a thread: `import podero_client` stays as fast as before."""
    code = "import sys, podero_client; podero_client.PoderoClient(credentials=podero_client.BearerToken('t')); "
    code += "print('aiohttp' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)  # noqa: S603  # our own interpreter, fixed code
    assert result.stdout == "False\n"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_response_bytes": 0},
        {"max_response_bytes": True},
        {"max_response_bytes": 1.5},
        {"limits": 100},
        {"trust_env": "yes"},
        {"verify": "/etc/ssl/cert.pem"},
        {"proxy": "socks5://127.0.0.1:1080"},
        {"proxy": "not a url"},
        {"proxy": 3128},
        {"http_backend": "requests"},
    ],
)
def test_bad_wire_settings_fail_before_any_io(kwargs: dict[str, object]) -> None:
    """Each wire setting is checked in the constructor: InvalidArgumentError naming it."""
    with pytest.raises(InvalidArgumentError, match=next(iter(kwargs)).replace("http_backend", "http_backend")):
        PoderoClient(credentials=BearerToken("t"), **kwargs)  # type: ignore[arg-type]


def test_a_bad_proxy_url_never_shows_its_password() -> None:
    """The message names the proxy setting, not the credentials inside it."""
    with pytest.raises(InvalidArgumentError) as caught:
        PoderoClient(credentials=BearerToken("t"), proxy="ftp://user:pr0xy-secret@proxy.example.com")
    assert "pr0xy-secret" not in str(caught.value)


def test_a_bad_environment_proxy_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTPS_PROXY that neither backend can use fails at construction; trust_env=False ignores it."""
    monkeypatch.setenv("HTTPS_PROXY", "socks5://127.0.0.1:1080")
    with pytest.raises(InvalidArgumentError, match="HTTPS_PROXY"):
        PoderoClient(credentials=BearerToken("t"))
    PoderoClient(credentials=BearerToken("t"), trust_env=False)


# ---------------------------------------------------------------- proxies
class ForwardProxy(RawServer):
    """A plain-http forward proxy on 127.0.0.1: records each request line and its headers, one request a connection."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, dict[str, str]]] = []

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            line, *header_lines = head.split("\r\n")[:-2]
            headers = dict(h.split(": ", 1) for h in header_lines)
            self.seen.append((line, headers))
            method, target, version = line.split(" ")
            url = httpx.URL(target)
            body = await reader.readexactly(int(headers.get("Content-Length", headers.get("content-length", "0"))))
            kept = [h for h in header_lines if not h.lower().startswith(("connection:", "proxy-"))]
            upstream_head = "\r\n".join([f"{method} {url.raw_path.decode()} {version}", *kept, "Connection: close"])
            up_reader, up_writer = await asyncio.open_connection(url.host, url.port)
            up_writer.write(upstream_head.encode("latin-1") + b"\r\n\r\n" + body)
            writer.write(await up_reader.read())
            up_writer.close()
            await writer.drain()
        finally:
            writer.close()


@pytest.fixture
async def forward_proxy() -> AsyncIterator[ForwardProxy]:
    proxy = await ForwardProxy().start()
    yield proxy
    await proxy.close()


async def test_proxy_setting_sends_every_request_through_it(
    fake_podero: FakePodero, forward_proxy: ForwardProxy, new_client: Callable[..., PoderoClient]
) -> None:
    """proxy= carries the token request and the API call, with the proxy's own credentials."""
    user_url = forward_proxy.url.replace("http://", "http://proxy-user:proxy-pass@")
    async with new_client(proxy=user_url) as podero:
        await podero.get_wallbox(*IDS)
    lines = [line for line, _ in forward_proxy.seen]
    assert lines[0].startswith(f"POST {fake_podero.url}/oauth2/token/ ")
    assert lines[1].startswith(f"GET {fake_podero.url}/api/partners/v2.0/org/{ORG_ID}/")
    assert all(
        headers["Proxy-Authorization"] == "Basic cHJveHktdXNlcjpwcm94eS1wYXNz" for _, headers in forward_proxy.seen
    )
    assert "Proxy-Authorization" not in fake_podero.last_headers


@pytest.mark.parametrize(
    ("no_proxy", "trust_env", "proxied"),
    [(None, True, True), ("127.0.0.1", True, False), ("example.com", True, True), (None, False, False)],
)
async def test_environment_proxies_are_honoured_as_httpx_does(
    monkeypatch: pytest.MonkeyPatch,
    fake_podero: FakePodero,
    forward_proxy: ForwardProxy,
    new_client: Callable[..., PoderoClient],
    no_proxy: str | None,
    trust_env: bool,
    proxied: bool,
) -> None:
    """HTTP_PROXY applies by default, NO_PROXY exempts its hosts, trust_env=False ignores both."""
    monkeypatch.setenv("HTTP_PROXY", forward_proxy.url)
    if no_proxy is not None:
        monkeypatch.setenv("NO_PROXY", no_proxy)
    async with new_client(trust_env=trust_env) as podero:
        await podero.get_wallbox(*IDS)
    assert len(forward_proxy.seen) == (2 if proxied else 0)
    assert fake_podero.wallbox_requests == 1


# ---------------------------------------------------------------- closing, the pool, the loop
async def test_closing_with_calls_in_flight_ends_them_with_client_closed_error(
    fake_podero: FakePodero, new_client: Callable[..., PoderoClient]
) -> None:
    """aclose() while calls wait on the server: each ends as ClientClosedError at once, not a retried error."""
    podero = new_client(retry=RetryPolicy(max_attempts=1))
    await podero.get_wallbox(*IDS)
    fake_podero.inject("wallbox", *[Fault(delay=5.0)] * 5)
    calls = [asyncio.create_task(podero.get_wallbox(*IDS)) for _ in range(5)]
    while fake_podero.wallbox_requests < 1 + 5:  # noqa: ASYNC110  # the fake server's counter has no event
        await asyncio.sleep(0.01)
    await podero.aclose()
    results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 10)
    assert all(isinstance(result, ClientClosedError) for result in results), results


async def test_the_pool_limit_holds_at_500_concurrent_calls(
    fake_podero: FakePodero, new_client: Callable[..., PoderoClient]
) -> None:
    """limits= is obeyed: 500 concurrent calls on a 20-connection pool never have more than 20 in flight."""
    async with new_client(limits=httpx.Limits(max_connections=20)) as podero:
        await asyncio.gather(*(podero.get_wallbox(*IDS) for _ in range(500)))
    assert fake_podero.max_wallbox_in_flight <= 20
    assert fake_podero.wallbox_requests == 500


async def test_the_pool_timeout_bounds_the_wait_for_a_connection(
    fake_podero: FakePodero, new_client: Callable[..., PoderoClient]
) -> None:
    """With every connection busy, a call waits at most the pool timeout, then APITimeoutError (PoolTimeout)."""
    timeout = httpx.Timeout(5.0, pool=0.2)
    limits = httpx.Limits(max_connections=1)
    async with new_client(limits=limits, timeout=timeout, retry=RetryPolicy(max_attempts=1)) as podero:
        await podero.get_wallbox(*IDS)
        fake_podero.inject("wallbox", Fault(delay=1.0))
        slow = asyncio.create_task(podero.get_wallbox(*IDS))
        while fake_podero.wallbox_requests < 2:  # noqa: ASYNC110  # the fake server's counter has no event
            await asyncio.sleep(0.01)
        with pytest.raises(APITimeoutError, match="PoolTimeout"):
            await podero.get_wallbox(*IDS)
        await slow
    assert fake_podero.wallbox_requests == 2


@pytest.mark.parametrize("backend", ["aiohttp", "httpx"])
def test_no_step_blocks_the_event_loop(backend: str) -> None:
    """asyncio debug mode, fresh interpreter: building the client, the first call and aclose each take < 50 ms."""
    path = f"/api/partners/v2.0/org/{ORG_ID}/users/{USER_ID}/wallboxes/{WALLBOX_ID}?include_deleted=false"
    script = textwrap.dedent(f"""
        import asyncio, json, logging, threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from podero_client import BearerToken, PoderoClient
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def do_GET(self):
                self.send_response(200 if self.path == {path!r} else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len({PAYLOAD!r})))
                self.end_headers()
                self.wfile.write({PAYLOAD!r})
            def log_message(self, *args):
                pass
        slow = []
        class Catch(logging.Handler):
            def emit(self, record):
                if "Executing" in record.getMessage():
                    slow.append(record.getMessage()[-300:])
        logging.getLogger("asyncio").addHandler(Catch())
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        async def main():
            asyncio.get_running_loop().slow_callback_duration = 0.05
            url = "http://127.0.0.1:%d" % server.server_address[1]
            podero = PoderoClient(credentials=BearerToken("t"), base_url=url, http_backend={backend!r})
            for _ in range(3):
                await podero.get_wallbox("{ORG_ID}", "{USER_ID}", "{WALLBOX_ID}")
            await podero.aclose()
        asyncio.run(main(), debug=True)
        server.shutdown()
        print(json.dumps(slow))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)  # noqa: S603  # our own interpreter, fixed code
    assert json.loads(result.stdout) == []


async def test_the_wire_is_built_once_for_concurrent_first_calls(fake_podero: FakePodero) -> None:
    """Fifty calls on a cold client share one transport build."""
    wire = build_transport(
        backend="aiohttp", verify=True, limits=DEFAULT_LIMITS, proxy=None, trust_env=False, max_response_bytes=2**20
    )
    request = httpx.Request("POST", f"{fake_podero.url}/oauth2/token/", json={"grant_type": "client_credentials"})
    responses = await asyncio.gather(*(wire.handle_async_request(request) for _ in range(50)))
    built = wire._transport
    await wire.aclose()
    assert {response.status_code for response in responses} == {401}
    assert built is not None
    assert wire._transport is built


@pytest.mark.parametrize(
    "proxy",
    [
        "http://user:s3cret-pw@host:notaport",
        "http://user:s3cret-pw@[::1",
        "socks5://user:s3cret-pw@proxy:1080",
        "ftp://user:s3cret-pw@h",
    ],
)
def test_an_unparseable_proxy_url_never_shows_its_password(proxy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy URL that does not parse, or is not http(s), is InvalidArgumentError without its password."""
    with pytest.raises(InvalidArgumentError, match="proxy") as caught:
        PoderoClient(credentials=BearerToken("t"), base_url="http://127.0.0.1:1", proxy=proxy)
    assert "s3cret-pw" not in str(caught.value)
    monkeypatch.delenv("https_proxy", raising=False)  # the lower-case name wins
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    with pytest.raises(InvalidArgumentError, match="HTTPS_PROXY") as caught:
        PoderoClient(credentials=BearerToken("t"), base_url="http://127.0.0.1:1")
    assert "s3cret-pw" not in str(caught.value)


# ---------------------------------------------------------------- HTTPS: TLS verified, verify= trusts a CA


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    """A CA that no trust store knows, made for this test run."""
    return trustme.CA()


@pytest.fixture(scope="module")
def server_context(certificate_authority: trustme.CA) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 from the test CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("127.0.0.1").configure_cert(context)
    return context


@pytest.fixture
def client_context(certificate_authority: trustme.CA) -> ssl.SSLContext:
    """A client context that trusts the test CA."""
    context = ssl.create_default_context()
    certificate_authority.configure_trust(context)
    return context


@pytest.fixture
async def https_podero(server_context: ssl.SSLContext) -> AsyncIterator[FakePodero]:
    async with FakePodero(ssl_context=server_context) as server:
        yield server


class HandshakeCounter:
    """A TLS server that counts the connections it accepts; it never gets as far as HTTP."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.connections = 0
        self._context = context

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        with contextlib.suppress(ssl.SSLError, OSError):
            await writer.start_tls(self._context)  # the client refuses our certificate here
        writer.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        async with server:
            yield f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@pytest.fixture
def counter(server_context: ssl.SSLContext) -> HandshakeCounter:
    return HandshakeCounter(server_context)


async def _refused(counter: HandshakeCounter, backend: str) -> APIConnectionError:
    """The error of one call to the counting server, with the system's trust store."""
    async with (
        counter.running() as url,
        PoderoClient(
            credentials=ClientCredentials("id", "secret"),
            base_url=url,
            retry=RetryPolicy(initial_backoff=0),
            http_backend=backend,  # type: ignore[arg-type]
        ) as podero,
    ):
        with pytest.raises(APIConnectionError) as caught:
            await podero.get_wallbox(*IDS)
    return caught.value


async def test_untrusted_certificate_is_refused(counter: HandshakeCounter, backend: str) -> None:
    """TLS is verified by default: a certificate from an unknown CA fails the call, typed."""
    error = await _refused(counter, backend)
    assert not isinstance(error, APITimeoutError)
    assert "certificate" in str(error).lower()
    assert counter.connections >= 1


async def test_untrusted_certificate_message_names_the_certificate_problem(
    counter: HandshakeCounter, backend: str
) -> None:
    """Both wires name the verification failure itself, never aiohttp's refused-header wording."""
    message = str(await _refused(counter, backend))
    assert "CERTIFICATE_VERIFY_FAILED" in message
    assert "header or URL" not in message


async def test_untrusted_certificate_is_not_retried(counter: HandshakeCounter, backend: str) -> None:
    """A certificate failure will not go away by asking again: one connection, no retry."""
    await _refused(counter, backend)
    assert counter.connections == 1


async def test_verify_trusts_a_given_ca(https_podero: FakePodero, client_context: ssl.SSLContext, backend: str) -> None:
    """verify= with an SSLContext that trusts the server's CA: token and wallbox over HTTPS."""
    assert https_podero.url.startswith("https://")
    async with https_podero.client(verify=client_context, http_backend=backend) as podero:
        wallbox = await podero.get_wallbox(*IDS)
    assert wallbox.mode == "CHARGING"
    assert https_podero.token_requests == 1
    assert https_podero.wallbox_requests == 1


# ---------------------------------------------------------------- an untrusted certificate (issue 11's extras)
async def test_an_untrusted_certificate_is_not_retried(
    server_context: ssl.SSLContext, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Extra: a certificate that fails verification is one attempt and an APIConnectionError that says so."""
    caplog.set_level(logging.INFO, logger="podero_client")
    server = await ScriptedServer(tls=server_context).start()
    try:
        podero = make_client(server, backend, credentials=BearerToken("tok-1"), retry=RetryPolicy(initial_backoff=0))
        async with podero:
            with pytest.raises(APIConnectionError, match="certificate") as caught:
                await podero.get_wallbox(*IDS)
    finally:
        await server.close()
    assert not isinstance(caught.value, APITimeoutError)
    assert [record for record in caplog.records if hasattr(record, "podero_attempt")] == [], "not retried"


async def test_a_trusted_certificate_works(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext, backend: str
) -> None:
    """Extra: the same server, its certificate trusted through verify=, answers (the failure above is the trust)."""
    server = await ScriptedServer(tls=server_context).start()
    try:
        async with make_client(server, backend, credentials=BearerToken("tok-1"), verify=client_context) as podero:
            await podero.get_wallbox(*IDS)
    finally:
        await server.close()
