"""The ``fake_podero`` pytest fixture; registered through the ``pytest11`` entry point.

pytest imports this module wherever podero-client is installed, so it imports nothing
optional up front: the fixture needs pytest-asyncio (it is async) and the ``testing``
extra (aiohttp), and without them this plugin stays silent instead of breaking pytest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .testing import FakePodero

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover
    pass
else:

    @pytest_asyncio.fixture
    async def fake_podero() -> AsyncIterator[FakePodero]:
        """A started FakePodero on a free port of 127.0.0.1, closed after the test."""
        from .testing import FakePodero  # aiohttp only when the fixture is used

        async with FakePodero() as server:
            yield server
