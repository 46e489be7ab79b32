"""Query arguments of the types mypy accepts are sent as given, and a list's pages always end.

The grown spec, with a `number` and a `date-time` query parameter added to its sessions
list, is regenerated once into ``podero_query``; a small aiohttp server on 127.0.0.1
records each query string and answers the pages a test gives it.
"""

from __future__ import annotations

import datetime
import importlib
import json
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web
from conftest import GROWN_SPEC, ROOT

from podero_client.testing import FakePodero

SESSIONS = "/api/partners/v2.0/org/{org_id}/users/{user_id}/electric-vehicles/{electric_vehicle_id}/sessions"
ORG, USER, CAR = (str(uuid.UUID(int=n)) for n in (21, 22, 23))
FROM, TO = datetime.date(2026, 1, 1), datetime.date(2026, 2, 1)


@pytest.fixture(scope="module")
def query_package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """podero_client generated from the grown spec plus `min_kwh` (number) and `since` (date-time) queries."""
    import regenerate

    spec = json.loads(GROWN_SPEC.read_text())
    spec["paths"][SESSIONS]["get"]["parameters"] += [
        {"in": "query", "name": "min_kwh", "required": False, "schema": {"type": "number", "title": "Min Kwh"}},
        {
            "in": "query",
            "name": "since",
            "required": False,
            "schema": {"type": "string", "format": "date-time", "title": "Since"},
        },
    ]
    work = tmp_path_factory.mktemp("query")
    root = work / "podero_query"
    shutil.copytree(ROOT / "podero_client", root, ignore=shutil.ignore_patterns("_generated", "__pycache__"))
    pinned = work / "openapi.json"
    pinned.write_text(json.dumps(spec))
    status = regenerate.main(
        ["--pinned", str(pinned), "--output", str(root / "_generated"), "--report", str(work / "r")]
    )
    assert status == 0
    sys.path.insert(0, str(work))
    try:
        yield importlib.import_module("podero_query")
    finally:
        sys.path.remove(str(work))
        for name in [name for name in sys.modules if name.split(".")[0] == "podero_query"]:
            del sys.modules[name]


class Recorder:
    """Answers the sessions list with ``pages`` in turn (the last one again), recording each query."""

    def __init__(self) -> None:
        self.queries: list[dict[str, str]] = []
        self.pages: list[Any] = [{"total": 0, "items": []}]
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.queries.append(dict(request.query))
        page = self.pages[min(len(self.queries), len(self.pages)) - 1]
        return web.json_response(page)


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    server = Recorder()
    app = web.Application()
    app.router.add_get(SESSIONS, server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    yield server
    await runner.cleanup()


def _client(package: Any, recorder: Recorder, backend: str) -> Any:
    return package.PoderoClient(credentials=package.BearerToken("t"), base_url=recorder.url, http_backend=backend)


async def test_an_int_is_a_number(query_package: Any, recorder: Recorder, backend: str) -> None:
    """A `number` query parameter takes 5 (mypy does): it is sent, not refused; a bool still is refused."""
    async with _client(query_package, recorder, backend) as podero:
        await podero.electric_vehicle_sessions.list_sessions(ORG, USER, CAR, from_=FROM, to=TO, min_kwh=5)
        with pytest.raises(query_package.InvalidArgumentError, match="min_kwh"):
            await podero.electric_vehicle_sessions.list_sessions(ORG, USER, CAR, from_=FROM, to=TO, min_kwh=True)
    assert recorder.queries[0]["min_kwh"] == "5"
    assert len(recorder.queries) == 1


async def test_each_call_sends_its_own_datetime_offset(query_package: Any, recorder: Recorder, backend: str) -> None:
    """Two datetimes of one instant in different zones are two requests, each with its own offset."""
    utc = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)
    vienna = utc.astimezone(datetime.timezone(datetime.timedelta(hours=1)))
    assert utc == vienna
    async with _client(query_package, recorder, backend) as podero:
        for since in (utc, vienna, utc):
            await podero.electric_vehicle_sessions.list_sessions(ORG, USER, CAR, from_=FROM, to=TO, since=since)
    assert [query["since"] for query in recorder.queries] == [
        "2026-01-01T12:00:00+00:00",
        "2026-01-01T13:00:00+01:00",
        "2026-01-01T12:00:00+00:00",
    ]


async def _drain(items: AsyncIterator[Any], seen: list[Any]) -> None:
    async for item in items:
        seen.append(item.id)


def _session(package: Any, n: int) -> dict[str, Any]:
    fake = FakePodero(spec=GROWN_SPEC)
    item: dict[str, Any] = fake.spec.sample({"$ref": "#/components/schemas/ChargingSessionOutput"})
    return {**item, "id": str(uuid.UUID(int=n))}


async def test_a_repeated_page_stops_the_iteration(query_package: Any, recorder: Recorder, backend: str) -> None:
    """A server that answers the same page with a large total is refused at the repeat, not paged forever."""
    recorder.pages = [{"total": 1_000_000, "items": [_session(query_package, 1), _session(query_package, 2)]}]
    seen: list[Any] = []
    async with _client(query_package, recorder, backend) as podero:
        sessions = podero.electric_vehicle_sessions.iter_list_sessions(ORG, USER, CAR, from_=FROM, to=TO, limit=2)
        with pytest.raises(query_package.ResponseValidationError, match="already yielded") as caught:
            await _drain(sessions, seen)
    assert len(seen) == 2
    assert len(recorder.queries) == 2
    assert str(uuid.UUID(int=1)) in caught.value.body


async def test_pages_are_bounded_by_total_over_limit(query_package: Any, recorder: Recorder, backend: str) -> None:
    """New ids on every page, one at a time for a limit of 2: total / limit + 1 pages, then a typed error."""
    recorder.pages = [{"total": 6, "items": [_session(query_package, n)]} for n in range(1, 10)]
    async with _client(query_package, recorder, backend) as podero:
        sessions = podero.electric_vehicle_sessions.iter_list_sessions(ORG, USER, CAR, from_=FROM, to=TO, limit=2)
        with pytest.raises(query_package.ResponseValidationError, match="4 pages of 2 do not reach the total of 6"):
            await _drain(sessions, [])
    assert len(recorder.queries) == 4
