"""The podero-client command's exit codes for a refused permission and a timeout, end to end."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import Iterator

import pytest

from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID, FakePodero, Fault

IDS = (ORG_ID, USER_ID, WALLBOX_ID)


async def _wallbox_command(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run ``python -m podero_client wallbox IDS ARGS`` with only the given PODERO_* variables."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("PODERO_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "podero_client", "wallbox", *IDS, *args,
        env={**clean, **env}, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


async def test_permission_denied_exits_3(fake_podero: FakePodero) -> None:
    """A 403 is a refused permission: exit 3, one line naming it."""
    fake_podero.inject("wallbox", Fault(status=403, json={"detail": "not your organization"}))
    env = {"PODERO_CLIENT_ID": fake_podero.client_id, "PODERO_CLIENT_SECRET": fake_podero.client_secret}
    code, err = await _wallbox_command("--base-url", fake_podero.url, env=env)
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
    """No answer within the connect timeout, after every retry: exit 6 as a timeout (takes ~25 s)."""
    code, err = await _wallbox_command("--base-url", unanswered_url, env={"PODERO_TOKEN": "t"})
    assert code == 6
    assert err.startswith(f"error: APITimeoutError: timed out on GET {unanswered_url}/api/partners/v2.0/org/")
    assert ": ConnectTimeout" in err
    assert err.count("\n") == 1
