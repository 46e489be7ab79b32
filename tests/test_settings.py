"""The checks of settings and ids (_settings.py): refused at construction, before any I/O, never echoing a secret.

Cases 9 to 11 and 13 of issue 11 against the raw ScriptedServer (tests/_servers.py), the rest against
the fake server; each on both backends.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from _servers import WALLBOX_PATH, ScriptedServer, make_client

from podero_client import BearerToken, ClientCredentials, InvalidArgumentError, PasswordCredentials, PoderoClient
from podero_client._settings import _parse_uuid, as_id_argument
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID, FakePodero

IDS = (ORG_ID, USER_ID, WALLBOX_ID)


# Issue 11, case 9 and 10: base_url -------------------------------------------------------------
@pytest.mark.parametrize(
    "base_url",
    ["https://user:hunter2-pass@app.podero.com", "https://hunter2-pass@app.podero.com",
     "https://user:hunter2#pass@app.podero.com", "http://user:hunter2-pass@127.0.0.1:1"],
)  # fmt: skip
def test_userinfo_in_base_url_is_refused_unseen(base_url: str, backend: str) -> None:
    """Case 9: a base_url with user:password@ is InvalidArgumentError that does not show the password."""
    with pytest.raises(InvalidArgumentError, match="user name or password") as caught:
        PoderoClient(credentials=BearerToken("tok-1"), base_url=base_url, http_backend=backend)  # type: ignore[arg-type]
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    "base_url", ["https://app.podero.com/p?x=1", "https://app.podero.com/p?", "https://app.podero.com/p#frag"]
)
def test_query_or_fragment_in_base_url_is_refused(base_url: str, backend: str) -> None:
    """Case 10: a base_url with ?query or #fragment is InvalidArgumentError: it would swallow the API path."""
    with pytest.raises(InvalidArgumentError, match=r"query|fragment"):
        PoderoClient(credentials=BearerToken("tok-1"), base_url=base_url, http_backend=backend)  # type: ignore[arg-type]


def test_userinfo_in_an_absolute_token_url_is_refused_unseen() -> None:
    """Case 9: the same rule for an absolute token_url."""
    credentials = ClientCredentials("id", "secret-1", token_url="https://u:hunter2-pass@auth.example/token")
    with pytest.raises(InvalidArgumentError) as caught:
        PoderoClient(credentials=credentials)
    assert "hunter2" not in str(caught.value)


# Issue 11, case 11: settings -------------------------------------------------------------------
@pytest.mark.parametrize(
    "settings",
    [{"leeway": "60"}, {"leeway": float("nan")}, {"leeway": float("inf")}, {"leeway": -1}, {"leeway": True},
     {"timeout": float("nan")}, {"timeout": 0}, {"timeout": -1}, {"timeout": float("inf")}, {"timeout": "5"},
     {"timeout": True}, {"timeout": None}, {"timeout": httpx.Timeout(float("nan"))},
     {"timeout": httpx.Timeout(5.0, connect=0)}, {"timeout": httpx.Timeout(5.0, read=-1)},
     {"timeout": httpx.Timeout(5.0, pool=float("inf"))}, {"retry": {"max_attempts": 3}}],
)  # fmt: skip
def test_bad_settings_fail_at_construction(
    scripted_server: ScriptedServer, backend: str, settings: dict[str, Any]
) -> None:
    """Case 11: leeway, timeout (and each part of an httpx.Timeout) and retry are checked before any I/O."""
    with pytest.raises(InvalidArgumentError):
        make_client(scripted_server, backend, **settings)
    assert scripted_server.requests == []


async def test_good_settings_still_work(scripted_server: ScriptedServer, backend: str) -> None:
    """Case 11: the checks let through a float leeway, an httpx.Timeout with None parts, and an int timeout."""
    for settings in ({"leeway": 0, "timeout": 5}, {"leeway": 30.5, "timeout": httpx.Timeout(5.0, pool=None)}):
        async with make_client(scripted_server, backend, **settings) as podero:
            await podero.get_wallbox(*IDS)


# Issue 11, case 13: ids ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad_id",
    [" " + "a" * 30 + " ", "+" + "a" * 31, "a" * 32, "{" + WALLBOX_ID + "}", "urn:uuid:" + WALLBOX_ID,
     WALLBOX_ID + "\n", "_".join([WALLBOX_ID[:8], WALLBOX_ID[9:]]), WALLBOX_ID.replace("-", "") + "----",
     " " + WALLBOX_ID, "../../admin", ""],
)  # fmt: skip
async def test_ids_only_in_canonical_form(scripted_server: ScriptedServer, backend: str, bad_id: str) -> None:
    """Case 13: an id that is not 8-4-4-4-12 hex text is InvalidArgumentError, with no request sent."""
    async with make_client(scripted_server, backend) as podero:
        with pytest.raises(InvalidArgumentError):
            await podero.get_wallbox(ORG_ID, USER_ID, bad_id)
    assert scripted_server.requests == []


async def test_uppercase_ids_are_the_same_uuid(scripted_server: ScriptedServer, backend: str) -> None:
    """Case 13: the documented forms: canonical text in either case names the same device."""
    async with make_client(scripted_server, backend) as podero:
        await podero.get_wallbox(ORG_ID.upper(), USER_ID, WALLBOX_ID.upper())
    assert scripted_server.api_requests[0].path == WALLBOX_PATH


@pytest.mark.parametrize("bad", ["../../admin", "", "7d3c5b2a", 42, None])
async def test_bad_ids_fail_before_any_io(fake_podero: FakePodero, podero: PoderoClient, bad: object) -> None:
    """A path parameter that is not a UUID is a ValueError, and nothing is sent."""
    with pytest.raises(ValueError, match="wallbox_id must be a UUID"):
        await podero.get_wallbox(ORG_ID, USER_ID, bad)  # type: ignore[arg-type]
    assert fake_podero.token_requests + fake_podero.wallbox_requests == 0


@pytest.mark.parametrize(
    ("base_url", "allowed"),
    [
        ("http://api.example.com", False),
        ("http://10.0.0.8:8000", False),
        ("http://127.0.0.1:8000", True),
        ("http://localhost:8000", True),
        ("http://[::1]:8000", True),
        ("https://app.podero.com", True),
    ],
)
def test_plain_http_is_refused_unless_loopback(base_url: str, allowed: bool) -> None:
    """Credentials never go over plain http to another host without allow_insecure_http."""
    credentials = ClientCredentials("id", "secret")
    if allowed:
        PoderoClient(credentials=credentials, base_url=base_url)
    else:
        with pytest.raises(InvalidArgumentError, match="plain http"):
            PoderoClient(credentials=credentials, base_url=base_url)
        PoderoClient(credentials=credentials, base_url=base_url, allow_insecure_http=True)


def test_insecure_absolute_token_url_is_refused() -> None:
    """The token URL is checked like the base URL."""
    credentials = PasswordCredentials("u", "p", token_url="http://auth.example.com/token")
    with pytest.raises(InvalidArgumentError, match=r"plain http to auth\.example\.com"):
        PoderoClient(credentials=credentials)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_url": "ftp://app.podero.com"},
        {"base_url": "not a url"},
        {"base_url": "https://app.podero.com:abc"},
        {"credentials": PasswordCredentials("u", "p", token_url="https://auth.podero.com:abc/token")},
        {"timeout": "30"},
        {"credentials": "secret"},
        {"http_backend": "curl"},
    ],
)
def test_bad_settings_are_invalid_arguments(kwargs: dict[str, object]) -> None:
    """Wrong settings fail in the constructor with a ValueError that names them."""
    kwargs.setdefault("credentials", BearerToken("t"))
    with pytest.raises(InvalidArgumentError):
        PoderoClient(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [float("nan"), 0, -1, float("inf"), httpx.Timeout(float("nan")), httpx.Timeout(5.0, connect=0)],
    ids=["nan", "zero", "negative", "inf", "timeout-nan", "timeout-connect-zero"],
)
async def test_with_options_checks_timeout_like_the_constructor(podero: PoderoClient, value: object) -> None:
    """with_options(timeout=) refuses what the constructor refuses: nan, 0, -1, inf, a Timeout part <= 0."""
    with pytest.raises(InvalidArgumentError, match="timeout"):
        podero.with_options(timeout=value)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="timeout"):
        PoderoClient(credentials=BearerToken("t"), base_url="http://127.0.0.1:1", timeout=value)  # type: ignore[arg-type]


def test_an_id_argument_as_str_uuid_writes_it_stays_text() -> None:
    """The URL carries that text as it is: no UUID is built for it; other forms are parsed or refused."""
    text = "3f2b5c1e-0000-4000-8000-000000000000"
    assert as_id_argument("org_id", text) is text
    assert as_id_argument("org_id", text.upper()) == uuid.UUID(text)
    parsed = uuid.UUID(text)
    assert as_id_argument("org_id", parsed) is parsed
    with pytest.raises(InvalidArgumentError, match="org_id must be a UUID"):
        as_id_argument("org_id", "+" + text[1:])


async def test_an_id_in_any_form_asks_for_the_same_url(fake_podero: FakePodero) -> None:
    """Text, upper-case text and a UUID: one wallbox, one path at the server."""
    async with fake_podero.client() as podero:
        for wallbox_id in (WALLBOX_ID, WALLBOX_ID.upper(), uuid.UUID(WALLBOX_ID)):
            assert (await podero.get_wallbox(ORG_ID, USER_ID, wallbox_id)).id == uuid.UUID(WALLBOX_ID)
    paths = {entry.path for entry in fake_podero.request_log if entry.route == "wallbox"}
    assert paths == {f"/api/partners/v2.0/org/{ORG_ID}/users/{USER_ID}/wallboxes/{WALLBOX_ID}"}


async def test_ids_as_text_reach_the_url_without_the_cache_of_parsed_ids(fake_podero: FakePodero) -> None:
    """A poller's 100,000 ids given as text would churn that cache (4,096): text as str(uuid) writes it skips it."""
    async with fake_podero.client() as podero:
        await podero.get_wallbox(*IDS)  # the token, the connection: nothing of them parses an id
        before = _parse_uuid.cache_info()
        await podero.get_wallbox(*IDS)
        assert _parse_uuid.cache_info()[:2] == before[:2]
        await podero.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID.upper())  # another form still goes through it
        assert _parse_uuid.cache_info()[:2] != before[:2]
