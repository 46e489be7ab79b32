"""The ``podero-client`` command: read a wallbox, run the demo, serve the fake API."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from dateutil.relativedelta import relativedelta

from ._client import PRODUCTION_URL, SANDBOX_URL, PoderoClient
from ._errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    PoderoError,
)
from ._generated.models import InformationActionProjection, ReauthenticateProjection, WallboxDetailOutput
from ._generated.types import Unset

EXIT_OK = 0
EXIT_BAD_ARGUMENTS = 2
EXIT_AUTHENTICATION = 3
EXIT_NOT_FOUND = 4
EXIT_API_ERROR = 5
EXIT_CONNECTION = 6

EPILOG = f"""\
credentials come from the environment: PODERO_CLIENT_ID and PODERO_CLIENT_SECRET,
or PODERO_USERNAME and PODERO_PASSWORD, or PODERO_TOKEN; PODERO_BASE_URL overrides
the production URL ({PRODUCTION_URL}).

exit codes: {EXIT_OK} ok, {EXIT_BAD_ARGUMENTS} bad arguments or settings, {EXIT_AUTHENTICATION} authentication \
or permission refused,
{EXIT_NOT_FOUND} not found, {EXIT_API_ERROR} other API error, {EXIT_CONNECTION} no connection or timed out.

examples:
  podero-client demo                         the SDK against an embedded fake Podero, no credentials
  podero-client serve-fake --port 8765       serve the fake API for your own services
  podero-client wallbox ORG_ID USER_ID WALLBOX_ID --json
"""


def _exit_code(error: PoderoError) -> int:
    if isinstance(error, InvalidArgumentError):
        return EXIT_BAD_ARGUMENTS
    if isinstance(error, AuthenticationError | PermissionDeniedError):
        return EXIT_AUTHENTICATION
    if isinstance(error, NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(error, APIConnectionError):
        return EXIT_CONNECTION
    return EXIT_API_ERROR


def _one_line(error: PoderoError) -> str:
    if isinstance(error, APIStatusError):
        detail = error.detail or (error.body if isinstance(error.body, str) else "") or error.response.reason_phrase
        return f"error: HTTP {error.status_code} {type(error).__name__}: {str(detail).splitlines()[0][:200]}"
    return f"error: {type(error).__name__}: {error}"


def _ago(moment: datetime, now: datetime) -> str:
    """'3 min ago', '2 days 4 h ago': dateutil's relativedelta splits the gap into calendar units."""
    gap = relativedelta(now, moment)
    units = [(gap.years, "y"), (gap.months, "mo"), (gap.days, "d"), (gap.hours, "h"), (gap.minutes, "min")]
    parts = [f"{value} {unit}" for value, unit in units if value][:2]
    return f"{' '.join(parts)} ago" if parts and moment <= now else "just now"


def _value(value: object) -> str:
    if value is None or isinstance(value, Unset):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def summary(wallbox: WallboxDetailOutput, now: datetime | None = None) -> str:
    """A short human summary: what a support engineer looks at first."""
    now = now or datetime.now(UTC)
    model = wallbox.device_model
    device = f"{model.manufacturer} {model.model}" if model else "unknown model"
    rate = wallbox.charge_rate_w
    charge_rate = f"{rate / 1000:.2f} kW" if isinstance(rate, int | float) else "-"
    lines = [
        f"Wallbox {_value(wallbox.id)} ({device})",
        f"  mode         {wallbox.mode}    connection {wallbox.connection}",
        f"  plugged in   {_value(wallbox.is_plugged_in)}    charging {_value(wallbox.is_charging)}",
        f"  charge rate  {charge_rate}",
        f"  statuses     connection {wallbox.connection_status}, monitoring {wallbox.monitoring_status}, "
        f"steering {wallbox.steering_status}",
    ]
    state_at = wallbox.current_state_last_updated_at
    if isinstance(state_at, datetime):
        lines.append(f"  state as of  {state_at:%Y-%m-%d %H:%M %Z} ({_ago(state_at, now)})")
    actions = [] if isinstance(wallbox.actions, Unset) else wallbox.actions
    for action in actions:
        if isinstance(action, ReauthenticateProjection):
            text = f"reauthenticate via {action.resolution_link.url}"
        elif isinstance(action, InformationActionProjection):
            message = action.metadata["message"] if not isinstance(action.metadata, Unset) else ""
            text = f"information: {message}" if message else "information"
        else:
            text = f"{action.code} (an action this client does not know yet)"
        lines.append(f"  action       {text}")
    if not actions:
        lines.append("  actions      none pending")
    return "\n".join(lines)


async def _wallbox_command(args: argparse.Namespace) -> int:
    base_url = SANDBOX_URL if args.sandbox else args.base_url
    podero = PoderoClient.from_env(base_url=base_url) if base_url else PoderoClient.from_env()
    async with podero:
        response = await podero.get_wallbox_response(
            args.org_id, args.user_id, args.wallbox_id, include_deleted=args.include_deleted
        )
    if args.json:
        print(json.dumps(json.loads(response.content), indent=2, ensure_ascii=False))
    else:
        print(summary(response.parsed))
    return EXIT_OK


async def _serve_fake(args: argparse.Namespace) -> int:
    from .testing import ORG_ID, USER_ID, WALLBOX_ID, FakePodero

    async with FakePodero(port=args.port, chaos=args.chaos, spec=args.spec) as server:
        print(f"Fake Podero API at {server.url}  (Ctrl-C to stop)")
        print(f"  {len(server.spec.operations)} operations of {args.spec or 'the packaged spec'}")
        print(f"  export PODERO_BASE_URL={server.url}")
        print(f"  export PODERO_CLIENT_ID={server.client_id} PODERO_CLIENT_SECRET={server.client_secret}")
        print(f"  or PODERO_USERNAME={server.username} PODERO_PASSWORD={server.password}")
        print(f"  a wallbox: {ORG_ID} {USER_ID} {WALLBOX_ID}", flush=True)
        await asyncio.Event().wait()
    return EXIT_OK  # pragma: no cover


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="podero-client",
        description="Read wallboxes from the Podero Partner API.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log token requests and retries to stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    wallbox = commands.add_parser(
        "wallbox", help="show one wallbox", epilog=EPILOG, formatter_class=parser.formatter_class
    )
    wallbox.add_argument("org_id", help="the organization's UUID")
    wallbox.add_argument("user_id", help="the user's UUID")
    wallbox.add_argument("wallbox_id", help="the wallbox's UUID")
    wallbox.add_argument("--include-deleted", action="store_true", help="also find a soft-deleted wallbox")
    wallbox.add_argument("--json", action="store_true", help="print the full payload as JSON")
    where = wallbox.add_mutually_exclusive_group()
    where.add_argument("--base-url", help=f"the API's origin (default: $PODERO_BASE_URL or {PRODUCTION_URL})")
    where.add_argument("--sandbox", action="store_true", help=f"use {SANDBOX_URL}")

    commands.add_parser("demo", help="run the SDK against an embedded fake Podero: no credentials, no network")
    serve = commands.add_parser("serve-fake", help="serve the fake Podero API on 127.0.0.1")
    serve.add_argument("--port", type=int, default=8765, help="the port (default 8765; 0 picks a free one)")
    serve.add_argument(
        "--chaos", type=float, default=0.0, help="the fraction of wallbox requests that meet a random fault (0 to 1)"
    )
    serve.add_argument(
        "--spec", metavar="FILE", help="serve every operation of this OpenAPI JSON file (default: the packaged spec)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        for name in ("podero_client", "httpx"):
            logging.getLogger(name).addHandler(handler)
            logging.getLogger(name).setLevel(logging.INFO)
    try:
        if args.command == "wallbox":
            return asyncio.run(_wallbox_command(args))
        if args.command == "demo":
            from ._demo import run_demo

            return asyncio.run(run_demo())
        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(_serve_fake(args))
        return EXIT_OK
    except PoderoError as error:
        print(_one_line(error), file=sys.stderr)
        return _exit_code(error)
    except ImportError as error:
        print(f"error: {error.name} is missing: pip install 'podero-client[testing]'", file=sys.stderr)
        return EXIT_BAD_ARGUMENTS
