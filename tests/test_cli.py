"""The podero-client command, run as a subprocess against the fake server."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest
from conftest import ROOT

from podero_client import ClientCredentials, PoderoClient
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID, FakePodero, Fault

IDS = (ORG_ID, USER_ID, WALLBOX_ID)


async def _cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``python -m podero_client ARGS`` with only the given PODERO_* variables."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("PODERO_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "podero_client", *args,
        env={**clean, **(env or {})}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


def _env(server: FakePodero, secret: str | None = None) -> dict[str, str]:
    return {
        "PODERO_CLIENT_ID": server.client_id,
        "PODERO_CLIENT_SECRET": secret or server.client_secret,
        "PODERO_BASE_URL": server.url,
    }


async def test_wallbox_summary(fake_podero: FakePodero) -> None:
    """By default, a short human summary of the wallbox."""
    code, out, err = await _cli("wallbox", *IDS, env=_env(fake_podero))
    assert code == 0, err
    assert "mode         CHARGING    connection online" in out
    assert "charge rate  7.36 kW" in out
    assert "statuses     connection ok, monitoring ok, steering warning" in out
    assert "action       information: Your wallbox finished a firmware update." in out
    assert "4 min ago" in out


async def test_wallbox_json(fake_podero: FakePodero) -> None:
    """--json prints the full payload, unknown fields included."""
    payload = dict(fake_podero.wallboxes[IDS], boost_state="on")
    fake_podero.inject("wallbox", Fault(json=payload))
    code, out, _ = await _cli("wallbox", *IDS, "--json", env=_env(fake_podero))
    assert code == 0
    assert json.loads(out) == payload


async def test_base_url_flag_overrides_the_environment(fake_podero: FakePodero) -> None:
    """--base-url wins over PODERO_BASE_URL."""
    env = {**_env(fake_podero), "PODERO_BASE_URL": "https://app.podero.com"}
    code, out, err = await _cli("wallbox", *IDS, "--base-url", fake_podero.url, env=env)
    assert code == 0, err
    assert "CHARGING" in out


@pytest.mark.parametrize(
    ("fault", "secret", "args", "expected_code", "expected_line"),
    [
        (None, None, (ORG_ID, USER_ID, ORG_ID), 4, "error: HTTP 404 NotFoundError: Not Found"),
        (None, "wrong", IDS, 3, "error: HTTP 401 AuthenticationError: "),
        (Fault(status=400, json={"detail": "bad"}), None, IDS, 5, "error: HTTP 400 BadRequestError: bad"),
        (None, None, (ORG_ID, USER_ID, "../../admin"), 2, "error: InvalidArgumentError: wallbox_id must be a UUID"),
    ],
    ids=["not-found", "authentication", "api-error", "bad-id"],
)
async def test_errors_are_one_line_with_distinct_exit_codes(
    fake_podero: FakePodero,
    fault: Fault | None,
    secret: str | None,
    args: tuple[str, ...],
    expected_code: int,
    expected_line: str,
) -> None:
    """Each failure is one line on stderr, no traceback, and its own exit code."""
    if fault:
        fake_podero.inject("wallbox", fault)
    code, out, err = await _cli("wallbox", *args, env=_env(fake_podero, secret))
    assert code == expected_code
    assert err.startswith(expected_line)
    assert len(err.strip().splitlines()) == 1
    assert out == ""


async def test_connection_error_exit_code(refused_url: str) -> None:
    """Nothing listening: exit 6 after the retries."""
    base = refused_url.rsplit("/", 1)[0]
    code, _, err = await _cli("wallbox", *IDS, "--base-url", base, env={"PODERO_TOKEN": "t"})
    assert code == 6
    assert err.startswith("error: APIConnectionError: no response: ConnectError")


async def test_missing_credentials_name_the_variables() -> None:
    """Without credentials in the environment: exit 2, naming what to set."""
    code, _, err = await _cli("wallbox", *IDS)
    assert code == 2
    assert "PODERO_CLIENT_ID and PODERO_CLIENT_SECRET" in err


async def test_bad_usage_exits_2() -> None:
    """argparse errors use the same exit code as bad arguments."""
    code, _, err = await _cli("wallbox", ORG_ID)
    assert code == 2
    assert "the following arguments are required" in err


async def test_verbose_shows_token_and_retry_lines_without_secrets(fake_podero: FakePodero) -> None:
    """--verbose logs the token request and each retry to stderr; no secret appears."""
    fake_podero.inject("wallbox", Fault(status=503, headers={"Retry-After": "0"}))
    code, _, err = await _cli("--verbose", "wallbox", *IDS, env=_env(fake_podero))
    assert code == 0
    assert "requesting an access token (grant_type=client_credentials)" in err
    assert "retrying GET" in err
    assert "after HTTP 503" in err
    for secret in [fake_podero.client_secret, *fake_podero.issued]:
        assert secret not in err


async def test_help_is_useful() -> None:
    """--help names the commands, the environment variables and the exit codes."""
    code, out, _ = await _cli("--help")
    assert code == 0
    for text in ("wallbox", "demo", "serve-fake", "PODERO_CLIENT_ID", "exit codes", "4 not found"):
        assert text in out
    code, out, _ = await _cli("wallbox", "--help")
    assert code == 0
    assert "--include-deleted" in out
    assert "--sandbox" in out


async def test_demo_runs_without_credentials() -> None:
    """The main job: exits 0 and shows a wallbox, a token refresh and a retried 503."""
    code, out, err = await _cli("demo")
    assert code == 0, err
    assert "mode         CHARGING" in out
    assert "2 token request(s), 3 wallbox request(s)" in out, "one refresh after the 401"
    assert "after HTTP 503" in out
    assert "9 wallboxes and NotFoundError for the last key" in out
    assert "Done in" in out


async def test_serve_fake_serves_the_api() -> None:
    """serve-fake prints its URL and answers the real SDK until stopped."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "podero_client", "serve-fake", "--port", "0", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        first = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        url = first.split()[4]
        assert url.startswith("http://127.0.0.1:")
        credentials = ClientCredentials("test-client-id", "test-client-secret")  # FakePodero's defaults
        async with PoderoClient(credentials=credentials, base_url=url) as podero:
            wallbox = await podero.get_wallbox(*IDS)
        assert wallbox.mode == "CHARGING"
    finally:
        process.terminate()
        await process.wait()


async def _example(name: str, *args: str, env: dict[str, str], stdin: bytes = b"") -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "examples" / name), *args,
        env={**os.environ, **env}, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(stdin), 60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_example_batch_job(fake_podero: FakePodero) -> None:
    """examples/batch.py reads a CSV of keys and reports modes and per-key errors."""
    keys = f"{ORG_ID},{USER_ID},{WALLBOX_ID}\n" * 3 + f"{ORG_ID},{USER_ID},{ORG_ID}\n"
    code, out, err = await _example("batch.py", "-", env=_env(fake_podero), stdin=keys.encode())
    assert code == 1, "one key failed"
    assert out.strip() == "CHARGING: 3, error: 1"
    assert "NotFoundError" in err


async def test_example_poller(fake_podero: FakePodero) -> None:
    """examples/poller.py prints each change, including a pending reauthentication."""
    code, out, err = await _example(
        "poller.py", *IDS, "--interval", "0.05", "--max-updates", "1", env=_env(fake_podero)
    )
    assert code == 0, err
    assert f"{WALLBOX_ID}: CHARGING, online, charging, 7360.0 W" in out
    assert "the customer must sign in again: /api/partners/v2.0/actions/4711/resolve" in out
