"""Query arguments of the types mypy accepts are sent as the generated code gives them (scripts/templates).

The grown spec, with a `number` and a `date-time` query parameter added to its sessions
list, is regenerated once into ``podero_query``; the Recorder (tests/_servers.py) on
127.0.0.1 records each query string.
"""

from __future__ import annotations

import datetime
import importlib
import json
import shutil
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from _servers import SESSIONS, Recorder
from conftest import GROWN_SPEC, ROOT

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


async def test_an_int_is_a_number(query_package: Any, recorder: Recorder, backend: str) -> None:
    """A `number` query parameter takes 5 (mypy does): it is sent, not refused; a bool still is refused."""
    async with recorder.client(query_package, backend) as podero:
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
    async with recorder.client(query_package, backend) as podero:
        for since in (utc, vienna, utc):
            await podero.electric_vehicle_sessions.list_sessions(ORG, USER, CAR, from_=FROM, to=TO, since=since)
    assert [query["since"] for query in recorder.queries] == [
        "2026-01-01T12:00:00+00:00",
        "2026-01-01T13:00:00+01:00",
        "2026-01-01T12:00:00+00:00",
    ]
