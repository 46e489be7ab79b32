"""Every item of a paged list operation, one page at a time; a server that never converges is stopped."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any

from ._errors import ResponseValidationError, redact
from ._generated.types import UNSET, APIResponse, Call


async def paginate(
    call: Call, secrets: Callable[[], list[str]], endpoint: ModuleType, arguments: dict[str, Any], total: str
) -> AsyncIterator[Any]:
    """Every item of a ``{total|count, items}`` list operation, one page of ``limit`` at a time.

    A server that repeats a page (or an item id already yielded) is a ResponseValidationError
    naming the repeat, and at most ``total / limit + 1`` pages are asked for: it always ends
    (a server that pages by less than ``limit`` meets that bound too).
    """

    def stopped(response: APIResponse[Any], problem: str) -> ResponseValidationError:
        body = response.content.decode("utf-8", errors="replace")
        return ResponseValidationError(f"pagination stopped: {problem}", body=redact(body, secrets()))

    offset = 0
    pages = 0
    size = 0
    seen_pages: set[tuple[Any, ...]] = set()
    seen_ids: set[Any] = set()
    while True:
        response = await call(endpoint, {**arguments, "offset": offset})
        page = response.parsed
        items = page.items
        pages += 1
        if items and getattr(items[0], "id", None) in (None, UNSET):  # no ids to tell items apart
            fingerprint = tuple(map(repr, items))
            if fingerprint in seen_pages:
                raise stopped(response, f"page at offset {offset} repeats an earlier page")
            seen_pages.add(fingerprint)
        for item in items:
            item_id = getattr(item, "id", None)
            if item_id is not None and item_id is not UNSET:
                if item_id in seen_ids:
                    raise stopped(response, f"item id {item_id} at offset {offset} was already yielded")
                seen_ids.add(item_id)
            yield item
        offset += len(items)
        expected = getattr(page, total)
        # An empty page ends it too: a total that grew meanwhile must not loop forever.
        if not items or not isinstance(expected, int) or offset >= expected:
            return
        if size == 0:  # the limit asked for, or the server's own page size when none was
            limit = arguments.get("limit")
            size = limit if isinstance(limit, int) and limit > 0 else len(items)
        if pages >= expected // size + 1:
            raise stopped(response, f"{pages} pages of {size} do not reach the total of {expected}")
