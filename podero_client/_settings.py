"""Checks of the client's settings and of the ids a caller passes, all before any I/O.

Each raises InvalidArgumentError (a ValueError) with a message that names the setting and
never quotes a secret: a URL's userinfo is not echoed.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import uuid
from collections.abc import Mapping

import httpx

from ._errors import InvalidArgumentError
from ._utils import is_finite_number

# The one text form of an id the docs document (docs/errors.md): 8-4-4-4-12 hex digits, any case.
# uuid.UUID() alone also takes braces, "urn:uuid:", misplaced hyphens, and, through
# int(..., 16), spaces, "+" and "_": "+" and 31 hex digits would name another device.
# str(uuid.UUID) writes it in lower case; a request's URL carries that text as it is.
ID_TEXT = re.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_CANONICAL_UUID = re.compile(ID_TEXT.pattern, re.IGNORECASE)


@functools.lru_cache(maxsize=4096)  # pollers ask for the same ids again and again
def _parse_uuid(value: str) -> uuid.UUID | None:
    return uuid.UUID(value) if _CANONICAL_UUID.fullmatch(value) else None


def as_uuid(name: str, value: uuid.UUID | str) -> uuid.UUID:
    """``value`` as a UUID: a ``uuid.UUID``, or its canonical 36-character text in any case."""
    if isinstance(value, uuid.UUID):
        return value
    parsed = _parse_uuid(value) if isinstance(value, str) else None
    if parsed is None:
        raise InvalidArgumentError(
            f"{name} must be a UUID (a uuid.UUID or text like 3f2b5c1e-0000-4000-8000-000000000000), got {value!r}"
        )
    return parsed


def as_id_argument(name: str, value: uuid.UUID | str) -> uuid.UUID | str:
    """An id argument as a request takes it: text as ``str(uuid)`` writes it stays text, else ``as_uuid``.

    The URL carries that text as it is, so no UUID is built for it (nor cached: a fleet of
    100,000 ids would only churn the cache).
    """
    if type(value) is str and ID_TEXT.fullmatch(value):  # a str subclass's __str__ might write other text
        return value
    return as_uuid(name, value)


def check_leeway(leeway: object) -> float:
    if not is_finite_number(leeway) or leeway < 0:
        raise InvalidArgumentError(f"leeway must be a finite number of seconds >= 0, got {leeway!r}")
    return float(leeway)


def check_seconds(owner: str, value: object, *, at_least: float | None = None, at_most: float | None = None) -> float:
    """``value`` as float seconds: finite and > 0, or within ``at_least``..``at_most`` when given.

    ``owner`` names the setting in the message (``"FleetChanges.claim_after"``). One check for
    every duration option: a lease, a timeout, an interval.
    """
    low = "> 0" if at_least is None else f">= {at_least:g}"
    bounds = low if at_most is None else f"{low} and <= {at_most:g}"
    if (
        not is_finite_number(value)
        or value <= 0
        or (at_least is not None and value < at_least)
        or (at_most is not None and value > at_most)
    ):
        raise InvalidArgumentError(f"{owner} must be a finite number of seconds {bounds}, got {value!r}")
    return float(value)


def check_timeout(timeout: object) -> None:
    """A number of seconds > 0, or an httpx.Timeout whose every part is None or such a number."""
    if isinstance(timeout, httpx.Timeout):
        for part in ("connect", "read", "write", "pool"):
            value = getattr(timeout, part)
            if value is not None and (not is_finite_number(value) or value <= 0):
                raise InvalidArgumentError(
                    f"timeout.{part} must be None or a finite number of seconds > 0, got {value!r}"
                )
        return
    if not is_finite_number(timeout) or timeout <= 0:
        raise InvalidArgumentError(
            f"timeout must be a finite number of seconds > 0 or an httpx.Timeout, got {timeout!r}"
        )


# RFC 9110 section 5.1: a field name is a token; section 5.5: a value is visible ASCII, with
# spaces or tabs only inside. CR and LF would split the request; other bytes fail to encode.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\t\x20-\x7e]*[\x21-\x7e])?)?")


def check_headers(headers: object) -> dict[str, str]:
    """Extra request headers: RFC 9110 names and visible-ASCII values; a value is never quoted (it may be a key)."""
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise InvalidArgumentError(f"headers must be a mapping of str to str, got {type(headers).__name__}")
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidArgumentError("headers must be a mapping of str to str")
        if not _HEADER_NAME.fullmatch(name):
            raise InvalidArgumentError(
                "a header name must be a token of visible ASCII letters, digits or !#$%&'*+-.^_`|~"
            )
        if not _HEADER_VALUE.fullmatch(value):
            # The value may be a key or a token: named, never shown.
            raise InvalidArgumentError(
                f"the value of header {name} must be visible ASCII (spaces and tabs inside only, no CR or LF)"
            )
        checked[name] = value
    return checked


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _authority(value: str) -> str:
    """The text between ``//`` and the next ``/``, read before any parser: ``u:p#x@host`` included."""
    return value.partition("//")[2].partition("/")[0] if "//" in value else ""


def _shown(value: str) -> str:
    return "" if "@" in _authority(value) else f": {value!r}"  # it may hold a password


def check_proxy_url(name: str, value: object) -> str:
    """``value`` as a proxy URL httpx and aiohttp both take: http(s), with a host.

    A proxy URL may carry user:password@; a message shows the URL without it, and an
    unparseable one with an @ in its authority not at all.
    """
    url = None
    if isinstance(value, str):
        try:
            url = httpx.URL(value)
        except (httpx.InvalidURL, TypeError):
            url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        if url is not None:
            shown = f": {str(url.copy_with(username=None, password=None))!r}" if url.userinfo else f": {str(url)!r}"
        else:
            shown = _shown(value) if isinstance(value, str) else f" (a {type(value).__name__})"
        raise InvalidArgumentError(f"{name} must be an http:// or https:// proxy URL{shown}")
    return str(url)


def check_url(name: str, value: object, *, allow_insecure_http: bool, absolute: bool = True) -> httpx.URL:
    """``value`` parsed, checked as a URL credentials may be sent to.

    It must be http(s) with a host, https unless the host is loopback or
    ``allow_insecure_http``, and carry no userinfo (it would show in logs and replace the
    client-credentials header), no query and no fragment (they would swallow the API path).
    With ``absolute=False``, a relative URL (a path) passes with only the last two checks.
    """
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{name} must be a string, got {type(value).__name__}")
    userinfo_error = InvalidArgumentError(
        f"{name} must not contain a user name or password (user:pass@); pass them as credentials"
    )
    if "@" in _authority(value):  # before parsing: a parser's message could quote the password
        raise userinfo_error
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError):
        raise InvalidArgumentError(f"{name} is not a valid URL{_shown(value)}") from None
    if url.userinfo:
        raise userinfo_error
    if url.query or "?" in value:
        raise InvalidArgumentError(f"{name} must not contain a query (?...){_shown(value)}")
    if url.fragment or "#" in value:
        raise InvalidArgumentError(f"{name} must not contain a fragment (#...){_shown(value)}")
    if not absolute and not url.is_absolute_url:
        return url
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidArgumentError(f"{name} must be an http(s) URL with a host, got {str(url)!r}")
    if url.scheme == "http" and not _is_loopback(url.host) and not allow_insecure_http:
        raise InvalidArgumentError(
            f"refusing to send credentials over plain http to {url.host}; "
            "use https, or pass allow_insecure_http=True if you really mean it"
        )
    return url


# The environment's credential kinds, in from_env's order of preference.
CREDENTIAL_VARIABLES = (
    ("PODERO_CLIENT_ID", "PODERO_CLIENT_SECRET"),
    ("PODERO_USERNAME", "PODERO_PASSWORD"),
    ("PODERO_TOKEN",),
)
_warned_credentials: set[tuple[str, ...]] = set()


def warn_of_other_credentials(env: Mapping[str, str]) -> None:
    """Log once per process when the environment holds more than one kind of credentials.

    One pair wins silently otherwise, and a service then signs in as someone it did not mean
    to. Only the variables' names are logged, never their values.
    """
    complete = [kind for kind in CREDENTIAL_VARIABLES if all(env.get(name) for name in kind)]
    if not complete:
        return  # from_env raises, naming what is missing
    used = complete[0]
    others = [name for kind in CREDENTIAL_VARIABLES if kind != used for name in kind if env.get(name)]
    if not others or (*used, *others) in _warned_credentials:
        return
    _warned_credentials.add((*used, *others))
    logging.getLogger("podero_client").warning(
        "more than one kind of Podero credentials in the environment: using %s; ignoring %s (unset those)",
        " and ".join(used),
        ", ".join(others),
    )
