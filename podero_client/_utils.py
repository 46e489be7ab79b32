"""Leaf helpers shared by the retry transport, the token flows and the error mapping.

This module imports nothing else of the package, so every arrow between the modules
points one way: ``_errors`` and ``_retry`` both read ``Retry-After`` from here.
"""

from __future__ import annotations

import json
import math
import re
import ssl
from datetime import UTC, datetime
from typing import TypeGuard

import httpx

# RFC 9110 section 10.2.3: Retry-After = HTTP-date / delay-seconds, and section 5.6.7's
# three HTTP-date forms. A value is matched against these before anything parses it, so a
# parser's leniency ("Tuesday" read as next Tuesday) never turns garbage into a wait.
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_LONG_DAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_TIME = r"\d{2}:\d{2}:\d{2}"
_HTTP_DATE = re.compile(
    rf"{_DAY}, \d{{2}} {_MONTH} \d{{4}} {_TIME} GMT"  # IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
    rf"|{_LONG_DAY}, \d{{2}}-{_MONTH}-\d{{2}} {_TIME} GMT"  # RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
    rf"|{_DAY} {_MONTH} (?: \d|\d{{2}}) {_TIME} \d{{4}}"  # asctime: Sun Nov  6 08:49:37 1994
)
# delay-seconds is 1*DIGIT; a decimal fraction is tolerated because gateways (and this
# project's fake server) send "0.5", and it cannot be misread. Nothing else is a number here.
_DELAY_SECONDS = re.compile(r"\d+(?:\.\d+)?")


def parse_retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait from ``Retry-After``, or None when the server gave no usable value.

    Only RFC 9110's forms count: delay-seconds, and an HTTP-date as IMF-fixdate, RFC 850
    or asctime. Anything else ("5 minutes", "Tuesday", an ISO 8601 date) gives None, and
    the caller falls back to its own backoff. A header repeated with different values
    gives None too (the field is a singleton); repeated with one value, that value counts.
    An HTTP-date is measured against the response's own ``Date`` when that is a valid
    HTTP-date too, so a skewed local clock does not stretch the wait.
    """
    values = {value.strip(" \t") for value in headers.get_list("retry-after")}
    if len(values) != 1:
        return None
    (value,) = values
    if _DELAY_SECONDS.fullmatch(value):
        return float(value)
    when = parse_http_date(value)
    if when is None:
        return None
    server_now = parse_http_date(headers.get("date", "").strip(" \t"))
    now = server_now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def parse_http_date(value: str) -> datetime | None:
    """An RFC 9110 HTTP-date as an aware UTC datetime; None for anything else.

    dateutil does the parsing once the form is validated: it reads all three forms,
    including RFC 850's two-digit year (put within 50 years of today, as the RFC asks).
    """
    if not _HTTP_DATE.fullmatch(value):
        return None
    # Imported here: dateutil's parser adds ~17 ms to `import podero_client`, and most
    # servers send delay-seconds.
    from dateutil.parser import ParserError
    from dateutil.parser import parse as parse_date

    try:
        moment = parse_date(value)
    except (ParserError, ValueError, OverflowError):  # 31 Feb, 25:00:00
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def loads_json(data: str | bytes) -> object:
    """``json.loads``, where nesting too deep for the parser is a ValueError like any bad JSON.

    CPython's decoder gives up at the interpreter's recursion limit (about 1,000 levels,
    against Podero's 4), so a hostile body fails fast rather than with RecursionError.
    """
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def is_finite_number(value: object) -> TypeGuard[int | float]:
    """A real int or float (not a bool, not a numeric string) that is neither NaN nor infinite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def certificate_failure(error: BaseException) -> bool:
    """Whether ``error`` comes from a TLS certificate that failed verification.

    That is not transient (an untrusted or mismatched certificate stays so): never retried.
    """
    seen: BaseException | None = error
    for _ in range(8):  # httpx -> httpcore or aiohttp -> ssl: a short chain
        if seen is None:
            return False
        # aiohttp's ClientConnectorCertificateError wraps the ssl error without being one.
        if isinstance(seen, ssl.SSLCertVerificationError) or type(seen).__name__ == "ClientConnectorCertificateError":
            return True
        seen = seen.__cause__ or seen.__context__
    return False
