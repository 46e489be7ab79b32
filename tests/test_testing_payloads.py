"""The fake's living wallboxes: ChargingSessions, and FakePodero's speed and advance()."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timedelta

import pytest

from podero_client import InvalidArgumentError, PoderoClient
from podero_client.testing import (
    ORG_ID,
    READING_INTERVAL,
    SESSION,
    USER_ID,
    WALLBOX_ID,
    ChargingSessions,
    FakePodero,
    wallbox_payload,
)

IDS = (ORG_ID, USER_ID, WALLBOX_ID)


def test_a_stopped_clock_serves_the_payload_as_stored() -> None:
    """Speed 0 (the default): the payload is the stored dict itself, reading after reading."""
    sessions = ChargingSessions()
    payload = wallbox_payload()
    assert sessions.state(payload) is payload
    sessions.advance(59)
    assert sessions.state(payload) is payload, "the first reading comes 60 fake seconds after the start"
    sessions.advance(1)
    assert sessions.state(payload) is not payload


def test_advance_walks_through_a_charging_session() -> None:
    """Each reading is the next step of SESSION: charging, fully charged, unplugged, plugged in, charging."""
    sessions = ChargingSessions()
    payload = wallbox_payload()
    seen = []
    for _ in range(len(SESSION)):
        sessions.advance(READING_INTERVAL)
        state = sessions.state(payload)
        seen.append((state["mode"], state["is_plugged_in"], state["is_charging"], state["is_fully_charged"]))
    assert seen[0] == ("CHARGING", True, True, False)
    assert ("PLUGGED_IN", True, False, True) in seen, "finished"
    assert ("READY", False, False, False) in seen, "unplugged"
    assert seen[-2:] == [("PLUGGED_IN", True, False, False), ("CHARGING", True, True, False)], "and again"
    assert payload == wallbox_payload(), "the stored payload is left alone"


def test_readings_move_time_and_energy_on() -> None:
    """current_state_last_updated_at steps by READING_INTERVAL; energy grows while charging only."""
    sessions = ChargingSessions()
    payload = wallbox_payload()
    states = []
    for _ in range(len(SESSION)):
        sessions.advance(READING_INTERVAL)
        states.append(sessions.state(payload))
    times = [datetime.fromisoformat(state["current_state_last_updated_at"]) for state in states]
    assert all(later - earlier == timedelta(seconds=READING_INTERVAL) for earlier, later in itertools.pairwise(times))
    assert times[0] == sessions.started + timedelta(seconds=READING_INTERVAL - 240)
    assert all(state["updated_at"] == state["current_state_last_updated_at"] for state in states)
    energy = [state["total_energy_delivered_wh"] for state in states]
    assert energy == sorted(energy)
    assert energy[1] - energy[0] == round(11000 * READING_INTERVAL / 3600), "the energy of the 11 kW reading"
    rates = [state["charge_rate_w"] for state in states if state["is_charging"]]
    assert len(set(rates)) == len(rates) > 3, "the rate changes from reading to reading"


async def test_speed_runs_the_clock() -> None:
    """With a speed, fake time passes on its own; setting 0 stops it where it is."""
    sessions = ChargingSessions(speed=1e9)
    await asyncio.sleep(0.01)
    assert sessions.reading() > 1000
    sessions.speed = 0
    stopped = sessions.elapsed()
    await asyncio.sleep(0.01)
    assert sessions.elapsed() == stopped


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), True, "60"])
def test_bad_speed_and_advance_are_refused(bad: object) -> None:
    """A negative, infinite or non-numeric speed or advance raises InvalidArgumentError, a ValueError."""
    with pytest.raises(InvalidArgumentError, match="speed must be"):
        ChargingSessions(speed=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seconds must be"):
        ChargingSessions().advance(bad)  # type: ignore[arg-type]


async def test_watch_wallbox_sees_the_fake_change(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """watch_wallbox yields each new reading of the fake, with the rate it served."""
    rates = []
    async with asyncio.timeout(30):  # a stuck fake fails here instead of hanging
        async for wallbox in podero.watch_wallbox(*IDS, interval=0.01):
            rates.append(wallbox.charge_rate_w)
            if len(rates) == 4:
                break
            fake_podero.advance(READING_INTERVAL)
    assert rates == [step[4] for step in SESSION[:4]]
    assert all(isinstance(rate, float) for rate in rates)


async def test_fake_podero_speed_is_settable(fake_podero: FakePodero) -> None:
    """FakePodero(speed=) and .speed reach the clock; a bad value is refused."""
    assert fake_podero.speed == 0
    fake_podero.speed = 60
    assert fake_podero.sessions.speed == 60
    with pytest.raises(InvalidArgumentError):
        fake_podero.speed = -1
    async with FakePodero(speed=120) as server:
        assert server.speed == 120
