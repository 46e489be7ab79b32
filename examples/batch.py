"""A batch job: read many wallboxes at once, with bounded concurrency, and report.

Against the fake API (no credentials needed):

    podero-client serve-fake &
    export PODERO_BASE_URL=http://127.0.0.1:8765 PODERO_CLIENT_ID=test-client-id PODERO_CLIENT_SECRET=test-client-secret
    python examples/batch.py keys.csv     # lines of org_id,user_id,wallbox_id; "-" reads stdin
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from collections import Counter

from podero_client import PoderoClient, PoderoError


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("keys", type=argparse.FileType("r"), help="CSV of org_id,user_id,wallbox_id")
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    keys = [(row[0], row[1], row[2]) for row in csv.reader(args.keys) if len(row) >= 3]

    async with PoderoClient.from_env() as podero:
        results = await podero.get_wallboxes(keys, concurrency=args.concurrency)

    modes: Counter[str] = Counter()
    for key, result in zip(keys, results, strict=True):
        if isinstance(result, PoderoError):
            print(f"{key[2]}: {type(result).__name__}: {result}", file=sys.stderr)
            modes["error"] += 1
        else:
            modes[str(result.mode)] += 1
    print(", ".join(f"{mode}: {count}" for mode, count in sorted(modes.items())))
    return 1 if modes["error"] else 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:  # Ctrl-C ends it quietly
        sys.exit(130)
