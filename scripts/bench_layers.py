"""Where a get_wallbox's client CPU goes: the same request through each layer of the SDK, one above another.

    python scripts/bench_layers.py          # writes its section of BENCHMARKS.md
    python scripts/bench_layers.py --smoke  # tiny counts, prints only (CI)

A diagnostic, not a comparison of products: it reaches into the client (private attributes)
to send one prepared request through each layer alone. One process, the fake server in its
own (scripts/fake_process.py), 100 concurrent callers, the same wallbox every call; rounds
interleave the stacks and the median is quoted. Each stack adds one thing to the one above:

    raw            aiohttp + json.loads (scripts/bench.py's baseline)
    raw+model      the same + WallboxDetailOutput.from_dict: the typed model and its checks
    wire           the SDK's aiohttp transport (an httpx.Request in, an httpx.Response out) + json.loads
    retry          + the retry transport (and telemetry's attempt, on by default)
    auth+request   + building the request (RequestBuilder) and the auth flow: PoderoClient._send
    call           + the status check and the typed model: PoderoClient._untraced_call
    get_wallbox    + telemetry's operation: the public call
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from bench import IDS, PATH, _drive  # noqa: E402  # scripts/ is not a package: its path is added above
from bench_sections import write_section  # noqa: E402
from fake_process import fake_server_process  # noqa: E402

CONCURRENCY = 100
STACKS = ("raw", "raw+model", "wire", "retry", "auth+request", "call", "get_wallbox")


async def measure(rounds: int, requests: int) -> dict[str, list[float]]:
    import aiohttp
    import yarl

    from podero_client import ClientCredentials, PoderoClient
    from podero_client._client import _copy_request
    from podero_client._generated.api.user_wallboxes import retrieve_wallbox
    from podero_client._generated.models.wallbox_detail_output import WallboxDetailOutput

    arguments = dict(zip(("org_id", "user_id", "wallbox_id"), IDS, strict=True))
    async with fake_server_process() as url:
        basic = "Basic " + base64.b64encode(b"test-client-id:test-client-secret").decode()
        async with (
            aiohttp.ClientSession() as plain,
            plain.post(
                f"{url}/oauth2/token/", headers={"Authorization": basic}, json={"grant_type": "client_credentials"}
            ) as answer,
        ):
            token = (await answer.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        connector = aiohttp.TCPConnector(limit=CONCURRENCY)
        credentials = ClientCredentials("test-client-id", "test-client-secret")
        async with (
            aiohttp.ClientSession(headers=headers, connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as session,
            PoderoClient(credentials=credentials, base_url=url) as podero,
        ):
            target = yarl.URL(url + PATH, encoded=True)
            await podero.get_wallbox(*IDS)  # the token, the transport: built
            retry = podero._transport
            wire: Any = retry._wrapped  # the lazy transport: the aiohttp one inside, built by the first call
            wire = wire._transport
            prepared = podero._request_for(retrieve_wallbox, dict(arguments))
            prepared.headers["Authorization"] = f"Bearer {token}"

            async def raw() -> object:
                async with session.get(target) as response:
                    response.raise_for_status()
                    return json.loads(await response.read())

            async def raw_model() -> object:
                async with session.get(target) as response:
                    response.raise_for_status()
                    return WallboxDetailOutput.from_dict(json.loads(await response.read()))

            async def through(transport: Any) -> object:
                response = await transport.handle_async_request(_copy_request(prepared, dict(prepared.extensions)))
                return json.loads(response.content)

            async def auth_and_request() -> object:
                response = await podero._send(podero._request_for(retrieve_wallbox, dict(arguments)))
                return json.loads(response.content)

            stacks: dict[str, Callable[[], Awaitable[object]]] = {
                "raw": raw,
                "raw+model": raw_model,
                "wire": lambda: through(wire),
                "retry": lambda: through(retry),
                "auth+request": auth_and_request,
                "call": lambda: podero._untraced_call(retrieve_wallbox, dict(arguments)),
                "get_wallbox": lambda: podero.get_wallbox(*IDS),
            }
            samples: dict[str, list[float]] = {name: [] for name in STACKS}
            for _ in range(rounds):
                for name in STACKS:
                    samples[name].append((await _drive(stacks[name], requests, CONCURRENCY))["cpu_us"])
    return samples


def report(samples: dict[str, list[float]], rounds: int, requests: int) -> str:
    medians = {name: statistics.median(values) for name, values in samples.items()}
    raw = medians["raw"]
    lines = [
        "## Where a get_wallbox's CPU goes: the SDK's layers one above another",
        "",
        f"Written by `python scripts/bench_layers.py` on {time.strftime('%Y-%m-%d')}: client CPU per call, "
        f"{CONCURRENCY} concurrent callers, the same wallbox every call, medians of {rounds} interleaved rounds of "
        f"{requests:,} calls, the fake server in its own process. Each row adds one layer to the row above "
        "(`raw+model` is beside the stack: raw aiohttp with the typed model). A diagnostic: it sends through "
        "each layer alone by the client's private attributes.",
        "",
        "| stack | µs per call | x raw aiohttp | added by this layer |",
        "| --- | ---: | ---: | ---: |",
    ]
    previous = raw
    for name in STACKS:
        value = medians[name]
        below = raw if name in ("raw", "raw+model", "wire") else previous
        lines.append(f"| {name} | {value:.0f} | {value / raw:.2f} | {value - below:+.0f} |")
        if name != "raw+model":
            previous = value
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny counts, print only")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=8000)
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.requests = 1, 100
    text = report(asyncio.run(measure(args.rounds, args.requests)), args.rounds, args.requests)
    print(text)
    if not args.smoke:
        write_section(args.out, "layers", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
