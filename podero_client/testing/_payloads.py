"""Realistic wallbox payloads, shaped like the ones Podero's reference page shows."""

from __future__ import annotations

import copy
from typing import Any

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
