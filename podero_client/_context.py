"""A call's own settings and state, carried on its request under one ``request.extensions`` key.

httpx carries per-request options in ``Request.extensions``; one typed, frozen record under
one key (``podero``) replaces loose keys that each module had to agree on. A request
without it (the client's own defaults) reads ``DEFAULT``: one dict lookup, nothing built.
A change (the deadline, set once when the call starts) is a new record, never a mutation,
so a record shared by every call of a ``with_options`` view is never written through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import attrs
import httpx

if TYPE_CHECKING:
    from ._retry import RetryPolicy

CONTEXT_EXTENSION = "podero"
Priority = Literal["interactive", "background"]
PRIORITIES: tuple[Priority, ...] = ("interactive", "background")


@attrs.frozen
class CallContext:
    """What the layers below the facade need to know of one call.

    ``policy``: a view's RetryPolicy over the client's (None: the client's); ``idempotent``:
    safe to repeat although its method is not (a token grant); ``priority``: the budget's
    lane; ``deadline``: when the whole call must be over (time.monotonic()), set by whoever
    starts the call; ``base_timeout``: the request's own timeouts, kept while each attempt's
    are shrunk to the time left before the deadline.
    """

    policy: RetryPolicy | None = None
    idempotent: bool = False
    priority: Priority = "interactive"
    deadline: float | None = None
    base_timeout: dict[str, Any] | None = None


DEFAULT = CallContext()
TOKEN_GRANT = CallContext(idempotent=True)  # a token grant is safe to repeat; everyone waits for it: interactive


def context_of(request: httpx.Request) -> CallContext:
    """The call's context; ``DEFAULT`` when nothing set one."""
    context: CallContext = request.extensions.get(CONTEXT_EXTENSION, DEFAULT)
    return context


def with_context(request: httpx.Request, context: CallContext) -> CallContext:
    """Put ``context`` on ``request`` (replacing what was there) and return it."""
    request.extensions[CONTEXT_EXTENSION] = context
    return context
