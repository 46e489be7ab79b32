"""The exceptions of podero-client, and the one function that maps a status to its class.

    PoderoError
    ├── InvalidArgumentError (also ValueError)   bad argument or setting, raised before any I/O
    ├── ClientClosedError (also RuntimeError)    the client was closed before or during the call
    ├── RedisBackendError                        Redis, which a shared part works through, could not be used
    │   ├── RateLimitBackendError                RedisRateLimit: Redis unreachable or its answer makes no sense
    │   ├── FleetBackendError                    RedisFleet: Redis unreachable when the watch starts
    │   └── ChangeStreamError                    FleetChanges: Redis unreachable (past give_up_after), or closed
    ├── APIConnectionError                       no response: connect, read or protocol failure
    │   └── APITimeoutError                      ... because a timeout ran out
    ├── APIStatusError                           a non-2xx response, after retries
    │   ├── BadRequestError                 400
    │   ├── AuthenticationError             401, and credentials refused by the token endpoint
    │   ├── PermissionDeniedError           403
    │   ├── NotFoundError                   404
    │   ├── ConflictError                   409
    │   ├── UnprocessableEntityError        422
    │   ├── RateLimitError                  429 (.retry_after)
    │   └── InternalServerError             500 and above
    └── ResponseValidationError                  a 2xx body that is not JSON or does not fit the schema
        └── ResponseTooLargeError                any body past max_response_bytes, token endpoint included

The aiohttp wire raises httpx's own exceptions (``_aiohttp``); httpx exceptions are
translated once, in the facade (``transport_error``); none escapes the public API.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

import httpx

from ._utils import certificate_failure, loads_json, parse_retry_after

_SECRET_NAMES = r"(?:access_token|refresh_token|id_token|password|client_secret)"  # noqa: S105  # names, not a secret
# A JSON string value, escaped quotes and backslashes included.
_SECRET_JSON = re.compile(rf'("{_SECRET_NAMES}"\s*:\s*)"(?:[^"\\]|\\.)*"')
# A form-encoded or query-string echo: password=...&...
_SECRET_FORM = re.compile(rf"(?<![A-Za-z0-9_]){_SECRET_NAMES}=[^&\s\"'<>]*")
# An echoed Authorization header.
_SECRET_SCHEME = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]+=*")
REDACTED = "[redacted]"
_SHORT_SECRET = 8


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask secrets in a body or message that is about to be shown.

    Masks the values of secret fields in JSON and form encoding, ``Bearer``/``Basic``
    credentials, and each exact value in ``secrets`` (the ones the client holds, in every
    form a server might echo them), longest first so no part of one survives; one shorter
    than 8 characters only where it stands alone.
    """
    for secret in sorted({secret for secret in secrets if secret}, key=len, reverse=True):
        if len(secret) >= _SHORT_SECRET:
            text = text.replace(secret, REDACTED)
        else:  # "t" as a test token: masked where it stands alone, not inside every word
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", REDACTED, text)
    text = _SECRET_JSON.sub(rf'\1"{REDACTED}"', text)
    text = _SECRET_FORM.sub(lambda match: match.group(0).split("=", 1)[0] + "=" + REDACTED, text)
    return _SECRET_SCHEME.sub(rf"\1 {REDACTED}", text)


# A secret field whose value the cut at the end of a truncated body left open.
_SECRET_JSON_CUT = re.compile(rf'("{_SECRET_NAMES}"\s*:\s*)"(?:[^"\\]|\\.)*\\?\Z')
_SHORTEST_CUT = 3


def redact_head(text: str, secrets: Iterable[str] = ()) -> str:
    """``redact`` for the first part of a body that was cut off: a secret cut in two is masked too."""
    text = _SECRET_JSON_CUT.sub(rf'\1"{REDACTED}', redact(text, secrets))
    for secret in {secret for secret in secrets if secret}:
        for size in range(min(len(secret) - 1, len(text)), _SHORTEST_CUT - 1, -1):
            if text.endswith(secret[:size]):
                text = text[:-size] + REDACTED
                break
    return text


class PoderoError(Exception):
    """The root of every error this SDK raises.

    Pickled and copied with its attributes, whatever its ``__init__`` asks for: a subclass's
    keyword-only arguments are not in ``args``, which is all that Exception's own reduce keeps.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return _restore, (type(self), self.args, self.__dict__)


def _restore(cls: type[PoderoError], args: tuple[Any, ...], state: dict[str, Any]) -> PoderoError:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class InvalidArgumentError(PoderoError, ValueError):
    """An argument or setting is wrong; raised before any I/O."""


class ClientClosedError(PoderoError, RuntimeError):
    """The PoderoClient was closed (``aclose()``, the end of ``async with``) before or during the call."""


class RedisBackendError(PoderoError):
    """Redis, through which ``RedisRateLimit``, ``RedisFleet`` or ``FleetChanges`` share state, could not
    be used: one class to catch for all three. The message names the Redis by scheme, host and port only."""


class RateLimitBackendError(RedisBackendError):
    """The shared request budget (``RedisRateLimit``) could not be asked: Redis is unreachable,
    timed out, or answered something that makes no sense. No request was sent.
    ``RedisRateLimit(on_redis_error="local")`` falls back to a local budget instead."""


class FleetBackendError(RedisBackendError):
    """The Redis behind a ``RedisFleet`` could not be reached when the watch started.

    Once a watch runs, Redis going away is not an error: it keeps polling what it owned.
    """


class ChangeStreamError(RedisBackendError):
    """A fleet's change stream (``FleetChanges``) could not be read: Redis is unreachable or
    refused the command, or the reader is closed. While iterating, the reader retries a Redis
    that went away; this comes only past ``give_up_after``."""


class APIConnectionError(PoderoError):
    """No response came back: the connection failed, dropped or broke the protocol."""

    def __init__(self, message: str, *, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.request = request


class APITimeoutError(APIConnectionError):
    """A connect, read, write or pool timeout ran out (after retries)."""


class APIStatusError(PoderoError):
    """The API answered with a non-2xx status, after any retries.

    ``body`` is the parsed JSON body, or the raw text when it is not JSON. ``detail`` is
    Django Ninja's ``detail``, joined into one string when it is a list of errors.
    ``parsed`` is the body as the operation's generated model when the spec documents one
    for this status (the boost's 409 conflict, a 422), else None.
    """

    def __init__(self, message: str, *, response: httpx.Response, body: object, detail: str | None) -> None:
        super().__init__(message)
        self.response = response
        self.status_code = response.status_code
        self.body = body
        self.detail = detail
        self.request_id = response.headers.get("x-request-id")
        self.parsed: object = None


class BadRequestError(APIStatusError):
    """400."""


class AuthenticationError(APIStatusError):
    """401, or credentials the token endpoint refused. Never retried."""


class PermissionDeniedError(APIStatusError):
    """403."""


class NotFoundError(APIStatusError):
    """404: the organization, user or device does not exist, or is not yours."""


class ConflictError(APIStatusError):
    """409."""


class UnprocessableEntityError(APIStatusError):
    """422: Django Ninja's validation error; ``detail`` lists what was wrong."""


class RateLimitError(APIStatusError):
    """429, after retries; ``retry_after`` is the server's wait in seconds, if it gave one."""

    def __init__(
        self, message: str, *, response: httpx.Response, body: object, detail: str | None, retry_after: float | None
    ) -> None:
        super().__init__(message, response=response, body=body, detail=detail)
        self.retry_after = retry_after


class InternalServerError(APIStatusError):
    """500 and above, including a CDN's 520-527, after retries."""


class ResponseValidationError(PoderoError):
    """A 2xx response whose body is not JSON or does not fit the schema; ``body`` is the raw text."""

    def __init__(self, message: str, *, body: str, response: httpx.Response | None = None) -> None:
        super().__init__(message)
        self.body = body
        self.response = response


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def _detail(body: object) -> str | None:
    if not isinstance(body, dict) or "detail" not in body:
        return None
    detail: Any = body["detail"]
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                # Any JSON may stand where Django Ninja puts a list: "loc": 5 is shown as it is.
                loc = item.get("loc")
                if isinstance(loc, list):
                    location = ".".join(str(part) for part in loc)
                else:
                    location = "" if loc is None else str(loc)
                parts.append(f"{location}: {item.get('msg', '')}" if location else str(item.get("msg", item)))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)


def transport_error(
    error: Exception, *, closed: bool, secrets: Iterable[str] = (), operation: httpx.Request | None = None
) -> PoderoError:
    """The PoderoError for an httpx error (or a RuntimeError from a closed pool) of one call.

    A call whose client was closed under it is ClientClosedError; an untrusted certificate
    says so. The message names the request that failed: the token request, or ``operation``
    (the call's own request), with the scheme and host it went to, and for a failed connect
    the operating system's reason, alike on both wires. It is redacted: an HTTP stack may
    quote a header it refused.
    """
    if isinstance(error, PoderoError):
        return error
    request = _request_of(error) if isinstance(error, httpx.HTTPError) else None
    if closed:
        return ClientClosedError("the PoderoClient was closed while this call was in flight")
    if not isinstance(error, httpx.HTTPError):
        return PoderoError(redact(f"unexpected failure: {type(error).__name__}: {error}", secrets))
    what = _which_request(request, operation)
    if isinstance(error, httpx.TimeoutException):
        message = f"timed out on {what}: {_cause(error)}"
        return APITimeoutError(redact(message, secrets), request=request)
    if certificate_failure(error):
        message = f"TLS certificate verification failed on {what} (not retried): {error}"
        return APIConnectionError(redact(message, secrets), request=request)
    reason = f"cannot connect: {_os_reason(error)}" if isinstance(error, httpx.ConnectError) else _cause(error)
    return APIConnectionError(redact(f"no response to {what}: {reason}", secrets), request=request)


def _which_request(request: httpx.Request | None, operation: httpx.Request | None) -> str:
    """``GET https://host/path`` for the call's own request; the token request says that it is one."""
    if request is None:
        return "the request"
    url = request.url
    where = f"{request.method} {url.scheme}://{url.netloc.decode('ascii', 'replace')}{url.path}"
    return f"the token request ({where})" if operation is not None and request.url != operation.url else where


def _request_of(error: httpx.HTTPError) -> httpx.Request | None:
    try:
        return error.request  # a property that raises when httpx never set it
    except RuntimeError:
        return None


def _cause(error: httpx.HTTPError) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _os_reason(error: httpx.ConnectError) -> str:
    """The operating system's reason a connect failed ("Connection refused", "Name or service not known").

    Read from the OSError under the wire's own error, so that both wires say the same and
    aiohttp's wording ("ssl:default" on a plain http connection) does not show.
    """
    seen: BaseException | None = error
    for _ in range(8):  # httpx -> httpcore -> anyio, or aiohttp: a short chain
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.errno:
            return os.strerror(seen.errno) if seen.errno > 0 else str(seen.strerror or seen)
        seen = seen.__cause__ or seen.__context__
    return _cause(error)


def status_error(
    response: httpx.Response, *, token_endpoint: bool = False, secrets: Iterable[str] | None = None
) -> APIStatusError:
    """The APIStatusError subclass for ``response``, with its body parsed leniently.

    ``response`` must have been read. With ``secrets`` (the values the client holds) or
    ``token_endpoint``, secrets in the body are masked. With ``token_endpoint``, a 400 or
    401 means the credentials were refused: AuthenticationError. A body nested too deeply
    to parse is kept as text.
    """
    text = redact(response.text, secrets or ()) if token_endpoint or secrets is not None else response.text
    try:
        body: object = loads_json(text)
    except ValueError:
        body = text
    detail = _detail(body)
    refused = token_endpoint and response.status_code in (400, 401)
    cls = AuthenticationError if refused else _STATUS_ERRORS.get(response.status_code)
    if cls is None:
        cls = InternalServerError if response.status_code >= 500 else APIStatusError
    reason = detail or (text[:200] if isinstance(body, str) else "") or response.reason_phrase
    message = f"{response.status_code} from {response.request.method} {response.request.url.path}: {reason}"
    if refused:
        message = f"the token endpoint refused the credentials: {message}"
    if cls is RateLimitError:
        return RateLimitError(
            message, response=response, body=body, detail=detail, retry_after=parse_retry_after(response.headers)
        )
    return cls(message, response=response, body=body, detail=detail)


class ResponseTooLargeError(ResponseValidationError):
    """A response body larger than ``max_response_bytes`` once decoded; the rest was never read.

    ``body`` holds the first decoded bytes, as text. Not retried: the server would send it again.
    """
