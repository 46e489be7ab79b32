"""The command line for fleets: watch --keys-file, serve-fake --wallboxes."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import uuid
from pathlib import Path

import attrs
import pytest

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


async def test_watch_with_redis_runs_a_replica_of_a_shared_fleet(tmp_path: Path, redis_url: str) -> None:
    """watch --redis --fleet: a replica polls the fleet, writes the stream, and its figures count the replicas."""
    import redis.asyncio

    name = f"cli-{uuid.uuid4().hex}"
    async with FakePodero(wallboxes=4) as server:
        keys = tmp_path / "keys.txt"
        keys.write_text("".join(" ".join(key) + "\n" for key in server.wallbox_keys()))
        code, out, err = await _cli(
            "watch", "--keys-file", str(keys), "--interval", "0.2", "--count", "4", "--rate-limit", "100",
            "--fleet", name, "--lease", "3",
            env={**_env(server), "PODERO_REDIS_URL": redis_url},  # out of `ps`
        )  # fmt: skip
    client = redis.asyncio.Redis.from_url(redis_url)
    written: list[bytes] = []
    try:
        entries = await client.xlen(f"podero:fleet:{{{name}}}:changes")
        written = [key async for key in client.scan_iter(match=f"*{name}*")]
    finally:
        for key in written:
            await client.delete(key)
        await client.aclose()
    assert code == 0, err
    assert sum("(first poll)" in line for line in out.splitlines()) == 4
    assert entries == 4
    budget = [key.decode() for key in written if b"budget" in key]  # --rate-limit: the fleet's shared budget
    assert budget
    assert all(key.startswith(f"{{podero:fleet:{name}:budget}}:") for key in budget)  # one hash tag, not nested
    assert f"with fleet {name!r} on redis://127.0.0.1:" in err
    assert "1 replicas" in err


async def test_redis_options_go_together(tmp_path: Path) -> None:
    """--redis without --fleet, --fleet without --redis, or --redis without --keys-file: one line, exit 2."""
    keys = tmp_path / "keys.txt"
    async with FakePodero(wallboxes=1) as server:
        keys.write_text(" ".join(server.wallbox_keys()[0]) + "\n")
        no_fleet = await _cli("watch", "--keys-file", str(keys), "--redis", "redis://127.0.0.1", env=_env(server))
        no_redis = await _cli("watch", "--keys-file", str(keys), "--fleet", "f", env=_env(server))
        one = await _cli("watch", *server.wallbox_keys()[0], "--redis", "redis://127.0.0.1", env=_env(server))
        bad_url = await _cli(
            "watch", "--keys-file", str(keys), "--redis", "redis://:pw@h?db=abc", "--fleet", "f", env=_env(server)
        )
    assert no_fleet[0] == no_redis[0] == one[0] == bad_url[0] == 2
    assert "--redis needs --fleet" in no_fleet[2]
    assert "--fleet and --lease need --redis" in no_redis[2]
    assert "give --keys-file" in one[2]
    assert "RedisFleet.url cannot be parsed" in bad_url[2]
    assert "pw" not in bad_url[2]
    assert server.wallbox_requests == 0


@pytest.mark.parametrize(("stop", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
async def test_sigterm_and_ctrl_c_end_a_watch_quietly(tmp_path: Path, stop: signal.Signals, code: int) -> None:
    """SIGTERM (a deploy) ends watch --keys-file with exit 0, Ctrl-C with 130; no traceback either way."""
    async with FakePodero(wallboxes=3) as server:
        keys = tmp_path / "keys.txt"
        keys.write_text("".join(" ".join(key) + "\n" for key in server.wallbox_keys()))
        clean = {key: value for key, value in os.environ.items() if not key.startswith("PODERO_")}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "podero_client", "watch", "--keys-file", str(keys), "--interval", "0.2",
            env={**clean, **_env(server)}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            # A shell's background job (make test &) ignores SIGINT, and a child inherits that: not here.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
        assert process.stdout is not None
        await asyncio.wait_for(process.stdout.readline(), 30)  # watching: its first poll is printed
        process.send_signal(stop)
        _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == code, err.decode()
    assert b"Traceback" not in err


def test_an_achieved_interval_not_known_yet_says_why() -> None:
    """Before any wallbox is polled twice, the figures line says the achieved interval is not known yet."""
    stats = FleetStats(
        size=3, interval=60, achieved_interval=None, slowest_age=0.5, waiting=0, in_flight=0, polls=3, failures=0,
        changes=0,
    )  # fmt: skip
    line = _stats_line(stats)
    assert "achieved not known yet (no wallbox polled twice), slowest age 0.5 s" in line
    assert "achieved 59.5 s," in _stats_line(attrs.evolve(stats, achieved_interval=59.5))
