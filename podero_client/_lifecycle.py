"""One lifecycle for a client and every part it holds: open until closed, once.

httpx's Client keeps one state that every entry point checks; here the facade makes one
``Lifecycle`` and hands it to each part (token manager, retry transport, budget), so that
"closed" has one meaning and one message, and a sleeper wakes the moment it turns.
"""

from __future__ import annotations

import asyncio

from ._errors import ClientClosedError


def closed_error(during: str | None = None) -> ClientClosedError:
    """The one ClientClosedError: for a call made after the close, or (``during``) one the close cut short.

    ``during`` completes "the PoderoClient was closed while this call ...": "was in flight",
    "waited for its budget", "waited to retry".
    """
    if during is None:
        return ClientClosedError("this PoderoClient is closed; create a new one")
    return ClientClosedError(f"the PoderoClient was closed while this call {during}")


class Lifecycle:
    """Open, then closed for good; every part of one client consults the same instance."""

    __slots__ = ("_closing", "closed")

    def __init__(self) -> None:
        self.closed = False
        self._closing: asyncio.Event | None = None  # made by the first sleeper, in the loop that sleeps

    def check(self) -> None:
        """ClientClosedError once the client is closed: the guard of every entry point."""
        if self.closed:
            raise closed_error()

    def close(self) -> None:
        """Closed from now on; every ``sleep`` in progress ends with ClientClosedError."""
        self.closed = True
        if self._closing is not None:
            self._closing.set()

    async def sleep(self, delay: float, *, during: str) -> None:
        """Wait ``delay`` seconds, or until the close: then ClientClosedError (``during``, as in closed_error)."""
        if self._closing is None:
            self._closing = asyncio.Event()
            if self.closed:
                self._closing.set()
        try:
            await asyncio.wait_for(self._closing.wait(), delay)
        except TimeoutError:
            return
        raise closed_error(during)
