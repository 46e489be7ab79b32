"""A small polling service: watch wallboxes and act when their state changes.

Against the fake API (no credentials needed), whose wallbox charges, finishes and unplugs,
a new state every 5 s (Ctrl-C ends both quietly):

    podero-client serve-fake &
    export PODERO_BASE_URL=http://127.0.0.1:8765 PODERO_CLIENT_ID=test-client-id PODERO_CLIENT_SECRET=test-client-secret
    python examples/poller.py 7d3c5b2a-1e4f-4a6b-8c9d-0e1f2a3b4c5d 3f1c6a8e-2b4d-4e7a-9c1f-5a6b7c8d9e0f \\
        b6e2d9f4-8a1c-4d3e-9f5a-7c2b1e0d4a68 --interval 5
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from podero_client import PoderoClient
from podero_client.models import ReauthenticateProjection, WallboxDetailOutput


def on_change(wallbox: WallboxDetailOutput) -> None:
    """Where a real service would update its database or notify the customer."""
    charging = "charging" if wallbox.is_charging else "not charging"
    rate = wallbox.charge_rate_w  # float | None | Unset: None is "not reported", Unset "not sent"
    power = f"{rate:.0f} W" if isinstance(rate, float) else "power unknown"
    print(f"{wallbox.id}: {wallbox.mode}, {wallbox.connection}, {charging}, {power}", flush=True)
    for action in wallbox.actions or []:
        if isinstance(action, ReauthenticateProjection):
            print(f"  the customer must sign in again: {action.resolution_link.url}", flush=True)


async def watch(podero: PoderoClient, ids: tuple[str, str, str], interval: float, max_updates: int | None) -> None:
    updates = 0
    async for wallbox in podero.watch_wallbox(*ids, interval=interval):
        on_change(wallbox)
        updates += 1
        if max_updates is not None and updates >= max_updates:
            break


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("org_id")
    parser.add_argument("user_id")
    parser.add_argument("wallbox_id")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between polls (default 60)")
    parser.add_argument("--max-updates", type=int, help="stop after this many changes (default: never)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    async with PoderoClient.from_env() as podero:
        # One task per wallbox; a real service would start one for each wallbox it tracks.
        await watch(podero, (args.org_id, args.user_id, args.wallbox_id), args.interval, args.max_updates)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:  # Ctrl-C: asyncio.run has cancelled the watch and closed the client
        raise SystemExit(130) from None
