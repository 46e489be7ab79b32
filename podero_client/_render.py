"""The human rendering of a wallbox, shared by the command line and the demo."""

from __future__ import annotations

from datetime import UTC, datetime

from dateutil.relativedelta import relativedelta

from ._generated.models import InformationActionProjection, ReauthenticateProjection, WallboxDetailOutput
from ._generated.types import Unset


def ago(moment: datetime, now: datetime) -> str:
    """'3 min ago', '2 d 4 h ago': dateutil's relativedelta splits the gap into calendar units."""
    gap = relativedelta(now, moment) if moment <= now else relativedelta(moment, now)
    units = [(gap.years, "y"), (gap.months, "mo"), (gap.days, "d"), (gap.hours, "h"), (gap.minutes, "min")]
    parts = [f"{value} {unit}" for value, unit in units if value][:2]
    if not parts:
        return "just now"
    # A fake run faster than real time (serve-fake --speed) stamps its states ahead of this clock.
    return f"{' '.join(parts)} ago" if moment <= now else f"{' '.join(parts)} ahead of this machine's clock"


def printable(text: str) -> str:
    """``text`` safe for any terminal: control characters and lone surrogates escaped, newlines kept."""
    if text.isprintable():
        return text
    return "\n".join("".join(c if c.isprintable() else ascii(c)[1:-1] for c in line) for line in text.split("\n"))


def _as_of(moment: datetime, now: datetime) -> str:
    """A state's time; a naive one (no zone given) is shown as given, with no 'ago' to guess."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        return f"{moment:%Y-%m-%d %H:%M} (no time zone given)"
    return f"{moment:%Y-%m-%d %H:%M %Z} ({ago(moment, now)})"


def _value(value: object) -> str:
    if value is None or isinstance(value, Unset):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def charge_rate(wallbox: WallboxDetailOutput) -> str:
    """'7.36 kW', or '-' when the wallbox did not say (None) or the field was absent (Unset)."""
    rate = wallbox.charge_rate_w
    return f"{rate / 1000:.2f} kW" if isinstance(rate, float) else "-"


def change_line(wallbox: WallboxDetailOutput) -> str:
    """One line per observed state, for ``watch``: when it was read, the mode, what the car does."""
    state_at = wallbox.current_state_last_updated_at
    when = f"{state_at:%H:%M:%S}" if isinstance(state_at, datetime) else "--:--:--"
    if wallbox.is_charging:
        doing = f"charging at {charge_rate(wallbox)}"
    elif wallbox.is_fully_charged:
        doing = "fully charged"
    elif wallbox.is_plugged_in:
        doing = "plugged in, not charging"
    else:
        doing = "no car plugged in" if wallbox.is_plugged_in is False else "plugged in: unknown"
    return printable(f"{when}  {wallbox.mode!s:<11} {doing}")


def summary(wallbox: WallboxDetailOutput, now: datetime | None = None) -> str:
    """A short human summary: what a support engineer looks at first."""
    now = now or datetime.now(UTC)
    model = wallbox.device_model
    device = f"{model.manufacturer} {model.model}" if model else "unknown model"
    lines = [
        f"Wallbox {_value(wallbox.id)} ({device})",
        f"  mode         {wallbox.mode}    connection {wallbox.connection}",
        f"  plugged in   {_value(wallbox.is_plugged_in)}    charging {_value(wallbox.is_charging)}",
        f"  charge rate  {charge_rate(wallbox)}",
        f"  statuses     connection {wallbox.connection_status}, monitoring {wallbox.monitoring_status}, "
        f"steering {wallbox.steering_status}",
    ]
    state_at = wallbox.current_state_last_updated_at
    if isinstance(state_at, datetime):
        lines.append(f"  state as of  {_as_of(state_at, now)}")
    actions = [] if isinstance(wallbox.actions, Unset) else wallbox.actions
    for action in actions:
        if isinstance(action, ReauthenticateProjection):
            text = f"reauthenticate via {action.resolution_link.url}"
        elif isinstance(action, InformationActionProjection):
            metadata = {} if isinstance(action.metadata, Unset) else action.metadata.additional_properties
            message = metadata.get("message")  # optional: an action may carry no message
            text = f"information: {message}" if message not in (None, "") else "information"
        else:
            text = f"{action.code} (an action this client does not know yet)"
        lines.append(f"  action       {text}")
    if not actions:
        lines.append("  actions      none pending")
    return printable("\n".join(lines))
