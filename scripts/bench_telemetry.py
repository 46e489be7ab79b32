"""What telemetry costs per call: the client CPU of one wallbox GET, with telemetry in each state.

    python scripts/bench_telemetry.py          # writes its section of BENCHMARKS.md
    python scripts/bench_telemetry.py --smoke  # tiny counts, prints only (CI)

Each state runs in a fresh process against one fake server process (scripts/bench.py's
method: rounds interleave the states, the median is quoted). The states:

    no-extra    opentelemetry cannot be imported: the otel extra is not installed
    off         PoderoClient(telemetry=False)
    unset       the extra installed, no SDK configured: the API's global proxy providers
    noop        tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider()
    sdk-batch   the SDK: TracerProvider with a BatchSpanProcessor (to an exporter that drops
                the batch) and a MeterProvider with a reader: every span and point is recorded
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import bench  # noqa: E402  # scripts/ is not a package: its path is added above
from bench_sections import write_section  # noqa: E402

STATES = {
    "no-extra": "the otel extra not installed",
    "off": "telemetry=False",
    "unset": "extra installed, no SDK (global proxies)",
    "noop": "the API's no-op providers",
    "sdk-batch": "SDK, batch span processor",
}


async def run_state(state: str, url: str, requests: int, concurrency: int) -> dict[str, float]:
    """Time ``requests`` wallbox GETs with telemetry in ``state``."""
    if state == "no-extra":
        sys.modules["opentelemetry"] = None  # type: ignore[assignment]  # an import of it now fails
    from podero_client import ClientCredentials, PoderoClient

    options: dict[str, Any] = {}
    if state == "off":
        options["telemetry"] = False
    elif state in ("noop", "sdk-batch"):
        options.update(_providers(state))
    credentials = ClientCredentials("test-client-id", "test-client-secret")
    async with PoderoClient(credentials=credentials, base_url=url, **options) as podero:
        assert (podero._telemetry is None) == (state in ("no-extra", "off"))
        sample = await bench._drive(lambda: podero.get_wallbox(*bench.IDS), requests, concurrency)
    if state == "no-extra":
        assert not [name for name, module in sys.modules.items() if name.startswith("opentelemetry") and module]
    return sample


def _providers(state: str) -> dict[str, Any]:
    """The PoderoClient (and Telemetry) keyword arguments of a state with telemetry on."""
    if state == "noop":
        from opentelemetry.metrics import NoOpMeterProvider
        from opentelemetry.trace import NoOpTracerProvider

        return {"tracer_provider": NoOpTracerProvider(), "meter_provider": NoOpMeterProvider()}
    if state == "sdk-batch":
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

        class Dropped(SpanExporter):
            def export(self, spans: Any) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(BatchSpanProcessor(Dropped()))
        return {"tracer_provider": tracer_provider, "meter_provider": MeterProvider([InMemoryMetricReader()])}
    return {"tracer_provider": None, "meter_provider": None}


def hook_costs(calls: int, repeats: int) -> dict[str, float]:
    """µs a call of the telemetry hooks alone: an operation and its one attempt around a send that
    returns at once, best of ``repeats``; minus the same call without them. In one process: no
    wire, no server, so a few µs show, which the per-call CPU above cannot resolve."""
    import httpx

    from podero_client._generated.api.user_wallboxes import retrieve_wallbox
    from podero_client._generated.types import APIResponse
    from podero_client._telemetry import Telemetry

    request = httpx.Request("GET", "http://127.0.0.1:8000/api/partners/v2.0/org/o/users/u/wallboxes/w")
    response = httpx.Response(200, request=request)
    answer = APIResponse(None, 200, response.headers, b"")

    async def send(request: httpx.Request, deadline: float | None) -> httpx.Response:
        return response

    async def run(telemetry: Telemetry | None) -> float:
        async def untraced() -> APIResponse[None]:
            await send(request, None)
            return answer

        async def traced() -> APIResponse[None]:
            assert telemetry is not None
            await telemetry.attempt(send, request, None)
            return answer

        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            if telemetry is None:
                for _ in range(calls):
                    await untraced()
            else:
                for _ in range(calls):
                    await telemetry.operation(retrieve_wallbox, traced())
            best = min(best, time.perf_counter() - started)
        return best / calls * 1e6

    async def measure_all() -> dict[str, float]:
        bare = await run(None)
        costs = {"off": 0.0}
        for state in ("unset", "noop", "sdk-batch"):
            costs[state] = await run(Telemetry("http://127.0.0.1:8000", **_providers(state))) - bare
        return costs

    return asyncio.run(measure_all())


def _state_process(state: str, url: str, requests: int, concurrency: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--state", state, "--url", url]
    command += ["--requests", str(requests), "--concurrency", str(concurrency)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"state {state} failed: {result.stderr.strip()[-2000:]}")
    return json.loads(result.stdout)  # type: ignore[no-any-return]


async def measure(concurrencies: list[int], rounds: int, requests: int) -> dict[tuple[str, int], list[float]]:
    from fake_process import fake_server_process

    samples: dict[tuple[str, int], list[float]] = {}
    states = list(STATES)
    async with fake_server_process() as url:
        for round_number in range(rounds):
            for concurrency in concurrencies:
                order = states[round_number % len(states) :] + states[: round_number % len(states)]
                for state in order:
                    sample = await asyncio.to_thread(_state_process, state, url, requests, concurrency)
                    samples.setdefault((state, concurrency), []).append(sample["cpu_us"])
            print(f"round {round_number + 1}/{rounds} done", file=sys.stderr)
    return samples


BLOCKED = "import sys; sys.modules['opentelemetry'] = None; "  # as if the otel extra were not installed


def import_times(rounds: int) -> dict[str, float]:
    """Median ms of ``import podero_client`` in a fresh interpreter, with and without the extra."""
    return {
        "with the otel extra": bench.import_time("import podero_client", rounds) * 1e3,
        "without it": bench.import_time(BLOCKED + "import podero_client", rounds) * 1e3,
    }


def report(
    samples: dict[tuple[str, int], list[float]],
    concurrencies: list[int],
    rounds: int,
    requests: int,
    imports: dict[str, float],
    hooks: dict[str, float],
) -> str:
    median = {key: statistics.median(values) for key, values in samples.items()}
    head = " | ".join(f"c={c}: µs/call" for c in concurrencies)
    lines = [
        "## Telemetry (OpenTelemetry) cost per call",
        "",
        f"`python scripts/bench_telemetry.py`: client CPU per wallbox GET on the default wire, median of "
        f"{rounds} interleaved rounds of {requests} calls, each state in a fresh process ({bench._machine()}). "
        "The change is against `telemetry=False`.",
        "",
        f"| telemetry | {head} | change |",
        "| --- | " + " | ".join("---:" for _ in concurrencies) + " | ---: |",
    ]
    for state, label in STATES.items():
        cells = " | ".join(f"{median[(state, c)]:.0f}" for c in concurrencies)
        changes = [median[(state, c)] / median[("off", c)] - 1 for c in concurrencies]
        change = " / ".join(f"{value:+.1%}" for value in changes)
        lines.append(f"| {label} (`{state}`) | {cells} | {change} |")
    off = median[("off", concurrencies[0])]
    lines += [
        "",
        "The per-call CPU above cannot resolve a few µs on this shared machine. The hooks alone, timed in",
        "one process around a send that returns at once (an operation span and one attempt span, the",
        f"duration histogram, `traceparent`), cost per call, and as a share of the `off` row at c={concurrencies[0]}:",
        "",
        "| telemetry | hooks, µs/call | share of a call |",
        "| --- | ---: | ---: |",
        *(f"| `{state}` | {cost:.1f} | {cost / off:.1%} |" for state, cost in hooks.items()),
        "",
        "`import podero_client`, median of fresh interpreters: "
        + ", ".join(f"{label} {ms:.0f} ms" for label, ms in imports.items())
        + " (with the extra, the OpenTelemetry API is imported with the package rather than in a client's"
        " constructor, inside the event loop).",
        "",
        "Off and not installed are the same code path (one `is None` check per call, attempt and token",
        "wait); spread between them is the machine's noise. `docs/observability.md` says what is traced.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny counts, print only")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", default="1,20", help="comma-separated")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--state", choices=list(STATES), help=argparse.SUPPRESS)  # a worker process
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    concurrencies = [int(value) for value in args.concurrency.split(",")]
    if args.state:
        print(json.dumps(asyncio.run(run_state(args.state, args.url, args.requests, concurrencies[0]))))
        return 0
    if args.smoke:
        args.rounds, args.requests, concurrencies = 1, 40, [1]
    samples = asyncio.run(measure(concurrencies, args.rounds, args.requests))
    imports = import_times(2 if args.smoke else 7)
    hooks = hook_costs(1000 if args.smoke else 20_000, 2 if args.smoke else 5)
    section = report(samples, concurrencies, args.rounds, args.requests, imports, hooks)
    print(section)
    if not args.smoke:
        write_section(args.out, "telemetry", section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
