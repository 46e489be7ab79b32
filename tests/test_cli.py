"""The podero-client command, run as a subprocess against the fake server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from conftest import ROOT

import podero_client
from podero_client import ClientCredentials, FleetStats, PoderoClient
from podero_client._cli import _stats_line
from podero_client._extras import install_hint
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


def _default_sigint() -> None:
    """In the child: SIGINT as a terminal delivers it. A background job (make test &) inherits it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


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


WALLBOX_PATH = f"/api/partners/v2.0/org/{ORG_ID}/users/{USER_ID}/wallboxes"


@pytest.mark.parametrize(
    ("fault", "secret", "args", "expected_code", "expected_line"),
    [
        (None, None, (ORG_ID, USER_ID, ORG_ID), 4,
         f"error: NotFoundError: 404 from GET {WALLBOX_PATH}/{ORG_ID}: Not Found (at http://127.0.0.1:"),
        (None, "wrong", IDS, 7,
         "error: AuthenticationError: the token endpoint refused the credentials: 401 from POST /oauth2/token/"),
        (Fault(status=403, json={"detail": "not yours"}), None, IDS, 3, "error: PermissionDeniedError: 403 from GET"),
        (Fault(status=400, json={"detail": "bad"}), None, IDS, 5,
         f"error: BadRequestError: 400 from GET {WALLBOX_PATH}/{WALLBOX_ID}: bad (at http://127.0.0.1:"),
        (None, None, (ORG_ID, USER_ID, "../../admin"), 2, "error: InvalidArgumentError: wallbox_id must be a UUID"),
    ],
    ids=["not-found", "wrong-secret", "permission", "api-error", "bad-id"],
)  # fmt: skip
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
    assert code == expected_code, err
    assert err.startswith(expected_line)
    assert len(err.strip().splitlines()) == 1
    assert out == ""


async def test_token_endpoint_not_found_is_a_configuration_error(fake_podero: FakePodero) -> None:
    """A base URL with a wrong path: the token endpoint's 404 exits 7, not 4 as a missing wallbox would."""
    code, _, err = await _cli("wallbox", *IDS, "--base-url", f"{fake_podero.url}/wrong", env=_env(fake_podero))
    assert code == 7
    assert err.startswith("error: NotFoundError: 404 from POST /wrong/oauth2/token/: Not Found (at http://127.0.0.1:")
    assert err.rstrip().endswith("check the credentials, PODERO_BASE_URL and the token URL")
    assert fake_podero.wallbox_requests == 0


async def test_half_set_credentials_name_the_missing_variable() -> None:
    """PODERO_CLIENT_ID without PODERO_CLIENT_SECRET: exit 2, naming the one that is missing."""
    code, _, err = await _cli("wallbox", *IDS, env={"PODERO_CLIENT_ID": "id"})
    assert code == 2
    assert err.startswith("error: InvalidArgumentError: PODERO_CLIENT_ID is set but PODERO_CLIENT_SECRET is not")


async def test_connection_error_exit_code(refused_url: str) -> None:
    """Nothing listening: exit 6 after the retries."""
    base = refused_url.rsplit("/", 1)[0]
    code, _, err = await _cli("wallbox", *IDS, "--base-url", base, env={"PODERO_TOKEN": "t"})
    assert code == 6
    assert err.startswith(f"error: APIConnectionError: no response to GET {base}/api/partners/v2.0/org/")
    assert err.endswith(": cannot connect: Connection refused\n"), "the host it could not reach, and why"


async def test_missing_credentials_name_the_variables() -> None:
    """Without credentials in the environment: exit 2, naming what to set."""
    code, _, err = await _cli("wallbox", *IDS)
    assert code == 2
    assert "PODERO_CLIENT_ID and PODERO_CLIENT_SECRET" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--interval", "0"), "must be > 0"),
        (("--fast-interval", "0"), "must be > 0"),
        (("--count", "0"), ">= 1"),
        (("--timeout", "0"), "must be > 0"),
        (("--timeout", "soon"), "must be a number > 0"),
    ],
)
async def test_watch_limits_are_usage_errors(args: tuple[str, ...], message: str) -> None:
    """--interval, --fast-interval, --count and --timeout keep the SDK's limits in argparse: exit 2, before any call."""
    code, _, err = await _cli("watch", *IDS, *args)
    assert code == 2
    assert message in err


async def test_bad_usage_exits_2() -> None:
    """argparse errors use the same exit code as bad arguments."""
    code, _, err = await _cli("wallbox", ORG_ID)
    assert code == 2
    assert "the following arguments are required" in err


@pytest.mark.parametrize("where", ["before", "after"])
async def test_verbose_shows_token_and_retry_lines_without_secrets(fake_podero: FakePodero, where: str) -> None:
    """--verbose, before or after the command, logs the token request and each retry; no secret appears."""
    fake_podero.inject("wallbox", Fault(status=503, headers={"Retry-After": "0"}))
    args = ("--verbose", "wallbox", *IDS) if where == "before" else ("wallbox", *IDS, "-v")
    code, _, err = await _cli(*args, env=_env(fake_podero))
    assert code == 0
    assert "requesting an access token (grant_type=client_credentials)" in err
    assert "retrying GET" in err
    assert "after HTTP 503" in err
    for secret in [fake_podero.client_secret, *fake_podero.issued]:
        assert secret not in err


async def test_quiet_without_verbose(fake_podero: FakePodero) -> None:
    """Without -v, a retried call writes nothing to stderr."""
    fake_podero.inject("wallbox", Fault(status=503, headers={"Retry-After": "0"}))
    code, _, err = await _cli("wallbox", *IDS, env=_env(fake_podero))
    assert (code, err) == (0, "")


async def test_without_the_testing_extra_demo_and_import_name_it(tmp_path: Path) -> None:
    """Without jsonschema (the testing extra): demo and importing podero_client.testing name the extra in one line."""
    (tmp_path / "jsonschema.py").write_text("raise ImportError(\"No module named 'jsonschema'\", name='jsonschema')\n")
    line = f"podero_client.testing needs the 'testing' extra: {install_hint('testing')}"
    code, out, err = await _cli("demo", env={"PYTHONPATH": str(tmp_path)})
    assert (code, out, err) == (2, "", f"error: {line}\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import podero_client.testing",
        env={**os.environ, "PYTHONPATH": str(tmp_path)}, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert stderr.decode().splitlines()[-1] == f"ImportError: {line}"


async def test_version() -> None:
    """--version prints the package's version."""
    code, out, _ = await _cli("--version")
    assert (code, out) == (0, f"podero-client {podero_client.__version__}\n")


async def test_help_is_useful() -> None:
    """--help names the commands, the environment variables and the exit codes."""
    code, out, _ = await _cli("--help")
    assert code == 0
    for text in (
        "wallbox",
        "watch",
        "demo",
        "serve-fake",
        "PODERO_CLIENT_ID",
        "exit codes",
        "4  not found",
        "7  no token",
    ):
        assert text in out
    code, out, _ = await _cli("wallbox", "--help")
    assert code == 0
    assert "--include-deleted" in out
    assert "--sandbox" in out


async def test_subcommand_help_shows_only_what_applies() -> None:
    """demo and serve-fake --help list neither credentials nor the API's exit codes; serve-fake has no -v."""
    for command in ("demo", "serve-fake"):
        code, out, _ = await _cli(command, "--help")
        assert code == 0
        assert "2  " in out
        assert "PODERO_CLIENT_ID" not in out
        assert "3  the API refused" not in out
        assert "7  no token" not in out
    assert "--verbose" not in out, "serve-fake makes no token requests or retries to log"
    assert "starts at the real time" in " ".join(out.split())
    code, out, _ = await _cli("watch", "--help")
    assert "PODERO_CLIENT_ID" in out
    assert "7  no token" in out


async def test_demo_runs_without_credentials() -> None:
    """The main job: exits 0 and shows a wallbox, a token refresh and a retried 503."""
    code, out, err = await _cli("demo")
    assert code == 0, err
    assert "mode         CHARGING" in out
    assert "2 token request(s), 3 wallbox request(s)" in out, "one refresh after the 401"
    assert "after HTTP 503" in out
    assert "9 wallboxes and NotFoundError for the last key" in out
    assert "CHARGING    charging at 1.38 kW" in out
    assert "PLUGGED_IN  fully charged" in out
    assert "READY       no car plugged in" in out
    assert "8 changes in" in out
    assert "7. watch_wallboxes: 200 wallboxes" in out
    assert re.search(r"-> achieved interval [\d.]+ s \(the budget allows 1 s\)", out), out
    assert "Done in" in out


async def test_watch_prints_each_change(fake_podero: FakePodero) -> None:
    """watch prints one line per new state of a living wallbox, and stops after --count."""
    fake_podero.speed = 3000  # a new reading every 0.1 s
    code, out, err = await _cli("watch", *IDS, "--interval", "0.02", "--count", "3", env=_env(fake_podero))
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 3
    assert len({line.split()[0] for line in lines}) == 3, "three different reading times"
    for line in lines:
        assert re.fullmatch(r"\d\d:\d\d:\d\d  (CHARGING   |PLUGGED_IN |READY      ) \S.*", line), line
    assert "watching wallbox" in err


async def test_watch_stops_on_a_missing_wallbox(fake_podero: FakePodero) -> None:
    """watch raises NotFoundError out of the loop: one line, exit 4."""
    code, out, err = await _cli("watch", *IDS[:2], ORG_ID, "--interval", "0.02", env=_env(fake_podero))
    assert (code, out) == (4, "")
    assert err.splitlines()[-1].startswith("error: NotFoundError: 404 from GET")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--port", "-1"), "argument --port: must be 0 to 65535, got -1"),
        (("--port", "65536"), "argument --port: must be 0 to 65535, got 65536"),
        (("--port", "http"), "argument --port: must be a number 0 to 65535, got 'http'"),
        (("--chaos", "2"), "argument --chaos: must be 0 to 1, got 2"),
        (("--chaos", "-0.5"), "argument --chaos: must be 0 to 1, got -0.5"),
        (("--chaos", "nan"), "argument --chaos: must be 0 to 1, got nan"),
        (("--speed", "-1"), "argument --speed: must be >= 0, got -1"),
        (("--rate-limit", "-1"), "argument --rate-limit: must be >= 0, got -1"),
        (("--rate-limit", "inf"), "argument --rate-limit: must be >= 0, got inf"),
    ],
)
async def test_serve_fake_refuses_bad_options(args: tuple[str, ...], message: str) -> None:
    """serve-fake refuses a port outside 0-65535 and a chaos outside 0-1, as a usage error."""
    code, _, err = await _cli("serve-fake", *args)
    assert code == 2
    assert err.rstrip().endswith(message)
    assert "Traceback" not in err


async def test_serve_fake_reports_a_busy_port() -> None:
    """A port already taken: one line naming it, exit 2, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = await _cli("serve-fake", "--port", str(port))
    assert (code, out) == (2, "")
    assert err == f"error: cannot serve on 127.0.0.1:{port}: Address already in use; pick another --port\n"


async def test_serve_fake_serves_the_api_and_ctrl_c_ends_it_quietly() -> None:
    """serve-fake prints its URL, answers the real SDK, and ends on Ctrl-C with no traceback."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "podero_client", "serve-fake", "--port", "0", "--speed", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, preexec_fn=_default_sigint,
    )  # fmt: skip
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
        process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 130
    assert stderr == b""


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
    """examples/poller.py prints each change of a living wallbox, including a pending reauthentication."""
    fake_podero.speed = 3000  # a new reading every 0.1 s
    code, out, err = await _example(
        "poller.py", *IDS, "--interval", "0.02", "--max-updates", "3", env=_env(fake_podero)
    )
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.startswith(WALLBOX_ID)]
    assert len(lines) == 3
    for line in lines:
        assert re.fullmatch(rf"{WALLBOX_ID}: (CHARGING|PLUGGED_IN|READY), online, (not )?charging, \d+ W", line), line
    assert "the customer must sign in again: /api/partners/v2.0/actions/4711/resolve" in out


@pytest.mark.parametrize("example", ["poller.py", "batch.py"])
async def test_examples_end_quietly_on_ctrl_c(fake_podero: FakePodero, example: str) -> None:
    """Ctrl-C ends an example with exit 130 and no traceback."""
    args = [*IDS, "--interval", "0.02"] if example == "poller.py" else ["-"]
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "examples" / example), *args,
        env={**os.environ, **_env(fake_podero)}, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, preexec_fn=_default_sigint,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stdin is not None
    if example == "poller.py":
        await asyncio.wait_for(process.stdout.readline(), 30)  # it is watching
    else:
        fake_podero.inject("wallbox", Fault(delay=60))
        process.stdin.write(",".join(IDS).encode() + b"\n")
        process.stdin.close()
        # Until its request waits for the slow answer; the fake has no event to wait on.
        while not fake_podero.wallbox_in_flight:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 130
    assert b"Traceback" not in stderr


@pytest.mark.parametrize("content", [None, "{not json", "[1, 2]", "\udcff"], ids=["missing", "bad", "array", "binary"])
async def test_serve_fake_with_an_unreadable_spec_is_one_line(tmp_path: Path, content: str | None) -> None:
    """serve-fake --spec FILE that is missing or not a JSON object: one line on stderr, exit 2, no traceback."""
    spec = tmp_path / "spec.json"
    if content == "\udcff":
        spec.write_bytes(b"\xff\xfe{")
    elif content is not None:
        spec.write_text(content)
    code, out, err = await _cli("serve-fake", "--port", "0", "--spec", str(spec))
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("error: cannot read --spec ")
    assert "Traceback" not in err
    assert out == ""


# Exit codes for a refused permission and a timeout, end to end --------------------------------


async def test_permission_denied_exits_3(fake_podero: FakePodero) -> None:
    """A 403 is a refused permission: exit 3, one line naming it."""
    fake_podero.inject("wallbox", Fault(status=403, json={"detail": "not your organization"}))
    env = {"PODERO_CLIENT_ID": fake_podero.client_id, "PODERO_CLIENT_SECRET": fake_podero.client_secret}
    code, _, err = await _cli("wallbox", *IDS, "--base-url", fake_podero.url, env=env)
    assert code == 3
    assert err.startswith("error: PermissionDeniedError: 403 from GET /api/partners/v2.0/org/")
    assert err.endswith(f": not your organization (at {fake_podero.url})\n")
    assert err.count("\n") == 1


@pytest.fixture
def unanswered_url() -> Iterator[str]:
    """A port whose accept queue is full: the kernel drops new SYNs, so connecting times out."""
    with socket.socket() as listener, contextlib.ExitStack() as stack:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        address = listener.getsockname()
        for _ in range(3):  # enough to fill a backlog of 0 (Linux keeps one)
            filler = stack.enter_context(socket.socket())
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(address)
        yield f"http://127.0.0.1:{address[1]}"


async def test_timeout_exits_6(unanswered_url: str) -> None:
    """No answer within the connect timeout (--timeout 0.5), after every retry: exit 6 as a timeout."""
    code, _, err = await _cli(
        "wallbox", *IDS, "--base-url", unanswered_url, "--timeout", "0.5", env={"PODERO_TOKEN": "t"}
    )
    assert code == 6
    assert err.startswith(f"error: APITimeoutError: timed out on GET {unanswered_url}/api/partners/v2.0/org/")
    assert ": ConnectTimeout" in err
    assert err.count("\n") == 1


async def test_timeout_bounds_each_read(fake_podero: FakePodero) -> None:
    """Every answer 1 s late: with --timeout 0.2 each attempt times out (exit 6); the default 30 s would wait."""
    fake_podero.inject("wallbox", *[Fault(delay=1.0)] * 4)  # the first try and the RetryPolicy's three retries
    code, _, err = await _cli("wallbox", *IDS, "--timeout", "0.2", env=_env(fake_podero))
    assert code == 6, err
    assert ": ReadTimeout" in err
    assert fake_podero.wallbox_requests == 4


# The command line for fleets: watch --keys-file, serve-fake --wallboxes -----------------------


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
