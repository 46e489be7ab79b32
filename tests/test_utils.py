"""The leaf helpers (_utils.py): JSON nested too deep for the parser is bad JSON, wherever it comes.

Case 4 of issue 11, against the raw ScriptedServer (tests/_servers.py) on both backends.
"""

from __future__ import annotations

import asyncio

import pytest
from _servers import RawRequest, ScriptedServer, make_client, respond

from podero_client import InternalServerError, ResponseValidationError
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID

IDS = (ORG_ID, USER_ID, WALLBOX_ID)


# Issue 11, case 4: deeply nested JSON ----------------------------------------------------------
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
