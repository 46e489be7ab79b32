"""The human rendering of a wallbox that the CLI and the demo share."""

from __future__ import annotations

from datetime import UTC, datetime

from podero_client._render import ago, change_line, charge_rate, summary
from podero_client.models import WallboxDetailOutput
from podero_client.testing import wallbox_payload


def _wallbox(**overrides: object) -> WallboxDetailOutput:
    return WallboxDetailOutput.from_dict(wallbox_payload(**overrides))


def test_charge_rate_for_every_value() -> None:
    """An int or a float is shown in kW; null and absent are '-'."""
    assert charge_rate(_wallbox(charge_rate_w=7360)) == "7.36 kW"
    assert charge_rate(_wallbox(charge_rate_w=None)) == "-"
    payload = wallbox_payload()
    del payload["charge_rate_w"]
    assert charge_rate(WallboxDetailOutput.from_dict(payload)) == "-"


def test_change_line_says_what_the_car_does() -> None:
    """One line: the reading's time, the mode, and charging, full, plugged in or unplugged."""
    at = "2026-11-29T07:45:00Z"
    assert change_line(_wallbox(current_state_last_updated_at=at)) == "07:45:00  CHARGING    charging at 7.36 kW"
    full = _wallbox(mode="PLUGGED_IN", is_charging=False, is_fully_charged=True, current_state_last_updated_at=None)
    assert change_line(full) == "--:--:--  PLUGGED_IN  fully charged"
    unplugged = _wallbox(mode="READY", is_charging=False, is_plugged_in=False, current_state_last_updated_at=at)
    assert change_line(unplugged).endswith("READY       no car plugged in")


def test_summary_and_ago() -> None:
    """The summary shows the rate, the statuses and how old the state is (or how far ahead, from a fast fake)."""
    now = datetime(2026, 11, 29, 7, 49, tzinfo=UTC)
    text = summary(_wallbox(current_state_last_updated_at="2026-11-29T07:45:00Z"), now=now)
    assert "charge rate  7.36 kW" in text
    assert "(4 min ago)" in text
    assert ago(datetime(2026, 11, 27, 3, 0, tzinfo=UTC), now) == "2 d 4 h ago"
    assert ago(now, datetime(2026, 11, 29, 7, 0, tzinfo=UTC)) == "49 min ahead of this machine's clock"
    assert ago(now, now) == "just now"


def test_information_action_without_a_message() -> None:
    """An information action whose metadata has no message renders as "information", not a KeyError."""
    payload = wallbox_payload()
    information = payload["actions"][1]
    payload["actions"] = [{**information, "metadata": {}}, {**information, "metadata": {"other": 1}}]
    wallbox = WallboxDetailOutput.from_dict(payload)
    lines = summary(wallbox, now=datetime(2026, 1, 1, tzinfo=UTC)).splitlines()
    assert [line for line in lines if "action" in line] == ["  action       information"] * 2


def test_a_naive_state_time_is_shown_as_given() -> None:
    """A timestamp without a zone is printed as it came, with no 'ago' computed against an aware clock."""
    text = summary(_wallbox(current_state_last_updated_at="2026-12-05T10:00:00"), now=datetime(2026, 12, 6, tzinfo=UTC))
    assert "state as of  2026-12-05 10:00 (no time zone given)" in text


def test_control_characters_and_lone_surrogates_are_escaped() -> None:
    """Text from the server cannot drive the terminal or break a UTF-8 stdout: it is shown escaped."""
    wallbox = _wallbox(mode="\x1b[31mCHARGING\ud800")
    for text in (summary(wallbox), change_line(wallbox)):
        assert "\\x1b[31mCHARGING\\ud800" in text
        text.encode("utf-8")
    assert "\n" in summary(wallbox)  # its own line breaks stay
