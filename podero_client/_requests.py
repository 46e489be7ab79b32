"""Each operation's httpx.Request, built from the generated endpoint's arguments.

httpx builds a request in about 65 µs, most of it parsing the URL a character at a time,
then merging headers. A poller that asks for the same wallbox again hits the cache of built
requests; a fleet of 20,000 wallboxes misses any such cache on every poll. So the URL is
joined here without httpx's parser whenever its parser would keep every character as it is
(the generated paths quote each parameter with ``safe=""``), and a request without a body
or header parameters is a copy of one built by httpx for its method, with that URL. Anything
else is httpx's own build. A test compares both with what httpx builds.
"""

from __future__ import annotations

import collections
import functools
import re
from types import ModuleType
from typing import Any

import httpx
from httpx._urlparse import MAX_URL_LENGTH

# What httpx's URL parser leaves exactly as it is, in a path and in a query: RFC 3986's
# unreserved and sub-delims, ":@/", a query's "?", and "%" (httpx never escapes it again).
_PATH_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*")
_QUERY_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*")
CACHED = 4096  # prepared requests kept
_CACHED_QUERY_TYPES = frozenset((str, bool, int))
_PLAIN_KWARGS = frozenset(("method", "url", "params"))  # nothing per call but the URL


def _query(params: dict[str, Any]) -> str:
    """The params encoded as httpx encodes them; the few distinct ones a client sends, once each.

    Cached only for values whose equality means the same text: not floats (0.0 == -0.0), not
    datetimes (one instant in two zones), not lists. The type is in the key: True == 1.
    """
    if all(type(value) in _CACHED_QUERY_TYPES for value in params.values()):
        return _encoded_query(tuple((name, type(value), value) for name, value in params.items()))
    return str(httpx.QueryParams(params))


@functools.lru_cache(maxsize=256)
def _encoded_query(params: tuple[tuple[str, type, str | bool | int], ...]) -> str:
    return str(httpx.QueryParams({name: value for name, _, value in params}))


class RequestBuilder:
    """Builds the requests of one httpx client (its base URL, headers and timeout)."""

    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self._http = http
        self._base_url = base_url  # without its trailing "/"
        base = httpx.URL(base_url)._uri_reference
        # A base with a query or a fragment is joined by httpx alone (the string join would misplace them).
        self._base = base if base.query is None and base.fragment is None else None
        self._templates: dict[tuple[str, tuple[tuple[str, str], ...]], httpx.Request] = {}
        self._seen: collections.OrderedDict[int, None] = collections.OrderedDict()  # hashes: nothing the GC walks
        self._cached = functools.lru_cache(maxsize=CACHED)(self.build)

    def prepared(
        self, endpoint: ModuleType, arguments: tuple[tuple[str, Any], ...], headers: tuple[tuple[str, str], ...]
    ) -> httpx.Request:
        """``build``'s request, cached from the second time it is asked for among the last 4,096.

        Shared: copy it before changing it. A request asked for once is never cached: a fleet
        of 20,000 wallboxes would push every poll's request through the cache and out again,
        each outliving the collector's young generations to die in the old one, whose every
        collection walks all that is held. TypeError for an unhashable argument (a body).
        """
        key = hash((endpoint, arguments, headers))
        seen = self._seen
        if key in seen:
            seen.move_to_end(key)
            return self._cached(endpoint, arguments, headers)
        seen[key] = None
        if len(seen) > CACHED:
            seen.popitem(last=False)
        return self.build(endpoint, arguments, headers)

    def url(self, path: str, query: str | None) -> httpx.URL:
        """The absolute URL of a generated path and its encoded query, as httpx would parse it."""
        base = self._base
        if base is not None:
            joined = f"{base.path}/{path.lstrip('/')}"
            if (
                _PATH_CHARACTERS.fullmatch(joined)
                and "/." not in joined  # a dot segment: httpx would remove it
                and (query is None or _QUERY_CHARACTERS.fullmatch(query))
                and len(joined) + len(query or "") < MAX_URL_LENGTH // 2
            ):
                url = httpx.URL.__new__(httpx.URL)
                url._uri_reference = base._replace(path=joined, query=query)
                return url
        # httpx parses it (and refuses what it must): a relative URL, its merge with the base and the
        # merge of the params would each parse again; joining the strings gives what the merge gives.
        joined = f"{self._base_url}/{path.lstrip('/')}"
        return httpx.URL(joined if query is None else f"{joined}?{query}")

    def build(
        self, endpoint: ModuleType, arguments: tuple[tuple[str, Any], ...], headers: tuple[tuple[str, str], ...]
    ) -> httpx.Request:
        """The generated endpoint's request, as the httpx client builds it; ``headers`` from a view.

        The endpoint's own header parameters win over a view's headers, and both over the client's.
        A body-less request shares its headers and extensions with its template: copy them before
        changing them (``PoderoClient._request_for`` does, for every call).
        """
        kwargs: dict[str, Any] = endpoint._get_kwargs(**dict(arguments))
        params = kwargs.pop("params", None)
        url = self.url(kwargs.pop("url"), _query(params) if params else None)
        if kwargs.keys() <= _PLAIN_KWARGS:
            request = httpx.Request.__new__(httpx.Request)
            request.__dict__.update(self._template(kwargs["method"], headers).__dict__)
            request.url = url
            return request
        if headers:
            kwargs["headers"] = {**dict(headers), **kwargs.get("headers", {})}
        return self._http.build_request(url=url, **kwargs)

    def _template(self, method: str, headers: tuple[tuple[str, str], ...]) -> httpx.Request:
        """A body-less request of ``method`` with the client's and a view's headers, built by httpx once."""
        key = (method, headers)
        template = self._templates.get(key)
        if template is None:
            if len(self._templates) > 256:  # views with headers of their own, made per call
                self._templates.clear()
            base = self._base_url + "/"
            template = self._templates[key] = self._http.build_request(method, base, headers=dict(headers) or None)
        return template
