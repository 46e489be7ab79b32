"""Realistic wallbox payloads, shaped like the ones Podero's reference page shows, and their life."""

from __future__ import annotations

import copy
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from .._errors import InvalidArgumentError

ORG_ID = "7d3c5b2a-1e4f-4a6b-8c9d-0e1f2a3b4c5d"
USER_ID = "3f1c6a8e-2b4d-4e7a-9c1f-5a6b7c8d9e0f"
WALLBOX_ID = "b6e2d9f4-8a1c-4d3e-9f5a-7c2b1e0d4a68"

_WALLBOX: dict[str, Any] = {
    "connection_status": "ok",
    "monitoring_status": "ok",
    "steering_status": "warning",
    "device_model": {
        "device_type": {"short_name": "wallbox", "long_name": "Wallbox"},
        "cloud_service_instructions": None,
        "cloud_service_signup_link": None,
        "manufacturer": "Easee",
        "model": "Charge Max",
        "year": 2024,
        "cloud_service": "0b9c8d7e-6f5a-4b3c-2d1e-0f9a8b7c6d5e",
    },
    "owner": {
        "id": USER_ID,
        "email": "anna.huber@example.com",
        "first_name": "Anna",
        "last_name": "Huber",
        "external_id": "CUST-104233",
    },
    "price_zone": "AT",
    "id": WALLBOX_ID,
    "created_at": "2025-03-14T09:26:53.589793Z",
    "updated_at": "2026-11-29T07:45:12.004211Z",
    "deleted_at": None,
    "lifecycle_state": "authenticated",
    "lifecycle_error": None,
    "pause_power_until": None,
    "is_pause_power_active": False,
    "external_device_id": "EH-48213",
    "is_authenticated": True,
    "is_smart_optimization_active": True,
    "optimization_score": 0.82,
    "current_mode": "smart",
    "comment": None,
    "current_state_last_updated_at": "2026-11-29T07:45:00Z",
    "last_monitoring_executed_at": "2026-11-29T07:40:00Z",
    "is_inverter_forced_mode_enabled": False,
    "is_inverter_forced_mode_active": False,
    "inverter_forced_mode_since": "0001-01-01T00:00:00Z",
    "is_trading_enabled": False,
    "actual_steering_state": "charging",
    "charge_target_min": 50,
    "charge_target_max": 80,
    "charge_power_max_w": 11000,
    "supports_current_modulation": True,
    "supports_phase_switching": False,
    "phases": 3,
    "min_amps": 6,
    "max_amps": 16,
    "capabilities_last_refreshed_at": "2026-11-28T02:00:00Z",
    "hems_min_export_to_start_w": 2000,
    "hems_max_import_before_stopping_w": 4000,
    "firmware_version": "328",
    "is_ocpp_connected": True,
    "ocpp_connected_last_updated_at": "2026-11-29T07:44:51Z",
    "total_energy_delivered_wh": 1843211,
    "is_charge_policy_enabled": True,
    "charge_policy_last_updated_at": "2026-11-20T18:00:00Z",
    "minimum_charge_limit": 80,
    "charge_deadline_at": "2026-11-29T16:00:00Z",
    "is_over_charge_allowed": False,
    "charge_time_remaining": 5400,
    "charge_rate_w": 7360.0,
    "is_fully_charged": False,
    "is_plugged_in": True,
    "is_charging": True,
    "charge_state_last_updated_at": "2026-11-29T07:45:00Z",
    "consumption_last_day_kwh": 18.4,
    "consumption_last_week_kwh": "96.25",
    "consumption_last_month_kwh": 402.7,
    "consumption_last_updated_at": "2026-11-29T00:05:00Z",
    "needs_gateway": False,
    "embeddable_url": None,
    "authorization_url": None,
    "action_needed": True,
    "has_notification": True,
    "mode": "CHARGING",
    "connection": "online",
    "actions": [
        {
            "code": "reauthenticate",
            "resolution_link": {
                "url": "/api/partners/v2.0/actions/4711/resolve?secret=c2lnbmVk",
                "required_parameters": ["redirect_uri"],
            },
        },
        {
            "code": "information",
            "resolution_link": {
                "url": "/api/partners/v2.0/actions/4712/resolve?secret=c2lnbmVk",
                "required_parameters": [],
            },
            "metadata": {"message": "Your wallbox finished a firmware update."},
            "sent_at": "2026-11-28T21:10:00Z",
        },
    ],
}


def wallbox_payload(**overrides: Any) -> dict[str, Any]:
    """A fresh copy of a realistic wallbox payload, with top-level fields replaced."""
    payload = copy.deepcopy(_WALLBOX)
    payload.update(copy.deepcopy(overrides))
    return payload


# The manufacturer's state is read every 5 to 15 minutes (Podero's docs); the fake reads it every 5.
READING_INTERVAL = 300.0
# The base payload's state was read 4 minutes before the fake started, as a live wallbox's would be.
_FIRST_READING_AGE = 240.0
_Reading = tuple[str, bool, bool, bool, float]  # mode, plugged in, charging, fully charged, charge rate (W)
# One charging session, a reading each: charging at a falling rate as the battery fills, finished,
# unplugged, plugged in again. Reading 0 is the base payload's own state.
SESSION: tuple[_Reading, ...] = (
    *[("CHARGING", True, True, False, rate) for rate in (7360.0, 11000.0, 10580.0, 9660.0, 8280.0, 6440.0, 4600.0)],
    *[("CHARGING", True, True, False, rate) for rate in (2760.0, 1380.0)],
    ("PLUGGED_IN", True, False, True, 0.0),
    *[("READY", False, False, False, 0.0)] * 2,
    ("PLUGGED_IN", True, False, False, 0.0),
)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class ChargingSessions:
    """The fake's clock, and every wallbox's charging session on it.

    The clock runs ``speed`` fake seconds per real second (0 stops it) and ``advance()``
    moves it on at once. Every ``READING_INTERVAL`` fake seconds the wallboxes take the
    next reading of ``SESSION`` (all in step), with ``current_state_last_updated_at``,
    ``updated_at`` and the energy delivered moving on; until the first reading, a
    wallbox's payload is served exactly as stored.
    """

    def __init__(self, *, speed: float = 0.0, started: datetime | None = None) -> None:
        self.started = started or datetime.now(UTC)
        self._elapsed = 0.0  # fake seconds up to self._since
        self._since = time.monotonic()
        self._speed = 0.0
        self.speed = speed

    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
            raise InvalidArgumentError(f"speed must be a number of fake seconds per second >= 0, got {value!r}")
        self._elapsed = self.elapsed()
        self._since = time.monotonic()
        self._speed = float(value)

    def elapsed(self) -> float:
        """Fake seconds since the fake started."""
        return self._elapsed + self._speed * (time.monotonic() - self._since)

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` fake seconds forward, at once."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < math.inf:
            raise InvalidArgumentError(f"seconds must be a number >= 0, got {seconds!r}")
        self._elapsed += seconds

    def reading(self, offset: float = 0.0) -> int:
        """How many readings were taken since the base payload's (0 until the first).

        ``offset`` fake seconds puts a wallbox further on in its life: a fleet's wallboxes
        each have their own, so that they take their readings at different moments.
        """
        return math.floor((self.elapsed() + _FIRST_READING_AGE + offset) / READING_INTERVAL)

    def reading_time(self, reading: int, offset: float = 0.0) -> datetime:
        return self.started + timedelta(seconds=reading * READING_INTERVAL - _FIRST_READING_AGE - offset)

    def state(self, payload: dict[str, Any], offset: float = 0.0) -> dict[str, Any]:
        """``payload`` as of the current reading: itself until the first one, a new dict after."""
        reading = self.reading(offset)
        if reading <= 0:
            return payload
        mode, plugged_in, charging, full, rate = SESSION[reading % len(SESSION)]
        at = _iso(self.reading_time(reading, offset))
        left = [step for step in SESSION[reading % len(SESSION) :] if step[2]]
        delivered = payload.get("total_energy_delivered_wh")
        if isinstance(delivered, int):
            delivered += round(_energy_wh(reading))
        return {
            **payload,
            "mode": mode,
            "is_plugged_in": plugged_in,
            "is_charging": charging,
            "is_fully_charged": full,
            "charge_rate_w": rate,
            "actual_steering_state": "charging" if charging else "idle",
            "charge_time_remaining": int(len(left) * READING_INTERVAL) if charging else None,
            "total_energy_delivered_wh": delivered,
            "current_state_last_updated_at": at,
            "charge_state_last_updated_at": at,
            "updated_at": at,
        }


def _energy_wh(readings: int) -> float:
    """Energy delivered over the first ``readings`` readings of back-to-back sessions."""
    per_reading = [rate * READING_INTERVAL / 3600 for *_, rate in SESSION]
    whole, part = divmod(readings, len(SESSION))
    return whole * sum(per_reading) + sum(per_reading[:part])
