"""HTTPS against servers with certificates the tests make: TLS is verified, and verify= trusts a CA."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator

import pytest
import trustme

from podero_client import APIConnectionError, APITimeoutError, ClientCredentials, PoderoClient, RetryPolicy
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID, FakePodero

IDS = (ORG_ID, USER_ID, WALLBOX_ID)


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
