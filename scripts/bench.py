"""Benchmarks, side by side in one run: PoderoClient against raw httpx and raw aiohttp.

    python scripts/bench.py                 # full run; writes BENCHMARKS.md and docs/benchmarks.png
    python scripts/bench.py --smoke         # tiny counts, writes into build/ (CI)

The fake Podero server runs in its own process; each client stack runs in a fresh
process of its own and reports its CPU time (time.process_time) per request and its
wall throughput. Rounds interleave the stacks and the median is quoted, because shared
machines are noisy: only ratios measured in the same run mean anything.

    a  raw httpx.AsyncClient, Bearer header, json.loads
    b  PoderoClient (default httpx backend): auth flow, retry transport, typed model
    c  raw aiohttp.ClientSession, Bearer header, json.loads
    d  PoderoClient(http_backend="aiohttp")
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
STACKS = {
    "a": "raw httpx",
    "b": "PoderoClient (httpx)",
    "c": "raw aiohttp",
    "d": "PoderoClient (aiohttp)",
}
TARGETS = {("b", "a"): 1.10, ("d", "c"): 3.0}
WARMUP = 50
IDS = (
    "7d3c5b2a-1e4f-4a6b-8c9d-0e1f2a3b4c5d",
    "3f1c6a8e-2b4d-4e7a-9c1f-5a6b7c8d9e0f",
    "b6e2d9f4-8a1c-4d3e-9f5a-7c2b1e0d4a68",
)
PATH = "/api/partners/v2.0/org/{}/users/{}/wallboxes/{}".format(*IDS)


# ---------------------------------------------------------------- one stack, in its own process
async def _drive(call: Callable[[], Awaitable[object]], requests: int, concurrency: int) -> dict[str, float]:
    for _ in range(WARMUP):
        await call()
    remaining = iter(range(requests))

    async def worker() -> None:
        for _ in remaining:
            await call()

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"cpu_us": cpu / requests * 1e6, "rps": requests / wall}


async def run_stack(stack: str, url: str, token: str, requests: int, concurrency: int) -> dict[str, float]:
    """Time ``requests`` wallbox GETs on one stack; the same request, the same parsing need."""
    limits = max(concurrency, 10)
    if stack == "a":
        async with httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, limits=httpx.Limits(max_connections=limits)
        ) as client:

            async def raw_httpx() -> object:
                response = await client.get(PATH, params={"include_deleted": "false"})
                response.raise_for_status()
                return json.loads(response.content)

            return await _drive(raw_httpx, requests, concurrency)
    if stack == "c":
        import aiohttp

        connector = aiohttp.TCPConnector(limit=limits)
        async with aiohttp.ClientSession(url, headers={"Authorization": f"Bearer {token}"}, connector=connector) as s:

            async def raw_aiohttp() -> object:
                async with s.get(PATH, params={"include_deleted": "false"}) as response:
                    response.raise_for_status()
                    return json.loads(await response.read())

            return await _drive(raw_aiohttp, requests, concurrency)

    from podero_client import ClientCredentials, PoderoClient

    backend = "httpx" if stack == "b" else "aiohttp"
    async with PoderoClient(
        credentials=ClientCredentials("test-client-id", "test-client-secret"),
        base_url=url,
        http_backend=backend,  # type: ignore[arg-type]
        limits=httpx.Limits(max_connections=limits),
    ) as podero:
        return await _drive(lambda: podero.get_wallbox(*IDS), requests, concurrency)


# ---------------------------------------------------------------- the other figures
def parse_cost() -> dict[str, float]:
    """µs per payload: json.loads alone, and WallboxDetailOutput.from_dict on top of it."""
    from podero_client.models import WallboxDetailOutput
    from podero_client.testing import wallbox_payload

    body = json.dumps(wallbox_payload()).encode()
    data = json.loads(body)
    number = 5000
    loads = min(timeit.repeat(lambda: json.loads(body), number=number, repeat=5)) / number * 1e6
    from_dict = min(timeit.repeat(lambda: WallboxDetailOutput.from_dict(data), number=number, repeat=5)) / number * 1e6
    return {"json_loads_us": loads, "from_dict_us": from_dict}


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def import_time(module: str, rounds: int) -> float:
    """Median seconds to import ``module`` in a fresh interpreter."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    return statistics.median(float(_python(code)) for _ in range(rounds))


def rss_with_wallboxes(count: int) -> dict[str, float]:
    """MiB of RSS with ``count`` parsed wallboxes held, and before parsing them."""
    code = f"""
import json, os
from podero_client.models import WallboxDetailOutput
from podero_client.testing import wallbox_payload
def rss(): return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
payloads = [json.dumps(wallbox_payload(charge_rate_w=float(n))) for n in range({count})]
before = rss()
held = [WallboxDetailOutput.from_dict(json.loads(p)) for p in payloads]
print(json.dumps({{"before_mib": before, "after_mib": rss()}}))
"""
    return json.loads(_python(code))  # type: ignore[no-any-return]


async def cold_token_requests(calls: int) -> int:
    """Token requests made by ``calls`` concurrent get_wallbox calls on a cold client."""
    from podero_client.testing import FakePodero

    async with FakePodero() as server, server.client() as podero:
        await asyncio.gather(*(podero.get_wallbox(*IDS) for _ in range(calls)))
        return server.token_requests


# ---------------------------------------------------------------- orchestration and report
def _fetch_token(url: str) -> str:
    response = httpx.post(
        f"{url}/oauth2/token/", auth=("test-client-id", "test-client-secret"), json={"grant_type": "client_credentials"}
    )
    return str(response.raise_for_status().json()["access_token"])


def _stack_process(stack: str, url: str, token: str, requests: int, concurrency: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--stack", stack, "--url", url, "--token", token]
    command += ["--requests", str(requests), "--concurrency", str(concurrency)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"stack {stack} failed: {result.stderr.strip()[-2000:]}")
    return json.loads(result.stdout)  # type: ignore[no-any-return]


async def measure_stacks(
    concurrencies: list[int], rounds: int, requests: int
) -> dict[tuple[str, int], list[dict[str, float]]]:
    sys.path.insert(0, str(ROOT / "scripts"))
    from fake_process import fake_server_process

    samples: dict[tuple[str, int], list[dict[str, float]]] = {}
    async with fake_server_process() as url:
        token = _fetch_token(url)
        for round_number in range(rounds):
            for concurrency in concurrencies:
                for stack in STACKS:
                    sample = await asyncio.to_thread(_stack_process, stack, url, token, requests, concurrency)
                    samples.setdefault((stack, concurrency), []).append(sample)
            print(f"round {round_number + 1}/{rounds} done", file=sys.stderr)
    return samples


def _machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), cpu)
    system = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}"
    return f"{system}; Python {platform.python_version()}"


def report(
    samples: dict[tuple[str, int], list[dict[str, float]]],
    concurrencies: list[int],
    rounds: int,
    requests: int,
    extras: dict[str, Any],
    chart: Path,
) -> str:
    def median(stack: str, concurrency: int, key: str) -> float:
        return statistics.median(sample[key] for sample in samples[(stack, concurrency)])

    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`scripts/bench.py`) on {time.strftime('%Y-%m-%d')}: {_machine()}.",
        f"The fake Podero server ran in its own process; each stack ran {requests} wallbox GETs (after "
        f"{WARMUP} warm-up requests) in a fresh process, {rounds} rounds interleaved; medians are quoted.",
        "CPU is the client process's own CPU time per request (`time.process_time`).",
        "",
        "## Client CPU per request, and ratios",
        "",
        "| concurrency | " + " | ".join(f"{key}: {name}" for key, name in STACKS.items()) + " | b/a | d/c |",
        "| --- | " + " | ".join("---" for _ in STACKS) + " | --- | --- |",
    ]
    ratios: dict[tuple[str, str], list[float]] = {pair: [] for pair in TARGETS}
    for concurrency in concurrencies:
        cells = [f"{median(stack, concurrency, 'cpu_us'):.0f} µs, {median(stack, concurrency, 'rps'):.0f}/s"
                 for stack in STACKS]  # fmt: skip
        row_ratios = []
        for (top, bottom), target in TARGETS.items():
            ratio = median(top, concurrency, "cpu_us") / median(bottom, concurrency, "cpu_us")
            ratios[(top, bottom)].append(ratio)
            row_ratios.append(f"{ratio:.2f} ({'meets' if ratio <= target else 'misses'} ≤ {target:.2f})")
        lines.append(f"| {concurrency} | " + " | ".join(cells + row_ratios) + " |")
    lines += [
        "",
        "Each cell: CPU µs per request, then wall throughput in requests per second.",
        "",
        f"![client CPU per request]({chart.relative_to(ROOT) if chart.is_relative_to(ROOT) else chart})",
        "",
        "## Other figures",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| `json.loads` of one wallbox payload | {extras['json_loads_us']:.1f} µs |",
        f"| `WallboxDetailOutput.from_dict` of the parsed payload | {extras['from_dict_us']:.1f} µs |",
        f"| `import podero_client` | {extras['import_podero_ms']:.0f} ms "
        f"(`import httpx`: {extras['import_httpx_ms']:.0f} ms) |",
        f"| RSS with 10,000 parsed wallboxes held | {extras['rss']['after_mib']:.1f} MiB "
        f"({extras['rss']['after_mib'] - extras['rss']['before_mib']:.1f} MiB for the wallboxes) |",
        f"| token requests by 1,000 concurrent calls on a cold client | {extras['cold_token_requests']} (must be 1) |",
        "",
    ]  # fmt: skip
    return "\n".join(lines)


def draw_chart(samples: dict[tuple[str, int], list[dict[str, float]]], concurrencies: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5))
    width = 0.2
    for index, (stack, name) in enumerate(STACKS.items()):
        values = [statistics.median(s["cpu_us"] for s in samples[(stack, c)]) for c in concurrencies]
        positions = [position + (index - 1.5) * width for position in range(len(concurrencies))]
        bars = axes.bar(positions, values, width, label=f"{stack}: {name}")
        axes.bar_label(bars, fmt="%.0f", fontsize=7)
    axes.set_xticks(range(len(concurrencies)), [f"concurrency {c}" for c in concurrencies])
    axes.set_ylabel("client CPU per request (µs)")
    axes.set_title("Wallbox GET: client CPU per request (lower is better)")
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny counts, output into build/")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", default="1,20,100", help="comma-separated")
    parser.add_argument("--stack", choices=list(STACKS), help=argparse.SUPPRESS)  # a worker process
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args()
    concurrencies = [int(value) for value in args.concurrency.split(",")]

    if args.stack:
        print(json.dumps(asyncio.run(run_stack(args.stack, args.url, args.token, args.requests, concurrencies[0]))))
        return 0

    if args.smoke:
        args.rounds, args.requests = 1, 40
        out, chart = ROOT / "build" / "BENCHMARKS.md", ROOT / "build" / "benchmarks.png"
    else:
        out, chart = ROOT / "BENCHMARKS.md", ROOT / "docs" / "benchmarks.png"
    samples = asyncio.run(measure_stacks(concurrencies, args.rounds, args.requests))
    extras: dict[str, Any] = parse_cost()
    rounds = 2 if args.smoke else 7
    extras["import_podero_ms"] = import_time("podero_client", rounds) * 1000
    extras["import_httpx_ms"] = import_time("httpx", rounds) * 1000
    extras["rss"] = rss_with_wallboxes(100 if args.smoke else 10_000)
    extras["cold_token_requests"] = asyncio.run(cold_token_requests(50 if args.smoke else 1000))
    draw_chart(samples, concurrencies, chart)
    text = report(samples, concurrencies, args.rounds, args.requests, extras, chart)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    return 0 if extras["cold_token_requests"] == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
