"""The exceptions of podero-client, and the one function that maps a status to its class.

    PoderoError
    ├── InvalidArgumentError (also ValueError)   bad argument or setting, raised before any I/O
    ├── ClientClosedError (also RuntimeError)    the client was used after it was closed
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

httpx exceptions are translated once, in the facade; none escapes the public API.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

_SECRET_FIELDS = re.compile(r'("(?:access_token|refresh_token|password|client_secret)"\s*:\s*)"[^"]*"')


def redact(text: str) -> str:
    """Mask the values of secret JSON fields in a body that is about to be shown."""
    return _SECRET_FIELDS.sub(r'\1"[redacted]"', text)


class PoderoError(Exception):
    """The root of every error this SDK raises."""


class InvalidArgumentError(PoderoError, ValueError):
    """An argument or setting is wrong; raised before any I/O."""


class ClientClosedError(PoderoError, RuntimeError):
    """The PoderoClient was used after ``aclose()`` or its ``async with`` block."""


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
    """

    def __init__(self, message: str, *, response: httpx.Response, body: object, detail: str | None) -> None:
        super().__init__(message)
        self.response = response
        self.status_code = response.status_code
        self.body = body
        self.detail = detail
        self.request_id = response.headers.get("x-request-id")


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
                location = ".".join(str(part) for part in item.get("loc", []))
                parts.append(f"{location}: {item.get('msg', '')}" if location else str(item.get("msg", item)))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)


def status_error(response: httpx.Response, *, token_endpoint: bool = False) -> APIStatusError:
    """The APIStatusError subclass for ``response``, with its body parsed leniently.

    ``response`` must have been read. With ``token_endpoint``, secret fields in the body are
    masked, and a 400 or 401 means the credentials were refused: AuthenticationError.
    """
    text = redact(response.text) if token_endpoint else response.text
    try:
        body: object = json.loads(text)
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
        from ._retry import parse_retry_after  # _retry imports this module; Retry-After is its business

        return RateLimitError(
            message, response=response, body=body, detail=detail, retry_after=parse_retry_after(response.headers)
        )
    return cls(message, response=response, body=body, detail=detail)


class ResponseTooLargeError(ResponseValidationError):
    """A response body larger than ``max_response_bytes`` once decoded; the rest was never read.

    ``body`` holds the first decoded bytes, as text. Not retried: the server would send it again.
    """
