"""Every item of a paged list (_pages.py): pages fetched one at a time, and a server that never converges stopped.

The client generated from the grown spec (conftest.grown_package) lists sessions from the
Recorder (tests/_servers.py), which answers the pages each test gives it.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _servers import SESSIONS, Recorder
from conftest import GROWN_SPEC, GrownPackage

from podero_client.testing import FakePodero, Fault

ORG, USER, CAR = (str(uuid.UUID(int=n)) for n in (21, 22, 23))
FROM, TO = datetime.date(2026, 1, 1), datetime.date(2026, 2, 1)
# The same list on the fake server, where faults are injected by route.
SESSIONS_ROUTE = f"GET {SESSIONS}"


async def _drain(items: AsyncIterator[Any], seen: list[Any]) -> None:
    async for item in items:
        seen.append(item.id)


def _session(package: Any, n: int) -> dict[str, Any]:
    fake = FakePodero(spec=GROWN_SPEC)
    item: dict[str, Any] = fake.spec.sample({"$ref": "#/components/schemas/ChargingSessionOutput"})
    return {**item, "id": str(uuid.UUID(int=n))}


async def test_page_iterator_crosses_three_pages(grown_fake: Any) -> None:
    """iter_list_sessions fetches pages lazily by offset and stops at the total: 5 items, 3 requests."""
    item = grown_fake.spec.sample({"$ref": "#/components/schemas/ChargingSessionOutput"})
    ids = [str(uuid.UUID(int=n)) for n in range(5)]
    pages = [ids[0:2], ids[2:4], ids[4:5]]
    grown_fake.inject(
        SESSIONS_ROUTE, *(Fault(json={"total": 5, "items": [{**item, "id": i} for i in page]}) for page in pages)
    )
    async with grown_fake.client() as podero:
        sessions = podero.electric_vehicle_sessions.iter_list_sessions(
            ORG, USER, CAR, from_=datetime.date(2026, 1, 1), to=datetime.date(2026, 2, 1), limit=2
        )
        assert grown_fake.requests[SESSIONS_ROUTE] == 0  # lazy: nothing sent before the first item is asked for
        first = await anext(sessions)
        assert grown_fake.requests[SESSIONS_ROUTE] == 1
        rest = [session async for session in sessions]
    assert [str(session.id) for session in [first, *rest]] == ids
    assert grown_fake.requests[SESSIONS_ROUTE] == 3


async def test_page_iterator_stops_on_an_empty_page(grown_fake: Any) -> None:
    """A total that claims more than the server has does not loop: an empty page ends the iteration."""
    grown_fake.set_answer(SESSIONS_ROUTE, json={"total": 50, "items": []})
    async with grown_fake.client() as podero:
        sessions = podero.electric_vehicle_sessions.iter_list_sessions(
            ORG, USER, CAR, from_=datetime.date(2026, 1, 1), to=datetime.date(2026, 2, 1)
        )
        assert [session async for session in sessions] == []
    assert grown_fake.requests[SESSIONS_ROUTE] == 1


async def test_a_repeated_page_stops_the_iteration(
    grown_package: GrownPackage, recorder: Recorder, backend: str
) -> None:
    """A server that answers the same page with a large total is refused at the repeat, not paged forever."""
    recorder.pages = [
        {"total": 1_000_000, "items": [_session(grown_package.module, 1), _session(grown_package.module, 2)]}
    ]
    seen: list[Any] = []
    async with recorder.client(grown_package.module, backend) as podero:
        sessions = podero.electric_vehicle_sessions.iter_list_sessions(ORG, USER, CAR, from_=FROM, to=TO, limit=2)
        with pytest.raises(grown_package.module.ResponseValidationError, match="already yielded") as caught:
            await _drain(sessions, seen)
    assert len(seen) == 2
    assert len(recorder.queries) == 2
    assert str(uuid.UUID(int=1)) in caught.value.body


async def test_pages_are_bounded_by_total_over_limit(
    grown_package: GrownPackage, recorder: Recorder, backend: str
) -> None:
    """New ids on every page, one at a time for a limit of 2: total / limit + 1 pages, then a typed error."""
    recorder.pages = [{"total": 6, "items": [_session(grown_package.module, n)]} for n in range(1, 10)]
    async with recorder.client(grown_package.module, backend) as podero:
        sessions = podero.electric_vehicle_sessions.iter_list_sessions(ORG, USER, CAR, from_=FROM, to=TO, limit=2)
        with pytest.raises(
            grown_package.module.ResponseValidationError, match="4 pages of 2 do not reach the total of 6"
        ):
            await _drain(sessions, [])
    assert len(recorder.queries) == 4
