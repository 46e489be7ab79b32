"""The replicas benchmark: three processes share one fleet (RedisFleet) and one budget (RedisRateLimit).

    python scripts/bench_replicas.py            # full run (about 10 minutes); writes its section of BENCHMARKS.md
    python scripts/bench_replicas.py --smoke    # tiny counts, writes into build/ (CI)

Every part is a process of its own: the fake Podero (which logs every poll it serves), each
replica, and Redis (REDIS_URL, default redis://127.0.0.1:6379/0; the fleet's name is unique
to the run). The fake changes a share of its wallboxes per interval: each takes a new reading
every 300 fake seconds, phases spread evenly, so ``speed = share x 300 / interval``. The
interval (90 s: 333 requests/s of the 500/s budget) leaves headroom: a dead replica's wallboxes
are polled by the others on top of their own, and with the budget already used up they queue
behind every overdue wallbox (at 60 s, 1,860 of them took longer than lease + interval). The run:
a steady window (duplicates, the rate in every 1 s window); ``kill -9`` of one replica (how
long until each of its wallboxes is polled again); its restart (how many wallboxes change
owner, from the live member lists and the replicas' own hash); SIGTERM to all; then the
stream is read back (lost, duplicated or unordered changes; ``initial`` per wallbox). Last,
one process watches the same fleet alone, without Redis, for the CPU per poll to compare.
Only the part of BENCHMARKS.md between the replicas markers is rewritten.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import os
import platform
import signal
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_sections import write_section  # scripts/, on the path when this runs as a script

ROOT = Path(__file__).resolve().parent.parent
READING = 300.0  # fake seconds between two readings of a fake wallbox (testing.READING_INTERVAL)


# ---------------------------------------------------------------- the server process
async def serve(size: int, speed: float) -> None:
    """Serve the fleet; answer each JSON request on stdin with figures from the polls it logged."""
    from podero_client.testing import FakePodero

    async with FakePodero(wallboxes=size, speed=speed) as server:
        server.wallbox_log = collections.deque(maxlen=size * 30)
        print(json.dumps({"url": server.url}), flush=True)
        reader = asyncio.StreamReader()
        await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := (await reader.readline()).decode():
            ask = json.loads(line)
            log = list(server.wallbox_log)
            if ask["what"] == "now":
                answer: dict[str, Any] = {"now": time.monotonic()}
            elif ask["what"] == "window":
                answer = window(log, ask["start"], ask["end"], ask["interval"], size)
            else:
                answer = recovery(log, ask["since"], server.fleet.keys)
            answer["cpu_s"] = time.process_time()
            print(json.dumps(answer), flush=True)


def window(log: list[tuple[float, Any]], start: float, end: float, interval: float, size: int) -> dict[str, Any]:
    """Requests in the busiest 1 s window; the share of wallboxes polled twice within half an interval."""
    times = [at for at, _ in log if start <= at <= end]
    busiest, first = 0, 0
    for last, at in enumerate(times):
        while times[first] < at - 1.0:
            first += 1
        busiest = max(busiest, last - first + 1)
    previous: dict[Any, float] = {}
    doubled: set[Any] = set()
    for at, key in log:
        if start <= at <= end:
            if key in previous and at - previous[key] < interval / 2:
                doubled.add(key)
            previous[key] = at
    return {"rate": len(times) / (end - start), "busiest_second": busiest, "doubled": len(doubled) / size}


def recovery(log: list[tuple[float, Any]], since: float, keys: list[Any]) -> dict[str, Any]:
    """Seconds from ``since`` until every wallbox had been polled again (inf when one was not)."""
    first: dict[Any, float] = {}
    for at, key in log:
        if at >= since and key not in first:
            first[key] = at - since
    missing = sum(1 for key in keys if key not in first)
    return {"recovery": max(first.values(), default=0.0) if not missing else float("inf"), "missing": missing}


# ---------------------------------------------------------------- a replica process
async def replica(args: argparse.Namespace) -> None:
    """Watch the fleet (shared through --redis, or alone without); print its figures as JSON every second."""
    from podero_client import ClientCredentials, PoderoClient, RateLimit, RedisFleet, RedisRateLimit
    from podero_client.testing import FakePodero

    keys = FakePodero(wallboxes=args.wallboxes).wallbox_keys()
    credentials = ClientCredentials("test-client-id", "test-client-secret")
    budget: RateLimit | RedisRateLimit = RateLimit(per_second=args.rate, burst=args.burst)
    shared = None
    if args.redis:
        budget = RedisRateLimit(url=args.redis, key=f"bench:{args.fleet}", per_second=args.rate, burst=args.burst)
        shared = RedisFleet(url=args.redis, name=args.fleet, lease=args.lease, timeout=min(2.0, args.lease / 3))
    async with (
        PoderoClient(credentials=credentials, base_url=args.url, rate_limit=budget) as podero,
        podero.watch_wallboxes(keys, interval=args.interval, fast_interval=args.interval, shared=shared) as fleet,
    ):
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, lambda: loop.create_task(fleet.aclose()))

        async def report() -> None:
            while True:
                await asyncio.sleep(1.0)
                stats = fleet.stats
                figures = {"polls": stats.polls, "cpu_s": time.process_time(), "owned": stats.owned}
                print(json.dumps(figures | {"round_trips": stats.redis_round_trips, "now": time.monotonic()}))
                sys.stdout.flush()

        reporter = loop.create_task(report())
        async for _ in fleet:
            pass
        reporter.cancel()


# ---------------------------------------------------------------- the run
class Process:
    """A child process of this script, with its last JSON line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.last: dict[str, Any] = {}
        self.lines: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, *arguments: str) -> Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, *arguments, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        return cls(process)

    async def line(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        self.last = json.loads(await asyncio.wait_for(self.process.stdout.readline(), 120))
        self.lines.append(self.last)
        return self.last

    async def ask(self, **request: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(request) + "\n").encode())
        await self.process.stdin.drain()
        return await self.line()

    async def follow(self) -> None:
        """Keep reading its figures (a replica prints one a second) until it ends."""
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            self.last = json.loads(line)
            self.lines.append(self.last)


async def members(redis: Any, fleet: str, lease: float) -> list[str]:
    """The live members of the fleet, as the replicas see them (heartbeat within a lease)."""
    from podero_client._redis import fleet_key

    now_s, now_us = await redis.time()
    now_ms = now_s * 1000 + now_us // 1000
    found = await redis.zrangebyscore(fleet_key(fleet, "members"), now_ms - lease * 1000, "+inf")
    return [member.decode() for member in found]


def moved_share(keys: list[str], before: list[str], after: list[str]) -> float:
    from podero_client._fleet_shared import owners

    old, new = owners(keys, before), owners(keys, after)
    return sum(1 for key in keys if old[key] != new[key]) / len(keys)


def stream_figures(entries: list[dict[bytes, bytes]]) -> dict[str, Any]:
    """Per wallbox: stamps in order, none skipped (one reading apart), duplicates, initial entries."""
    by_key: dict[str, list[tuple[str, str]]] = collections.defaultdict(list)
    for fields in entries:
        by_key[fields[b"wallbox_id"].decode()].append((fields[b"stamp"].decode(), fields[b"initial"].decode()))
    lost = duplicates = unordered = 0
    most_duplicates = 0
    initials = collections.Counter(sum(1 for _, initial in seen if initial == "1") for seen in by_key.values())
    for seen in by_key.values():
        stamps = [datetime.fromisoformat(stamp) for stamp, _ in seen]
        repeated = len(stamps) - len(set(stamps))
        duplicates += repeated
        most_duplicates = max(most_duplicates, repeated)
        distinct = sorted(set(stamps))
        unordered += any(later < earlier for earlier, later in itertools.pairwise(stamps))
        lost += sum(round((b - a).total_seconds() / READING) - 1 for a, b in itertools.pairwise(distinct))
    return {
        "entries": len(entries),
        "wallboxes": len(by_key),
        "lost": lost,
        "duplicates": duplicates,
        "most_duplicates": most_duplicates,
        "unordered": unordered,
        "more_than_one_initial": sum(count for initials_seen, count in initials.items() if initials_seen > 1),
    }


def per_poll(lines: list[dict[str, Any]], start: float, end: float) -> tuple[float, float, float]:
    """CPU µs per poll, polls/s and Redis round trips/s of one replica between two moments."""
    inside = [line for line in lines if start <= line["now"] <= end]
    if len(inside) < 2:
        return float("nan"), 0.0, 0.0
    first, last = inside[0], inside[-1]
    polls = last["polls"] - first["polls"]
    seconds = last["now"] - first["now"]
    cpu = (last["cpu_s"] - first["cpu_s"]) / polls * 1e6 if polls else float("nan")
    return cpu, polls / seconds, (last["round_trips"] - first["round_trips"]) / seconds


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    import redis.asyncio

    from podero_client.testing import FakePodero

    fleet = f"bench-{uuid.uuid4().hex[:8]}"
    speed = args.share * READING / args.interval
    redis_client = redis.asyncio.Redis.from_url(args.redis)
    server = await Process.start("--serve", "--wallboxes", str(args.wallboxes), "--speed", str(speed))
    common = ["--wallboxes", str(args.wallboxes), "--rate", str(args.rate), "--burst", str(args.burst),
              "--interval", str(args.interval), "--lease", str(args.lease)]  # fmt: skip
    replicas: list[Process] = []
    followers: list[asyncio.Task[None]] = []

    async def start_replica(shared: bool = True) -> Process:
        url = server_url
        extra = ["--redis", args.redis, "--fleet", fleet] if shared else []
        process = await Process.start("--replica", "--url", url, *common, *extra)
        followers.append(asyncio.create_task(process.follow()))
        return process

    try:
        server_url = (await server.line())["url"]
        replicas = list(await asyncio.gather(*(start_replica() for _ in range(args.replicas))))
        await asyncio.sleep(args.interval + args.lease)  # every first poll made, every member seen
        start = (await server.ask(what="now"))["now"]
        await asyncio.sleep(args.seconds)
        end = (await server.ask(what="now"))["now"]
        steady = await server.ask(what="window", start=start, end=end, interval=args.interval)
        costs = [per_poll(process.lines, start, end) for process in replicas]

        before_kill = await members(redis_client, fleet, args.lease)
        replicas[0].process.kill()  # kill -9: no goodbye
        killed = (await server.ask(what="now"))["now"]
        await asyncio.sleep(args.lease + args.interval + 3)
        recovered = await server.ask(what="recovery", since=killed)
        after_kill = await members(redis_client, fleet, args.lease)
        replicas[0] = await start_replica()
        async with asyncio.timeout(60):
            # Redis's state, polled: there is no event to wait on.
            while len(after_restart := await members(redis_client, fleet, args.lease)) < args.replicas:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        keys = [":".join(key) for key in FakePodero(wallboxes=args.wallboxes).wallbox_keys()]
        moved = moved_share(keys, after_kill, after_restart)
        await asyncio.sleep(args.interval)
        for process in replicas:
            process.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(asyncio.gather(*(process.process.wait() for process in replicas)), 60)

        from podero_client._redis import fleet_key

        entries: list[Any] = [fields for _, fields in await redis_client.xrange(fleet_key(fleet, "changes")) or []]
        stream = stream_figures(entries)

        alone = await start_replica(shared=False)
        await asyncio.sleep(args.interval)
        alone_start = time.monotonic()
        await asyncio.sleep(max(3.0, args.seconds / 2))
        alone_cost = per_poll(alone.lines, alone_start, time.monotonic())
        alone.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(alone.process.wait(), 60)
    finally:
        for process in [server, *replicas]:
            if process.process.returncode is None:
                process.process.kill()
                await process.process.wait()
        for task in followers:
            task.cancel()
        async for key in redis_client.scan_iter(match=f"*{fleet}*"):
            await redis_client.delete(key)
        await redis_client.aclose()
    return {
        "wallboxes": args.wallboxes, "replicas": args.replicas, "rate": args.rate, "burst": args.burst,
        "interval": args.interval, "lease": args.lease, "share": args.share, "seconds": args.seconds,
        "server_rate": steady["rate"], "busiest_second": steady["busiest_second"], "doubled": steady["doubled"],
        "recovery": recovered["recovery"], "missing": recovered["missing"], "moved": moved,
        "members": [len(before_kill), len(after_kill), len(after_restart)],
        "cpu_us": [cost[0] for cost in costs], "polls_per_s": [cost[1] for cost in costs],
        "round_trips_per_s": [cost[2] for cost in costs], "alone_cpu_us": alone_cost[0],
        "load_average": os.getloadavg()[0], **{f"stream_{name}": value for name, value in stream.items()},
    }  # fmt: skip


def section(result: dict[str, Any], smoke: bool) -> str:
    n, rate, replicas = result["wallboxes"], result["rate"], result["replicas"]
    bound = result["lease"] + result["interval"] + 2
    cpu = sum(result["cpu_us"]) / len(result["cpu_us"])
    ratio = cpu / result["alone_cpu_us"]
    rows = [
        ("wallboxes polled twice within half an interval (steady)", "< 0.1 %", f"{result['doubled']:.3%}",
         result["doubled"] < 0.001),
        ("requests in the busiest 1 s window at the server", f"≤ {rate:g} + {result['burst']}",
         f"{result['busiest_second']}", result["busiest_second"] <= rate + result["burst"]),
        ("kill -9 of one replica: every wallbox polled again within", f"≤ {bound:g} s",
         f"{result['recovery']:.1f} s", result["recovery"] <= bound),
        ("its restart: wallboxes that change owner", f"≤ {1 / replicas + 0.02:.1%}", f"{result['moved']:.1%}",
         result["moved"] <= 1 / replicas + 0.02),
        ("changes lost in the stream (readings skipped per wallbox)", "0", f"{result['stream_lost']}",
         result["stream_lost"] == 0),
        ("duplicates per wallbox, at most (two takeovers in the run)", "≤ 2", f"{result['stream_most_duplicates']}",
         result["stream_most_duplicates"] <= 2),
        ("wallboxes with entries out of order / with a second initial", "0 / 0",
         f"{result['stream_unordered']} / {result['stream_more_than_one_initial']}",
         result["stream_unordered"] == 0 and result["stream_more_than_one_initial"] == 0),
    ]  # fmt: skip
    trips = ", ".join(f"{value:.2f}" for value in result["round_trips_per_s"])
    lines = [
        "## Replicas: one fleet shared through Redis",
        "",
        f"Written by `make bench` (`python scripts/bench_replicas.py{' --smoke' if smoke else ''}`) on "
        f"{datetime.now(UTC):%Y-%m-%d}: {platform.system()} {platform.machine()}, {os.cpu_count()} cores; "
        f"Python {platform.python_version()}.",
        f"{replicas} replica processes watch {n:,} wallboxes (`interval={result['interval']:g}`, "
        f"`RedisFleet(lease={result['lease']:g})`) on one `RedisRateLimit(per_second={rate:g}, "
        f"burst={result['burst']})`; the fake, in its own process, changes {result['share']:.0%} of its wallboxes "
        f"per interval and logs every poll. Steady window {result['seconds']:g} s; then kill -9 of one replica, "
        "its restart, SIGTERM to all, and the stream read back.",
        "",
        "| figure | target | measured | |",
        "| --- | --- | ---: | --- |",
        *[f"| {name} | {target} | {value} | {'ok' if ok else 'MISSED'} |" for name, target, value, ok in rows],
        "",
        f"Server-side rate over the steady window: {result['server_rate']:,.1f} requests/s. Stream: "
        f"{result['stream_entries']:,} entries for {result['stream_wallboxes']:,} wallboxes, "
        f"{result['stream_duplicates']} duplicates in all. Redis round trips per replica per second (the fleet's, "
        f"not the budget's): {trips}. SDK CPU per poll: {cpu:.0f} µs in a replica, "
        f"{result['alone_cpu_us']:.0f} µs in one process watching alone without Redis (ratio {ratio:.2f}). "
        f"Live members before the kill, after it, after the restart: {result['members']}. "
        f"Load average (1 min) at the end: {result['load_average']:.1f} on {os.cpu_count()} cores.",
        "",
        "```sh",
        "python scripts/bench_replicas.py          # this section (make bench)",
        "python scripts/bench_replicas.py --smoke  # tiny, into build/BENCHMARKS.md (make bench-smoke)",
        "```",
    ]
    return "\n".join(lines) + "\n"


async def redis_answers(url: str) -> bool:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return bool(await client.ping())
    except (OSError, redis.exceptions.RedisError):
        return False
    finally:
        await client.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny counts, output into build/")
    parser.add_argument("--wallboxes", type=int, default=30_000)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--rate", type=float, default=500.0, help="the shared budget, requests per second")
    parser.add_argument("--burst", type=int, default=10)
    parser.add_argument("--interval", type=float, default=90.0, help="with headroom: a takeover needs spare budget")
    parser.add_argument("--lease", type=float, default=15.0)
    parser.add_argument("--share", type=float, default=0.05, help="of the wallboxes changing per interval")
    parser.add_argument("--seconds", type=float, default=60.0, help="the steady window")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--out", type=Path, help="default: BENCHMARKS.md, or build/BENCHMARKS.md with --smoke")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the server process
    parser.add_argument("--replica", action="store_true", help=argparse.SUPPRESS)  # a replica process
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--fleet", help=argparse.SUPPRESS)
    parser.add_argument("--speed", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.wallboxes, args.speed))
        return 0
    if args.replica:
        if not args.fleet:
            args.redis = None
        asyncio.run(replica(args))
        return 0
    if args.smoke:
        args.wallboxes, args.rate, args.burst, args.interval, args.lease, args.seconds = 300, 150.0, 3, 2.0, 1.5, 3.0
        args.share = 0.1
    out = args.out or (ROOT / "build" / "BENCHMARKS.md" if args.smoke else ROOT / "BENCHMARKS.md")
    if not asyncio.run(redis_answers(args.redis)):
        print("bench_replicas: skipped, no Redis answers at REDIS_URL (default redis://127.0.0.1:6379/0)")
        return 0
    result = asyncio.run(measure(args))
    print(json.dumps(result, indent=2))
    write_section(out, "replicas", section(result, args.smoke))
    print(f"wrote the replicas section of {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
