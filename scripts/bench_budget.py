"""The request budget, measured: writes the ``budget`` section of BENCHMARKS.md.

    python scripts/bench_budget.py            # full run (about 2 minutes); BENCHMARKS.md
    python scripts/bench_budget.py --smoke    # tiny and fast, into build/BENCHMARKS.md (CI)

The fake Podero server runs in its own process (this script, ``--serve``) and keeps the
arrival time of every request on its own clock; the counts below are the server's.

1. The 429 pause: one client, budget 100/s, 50 busy callers; the server answers one request
   429 with ``Retry-After: 5``. Per-second counts at the server around it.
2. Two processes sharing one ``RedisRateLimit`` of 200/s for 30 s: the most requests the
   server saw in any one-second window, and a 429 to one process pausing both.
3. The cost of ``rate_limit=None``: client CPU per call of main just after the request budget
   merged against main just before (both exported into build/), interleaved rounds, c=1 and c=100;
   and of this code (HEAD) against today's main.
4. Priority: a fleet (100 callers in the background lane) keeps a 50/s budget saturated while
   20 interactive calls a second arrive: the interactive calls' wait (p50, p99) and the fleet's
   share of the budget; once with ``RateLimit`` in one process, once with ``RedisRateLimit``
   across two processes (10 interactive calls a second each).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench_sections import write_section

ROOT = Path(__file__).resolve().parent.parent
IDS = (
    "7d3c5b2a-1e4f-4a6b-8c9d-0e1f2a3b4c5d",
    "3f1c6a8e-2b4d-4e7a-9c1f-5a6b7c8d9e0f",
    "b6e2d9f4-8a1c-4d3e-9f5a-7c2b1e0d4a68",
)
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


# ---------------------------------------------------------------- the fake, in its own process
async def serve() -> None:
    """FakePodero in this process; commands on stdin, one JSON answer a line on stdout.

    ``inject SECONDS``: the next wallbox request gets a 429 with that Retry-After;
    ``log``: every request so far as [time, credentials], and the time of the 429, if any.
    """
    from podero_client.testing import FakePodero, Fault

    async with FakePodero(speed=0) as server:
        print(json.dumps({"url": server.url}), flush=True)
        loop = asyncio.get_running_loop()
        marked: int | None = None
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            command, _, argument = line.strip().partition(" ")
            if command == "inject":
                marked = len(server.request_log)
                fault = Fault(status=429, json={"detail": "Too Many Requests"}, headers={"Retry-After": argument})
                server.inject("wallbox", fault)
                print(json.dumps({"ok": True}), flush=True)
            elif command == "log":
                log = list(server.request_log)
                hit = next((entry for entry in log[marked or 0 :] if entry.route == "wallbox"), None)
                answer: dict[str, Any] = {"log": [[entry.at, entry.credentials] for entry in log]}
                answer["hit"], answer["hit_by"] = (hit.at, hit.credentials) if hit else (None, None)
                print(json.dumps(answer), flush=True)


class Server:
    """The fake's process, driven over its stdin."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.url: str = self._read()["url"]

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        return json.loads(self.process.stdout.readline())  # type: ignore[no-any-return]

    def ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)


def per_second(times: Iterable[float], start: float, seconds: int) -> list[int]:
    counts = [0] * seconds
    for at in times:
        index = int((at - start) // 1)
        if 0 <= index < seconds:
            counts[index] += 1
    return counts


def max_in_window(times: list[float], width: float = 1.0) -> int:
    times = sorted(times)
    most, first = 0, 0
    for last, at in enumerate(times):
        while times[first] <= at - width:
            first += 1
        most = max(most, last - first + 1)
    return most


# ---------------------------------------------------------------- clients
async def busy_client(url: str, limit: Any, callers: int, seconds: float, credentials: str) -> int:
    """``callers`` tasks calling get_wallbox in a loop for ``seconds``; returns the calls made."""
    from podero_client import ClientCredentials, PasswordCredentials, PoderoClient, RetryPolicy

    chosen = (
        ClientCredentials("test-client-id", "test-client-secret")
        if credentials == "client"
        else PasswordCredentials("partner@example.com", "test-password")
    )
    retry = RetryPolicy(max_retry_after=10)
    calls = 0
    async with PoderoClient(credentials=chosen, base_url=url, rate_limit=limit, retry=retry) as podero:
        stop = time.monotonic() + seconds

        async def caller() -> None:
            nonlocal calls
            while time.monotonic() < stop:
                await podero.get_wallbox(*IDS)
                calls += 1

        await asyncio.gather(*[caller() for _ in range(callers)])
    return calls


def measure_pause(server: Server, retry_after: int, before: float, after: float, rate: int) -> dict[str, Any]:
    """One client on a local budget; one 429 with Retry-After sent after ``before`` seconds."""
    from podero_client import RateLimit

    async def run() -> None:
        task = asyncio.create_task(
            busy_client(server.url, RateLimit(per_second=rate, burst=10), 50, before + after, "client")
        )
        await asyncio.sleep(before)
        await asyncio.to_thread(server.ask, f"inject {retry_after}")
        await task

    asyncio.run(run())
    answer = server.ask("log")
    hit = answer["hit"]
    times = [at for at, _ in answer["log"]]
    resumed = hit + retry_after
    return {
        "counts": per_second(times, hit - 2, int(2 + retry_after + 4)),
        "in_flight": sum(hit < at < hit + 0.05 for at in times),
        "inside": sum(hit + 0.05 <= at < resumed for at in times),
        "after_max": max_in_window([at for at in times if at >= resumed]),
        "first_second": sum(resumed <= at < resumed + 1 for at in times),
        "second_second": sum(resumed + 1 <= at < resumed + 2 for at in times),
    }


def redis_answers(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def measure_shared(server: Server, rate: int, seconds: float, retry_after: int) -> dict[str, Any]:
    """Two client processes on one RedisRateLimit key; a 429 halfway through."""
    key = f"podero-bench-{os.getpid()}-{time.time_ns()}"
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--client-worker",
                who,
                "--url",
                server.url,
                "--key",
                key,
                "--rate",
                str(rate),
                "--seconds",
                str(seconds),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for who in ("client", "password")
    ]
    time.sleep(seconds / 2)
    server.ask(f"inject {retry_after}")
    calls = [int(worker.communicate(timeout=seconds + 120)[0]) for worker in workers]
    answer = server.ask("log")
    hit, hit_by = answer["hit"], answer["hit_by"]
    log = answer["log"]
    times = [at for at, _ in log]
    other = next(who for who in {who for _, who in log} if who != hit_by)
    quiet = [at for at, who in log if hit + 0.1 <= at < hit + retry_after]
    steady = [at for at in times if not hit <= at < hit + retry_after + 1]  # the pause and its restart left out
    return {
        "steady_mean": len(steady) / (max(times) - min(times) - retry_after - 1),
        "calls": calls,
        "max_window": max_in_window(times),
        "max_second": max(per_second(times, min(times), int(max(times) - min(times)) + 1)),
        "mean": len(times) / (max(times) - min(times)),
        "inside_hit": sum(who == hit_by for at, who in log if hit + 0.1 <= at < hit + retry_after),
        "inside_other": sum(who == other for at, who in log if hit + 0.1 <= at < hit + retry_after),
        "inside": len(quiet),
        "counts": per_second(times, hit - 2, 2 + retry_after + 3),
    }


async def client_worker(who: str, url: str, key: str, rate: float, seconds: float) -> int:
    from podero_client import RedisRateLimit

    limit = RedisRateLimit(url=REDIS_URL, key=key, per_second=rate, burst=5)
    try:
        return await busy_client(url, limit, 100, seconds, who)
    finally:
        import redis.asyncio

        connection = redis.asyncio.Redis.from_url(REDIS_URL)
        await connection.delete(f"{{{key}}}:gcra", f"{{{key}}}:pause", f"{{{key}}}:settings")
        await connection.aclose()


# ---------------------------------------------------------------- priority: a fleet and a user's clicks
async def priority_worker(url: str, key: str | None, rate: float, seconds: float, clicks: float) -> dict[str, Any]:
    """A fleet (100 background callers) saturating the budget, and ``clicks`` interactive calls a second.

    The wait of a click is its call's duration less the median duration of a call on an idle
    client without a budget (measured first, here).
    """
    from podero_client import ClientCredentials, PoderoClient, RateLimit, RedisRateLimit, RetryPolicy

    credentials = ClientCredentials("test-client-id", "test-client-secret")
    async with PoderoClient(credentials=credentials, base_url=url) as idle:
        await idle.get_wallbox(*IDS)
        durations = []
        for _ in range(50):
            started = time.perf_counter()
            await idle.get_wallbox(*IDS)
            durations.append(time.perf_counter() - started)
    round_trip = statistics.median(durations)
    limit: Any = RateLimit(per_second=rate) if key is None else RedisRateLimit(url=REDIS_URL, key=key, per_second=rate)
    fleet_calls = 0
    waits: list[float] = []
    async with PoderoClient(credentials=credentials, base_url=url, rate_limit=limit, retry=RetryPolicy()) as podero:
        await podero.get_wallbox(*IDS)
        fleet = podero.with_options(priority="background")
        stop = time.monotonic() + seconds

        async def poller() -> None:
            nonlocal fleet_calls
            while True:
                await fleet.get_wallbox(*IDS)
                if time.monotonic() < stop:  # the calls still queued at the end are cancelled, not counted
                    fleet_calls += 1

        async def click() -> None:
            started = time.perf_counter()
            await podero.get_wallbox(*IDS)
            waits.append(max(0.0, time.perf_counter() - started - round_trip))

        started = time.monotonic()
        pollers = [asyncio.create_task(poller()) for _ in range(100)]
        await asyncio.sleep(1.0)  # the fleet fills the queue first
        clicks_made = []
        while time.monotonic() < stop - 1.0:
            clicks_made.append(asyncio.create_task(click()))
            await asyncio.sleep(1.0 / clicks)
        await asyncio.gather(*clicks_made)
        await asyncio.sleep(stop - time.monotonic())
        for task in pollers:
            task.cancel()
        await asyncio.gather(*pollers, return_exceptions=True)
    return {"fleet": fleet_calls, "waits": waits, "round_trip": round_trip, "started": started}


def measure_priority(server: Server, rate: int, seconds: float, clicks: int, shared: bool) -> dict[str, Any]:
    """The priority workers: one process on a local budget, or two on one Redis key (half the clicks each)."""
    key = f"podero-bench-priority-{os.getpid()}-{time.time_ns()}" if shared else ""
    processes = 2 if shared else 1
    command = [sys.executable, __file__, "--priority-worker", "--url", server.url, "--rate", str(rate)]
    command += ["--seconds", str(seconds), "--clicks", str(clicks / processes), "--key", key]
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    results = [json.loads(worker.communicate(timeout=seconds + 120)[0]) for worker in workers]
    waits = sorted(wait for result in results for wait in result["waits"])
    fleet = sum(result["fleet"] for result in results)
    started = max(result["started"] for result in results)  # both clocks are the machine's monotonic one
    times = [at for at, _ in server.ask("log")["log"] if started <= at < started + seconds]
    return {
        "clicks": len(waits),
        "p50": statistics.median(waits) * 1e3,
        "p99": waits[min(len(waits) - 1, int(len(waits) * 0.99))] * 1e3,
        "fleet_per_second": fleet / seconds,
        "fleet_share": fleet / (fleet + len(waits)),
        "max_window": max_in_window(times),
        "round_trip": statistics.median(result["round_trip"] for result in results) * 1e3,
    }


# ---------------------------------------------------------------- the cost of rate_limit=None
async def cost_worker(url: str, requests: int, concurrency: int, limited: bool) -> dict[str, Any]:
    import podero_client
    from podero_client import ClientCredentials, PoderoClient

    options: dict[str, Any] = {}
    if limited:
        options["rate_limit"] = podero_client.RateLimit(per_second=1e9, burst=1_000_000)
    credentials = ClientCredentials("test-client-id", "test-client-secret")
    async with PoderoClient(credentials=credentials, base_url=url, **options) as podero:

        async def run(count: int) -> None:
            remaining = iter(range(count))

            async def worker() -> None:
                for _ in remaining:
                    await podero.get_wallbox(*IDS)

            await asyncio.gather(*(worker() for _ in range(concurrency)))

        await run(max(50, concurrency))
        cpu = time.process_time()
        await run(requests)
        cpu = time.process_time() - cpu
    return {"cpu_us": cpu / requests * 1e6, "module": podero_client.__file__}


# The cost of rate_limit=None is the budget's landing on main alone: the main line just before
# and just after the request budget merged (later changes of other kinds would blur it).
BEFORE_BUDGET, WITH_BUDGET = "f021c09", "6ac7e1b"


def export(ref: str) -> tuple[Path, str]:
    """``ref``'s package exported into build/, never a checkout; HEAD's where the clone lacks it (shallow)."""
    git = ["git", "-C", str(ROOT)]
    found = subprocess.run(
        [*git, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], capture_output=True, text=True
    )
    if found.returncode != 0:
        found = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    commit = found.stdout.strip()
    target = ROOT / "build" / "bench-main" / commit[:12]
    if not (target / "podero_client" / "__init__.py").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run([*git, "archive", commit, "podero_client"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)  # noqa: S607
    return target, commit[:12]


def measure_cost(url: str, rounds: int, requests: int, concurrencies: list[int]) -> dict[str, Any]:
    main_path, base = export(BEFORE_BUDGET)
    budget_path, after = export(WITH_BUDGET)
    base = f"{base} before, {after} with the budget"
    today_path, today = export("main")
    head_path, head = export("HEAD")
    base += f"; today's main {today}, this code {head}"
    variants = {
        "main": (main_path, False),
        "branch": (budget_path, False),
        "branch, budget on": (budget_path, True),
        "today": (today_path, False),
        "head": (head_path, False),
    }
    samples: dict[tuple[str, int], list[float]] = {}
    for round_number in range(rounds):
        for concurrency in concurrencies:
            names = list(variants)
            order = names[round_number % len(names) :] + names[: round_number % len(names)]
            for name in order:
                path, limited = variants[name]
                command = [sys.executable, __file__, "--cost-worker", "--url", url, "--requests", str(requests)]
                command += ["--concurrency", str(concurrency)] + (["--limited"] if limited else [])
                env = {**os.environ, "PYTHONPATH": str(path)}
                result = subprocess.run(command, capture_output=True, text=True, check=True, env=env, cwd="/")
                sample = json.loads(result.stdout)
                if not sample["module"].startswith(str(path)):
                    raise RuntimeError(f"{name} ran {sample['module']}, not the code under {path}")
                samples.setdefault((name, concurrency), []).append(sample["cpu_us"])
    return {"base": base, "medians": {f"{name}|{c}": statistics.median(v) for (name, c), v in samples.items()}}


# ---------------------------------------------------------------- the report
def priority_lines(priority: dict[str, dict[str, Any] | None], args: argparse.Namespace) -> list[str]:
    rate, clicks = args.priority_rate, args.priority_clicks
    lines = [
        f"### Priority: a fleet keeping a {rate}/s budget saturated, {clicks} interactive calls a second",
        "",
        f'100 fleet callers in the background lane (`with_options(priority="background")`) for '
        f"{args.priority_seconds:g} s; the clicks in the interactive lane. A click's wait is its call's duration "
        "less the median call on an idle client without a budget. The fleet's share is of the calls made; "
        f"the most it can have is {rate - clicks}/{rate} = {(rate - clicks) / rate:.0%}.",
        "",
        "| budget | clicks | wait p50 (ms) | wait p99 (ms) | fleet calls/s | fleet share | most in 1 s at the server |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    names = {"local": "`RateLimit`, one process", "redis": "`RedisRateLimit`, two processes"}
    for name, result in priority.items():
        if result is None:
            lines.append(f"| {names[name]} | not measured: no Redis answered at {REDIS_URL} | | | | | |")
            continue
        lines.append(
            f"| {names[name]} | {result['clicks']} | {result['p50']:.1f} | {result['p99']:.1f} | "
            f"{result['fleet_per_second']:.1f} | {result['fleet_share']:.0%} | {result['max_window']} |"
        )
    return [*lines, ""]


def report(
    pause: dict[str, Any],
    shared: dict[str, Any] | None,
    priority: dict[str, dict[str, Any] | None],
    cost: dict[str, Any],
    args: argparse.Namespace,
) -> str:
    rate, retry_after = args.pause_rate, args.retry_after
    counts = " | ".join(str(count) for count in pause["counts"])
    header = " | ".join(f"{second:+d}" for second in range(-2, len(pause["counts"]) - 2))
    lines = [
        "## Request budget (`scripts/bench_budget.py`)",
        "",
        f"Written by `{args.command}` on {time.strftime('%Y-%m-%d')}. The fake ran in its own process and counted "
        "every request on its own clock; the figures are the server's counts.",
        "",
        f"### One 429 with `Retry-After: {retry_after}` (one client, `RateLimit(per_second={rate}, burst=10)`, "
        "50 busy callers)",
        "",
        "Requests the server saw per second, second 0 starting at the 429:",
        "",
        f"| second | {header} |",
        "| --- | " + " | ".join("---:" for _ in pause["counts"]) + " |",
        f"| requests | {counts} |",
        "",
        f"- inside the {retry_after} s pause: **{pause['inside']}** requests "
        f"({pause['in_flight']} more arrived within 50 ms of the 429: sent before it reached the client)",
        f"- after the pause: {pause['first_second']} requests in its first second, {pause['second_second']} in the "
        f"second; the most in any one-second window afterwards: **{pause['after_max']}** (budget {rate}/s)",
        "",
    ]
    if shared is None:
        lines += ["### Two processes on one Redis key", "", f"Not measured: no Redis answered at {REDIS_URL}.", ""]
    else:
        shared_counts = " | ".join(str(count) for count in shared["counts"])
        shared_header = " | ".join(f"{second:+d}" for second in range(-2, len(shared["counts"]) - 2))
        lines += [
            f"### Two processes sharing one `RedisRateLimit(per_second={args.shared_rate}, burst=5)` for "
            f"{args.shared_seconds:g} s",
            "",
            f"- the most requests in any one-second window, both processes together: **{shared['max_window']}** "
            f"(budget {args.shared_rate}/s; GCRA allows burst + rate in a window: {args.shared_rate + 5}); in any "
            f"whole second counted from the first request: {shared['max_second']}; "
            f"mean {shared['steady_mean']:.1f}/s outside the pause and the second "
            f"after it; calls made: {shared['calls'][0]:,} and "
            f"{shared['calls'][1]:,}",
            f"- one 429 with `Retry-After: {args.shared_retry_after}` to one process, halfway: inside the pause "
            f"(from 100 ms after it) the server saw **{shared['inside_hit']}** requests from that process and "
            f"**{shared['inside_other']}** from the other",
            "",
            f"| second | {shared_header} |",
            "| --- | " + " | ".join("---:" for _ in shared["counts"]) + " |",
            f"| requests | {shared_counts} |",
            "",
        ]
    lines += priority_lines(priority, args)
    medians = cost["medians"]
    concurrencies = sorted({int(key.split("|")[1]) for key in medians})
    lines += [
        f"### The cost of `rate_limit=None` (client CPU per call, µs; main {cost['base']})",
        "",
        "| code | " + " | ".join(f"c={c}" for c in concurrencies) + " |",
        "| --- | " + " | ".join("---:" for _ in concurrencies) + " |",
    ]
    for name in ("main", "branch", "branch, budget on", "today", "head"):
        label = {
            "branch": "with the budget, rate_limit=None",
            "branch, budget on": "with the budget, a budget never reached",
            "today": "today's main, rate_limit=None",
            "head": "this code (lanes, one call context), rate_limit=None",
        }
        cells = " | ".join(f"{medians[f'{name}|{c}']:,.0f}" for c in concurrencies)
        lines.append(f"| {label.get(name, 'main')} | {cells} |")
    ratios = " | ".join(f"{medians[f'branch|{c}'] / medians[f'main|{c}']:.2f}" for c in concurrencies)
    head_ratios = " | ".join(f"{medians[f'head|{c}'] / medians[f'today|{c}']:.2f}" for c in concurrencies)
    lines += [
        f"| ratio rate_limit=None / main | {ratios} |",
        f"| ratio this code / today's main | {head_ratios} |",
        "",
        f"Medians of {args.cost_rounds} interleaved rounds of {args.cost_requests:,} calls, each in a fresh process "
        "against the fake in another. A ratio within the rounds' noise (a few per cent here) is no measurable change.",
        "",
        "Commands: `make bench` (runs `scripts/bench.py`, then `scripts/bench_budget.py`); "
        "`make bench-smoke` runs both at tiny counts into build/.",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny and fast, into build/BENCHMARKS.md")
    parser.add_argument("--out", type=Path, help="the file whose budget section is written (default BENCHMARKS.md)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client-worker", help=argparse.SUPPRESS)
    parser.add_argument("--cost-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--limited", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--priority-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--clicks", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve())
        return 0
    if args.client_worker:
        print(asyncio.run(client_worker(args.client_worker, args.url, args.key, args.rate, args.seconds)))
        return 0
    if args.priority_worker:
        result = priority_worker(args.url, args.key or None, args.rate, args.seconds, args.clicks)
        print(json.dumps(asyncio.run(result)))
        return 0
    if args.cost_worker:
        print(json.dumps(asyncio.run(cost_worker(args.url, args.requests, args.concurrency, args.limited))))
        return 0

    smoke = args.smoke
    args.command = "python scripts/bench_budget.py" + (" --smoke" if smoke else "")
    args.pause_rate, args.retry_after = 100, 1 if smoke else 5
    args.shared_rate, args.shared_seconds, args.shared_retry_after = 200, 2.0 if smoke else 30.0, 1 if smoke else 3
    args.cost_rounds, args.cost_requests = (1, 100) if smoke else (5, 2000)
    args.priority_rate, args.priority_clicks, args.priority_seconds = 50, 20, 4.0 if smoke else 30.0
    out = ROOT / "build" / "BENCHMARKS.md" if smoke else args.out or ROOT / "BENCHMARKS.md"

    server = Server()
    try:
        print("the 429 pause ...", file=sys.stderr)
        pause = measure_pause(
            server, args.retry_after, 1.0 if smoke else 3.0, args.retry_after + (1 if smoke else 4), args.pause_rate
        )
    finally:
        server.close()
    shared = None
    if redis_answers(REDIS_URL):
        print("two processes on one Redis key ...", file=sys.stderr)
        server = Server()
        try:
            shared = measure_shared(server, args.shared_rate, args.shared_seconds, args.shared_retry_after)
        finally:
            server.close()
    priority: dict[str, dict[str, Any] | None] = {"local": None, "redis": None}
    for name, on_redis in (("local", False), ("redis", True)):
        if on_redis and not redis_answers(REDIS_URL):
            continue
        print(f"priority ({name}) ...", file=sys.stderr)
        server = Server()
        try:
            priority[name] = measure_priority(
                server, args.priority_rate, args.priority_seconds, args.priority_clicks, on_redis
            )
        finally:
            server.close()
    print("the cost of rate_limit=None ...", file=sys.stderr)
    server = Server()
    try:
        cost = measure_cost(server.url, args.cost_rounds, args.cost_requests, [1, 100])
    finally:
        server.close()
    text = report(pause, shared, priority, cost, args)
    write_section(out, "budget", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
