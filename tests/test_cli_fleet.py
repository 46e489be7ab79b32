"""The command line for fleets: watch --keys-file, serve-fake --wallboxes."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import uuid
from pathlib import Path

import attrs

from podero_client import FleetStats
from podero_client._cli import _stats_line
from podero_client.testing import FakePodero


async def _cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run ``python -m podero_client ARGS`` with only the given PODERO_* variables."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("PODERO_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "podero_client", *args,
        env={**clean, **env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


def _env(server: FakePodero) -> dict[str, str]:
    return {
        "PODERO_CLIENT_ID": server.client_id,
        "PODERO_CLIENT_SECRET": server.client_secret,
        "PODERO_BASE_URL": server.url,
    }


async def test_watch_a_keys_file_prints_changes_and_the_figures(tmp_path: Path) -> None:
    """watch --keys-file --rate-limit prints a line per first poll and change, and the achieved interval."""
    async with FakePodero(wallboxes=10, speed=600) as server:  # a new reading every 0.5 s
        keys = tmp_path / "keys.txt"
        keys.write_text("# the fleet\n" + "".join(", ".join(key) + "\n\n" for key in server.wallbox_keys()))
        code, out, err = await _cli(
            "watch", "--keys-file", str(keys), "--interval", "0.2", "--rate-limit", "200", "--count", "15",
            env=_env(server),
        )  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 15
    assert sum("(first poll)" in line for line in lines) == 10
    assert any("(changed: " in line and "current_state_last_updated_at" in line for line in lines)
    assert {line.split()[0] for line in lines} <= {key[2] for key in server.wallbox_keys()}
    assert "watching 10 wallboxes every 0.2 s" in err
    assert re.search(r"fleet: 10 wallboxes, interval 0.2 s, achieved [\d.]+ s, slowest age [\d.]+ s", err), err


async def test_a_bad_keys_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A keys file line that is not three ids names the file and line, exit 2, before any request."""
    async with FakePodero(wallboxes=2) as server:
        keys = tmp_path / "keys.txt"
        keys.write_text(" ".join(server.wallbox_keys()[0]) + "\nnot a key at all\n")
        code, out, err = await _cli("watch", "--keys-file", str(keys), env=_env(server))
        missing = await _cli("watch", "--keys-file", str(tmp_path / "nothing.txt"), env=_env(server))
    assert (code, out) == (2, "")
    assert f"{keys} line 2: expected org_id user_id wallbox_id" in err
    assert missing[0] == 2
    assert "cannot read --keys-file" in missing[2]
    assert server.token_requests == server.wallbox_requests == 0


async def test_serve_fake_writes_the_fleets_keys(tmp_path: Path) -> None:
    """serve-fake --wallboxes N --keys-file F serves N wallboxes and writes their keys, one a line."""
    keys = tmp_path / "keys.txt"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "podero_client", "serve-fake", "--port", "0", "--wallboxes", "25",
        "--keys-file", str(keys), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        assert first.startswith("Fake Podero API at ")
    finally:
        process.terminate()
        await process.wait()
    assert [tuple(line.split()) for line in keys.read_text().splitlines()] == FakePodero(wallboxes=25).wallbox_keys()


def test_a_failed_poll_line_escapes_the_servers_text() -> None:
    """A failed poll's line shows the server's control characters escaped, never raw to the terminal."""
    from podero_client import ResponseValidationError, WallboxFailed
    from podero_client._cli import _fleet_line

    error = ResponseValidationError("field x: \x1b[2Jgone", body="")
    line = _fleet_line(WallboxFailed((uuid.uuid4(), uuid.uuid4(), uuid.uuid4()), error))
    assert "\x1b" not in line
    assert "\\x1b[2Jgone" in line


def test_an_achieved_interval_not_known_yet_says_why() -> None:
    """Before any wallbox is polled twice, the figures line says the achieved interval is not known yet."""
    stats = FleetStats(
        size=3, interval=60, achieved_interval=None, slowest_age=0.5, waiting=0, in_flight=0, polls=3, failures=0,
        changes=0,
    )  # fmt: skip
    line = _stats_line(stats)
    assert "achieved not known yet (no wallbox polled twice), slowest age 0.5 s" in line
    assert "achieved 59.5 s," in _stats_line(attrs.evolve(stats, achieved_interval=59.5))
