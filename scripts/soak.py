"""Fault soak: many get_wallbox calls against a fake server that misbehaves on ~10 % of them.

    python scripts/soak.py [--calls 20000] [--concurrency 50] [--chaos 0.1] [--backend aiohttp|httpx]

Pass criteria: every call ends as a WallboxDetailOutput or a typed PoderoError; the
outcomes add up to the calls made; no socket of this process stays open once the client
is closed; RSS at the end is within 10 % of RSS after the first 10 % of the calls.
Exit 1 when one fails. Times are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import os
import sys
import time

import attrs
import httpx
from fake_process import fake_server_process

from podero_client import ClientCredentials, PoderoClient, PoderoError, RetryPolicy
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID

MAX_RSS_GROWTH = 0.10


def open_sockets() -> int:
    """Sockets this process holds, from /proc/self/fd."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the fd of the listing itself is gone by now
            count += os.readlink(os.path.join("/proc/self/fd", fd)).startswith("socket:")
    return count


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@attrs.define
class SoakReport:
    calls: int
    concurrency: int
    backend: str
    outcomes: collections.Counter[str] = attrs.field(factory=collections.Counter)
    seconds: float = 0.0
    sockets_before: int = 0
    sockets_after: int = 0
    rss_checkpoint: int = 0
    rss_end: int = 0

    @property
    def rss_growth(self) -> float:
        return (self.rss_end - self.rss_checkpoint) / self.rss_checkpoint

    def failures(self) -> list[str]:
        """The pass criteria that failed; empty when the soak passed."""
        failed = []
        unhandled = {name: n for name, n in self.outcomes.items() if name.startswith("unhandled ")}
        if unhandled:
            failed.append(f"unhandled exceptions: {unhandled}")
        if sum(self.outcomes.values()) != self.calls:
            failed.append(f"outcomes add up to {sum(self.outcomes.values())}, not {self.calls}")
        if self.sockets_after > self.sockets_before:
            failed.append(f"{self.sockets_after - self.sockets_before} socket(s) left open after close")
        if self.rss_growth > MAX_RSS_GROWTH:
            failed.append(f"RSS grew {self.rss_growth:.1%} after the checkpoint (limit {MAX_RSS_GROWTH:.0%})")
        return failed

    def table(self) -> str:
        rows = [
            ("calls", f"{self.calls} at concurrency {self.concurrency}, {self.backend} backend"),
            ("wall time", f"{self.seconds:.1f} s ({self.calls / self.seconds:.0f} calls/s)"),
            *((f"  {name}", str(count)) for name, count in sorted(self.outcomes.items())),
            ("sockets open", f"{self.sockets_before} before, {self.sockets_after} after close"),
            ("RSS", f"{self.rss_checkpoint / 2**20:.1f} MiB at checkpoint, {self.rss_end / 2**20:.1f} MiB at end "
                    f"({self.rss_growth:+.1%})"),
            ("result", "PASS" if not self.failures() else "FAIL: " + "; ".join(self.failures())),
        ]  # fmt: skip
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


async def soak(url: str, *, calls: int, concurrency: int, backend: str) -> SoakReport:
    """Make ``calls`` calls through one PoderoClient and record how each one ended."""
    report = SoakReport(calls=calls, concurrency=concurrency, backend=backend)
    checkpoint = max(1, calls // 10)
    gc.collect()
    report.sockets_before = open_sockets()
    client = PoderoClient(
        credentials=ClientCredentials("test-client-id", "test-client-secret"),
        base_url=url,
        retry=RetryPolicy(initial_backoff=0.005, max_backoff=0.05, max_retry_after=1.0),
        timeout=httpx.Timeout(0.3, connect=2.0),  # the fake's slow fault takes 1 s
        http_backend=backend,  # type: ignore[arg-type]
    )
    remaining = iter(range(calls))
    started = time.perf_counter()

    async def worker() -> None:
        for number in remaining:
            try:
                await client.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID)
                report.outcomes["WallboxDetailOutput"] += 1
            except PoderoError as error:
                report.outcomes[type(error).__name__] += 1
            except Exception as error:  # the soak exists to catch these
                report.outcomes[f"unhandled {type(error).__name__}"] += 1
            if number + 1 == checkpoint:
                report.rss_checkpoint = rss_bytes()

    async with client:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    report.seconds = time.perf_counter() - started
    report.rss_end = rss_bytes()
    gc.collect()
    await asyncio.sleep(0)  # let transports finish closing
    report.sockets_after = open_sockets()
    return report


async def run(calls: int, concurrency: int, chaos: float, backend: str) -> SoakReport:
    async with fake_server_process(chaos=chaos) as url:
        return await soak(url, calls=calls, concurrency=concurrency, backend=backend)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--chaos", type=float, default=0.1, help="fraction of requests that meet a fault")
    parser.add_argument("--backend", choices=["aiohttp", "httpx"], default="aiohttp")  # the default wire
    args = parser.parse_args()
    report = asyncio.run(run(args.calls, args.concurrency, args.chaos, args.backend))
    print(report.table())
    return 1 if report.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
