"""The ``fake_podero`` pytest fixture; registered through the ``pytest11`` entry point.

pytest imports this module wherever podero-client is installed, so it imports nothing
optional up front. The fixture is always there; without the ``testing`` extra (jsonschema
and pytest-asyncio), a test that asks for it fails with one line naming what to install.

pytest-asyncio's default (strict) mode runs only the async tests marked
``@pytest.mark.asyncio``; an async test that asks for ``fake_podero`` is marked here, so
the example of docs/testing.md runs as written in either mode.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .testing import FakePodero

FIXTURE = "fake_podero"


def _fake_podero() -> FakePodero:
    try:
        from .testing import FakePodero  # the testing extra only when the fixture is used
    except ImportError as error:
        pytest.fail(str(error), pytrace=False)
    return FakePodero()


try:
    import pytest_asyncio
except ImportError:

    @pytest.fixture(name=FIXTURE)
    def _missing_pytest_asyncio() -> None:
        """Fails the test: the fixture is async and needs pytest-asyncio."""
        from ._extras import install_hint

        message = (
            f"the fake_podero fixture needs pytest-asyncio, which the 'testing' extra brings: {install_hint('testing')}"
        )
        pytest.fail(message, pytrace=False)

else:

    @pytest_asyncio.fixture(name=FIXTURE)
    async def fake_podero() -> AsyncIterator[FakePodero]:
        """A started FakePodero on a free port of 127.0.0.1, closed after the test."""
        async with _fake_podero() as server:
            yield server

    @pytest.hookimpl(tryfirst=True)
    def pytest_pycollect_makeitem(collector: pytest.Module | pytest.Class, name: str, obj: Any) -> None:
        """Mark an async test that asks for fake_podero as an asyncio test, unless marked already."""
        if not inspect.iscoroutinefunction(obj) or not collector.funcnamefilter(name):
            return
        try:
            parameters = inspect.signature(obj).parameters
        except (TypeError, ValueError):  # pragma: no cover  # a callable inspect cannot read
            return
        marks = {mark.name for mark in getattr(obj, "pytestmark", [])}
        if FIXTURE in parameters and not marks & {"asyncio", "anyio", "trio"}:
            pytest.mark.asyncio(obj)
