"""The fleet benchmark: one process watching 20,000 wallboxes on a budget of 500 requests/s.

    python scripts/bench_fleet.py            # full run (about 3 minutes); writes its section of BENCHMARKS.md
    python scripts/bench_fleet.py --smoke    # tiny counts, writes into build/ (CI)

The fake Podero serves the fleet from its own process, so that its CPU and memory stay out
of the client's figures, and counts what it sees: requests per second over the measured
window, and for each wallbox the longest time between two of its polls. The client process
then runs a plain ``get_wallbox`` loop on the same budget, for the CPU per request to
compare with. Only the part of BENCHMARKS.md between the fleet markers is rewritten.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import cProfile
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_sections import write_section  # scripts/, on the path when this runs as a script

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = 100  # watch_wallboxes' default: the plain loop has as many callers in the budget's queue


class GCTime:
    """Seconds spent in the garbage collector, by generation (gc.callbacks)."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self._start = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._start


class Stalls:
    """The longest the event loop went without running a 10 ms ticker (start-up included)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.01)
            self.longest = max(self.longest, loop.time() - before - 0.01)

    def stop(self) -> float:
        self._task.cancel()
        return self.longest


def rss_kib() -> float:
    with open("/proc/self/statm") as statm:  # Linux only, as the figures say
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024


# ---------------------------------------------------------------- the server process
async def serve(size: int, speed: float) -> None:
    """Serve the fleet; answer 'report T0 T1' on stdin with what the server saw in [T0, T1]."""
    from podero_client.testing import FakePodero

    async with FakePodero(wallboxes=size, speed=speed) as server:
        server.wallbox_log = collections.deque(maxlen=size * 20)  # every poll of the run, bounded
        print(json.dumps({"url": server.url, "clock": time.monotonic()}), flush=True)
        reader = asyncio.StreamReader()
        await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := (await reader.readline()).decode():
            _, start, end = line.split()
            figures = report(server, float(start), float(end))
            figures["cpu_us"] = time.process_time() / max(1, server.wallbox_requests) * 1e6
            print(json.dumps(figures), flush=True)


def report(server: Any, start: float, end: float) -> dict[str, Any]:
    """Requests per second in [start, end], and the longest gap between two polls of any wallbox."""
    last: dict[tuple[str, str, str], float] = {}
    gaps: list[float] = []
    longest = 0.0
    count = 0
    for at, key in server.wallbox_log:
        if at > end:
            break
        if at >= start:
            count += 1
            if key in last:
                gaps.append(at - last[key])
                longest = max(longest, gaps[-1])
        last[key] = at
    never = sum(1 for key in server.fleet.keys if key not in last)
    # A wallbox not polled since before the window ends it with an open gap.
    open_gap = max((end - at for at in last.values()), default=0.0)
    gaps.sort()
    p99 = gaps[int(len(gaps) * 0.99)] if gaps else 0.0
    return {"rate": count / (end - start), "longest_gap": max(longest, open_gap), "p99_gap": p99, "never": never}


# ---------------------------------------------------------------- the client process
@contextlib.asynccontextmanager
async def paced_session(url: str) -> AsyncIterator[Callable[[tuple[str, str, str]], Awaitable[None]]]:
    """The paced baseline's call: raw aiohttp + json.loads, a prebuilt URL, the SDK's pool of 100."""
    import aiohttp
    import yarl

    async with aiohttp.ClientSession() as session:  # the token, as scripts/bench.py fetches it
        basic = {"Authorization": "Basic " + base64.b64encode(b"test-client-id:test-client-secret").decode()}
        body = {"grant_type": "client_credentials"}
        async with session.post(f"{url}/oauth2/token/", headers=basic, json=body) as response:
            token = (await response.json())["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    path = url + "/api/partners/v2.0/org/{}/users/{}/wallboxes/{}?include_deleted=false"
    async with aiohttp.ClientSession(
        headers=headers, connector=aiohttp.TCPConnector(limit=CONCURRENCY), cookie_jar=aiohttp.DummyCookieJar()
    ) as session:

        async def raw_get(key: tuple[str, str, str]) -> None:
            async with session.get(yarl.URL(path.format(*key), encoded=True)) as response:
                response.raise_for_status()
                json.loads(await response.read())

        yield raw_get


async def loop_over(
    call: Callable[[tuple[str, str, str]], Awaitable[None]],
    keys: list[tuple[str, str, str]],
    rate: float,
    seconds: float,
    gc_time: GCTime,
    *,
    paced: bool,
    batch: int = 1,
) -> dict[str, float]:
    """``CONCURRENCY`` workers calling ``call`` over ``keys`` for ``seconds``; CPU, rate and GC per call.

    ``paced``: the workers take turns on a simple timer at ``rate`` (the budget paces the SDK's calls);
    ``batch``: the slots go ``batch`` at a time, each group at its last slot, as the budget serves a queue.
    """
    loop = asyncio.get_running_loop()
    done = 0
    origin = next_at = loop.time()
    stop = next_at + seconds
    group = batch / rate

    async def worker(first: int) -> None:
        nonlocal done, next_at
        index = first
        while loop.time() < stop:
            if paced:
                at = next_at = max(next_at, loop.time()) + 1 / rate
                if batch > 1:
                    at = origin + math.ceil((at - origin) / group - 1e-9) * group
                await asyncio.sleep(at - loop.time())
            await call(keys[index % len(keys)])
            done += 1
            index += CONCURRENCY

    cpu, started, gc0 = time.process_time(), loop.time(), sum(gc_time.seconds)
    await asyncio.gather(*(worker(first) for first in range(CONCURRENCY)))
    return {
        "cpu_us": (time.process_time() - cpu) / done * 1e6,
        "rate": done / (loop.time() - started),
        "gc_us": (sum(gc_time.seconds) - gc0) / done * 1e6,
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    from podero_client import ClientCredentials, PoderoClient, RateLimit
    from podero_client._budget import batch_of

    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", "--wallboxes", str(args.wallboxes), "--speed", str(args.speed),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdin is not None
    assert process.stdout is not None
    stdin, stdout = process.stdin, process.stdout

    async def ask(start: float, end: float) -> dict[str, Any]:
        stdin.write(f"report {start} {end}\n".encode())
        await stdin.drain()
        return json.loads(await asyncio.wait_for(stdout.readline(), 120))  # type: ignore[no-any-return]

    try:
        started = json.loads(await asyncio.wait_for(stdout.readline(), 120))
        from podero_client.testing import FakePodero

        keys = FakePodero(wallboxes=args.wallboxes).wallbox_keys()
        credentials = ClientCredentials("test-client-id", "test-client-secret")
        budget = RateLimit(per_second=args.rate, burst=args.burst)
        async with PoderoClient(credentials=credentials, base_url=started["url"], rate_limit=budget) as podero:
            await podero.get_wallbox(*keys[0])  # the token, the pool, the code paths: warm
            gc_time = GCTime()
            gc.collect()
            before = rss_kib()
            stalls = Stalls()
            fleet_cm = podero.watch_wallboxes(keys, interval=args.interval, fast_interval=args.fast_interval)
            async with fleet_cm as fleet:
                if args.gc_freeze:  # what an application may do once its long-lived objects are built
                    gc.freeze()

                async def drain() -> None:
                    async for _ in fleet:
                        pass

                consumer = asyncio.create_task(drain())
                await asyncio.sleep(args.warmup)
                polls0, cpu0, t0 = fleet.stats.polls, time.process_time(), time.monotonic()
                gc0, by_generation0 = sum(gc_time.seconds), list(gc_time.seconds)
                collections0 = [stat["collections"] for stat in gc.get_stats()]
                profiler = cProfile.Profile() if args.profile else None
                if profiler is not None:
                    profiler.enable()
                await asyncio.sleep(args.seconds)
                if profiler is not None:
                    profiler.disable()
                    profiler.dump_stats(args.profile)
                polls1, cpu1, t1 = fleet.stats.polls, time.process_time(), time.monotonic()
                fleet_gc = (sum(gc_time.seconds) - gc0) / (polls1 - polls0)
                # Per generation: the young ones are the calls' own objects, the oldest walks everything held.
                fleet_gc_by_generation = [
                    {"collections": stat["collections"] - before, "us_per_poll": (now - then) / (polls1 - polls0) * 1e6}
                    for stat, before, now, then in zip(
                        gc.get_stats(), collections0, gc_time.seconds, by_generation0, strict=True
                    )
                ]
                stats = fleet.stats
                gc.collect()
                after = rss_kib()  # every wallbox polled by now (the server's "never" says so), each held
                consumer.cancel()
                longest_stall = stalls.stop()
            fleet_cpu = (cpu1 - cpu0) / (polls1 - polls0)

            # The same client and budget, a plain loop of get_wallbox over the same keys, in rounds
            # interleaved with the paced baseline (raw aiohttp at the same rate); medians.
            async def plain(key: tuple[str, str, str]) -> None:
                await podero.get_wallbox(*key)

            async with paced_session(started["url"]) as raw_get:
                plain_rounds = []
                paced_rounds = []
                batched_rounds = []
                batch = batch_of(budget)
                for _ in range(args.rounds):
                    plain_rounds.append(
                        await loop_over(plain, keys, args.rate, args.plain_seconds, gc_time, paced=False)
                    )
                    paced_rounds.append(
                        await loop_over(raw_get, keys, args.rate, args.plain_seconds, gc_time, paced=True)
                    )
                    batched_rounds.append(
                        await loop_over(raw_get, keys, args.rate, args.plain_seconds, gc_time, paced=True, batch=batch)
                    )
        server = await ask(t0, t1)
        return {
            "wallboxes": args.wallboxes,
            "section": args.section,
            "rate": args.rate,
            "burst": args.burst,
            "interval": args.interval,
            "fast_interval": args.fast_interval,
            "speed": args.speed,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "server_rate": server["rate"],
            "longest_gap": server["longest_gap"],
            "p99_gap": server["p99_gap"],
            "failures": stats.failures,
            "never": server["never"],
            "achieved_interval": stats.achieved_interval,
            "slowest_age": stats.slowest_age,
            "changes": stats.changes,
            "fleet_cpu_us": fleet_cpu * 1e6,
            "plain_cpu_us": statistics.median(r["cpu_us"] for r in plain_rounds),
            "plain_rate": statistics.median(r["rate"] for r in plain_rounds),
            "plain_gc_us": statistics.median(r["gc_us"] for r in plain_rounds),
            "paced_cpu_us": statistics.median(r["cpu_us"] for r in paced_rounds),
            "paced_rate": statistics.median(r["rate"] for r in paced_rounds),
            "paced_gc_us": statistics.median(r["gc_us"] for r in paced_rounds),
            "batch": batch,
            "batched_cpu_us": statistics.median(r["cpu_us"] for r in batched_rounds),
            "batched_rate": statistics.median(r["rate"] for r in batched_rounds),
            "rounds": args.rounds,
            "fleet_gc_us": fleet_gc * 1e6,
            "fleet_gc_by_generation": fleet_gc_by_generation,
            "client_rate": (polls1 - polls0) / (t1 - t0),
            "server_cpu_us": server["cpu_us"],
            "load_average": os.getloadavg()[0],
            "bytes_per_wallbox": (after - before) * 1024 / args.wallboxes,
            "longest_stall": longest_stall,
        }
    finally:
        process.terminate()
        await process.wait()


def verdict(ok: bool | None) -> str:
    return "" if ok is None else "ok" if ok else "MISSED"


def section(result: dict[str, Any], smoke: bool) -> str:
    n, rate = result["wallboxes"], result["rate"]
    bound = n / rate * 1.1
    paced_ratio = result["fleet_cpu_us"] / result["paced_cpu_us"]
    plain_ratio = result["plain_cpu_us"] / result["paced_cpu_us"]
    rows = [
        ("server-side requests/s over the window", f"{rate:g} ± 5 %", f"{result['server_rate']:,.1f}",
         abs(result["server_rate"] - rate) <= 0.05 * rate),
        ("longest time between two polls of a wallbox (server)", f"≤ {bound:g} s", f"{result['longest_gap']:.1f} s",
         result["longest_gap"] <= bound and result["never"] == 0),
        ("SDK CPU per poll: watch / paced baseline", "≤ 1.50",
         f"{paced_ratio:.2f} ({result['fleet_cpu_us']:.0f} / {result['paced_cpu_us']:.0f} µs)", paced_ratio <= 1.5),
        ("SDK CPU per call: plain get_wallbox loop / paced baseline", "≤ 1.30",
         f"{plain_ratio:.2f} ({result['plain_cpu_us']:.0f} / {result['paced_cpu_us']:.0f} µs)", plain_ratio <= 1.3),
        ("memory per watched wallbox (RSS growth / wallboxes), last wallbox held", "≤ 3 KB",
         f"{result['bytes_per_wallbox'] / 1024:.2f} KB", result["bytes_per_wallbox"] <= 3 * 1024),
        ("garbage collection per poll (watch)", "≤ 20 µs", f"{result['fleet_gc_us']:.0f} µs",
         result["fleet_gc_us"] <= 20),
        ("longest loop stall (10 ms ticker, start-up included)", "≤ 100 ms",
         f"{result['longest_stall'] * 1000:.0f} ms", result["longest_stall"] <= 0.1),
        (f"SDK CPU per poll: watch / baseline paced {result['batch']} at a time", "(information)",
         f"{result['fleet_cpu_us'] / result['batched_cpu_us']:.2f} ({result['batched_cpu_us']:.0f} µs)", None),
        (f"SDK CPU per call: plain loop / baseline paced {result['batch']} at a time", "(information)",
         f"{result['plain_cpu_us'] / result['batched_cpu_us']:.2f}", None),
    ]  # fmt: skip
    achieved = result["achieved_interval"]
    command = f"python scripts/bench_fleet.py{' --smoke' if smoke else ''}"
    if not smoke and (n, rate, result["burst"]) != (20_000, 500, 10):
        command += f" --wallboxes {n} --rate {rate:g} --burst {result['burst']} --interval {result['interval']:g}"
        command += f" --section {result['section']}"
    lines = [
        f"## Fleet: one process watching {n:,} wallboxes on a budget of {rate:g}/s",
        "",
        f"Written by `{command}` on "
        f"{datetime.now(UTC):%Y-%m-%d}: {platform.system()} {platform.machine()}, {os.cpu_count()} cores; "
        f"Python {platform.python_version()}.",
        f"One client process: `watch_wallboxes` of {n:,} wallboxes, `interval={result['interval']:g}`, "
        f"`fast_interval={result['fast_interval']:g}`, on `RateLimit(per_second={rate:g}, burst={result['burst']})`; "
        f"the fake (`FakePodero(wallboxes={n})`, clock at {result['speed']:g} times real time, so each wallbox "
        f"takes a new reading every {300 / result['speed']:g} s) in its own process, counting what it sees. "
        f"Measured over {result['seconds']:g} s after a {result['warmup']:g} s warm-up. Then, on the same "
        f"client, {result['rounds']} interleaved rounds (medians quoted) of two loops of {CONCURRENCY} tasks over "
        f"the same wallboxes: `get_wallbox` on the same budget (the plain loop), and the paced baseline: raw "
        f"aiohttp + `json.loads` (a prebuilt URL, a pool of {CONCURRENCY}) paced at {rate:g}/s by a simple timer.",
        "",
        "| figure | target | measured | |",
        "| --- | --- | ---: | --- |",
        *[f"| {name} | {target} | {value} | {verdict(ok)} |" for name, target, value, ok in rows],
        "",
        f"The watch's own figures at the end: achieved interval "
        f"{'-' if achieved is None else f'{achieved:.1f} s'} (the budget allows {n / rate:g} s), slowest wallbox "
        f"{result['slowest_age']:.1f} s old, {result['changes']:,} changes seen, {result['failures']} failed polls; "
        f"99 % of the gaps between two polls of a wallbox were under {result['p99_gap']:.1f} s. "
        f"The plain loop reached {result['plain_rate']:,.0f} requests/s, the paced one {result['paced_rate']:,.0f}. "
        f"The budget serves its queue {result['batch']} slots at a time (one timer wake-up each); the last two "
        f"rows compare with the paced baseline grouped likewise ({result['batched_rate']:,.0f}/s), what raw "
        f"aiohttp costs when it groups its requests the same way; the targets are against the baseline paced "
        f"one request at a time, as the issue set them. "
        f"CPU per request of the fake's process: {result['server_cpu_us']:.0f} µs. Garbage collection per call: "
        f"{result['fleet_gc_us']:.0f} µs in the watch ({n:,} wallboxes held), {result['plain_gc_us']:.0f} µs in the "
        f"plain loop, {result['paced_gc_us']:.0f} µs in the paced one; the watch's by generation (0, 1, 2): "
        + ", ".join(
            f"{generation['collections']} collections, {generation['us_per_poll']:.1f} µs"
            for generation in result["fleet_gc_by_generation"]
        )
        + f" per poll. Load average (1 min) at the end: "
        f"{result['load_average']:.1f} on {os.cpu_count()} cores.",
        "",
        "```sh",
        f"{command}",
        "python scripts/bench_fleet.py --smoke  # tiny, into build/BENCHMARKS.md (make bench-smoke)",
        "```",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny counts, output into build/")
    parser.add_argument("--wallboxes", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=500.0, help="the budget, requests per second")
    parser.add_argument("--burst", type=int, default=10)
    parser.add_argument("--interval", type=float, default=30.0, help="asked for: shorter than wallboxes / rate")
    parser.add_argument("--fast-interval", type=float, default=3.0)
    parser.add_argument("--speed", type=float, default=1.0, help="the fake's clock")
    parser.add_argument(
        "--warmup", type=float, help="default: the first full round of polls (wallboxes / rate, or interval) + 10 s"
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--plain-seconds", type=float, default=10.0, help="each round of the plain and paced loops")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the plain and paced loops")
    parser.add_argument("--profile", type=Path, help="cProfile the measured window of the watch into this file")
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() once the watch is entered")
    parser.add_argument("--section", default="fleet", help="the section of BENCHMARKS.md written")
    parser.add_argument("--out", type=Path, help="default: BENCHMARKS.md, or build/BENCHMARKS.md with --smoke")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the server process
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.wallboxes, args.speed))
        return 0
    if args.smoke:
        args.wallboxes, args.rate, args.burst, args.interval = 300, 150.0, 3, 1.0
        args.warmup, args.seconds, args.plain_seconds, args.rounds = 3.0, 2.0, 1.0, 1
    if args.warmup is None:  # measured once every wallbox has had its first poll, as the issue asks
        args.warmup = max(args.interval, args.wallboxes / args.rate) + 10.0
    out = args.out or (ROOT / "build" / "BENCHMARKS.md" if args.smoke else ROOT / "BENCHMARKS.md")
    result = asyncio.run(measure(args))
    print(json.dumps(result, indent=2))
    write_section(out, args.section, section(result, args.smoke))
    print(f"wrote the {args.section} section of {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
