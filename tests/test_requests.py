"""RequestBuilder: the URL joined without httpx's parser is exactly what the parser gives."""

from __future__ import annotations

import datetime
import functools
import types
import uuid
from typing import Any

import httpx
import httpx._urlparse
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from podero_client import BearerToken, PoderoClient
from podero_client._generated.api.user_wallboxes import retrieve_wallbox
from podero_client._requests import RequestBuilder

BASES = ["https://app.podero.com", "https://proxy.example.com/podero", "http://[::1]:8080", "http://h/a%20b/c d"]
# Every character class the fast path treats apart: kept ones, "%" with and without an escape, dots,
# characters httpx quotes, a query's "?" and "#", non-ASCII and a control character.
TEXT = st.text(alphabet="aZ09-._~!$&'()*+,;=:@/?#%[] \"<>^`{|}\\é\u00ff\t\x7f", max_size=40)


@functools.cache  # an httpx client costs milliseconds (its TLS context): one per base
def _builder(base: str) -> RequestBuilder:
    return RequestBuilder(httpx.AsyncClient(base_url=base), base.rstrip("/"))


def _parsed_by_httpx(base: str, path: str, query: str | None) -> httpx.URL | type[Exception]:
    joined = f"{base.rstrip('/')}/{path.lstrip('/')}"
    try:
        return httpx.URL(joined if query is None else f"{joined}?{query}")
    except httpx.InvalidURL:
        return httpx.InvalidURL


@pytest.mark.parametrize("base", BASES)
@settings(max_examples=200, deadline=None)
@given(path=TEXT, query=st.none() | TEXT)
@example(path="/a%zz/%4/%", query="b=%zz&c=%")  # a "%" that starts no escape: httpx keeps it too
@example(path="/./a/..", query=None)
def test_a_joined_url_is_what_httpx_parses(base: str, path: str, query: str | None) -> None:
    expected = _parsed_by_httpx(base, path, query)
    if expected is httpx.InvalidURL:
        with pytest.raises(httpx.InvalidURL):
            _builder(base).url(path, query)
        return
    built = _builder(base).url(path, query)
    assert isinstance(expected, httpx.URL)
    assert built._uri_reference == expected._uri_reference


def test_a_wallbox_url_is_joined_without_httpx_s_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    builder = RequestBuilder(httpx.AsyncClient(), "https://app.podero.com")  # the base parsed once, here
    ids = [uuid.uuid4() for _ in range(3)]
    arguments = (("org_id", ids[0]), ("user_id", ids[1]), ("wallbox_id", ids[2]), ("include_deleted", True))
    builder.build(retrieve_wallbox, arguments, ())  # and the template of a GET, once
    parses: list[str] = []
    original = httpx._urlparse.urlparse

    def counted(url: str = "", **kwargs: Any) -> Any:
        parses.append(url)
        return original(url, **kwargs)

    monkeypatch.setattr("httpx._urls.urlparse", counted)
    ids = [uuid.uuid4() for _ in range(3)]
    arguments = (("org_id", ids[0]), ("user_id", ids[1]), ("wallbox_id", ids[2]), ("include_deleted", True))
    request = builder.build(retrieve_wallbox, arguments, ())  # another wallbox
    assert parses == []
    assert str(request.url) == (
        "https://app.podero.com/api/partners/v2.0/org/{}/users/{}/wallboxes/{}?include_deleted=true".format(*ids)
    )
    builder.url("/a/../b", None)  # a dot segment: httpx's parser removes it
    builder.url("/a b", None)  # a space: httpx's parser quotes it
    assert len(parses) == 2


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (True, 1),  # equal, and hash alike: httpx sends "true" and "1"
        (0.0, -0.0),
        (
            datetime.datetime(2026, 1, 1, 12, tzinfo=datetime.UTC),
            datetime.datetime(2026, 1, 1, 13, tzinfo=datetime.timezone(datetime.timedelta(hours=1))),
        ),
    ],
)
def test_equal_query_values_that_read_differently_are_not_confused(first: Any, second: Any) -> None:
    builder = RequestBuilder(httpx.AsyncClient(), "https://app.podero.com")
    for value in (first, second, first):
        expected = _parsed_by_httpx("https://app.podero.com", "/x", str(httpx.QueryParams({"at": value})))
        built = builder.build(_ENDPOINT, (("at", value),), ())
        assert built.url == expected


_ENDPOINT = types.ModuleType("endpoint")  # a generated endpoint's one function the builder calls
_ENDPOINT._get_kwargs = lambda at: {"method": "get", "url": "/x", "params": {"at": at}}  # type: ignore[attr-defined]


async def test_views_with_headers_and_bodies_build_what_httpx_builds() -> None:
    """A view's headers key the copied request; a request with a body is httpx's own build."""
    from podero_client._generated.api.authentication import token
    from podero_client._generated.models import TokenInput

    async with PoderoClient(credentials=BearerToken("t"), base_url="https://app.podero.com") as client:
        ids = {"org_id": uuid.uuid4(), "user_id": uuid.uuid4(), "wallbox_id": uuid.uuid4()}
        for view in (client, client.with_options(headers={"X-A": "1"}), client.with_options(headers={"X-A": "2"})):
            request = view._request_for(retrieve_wallbox, {**ids, "include_deleted": False})
            expected = client._http.build_request(
                **retrieve_wallbox._get_kwargs(**ids, include_deleted=False),
                headers=dict(view._options.headers) if view._options else None,
            )
            assert (request.method, request.url, request.headers.raw) == (
                expected.method,
                expected.url,
                expected.headers.raw,
            )
        body = TokenInput.from_dict({"grant_type": "password", "username": "u", "password": "p"})
        request = client._request_for(token, {"body": body})
        expected = client._http.build_request(**token._get_kwargs(body=body))
        assert (request.method, request.url, request.headers.raw, request.content) == (
            expected.method,
            expected.url,
            expected.headers.raw,
            expected.content,
        )


def test_a_request_asked_for_once_is_not_cached() -> None:
    """A fleet's polls, each of another wallbox, leave nothing in the cache for the collector to walk."""
    builder = RequestBuilder(httpx.AsyncClient(), "https://app.podero.com")

    def arguments(wallbox: uuid.UUID) -> tuple[tuple[str, Any], ...]:
        return (("org_id", wallbox), ("user_id", wallbox), ("wallbox_id", wallbox), ("include_deleted", False))

    for _ in range(3):  # a fleet's intervals: each wallbox once per interval, more of them than the cache holds
        for index in range(5_000):
            builder.prepared(retrieve_wallbox, arguments(uuid.UUID(int=index)), ())
    assert builder._cached.cache_info().currsize == 0
    again = arguments(uuid.uuid4())
    first, second, third = (builder.prepared(retrieve_wallbox, again, ()) for _ in range(3))
    assert first is not second  # the second time it is asked for, it is cached
    assert second is third
    assert first.url == second.url
