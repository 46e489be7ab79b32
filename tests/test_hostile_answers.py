"""Valid JSON of the wrong shape, served on 127.0.0.1: only PoderoError comes out, on both wires.

Every public method of the shipped spec and the CLI meet a table of hostile-but-valid
answers: wrong types, huge numbers, floats at the limits, naive and far-off timestamps,
lone surrogates, nested nulls. Each answer is either parsed into a model whose attributes
hold their annotated types, or refused as a PoderoError; the batch keeps its other
wallboxes; a watch takes a bad body as one failed poll.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from podero_client import PoderoClient, PoderoError, ResponseValidationError, _cli
from podero_client.models import WallboxDetailOutput
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID, FakePodero, Fault, wallbox_payload

IDS = (ORG_ID, USER_ID, WALLBOX_ID)
HOSTILE_ID = "b3c8f0c2-7f6e-4a8e-9d4e-6a1c2b3d4e5f"
DEEP: Any = None
for _ in range(400):
    DEEP = [DEEP]

# (name, answer): a dict is a wallbox payload's fields replaced; anything else is the whole body.
TABLE: list[tuple[str, Any]] = [
    ("string for boolean", {"is_charging": "false"}),
    ("boolean for number", {"charge_rate_w": True}),
    ("string for integer", {"charge_power_max_w": "lots"}),
    ("float for integer", {"phases": 1.5}),
    ("huge integer for number", {"charge_rate_w": 10**400}),
    ("huge integer in a union", {"consumption_last_day_kwh": 10**400, "optimization_score": 10**400}),
    ("integer past int64", {"charge_time_remaining": 10**30}),
    ("floats at the limits", {"charge_rate_w": 1.7976931348623157e308, "optimization_score": 5e-324}),
    ("negative zero and int64 max", {"charge_rate_w": -0.0, "total_energy_delivered_wh": 2**63 - 1}),
    ("naive timestamp", {"current_state_last_updated_at": "2026-12-05T10:00:00", "updated_at": "2026-12-05T10:00:00"}),
    ("far-off aware timestamp", {"current_state_last_updated_at": "9999-12-31T23:59:59-14:00"}),
    ("year one aware timestamp", {"current_state_last_updated_at": "0001-01-01T00:00:00+14:00"}),
    ("date for date-time", {"created_at": "2026-12-05"}),
    ("number for date-time", {"updated_at": 1733400000}),
    ("braced uuid", {"id": "{12345678-1234-5678-1234-567812345678}"}),
    ("lone surrogates", {"comment": "\ud800", "firmware_version": "\udfff", "mode": "\udc80"}),
    ("terminal escapes", {"comment": "\x1b[2J", "mode": "\x1b[31mCHARGING\x07"}),
    ("nested nulls", {"device_model": {"device_type": None, "manufacturer": None}}),
    ("null action", {"actions": [None]}),
    ("action with a null code", {"actions": [{"code": None}]}),
    ("string for array", {"actions": "none"}),
    ("array for object", {"owner": [["email", "x"]]}),
    ("null owner", {"owner": None}),
    ("unknown enum value", {"mode": "LEVITATING", "price_zone": "MARS"}),
    ("unknown fields, NaN and deep", {"extra_nan": float("nan"), "extra_inf": float("-inf"), "extra_deep": DEEP}),
    ("array body", [1, 2]),
    ("string body", "wallbox"),
    ("number body", 1e300),
]


def _not_json(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON")


def _answer(answer: Any) -> Any:
    return wallbox_payload(**answer) if isinstance(answer, dict) else answer


def _honest(wallbox: WallboxDetailOutput) -> None:
    """An accepted wallbox holds what its annotations say, where the table could have lied."""
    for name in ("is_charging", "is_plugged_in", "is_fully_charged"):
        value = getattr(wallbox, name)
        assert value is None or type(value) is bool or repr(value) == "UNSET", (name, value)
    for name in ("charge_rate_w", "optimization_score"):
        value = getattr(wallbox, name)
        assert value is None or type(value) is float or repr(value) == "UNSET", (name, value)
    assert type(wallbox.charge_power_max_w) is int
    assert isinstance(wallbox.created_at, datetime.datetime)
    assert wallbox.id is None or isinstance(wallbox.id, uuid.UUID) or repr(wallbox.id) == "UNSET"


async def _outcome(call: Callable[[], Any]) -> object:
    """The call's result, or the PoderoError it raised; anything else fails the test."""
    try:
        return await call()
    except PoderoError as error:
        return error


@pytest.mark.parametrize(("name", "answer"), TABLE, ids=[name for name, _ in TABLE])
async def test_every_public_method_gives_a_model_or_a_podero_error(
    fake_podero: FakePodero, new_client: Callable[..., PoderoClient], name: str, answer: Any
) -> None:
    """get_wallbox, get_wallbox_response, the resource method, its raw variant and the batch: no raw exception."""
    hostile = _answer(answer)
    async with new_client() as podero:
        calls: list[Callable[[], Any]] = [
            lambda: podero.get_wallbox(*IDS),
            lambda: podero.get_wallbox_response(*IDS),
            lambda: podero.user_wallboxes.retrieve_wallbox(*IDS),
            lambda: podero.user_wallboxes.with_raw_response.retrieve_wallbox(*IDS),
        ]
        for call in calls:
            fake_podero.inject("wallbox", Fault(json=hostile))
            outcome = await _outcome(call)
            parsed = getattr(outcome, "parsed", outcome)
            if isinstance(parsed, WallboxDetailOutput):
                _honest(parsed)
            else:
                assert isinstance(outcome, PoderoError), outcome
        # The batch: a hostile wallbox among good ones fails alone.
        fake_podero.add_wallbox(ORG_ID, USER_ID, HOSTILE_ID, hostile if isinstance(hostile, dict) else {})
        results = await podero.get_wallboxes([IDS, (ORG_ID, USER_ID, HOSTILE_ID), IDS])
        assert isinstance(results[0], WallboxDetailOutput)
        assert isinstance(results[2], WallboxDetailOutput)
        assert isinstance(results[1], WallboxDetailOutput | PoderoError)


async def test_a_watch_takes_a_bad_body_as_one_failed_poll(
    fake_podero: FakePodero, new_client: Callable[..., PoderoClient]
) -> None:
    """Between two good polls, a body off its schema is logged and polled again; the watch goes on."""
    refused = [*[answer for _, answer in TABLE if isinstance(answer, dict)][:7], [1, 2], "wallbox"]
    first = wallbox_payload(updated_at="2026-12-05T10:00:00Z", current_state_last_updated_at="2026-12-05T10:00:00Z")
    later = wallbox_payload(updated_at="2026-12-05T10:05:00Z", current_state_last_updated_at="2026-12-05T10:05:00Z")
    fake_podero.inject(
        "wallbox", Fault(json=first), *(Fault(json=_answer(answer)) for answer in refused), Fault(json=later)
    )
    async with new_client() as podero:
        seen: list[object] = []
        async for wallbox in podero.watch_wallbox(*IDS, interval=0.001):
            seen.append(wallbox.current_state_last_updated_at)
            if len(seen) == 2:
                break
    assert [moment.minute for moment in seen if isinstance(moment, datetime.datetime)] == [0, 5]
    assert fake_podero.wallbox_requests == len(refused) + 2


@pytest.mark.parametrize(("name", "answer"), TABLE, ids=[name for name, _ in TABLE])
async def test_the_cli_exits_with_a_documented_code(
    fake_podero: FakePodero,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    answer: Any,
) -> None:
    """`wallbox`, `wallbox --json` and `watch --count 1` print or fail in one line: never exit 1 or a traceback."""
    monkeypatch.setenv("PODERO_CLIENT_ID", fake_podero.client_id)
    monkeypatch.setenv("PODERO_CLIENT_SECRET", fake_podero.client_secret)
    monkeypatch.setenv("PODERO_BASE_URL", fake_podero.url)
    for args in (
        ["wallbox", *IDS],
        ["wallbox", "--json", *IDS],
        ["watch", "--count", "1", "--interval", "0.001", *IDS],
    ):
        fake_podero.inject("wallbox", Fault(json=_answer(answer)))
        code = await asyncio.to_thread(_cli.main, args)
        out, err = capsys.readouterr()
        assert code in (_cli.EXIT_OK, _cli.EXIT_API_ERROR), (args, code, err)
        assert "Traceback" not in err
        out.encode("utf-8")  # printable as UTF-8: no lone surrogate reached the terminal
        assert "\x1b" not in out
        if "--json" in args and code == _cli.EXIT_OK:
            json.loads(out, parse_constant=_not_json)  # strict JSON: jq would read it


def test_response_validation_error_names_the_field_and_the_type() -> None:
    """The error says which field got which JSON type, so a partner can report it."""
    from podero_client._generated.types import FieldTypeError

    with pytest.raises(
        FieldTypeError, match=r"field is_charging of WallboxDetailOutput: expected boolean or null, got string"
    ):
        WallboxDetailOutput.from_dict(wallbox_payload(is_charging="false"))
    with pytest.raises(FieldTypeError, match=r"field charge_rate_w .* got integer of \d+ bits"):
        WallboxDetailOutput.from_dict(wallbox_payload(charge_rate_w=10**400))
    with pytest.raises(
        FieldTypeError, match=r"field owner\.email of WallboxDetailOutput: expected string.*got integer"
    ):
        WallboxDetailOutput.from_dict(wallbox_payload(owner={**wallbox_payload()["owner"], "email": 5}))
    assert issubclass(ResponseValidationError, PoderoError)
