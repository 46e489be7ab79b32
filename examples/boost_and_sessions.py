"""Boost a wallbox, then list an electric vehicle's charging sessions: two operations beyond the wallbox GET.

Needs podero-client generated from a spec that has them (Podero's whole Partner API; the
spec pinned today has only the wallbox GET). Against the fake, serving such a spec:

    python scripts/regenerate.py --spec tests/fixtures/grown-openapi.json    # the SDK for that spec
    podero-client serve-fake --spec tests/fixtures/grown-openapi.json &
    export PODERO_BASE_URL=http://127.0.0.1:8765 PODERO_CLIENT_ID=test-client-id PODERO_CLIENT_SECRET=test-client-secret
    python examples/boost_and_sessions.py ORG_ID USER_ID WALLBOX_ID ELECTRIC_VEHICLE_ID
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import sys

from podero_client import ConflictError, PoderoClient, PoderoError
from podero_client.models import BoostConflictOutput


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("org_id", "user_id", "wallbox_id", "electric_vehicle_id"):
        parser.add_argument(name)
    parser.add_argument("--days", type=int, default=30, help="how far back to list sessions (default 30)")
    args = parser.parse_args()
    try:
        async with PoderoClient.from_env() as podero:
            try:
                await podero.user_wallboxes.boost(args.org_id, args.user_id, args.wallbox_id)  # 204: None
                print("boost started")
            except ConflictError as error:  # the spec documents this 409's body: error.parsed is its model
                reason = error.parsed.reason if isinstance(error.parsed, BoostConflictOutput) else error.detail
                print(f"boost not started: {reason}")
            today = datetime.datetime.now(datetime.UTC).date()
            sessions = podero.electric_vehicle_sessions.iter_list_sessions(
                args.org_id,
                args.user_id,
                args.electric_vehicle_id,
                from_=today - datetime.timedelta(days=args.days),
                to=today,
            )
            count = 0
            async for session in sessions:  # pages of 50 are fetched as the loop needs them
                count += 1
                print(f"{session.started_at:%Y-%m-%d %H:%M}  {session.status}  {session.energy_kwh} kWh")
            print(f"{count} sessions")
    except PoderoError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
