"""The client's one lifecycle (_lifecycle.py): aclose() ends the calls in flight, and none starts after it.

Case 2 of issue 11, against the raw ScriptedServer (tests/_servers.py) on both backends.
"""

from __future__ import annotations

import asyncio

import pytest
from _servers import HANG, RawRequest, ScriptedServer, hold, make_client, respond, token_body

from podero_client import ClientClosedError
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID

IDS = (ORG_ID, USER_ID, WALLBOX_ID)


# Issue 11, case 2: aclose() with calls in flight -----------------------------------------------
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
