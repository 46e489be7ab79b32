"""Read a spec from a file or a URL, within bounds, and check it is a whole OpenAPI 3 document.

Whatever the source serves, the result is a parsed document or a ``SpecError`` with one
line: a spec over ``MAX_SPEC_BYTES`` (after decompression), a download past its one
deadline, a redirect to another scheme, plain http without ``allow_http``, text that is
neither JSON nor YAML, YAML whose aliases expand past ``MAX_YAML_NODES`` (or loop), and a
``$ref`` that points nowhere (named with the schema and the pointer) are all refused.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
from openapi_toolkit import toolkit
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

Spec = dict[str, Any]

MAX_SPEC_BYTES = 20 * 1024 * 1024  # Podero's spec is about 60 KB; a 20 MB one is not a spec
MAX_YAML_NODES = 2_000_000  # expanded: a 20 MB JSON spec has fewer; an alias bomb has far more
DEFAULT_FETCH_DEADLINE = 60.0  # seconds for the whole download, redirects included
MAX_REDIRECTS = 5
# Keys whose values are data (examples, enum values), never schemas: a "$ref" there is not a reference.
_DATA_KEYS = frozenset({"enum", "const", "default", "example", "examples", "x-examples"})


class SpecError(Exception):
    """A spec refused, with a one-line cause."""


def read_file(path: Path) -> bytes:
    """The bytes of ``path``, refused when it is over ``MAX_SPEC_BYTES``."""
    try:
        with path.open("rb") as file:
            body = file.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"cannot read {path}: {exc.strerror}") from exc
    if len(body) > MAX_SPEC_BYTES:
        raise SpecError(f"{path} is over the {MAX_SPEC_BYTES // 2**20} MB limit for a spec")
    return body


def fetch(url: str, *, allow_http: bool = False, deadline: float = DEFAULT_FETCH_DEADLINE) -> bytes:
    """The body at ``url``, bounded: one deadline for everything, ``MAX_SPEC_BYTES`` after decompression.

    Redirects are followed by hand so that each hop is checked: a change of scheme (https to
    http above all) is refused, as is plain http unless ``allow_http``.
    """
    _check_scheme(url, url, allow_http)
    try:
        return asyncio.run(asyncio.wait_for(_download(url, allow_http), deadline))
    except TimeoutError:
        raise SpecError(f"{url} did not finish downloading within {deadline:g} s") from None
    except httpx.HTTPError as exc:
        raise SpecError(f"cannot reach {url}: {type(exc).__name__}: {exc}") from exc


def _check_scheme(original: str, url: str, allow_http: bool) -> None:
    scheme, first = httpx.URL(url).scheme, httpx.URL(original).scheme
    if scheme not in ("https", "http"):
        raise SpecError(f"{url}: only https URLs are fetched, not {scheme or 'a relative URL'}")
    if scheme != first:
        raise SpecError(f"{original} redirects to {url}: a redirect to another scheme is refused")
    if scheme == "http" and not allow_http:
        raise SpecError(f"{url} is plain http: refused unless --allow-http")


async def _download(url: str, allow_http: bool) -> bytes:
    original = url
    # No per-read timeout: fetch's one deadline (asyncio.wait_for) bounds the whole download.
    async with httpx.AsyncClient(follow_redirects=False, timeout=None) as client:  # noqa: S113 (see above)
        for _ in range(MAX_REDIRECTS + 1):
            async with client.stream("GET", url) as response:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    url = urljoin(url, location)
                    _check_scheme(original, url, allow_http)
                    continue
                if response.is_error:
                    raise SpecError(f"{url} answered HTTP {response.status_code} {response.reason_phrase}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > MAX_SPEC_BYTES:
                    raise SpecError(f"{url} is over the {MAX_SPEC_BYTES // 2**20} MB limit for a spec")
                body = bytearray()
                async for chunk in response.aiter_bytes():  # decompressed: the bound is on what we keep
                    body += chunk
                    if len(body) > MAX_SPEC_BYTES:
                        raise SpecError(
                            f"{url} is over the {MAX_SPEC_BYTES // 2**20} MB limit for a spec (after decompression)"
                        )
                return bytes(body)
    raise SpecError(f"{original}: more than {MAX_REDIRECTS} redirects")


def _expanded_size_within(node: Any, limit: int) -> bool:
    """False when the tree, with every shared (aliased) node counted again, exceeds ``limit`` nodes."""
    count, pending = 0, [node]
    while pending:
        count += 1
        if count > limit:
            return False
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return True


def parse(body: bytes, source: str) -> Spec:
    """Parse a JSON or YAML OpenAPI 3 document, checking its outline and its local references."""
    if len(body) > MAX_SPEC_BYTES:
        raise SpecError(f"{source} is over the {MAX_SPEC_BYTES // 2**20} MB limit for a spec")
    try:
        document = _load(body, source)
    except RecursionError:
        raise SpecError(f"{source} is nested too deeply to be a spec") from None
    if not isinstance(document, dict):
        raise SpecError(f"{source} is not an OpenAPI document: top level is {type(document).__name__}")
    version_field = document.get("openapi")
    if not isinstance(version_field, str) or not version_field.startswith("3."):
        raise SpecError(f"{source} is not an OpenAPI 3 document: openapi = {version_field!r}")
    for key in ("info", "paths"):
        if not isinstance(document.get(key), dict):
            raise SpecError(f"{source} is not a valid OpenAPI document: '{key}' is missing or not an object")
    for path, item in document["paths"].items():
        if not isinstance(item, dict):
            raise SpecError(f"{source} is not a valid OpenAPI document: path {path!r} is not an object")
    check_text(document, source)
    check_references(document)
    return document


def check_text(document: Spec, source: str) -> None:
    """Refuse a string (key or value) that is not text: JSON lets ``"\\ud800"`` through, UTF-8 cannot hold it."""
    try:
        json.dumps(document, ensure_ascii=False).encode()
        return  # the common case, in one pass
    except UnicodeEncodeError:
        pass
    pending: list[tuple[list[str], Any]] = [([], document)]
    while pending:
        parts, node = pending.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            for text in (key, value):
                if isinstance(text, str) and not _is_text(text):
                    raise SpecError(
                        f"{source}: {toolkit.pointer(*parts, str(key))} holds {text!r}, a lone surrogate: not text"
                    )
            pending.append(([*parts, str(key)], value))


def _is_text(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _load(body: bytes, source: str) -> Any:
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise SpecError(f"{source} is neither JSON nor YAML: not UTF-8 text") from None
    except ValueError:
        pass
    try:
        document = YAML(typ="safe", pure=True).load(io.BytesIO(body))
    except YAMLError as exc:
        raise SpecError(f"{source} is neither JSON nor YAML: {str(exc).splitlines()[0]}") from exc
    except (ValueError, TypeError) as exc:  # ruamel's constructors: bad dates, unhashable keys
        raise SpecError(f"{source} is neither JSON nor YAML: {type(exc).__name__}: {exc}") from exc
    if not isinstance(document, dict):  # YAML reads most text, HTML included, as a scalar
        raise SpecError(f"{source} is neither JSON nor YAML: got a {type(document).__name__}")
    if not _expanded_size_within(document, MAX_YAML_NODES):
        raise SpecError(f"{source}: its YAML aliases expand to more than {MAX_YAML_NODES:,} nodes (or loop)")
    # Round-trip through JSON: keys become strings, dates and sets are refused with one line.
    try:
        return json.loads(json.dumps(document))
    except (TypeError, ValueError) as exc:
        raise SpecError(f"{source} has YAML values JSON cannot hold: {exc}") from None


def _references(node: Any, parts: list[str]) -> Iterator[tuple[list[str], str]]:
    """Every ``$ref`` string with the location (as pointer parts) of the object holding it."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield parts, ref
        for key, value in node.items():
            if key not in _DATA_KEYS:
                yield from _references(value, [*parts, str(key)])
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _references(value, [*parts, str(index)])


def check_references(document: Spec) -> None:
    """Refuse a ``$ref`` that is not local, or points nowhere, naming the schema (or place) and the pointer."""
    for parts, ref in _references(document, []):
        where = toolkit.pointer(*parts)
        if parts[:2] == ["components", "schemas"] and len(parts) > 2:
            where = f"schema {parts[2]} (at {where})"
        if not ref.startswith("#"):
            raise SpecError(f"{where}: $ref {ref!r} is not local to the document; only '#/...' references are read")
        try:
            target = toolkit.resolve(document, ref)
        except KeyError:
            raise SpecError(f"{where}: dangling $ref {ref!r} points to nothing in the document") from None
        if not isinstance(target, dict):
            raise SpecError(f"{where}: $ref {ref!r} points to a {type(target).__name__}, not an object")
