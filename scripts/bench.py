"""Benchmarks, side by side in one run: PoderoClient against raw clients doing the same work.

    python scripts/bench.py                 # full run; writes BENCHMARKS.md and docs/benchmarks.png
    python scripts/bench.py --smoke         # tiny counts, writes into build/ (CI)
    python scripts/bench.py --scale         # 10,000 concurrent calls, 50 ms server latency, both wires

The fake Podero server runs in its own process; each client stack runs in a fresh
process of its own and reports its CPU time (time.process_time) per request and its
wall throughput. Rounds interleave the stacks and the median is quoted, because shared
machines are noisy: only ratios measured in the same run mean anything.

Every raw baseline does the work the SDK does, no more: a URL built once, no cookie
parsing, ``json.loads`` of the body (the SDK then builds its typed model on top), and
the SDK's default pool (100 connections, all kept alive).

    aiohttp         raw aiohttp.ClientSession, Bearer header, json.loads
    msgspec         raw aiohttp, msgspec.json.decode: the floor for Python (msgspec is a bench-only dependency)
    httpx           raw httpx.AsyncClient, Bearer header, json.loads
    plain           plain openapi-python-client output (stock templates, its own httpx client)
    sdk             PoderoClient with its defaults
    sdk-aiohttp     PoderoClient(http_backend="aiohttp")
    sdk-httpx       PoderoClient(http_backend="httpx")
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench_sections import keep_sections, rewrite

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "bench"
STACKS = {
    "aiohttp": "raw aiohttp + json.loads",
    "msgspec": "raw aiohttp + msgspec (floor)",
    "httpx": "raw httpx + json.loads",
    "plain": "plain openapi-python-client",
    "sdk": "PoderoClient, defaults",
    "sdk-aiohttp": "PoderoClient, aiohttp wire",
    "sdk-httpx": "PoderoClient, httpx wire",
}
# (stack, baseline): the ratio each must stay under (issue 10).
TARGETS = {("sdk", "aiohttp"): 2.0, ("sdk-aiohttp", "aiohttp"): 1.6, ("sdk-httpx", "httpx"): 1.10}
POOL = 100  # the SDK's documented default, given to the raw baselines too
IDS = (
    "7d3c5b2a-1e4f-4a6b-8c9d-0e1f2a3b4c5d",
    "3f1c6a8e-2b4d-4e7a-9c1f-5a6b7c8d9e0f",
    "b6e2d9f4-8a1c-4d3e-9f5a-7c2b1e0d4a68",
)
PATH = "/api/partners/v2.0/org/{}/users/{}/wallboxes/{}?include_deleted=false".format(*IDS)


# ---------------------------------------------------------------- one stack, in its own process
async def _drive(call: Callable[[], Awaitable[object]], requests: int, concurrency: int) -> dict[str, float]:
    async def run(count: int) -> None:
        remaining = iter(range(count))

        async def worker() -> None:
            for _ in remaining:
                await call()

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    await run(max(50, concurrency))  # warm-up: the pool opens as many connections as the run uses
    cpu, wall = time.process_time(), time.perf_counter()
    await run(requests)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"cpu_us": cpu / requests * 1e6, "rps": requests / wall}


async def run_stack(stack: str, url: str, token: str, requests: int, concurrency: int) -> dict[str, float]:
    """Time ``requests`` wallbox GETs on one stack; the same request, the same parsing need."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if stack in ("aiohttp", "msgspec"):
        import aiohttp
        import yarl

        decode: Callable[[bytes], object] = json.loads
        if stack == "msgspec":
            import msgspec

            decode = msgspec.json.Decoder().decode
        target = yarl.URL(url + PATH, encoded=True)
        connector = aiohttp.TCPConnector(limit=POOL)
        async with aiohttp.ClientSession(
            headers=headers, connector=connector, cookie_jar=aiohttp.DummyCookieJar()
        ) as session:

            async def raw_aiohttp() -> object:
                async with session.get(target) as response:
                    response.raise_for_status()
                    return decode(await response.read())

            return await _drive(raw_aiohttp, requests, concurrency)

    import httpx

    if stack == "httpx":

        class NoCookies(httpx.Cookies):
            def extract_cookies(self, response: httpx.Response) -> None:
                pass

        limits = httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL)
        timeout = httpx.Timeout(30.0, connect=5.0)  # the SDK's: 500 callers on 100 connections wait
        async with httpx.AsyncClient(headers=headers, limits=limits, timeout=timeout) as client:
            client._cookies = NoCookies()
            target_url = httpx.URL(url + PATH)

            async def raw_httpx() -> object:
                response = await client.get(target_url)
                response.raise_for_status()
                return json.loads(response.content)

            return await _drive(raw_httpx, requests, concurrency)

    if stack == "plain":
        sys.path.insert(0, str(BUILD))
        from plain_client import AuthenticatedClient  # type: ignore[import-not-found]
        from plain_client.api.user_wallboxes import retrieve_wallbox  # type: ignore[import-not-found]

        async with AuthenticatedClient(base_url=url, token=token) as plain:

            async def plain_call() -> object:
                return await retrieve_wallbox.asyncio(*IDS, client=plain)

            return await _drive(plain_call, requests, concurrency)

    from podero_client import ClientCredentials, PoderoClient

    options: dict[str, Any] = {} if stack == "sdk" else {"http_backend": stack.removeprefix("sdk-")}
    credentials = ClientCredentials("test-client-id", "test-client-secret")
    async with PoderoClient(credentials=credentials, base_url=url, **options) as podero:
        return await _drive(lambda: podero.get_wallbox(*IDS), requests, concurrency)


def generate_plain_client() -> None:
    """The stock openapi-python-client output for the normalized spec, into build/bench/plain_client."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import normalize

    if (BUILD / "plain_client" / "__init__.py").exists():
        return
    BUILD.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="podero-bench-") as work:
        spec = Path(work) / "openapi.json"
        spec.write_text(json.dumps(normalize.normalize(json.loads((ROOT / "openapi.json").read_text()))))
        config = Path(work) / "config.yaml"
        config.write_text("project_name_override: plain-client\npackage_name_override: plain_client\n")
        output = Path(work) / "out"
        command = [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(spec)]
        command += ["--config", str(config), "--meta", "none", "--output-path", str(output)]
        subprocess.run(command, capture_output=True, check=True, cwd=work)
        shutil.rmtree(BUILD / "plain_client", ignore_errors=True)
        shutil.copytree(output, BUILD / "plain_client")


def generate_unchecked_client() -> None:
    """Our templates with the model checks taken out (checks.jinja emptied, upstream's date/uuid
    parsing), into build/bench/unchecked_client: what the checks cost, measured side by side."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import normalize

    BUILD.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="podero-bench-") as work:
        templates = Path(work) / "templates"
        shutil.copytree(ROOT / "scripts" / "templates", templates)
        for name in ("datetime", "date", "uuid"):
            (templates / "property_templates" / f"{name}_property.py.jinja").unlink()
        (templates / "property_templates" / "checks.jinja").write_text(
            "{% macro accepts(property, v) %}{% endmacro %}{% macro expects(property) %}{% endmacro %}"
            "{% macro check_items(property, v, model, field) %}{% endmacro %}"
        )
        spec = Path(work) / "openapi.json"
        spec.write_text(json.dumps(normalize.normalize(json.loads((ROOT / "openapi.json").read_text()))))
        config = Path(work) / "config.yaml"
        config.write_text((ROOT / "generator-config.yaml").read_text() + "\npackage_name_override: unchecked_client\n")
        config.write_text(config.read_text().replace("package_name_override: _generated\n", ""))
        output = Path(work) / "out"
        command = [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(spec), "--meta", "none"]
        command += ["--config", str(config), "--custom-template-path", str(templates), "--output-path", str(output)]
        subprocess.run(command, capture_output=True, check=True, cwd=work)
        shutil.rmtree(BUILD / "unchecked_client", ignore_errors=True)
        shutil.copytree(output, BUILD / "unchecked_client")


# ---------------------------------------------------------------- the other figures
def parse_cost() -> dict[str, float]:
    """µs per payload: json.loads alone, WallboxDetailOutput.from_dict on top of it, and the
    same from_dict without the model checks (generate_unchecked_client), in the same run."""
    from podero_client.models import WallboxDetailOutput
    from podero_client.testing import wallbox_payload

    sys.path.insert(0, str(BUILD))
    unchecked = importlib.import_module("unchecked_client.models").WallboxDetailOutput
    body = json.dumps(wallbox_payload()).encode()
    data = json.loads(body)
    number = 5000

    def cost(call: Callable[[], object]) -> float:
        return min(timeit.repeat(call, number=number, repeat=5)) / number * 1e6

    return {
        "json_loads_us": cost(lambda: json.loads(body)),
        "from_dict_us": cost(lambda: WallboxDetailOutput.from_dict(data)),
        "unchecked_from_dict_us": cost(lambda: unchecked.from_dict(data)),
    }


def _python(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(BUILD), *sys.path])}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout


IMPORTS = {
    "podero_client": "import podero_client",
    "podero_client, first client built": "import podero_client; podero_client.PoderoClient("
    "credentials=podero_client.BearerToken('t'))",
    "httpx": "import httpx",
    "aiohttp": "import aiohttp",
    "plain openapi-python-client": "import plain_client.api.user_wallboxes.retrieve_wallbox",
}


def import_time(statement: str, rounds: int) -> float:
    """Median seconds to run an import ``statement`` in a fresh interpreter."""
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    return statistics.median(float(_python(code)) for _ in range(rounds))


def memory_per_wallbox(count: int) -> dict[str, float]:
    """Bytes per held WallboxDetailOutput (tracemalloc), and MiB of RSS with ``count`` of them."""
    code = f"""
import json, os, tracemalloc
from podero_client.models import WallboxDetailOutput
from podero_client.testing import wallbox_payload
def rss(): return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
payloads = [json.dumps(wallbox_payload(charge_rate_w=float(n))) for n in range({count})]
before = rss()
tracemalloc.start()
held = [WallboxDetailOutput.from_dict(json.loads(p)) for p in payloads]
size = tracemalloc.get_traced_memory()[0]
print(json.dumps({{"bytes_each": size / {count}, "before_mib": before, "after_mib": rss()}}))
"""
    return json.loads(_python(code))  # type: ignore[no-any-return]


async def cold_token_requests(calls: int) -> int:
    """Token requests made by ``calls`` concurrent get_wallbox calls on a cold client."""
    from podero_client.testing import FakePodero

    async with FakePodero() as server, server.client() as podero:
        await asyncio.gather(*(podero.get_wallbox(*IDS) for _ in range(calls)))
        return server.token_requests


# ---------------------------------------------------------------- 10,000 calls, 50 ms latency
def open_sockets() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(os.path.join("/proc/self/fd", fd)).startswith("socket:")
    return count


async def serve_slow(latency: float, calls: int) -> None:
    """A fake Podero whose wallbox answers take ``latency`` seconds; prints its URL, then serves."""
    from podero_client.testing import FakePodero, Fault

    async with FakePodero() as server:
        server.inject("wallbox", *[Fault(delay=latency)] * (calls * 2))
        print(server.url, flush=True)
        await asyncio.Event().wait()


async def scale_run(url: str, backend: str, calls: int) -> dict[str, Any]:
    """``calls`` concurrent get_wallbox calls on one client; wall time, errors, peak sockets."""
    from podero_client import ClientCredentials, PoderoClient, PoderoError

    peak = 0
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, open_sockets())
            await asyncio.sleep(0.05)

    baseline = open_sockets()
    async with PoderoClient(
        credentials=ClientCredentials("test-client-id", "test-client-secret"),
        base_url=url,
        http_backend=backend,  # type: ignore[arg-type]
    ) as podero:
        await podero.get_wallbox(*IDS)  # the token, outside the timing
        sampler = asyncio.create_task(sample())
        started = time.perf_counter()
        results = await asyncio.gather(*(podero.get_wallbox(*IDS) for _ in range(calls)), return_exceptions=True)
        wall = time.perf_counter() - started
        done.set()
        await sampler
    errors = [repr(result) for result in results if isinstance(result, BaseException)]
    unexpected = [error for error in results if isinstance(error, BaseException) and not isinstance(error, PoderoError)]
    return {
        "backend": backend,
        "calls": calls,
        "wall_s": wall,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "non_podero_errors": len(unexpected),
        "peak_sockets": peak - baseline,
    }


def scale(calls: int, latency: float) -> int:
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve-slow", str(latency), "--requests", str(calls)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        failed = False
        for backend in ("aiohttp", "httpx"):
            command = [sys.executable, __file__, "--scale-worker", backend, "--url", url, "--requests", str(calls)]
            result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
            result["limit"] = POOL
            print(json.dumps(result), flush=True)
            failed |= result["errors"] > 0 or result["peak_sockets"] > POOL
        return 1 if failed else 0
    finally:
        server.terminate()
        server.wait()


# ---------------------------------------------------------------- orchestration and report
def _fetch_token(url: str) -> str:
    import httpx

    response = httpx.post(
        f"{url}/oauth2/token/", auth=("test-client-id", "test-client-secret"), json={"grant_type": "client_credentials"}
    )
    return str(response.raise_for_status().json()["access_token"])


def _stack_process(stack: str, url: str, token: str, requests: int, concurrency: int) -> dict[str, float]:
    # --token=VALUE: a token may start with "-", which argparse would take for an option.
    command = [sys.executable, __file__, "--stack", stack, "--url", url, f"--token={token}"]
    command += ["--requests", str(requests), "--concurrency", str(concurrency)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"stack {stack} failed: {result.stderr.strip()[-2000:]}")
    return json.loads(result.stdout)  # type: ignore[no-any-return]


async def measure_stacks(
    stacks: list[str], concurrencies: list[int], rounds: int, requests: int
) -> dict[tuple[str, int], list[dict[str, float]]]:
    sys.path.insert(0, str(ROOT / "scripts"))
    from fake_process import fake_server_process

    samples: dict[tuple[str, int], list[dict[str, float]]] = {}
    async with fake_server_process() as url:
        token = _fetch_token(url)
        for round_number in range(rounds):
            for concurrency in concurrencies:
                # The order rotates each round, so that no stack always runs after the same one.
                order = stacks[round_number % len(stacks) :] + stacks[: round_number % len(stacks)]
                for stack in order:
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


def _median(samples: dict[tuple[str, int], list[dict[str, float]]], stack: str, concurrency: int, key: str) -> float:
    return statistics.median(sample[key] for sample in samples[(stack, concurrency)])


def report(
    samples: dict[tuple[str, int], list[dict[str, float]]],
    stacks: list[str],
    concurrencies: list[int],
    rounds: int,
    requests: int,
    extras: dict[str, Any],
    chart: Path,
) -> str:
    def cpu(stack: str, concurrency: int) -> float:
        return _median(samples, stack, concurrency, "cpu_us")

    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`scripts/bench.py`) on {time.strftime('%Y-%m-%d')}: {_machine()}.",
        f"The fake Podero server ran in its own process; each stack ran {requests} wallbox GETs (after a "
        f"warm-up at the same concurrency) in a fresh process, {rounds} rounds interleaved; medians are quoted.",
        "CPU is the client process's own CPU time per request (`time.process_time`). The raw baselines do "
        "the SDK's work and no more: a prebuilt URL, no cookie parsing, `json.loads`, "
        f"a pool of {POOL} connections kept alive.",
        "",
        "## Client CPU per request (µs)",
        "",
        "| stack | " + " | ".join(f"c={c}" for c in concurrencies) + " |",
        "| --- | " + " | ".join("---:" for _ in concurrencies) + " |",
    ]
    for stack in stacks:
        lines.append(f"| {STACKS[stack]} | " + " | ".join(f"{cpu(stack, c):,.0f}" for c in concurrencies) + " |")
    lines += [
        "",
        "## Ratios (targets of issue 10)",
        "",
        "| ratio | target | " + " | ".join(f"c={c}" for c in concurrencies) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in concurrencies) + " |",
    ]
    for (top, bottom), target in TARGETS.items():
        if top not in stacks or bottom not in stacks:
            continue
        cells = []
        for c in concurrencies:
            ratio = cpu(top, c) / cpu(bottom, c)
            cells.append(f"{ratio:.2f}" + ("" if ratio <= target else " (misses)"))
        lines.append(f"| {STACKS[top]} / {STACKS[bottom]} | ≤ {target:.2f} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Wall throughput (requests per second, one client process)",
        "",
        "| stack | " + " | ".join(f"c={c}" for c in concurrencies) + " |",
        "| --- | " + " | ".join("---:" for _ in concurrencies) + " |",
    ]
    for stack in stacks:
        cells = [f"{_median(samples, stack, c, 'rps'):,.0f}" for c in concurrencies]
        lines.append(f"| {STACKS[stack]} | " + " | ".join(cells) + " |")
    memory = extras["memory"]
    lines += [
        "",
        f"![client CPU per request]({chart.relative_to(ROOT) if chart.is_relative_to(ROOT) else chart})",
        "",
        "## Other figures",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| `json.loads` of one wallbox payload | {extras['json_loads_us']:.1f} µs |",
        f"| `WallboxDetailOutput.from_dict` of the parsed payload | {extras['from_dict_us']:.1f} µs |",
        f"| the same without the model type checks (checks.jinja emptied) | {extras['unchecked_from_dict_us']:.1f} µs "
        f"(the checks: {extras['from_dict_us'] - extras['unchecked_from_dict_us']:+.1f} µs) |",
        f"| memory per held `WallboxDetailOutput` (tracemalloc) | {memory['bytes_each'] / 1024:.2f} KB |",
        f"| RSS with 10,000 parsed wallboxes held | {memory['after_mib']:.1f} MiB "
        f"({memory['after_mib'] - memory['before_mib']:.1f} MiB for the wallboxes) |",
        f"| token requests by 1,000 concurrent calls on a cold client | {extras['cold_token_requests']} (must be 1) |",
    ]  # fmt: skip
    for name, seconds in extras["imports"].items():
        lines.append(f"| import time: `{name}` | {seconds * 1000:.0f} ms |")
    lines.append("")
    return "\n".join(lines)


def draw_chart(
    samples: dict[tuple[str, int], list[dict[str, float]]], stacks: list[str], concurrencies: list[int], path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(10, 5))
    width = 0.8 / len(stacks)
    for index, stack in enumerate(stacks):
        values = [_median(samples, stack, c, "cpu_us") for c in concurrencies]
        positions = [position + (index - (len(stacks) - 1) / 2) * width for position in range(len(concurrencies))]
        bars = axes.bar(positions, values, width, label=STACKS[stack])
        axes.bar_label(bars, fmt="%.0f", fontsize=6)
    axes.set_xticks(range(len(concurrencies)), [f"concurrency {c}" for c in concurrencies])
    axes.set_ylabel("client CPU per request (µs)")
    axes.set_title("Wallbox GET: client CPU per request (lower is better)")
    axes.legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny counts, output into build/")
    parser.add_argument("--scale", action="store_true", help="10,000 concurrent calls at 50 ms latency, both wires")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", default="1,20,100,500", help="comma-separated")
    parser.add_argument("--stacks", default=",".join(STACKS), help="comma-separated")
    parser.add_argument("--out", type=Path, help="where to write the report (default BENCHMARKS.md)")
    parser.add_argument("--stack", choices=list(STACKS), help=argparse.SUPPRESS)  # a worker process
    parser.add_argument("--scale-worker", help=argparse.SUPPRESS)
    parser.add_argument("--serve-slow", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args()
    concurrencies = [int(value) for value in args.concurrency.split(",")]
    stacks = args.stacks.split(",")

    if args.stack:
        print(json.dumps(asyncio.run(run_stack(args.stack, args.url, args.token, args.requests, concurrencies[0]))))
        return 0
    if args.serve_slow is not None:
        asyncio.run(serve_slow(args.serve_slow, args.requests))
        return 0
    if args.scale_worker:
        print(json.dumps(asyncio.run(scale_run(args.url, args.scale_worker, args.requests))))
        return 0
    if args.scale:
        return scale(10_000 if args.requests == 1000 else args.requests, 0.05)

    if args.smoke:
        args.rounds, args.requests = 1, 40
        concurrencies = [1, 20]
        out, chart = ROOT / "build" / "BENCHMARKS.md", ROOT / "build" / "benchmarks.png"
    else:
        out, chart = args.out or ROOT / "BENCHMARKS.md", ROOT / "docs" / "benchmarks.png"
    generate_plain_client()  # once: build/bench/plain_client is kept between runs
    generate_unchecked_client()  # every run: it follows the templates
    samples = asyncio.run(measure_stacks(stacks, concurrencies, args.rounds, args.requests))
    extras: dict[str, Any] = parse_cost()
    rounds = 2 if args.smoke else 7
    extras["imports"] = {name: import_time(statement, rounds) for name, statement in IMPORTS.items()}
    extras["memory"] = memory_per_wallbox(100 if args.smoke else 10_000)
    extras["cold_token_requests"] = asyncio.run(cold_token_requests(50 if args.smoke else 1000))
    draw_chart(samples, stacks, concurrencies, chart)
    text = report(samples, stacks, concurrencies, args.rounds, args.requests, extras, chart)
    # The sections other scripts own (bench_budget.py's, ...) follow this report: kept as they are.
    rewrite(out, lambda old: keep_sections(old, text))
    print(text)
    return 0 if extras["cold_token_requests"] == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
