"""The ``fake_podero`` pytest fixture; registered through the ``pytest11`` entry point.

The fixture is async, so it exists only where pytest-asyncio is installed; without it,
this plugin stays silent instead of breaking the user's pytest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._server import FakePodero

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover
    pass
else:

    @pytest_asyncio.fixture
    async def fake_podero() -> AsyncIterator[FakePodero]:
        """A started FakePodero on a free port of 127.0.0.1, closed after the test."""
        from ._server import FakePodero  # aiohttp only when the fixture is used

        async with FakePodero() as server:
            yield server
