"""One function maps a response to its error class, parsing the body leniently."""

from __future__ import annotations

import httpx
import pytest

import podero_client as pc
from podero_client._errors import redact, status_error


def _response(status: int, content: bytes = b"", headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request("GET", "https://app.podero.com/api/partners/v2.0/x")
    return httpx.Response(status, content=content, headers=headers, request=request)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, pc.BadRequestError),
        (401, pc.AuthenticationError),
        (403, pc.PermissionDeniedError),
        (404, pc.NotFoundError),
        (409, pc.ConflictError),
        (422, pc.UnprocessableEntityError),
        (429, pc.RateLimitError),
        (500, pc.InternalServerError),
        (503, pc.InternalServerError),
        (524, pc.InternalServerError),
        (418, pc.APIStatusError),
        (302, pc.APIStatusError),
    ],
)
def test_each_status_maps_to_its_class(status: int, cls: type[pc.APIStatusError]) -> None:
    """The class is chosen by status alone; unknown 4xx fall back to APIStatusError."""
    error = status_error(_response(status, b'{"detail": "nope"}'))
    assert type(error) is cls
    assert error.status_code == status
    assert error.detail == "nope"


def test_detail_list_is_joined() -> None:
    """Django Ninja's validation list becomes one readable string."""
    body = b'{"detail": [{"loc": ["query", "include_deleted"], "msg": "bad bool", "type": "x"}, "other"]}'
    error = status_error(_response(422, body))
    assert error.detail == "query.include_deleted: bad bool; other"
    assert isinstance(error.body, dict)


def test_non_json_body_is_kept_as_text() -> None:
    """An HTML error page is the body, and the message shows its start."""
    error = status_error(_response(502, b"<html>Bad gateway</html>", {"X-Request-Id": "req-1"}))
    assert error.body == "<html>Bad gateway</html>"
    assert error.detail is None
    assert error.request_id == "req-1"
    assert "<html>Bad gateway" in str(error)


def test_rate_limit_error_carries_retry_after() -> None:
    """RateLimitError.retry_after is the header's value in seconds."""
    error = status_error(_response(429, b"", {"Retry-After": "120"}))
    assert isinstance(error, pc.RateLimitError)
    assert error.retry_after == 120.0


def test_redact_masks_secret_fields() -> None:
    """Token values never reach a message or an error body."""
    text = redact('{"access_token": "abc123", "refresh_token":"r-1", "scope": "read"}')
    assert "abc123" not in text
    assert "r-1" not in text
    assert '"scope": "read"' in text


def test_errors_also_subclass_the_builtin_they_resemble() -> None:
    """Bad arguments are ValueErrors, a closed client is a RuntimeError, all are PoderoErrors."""
    assert issubclass(pc.InvalidArgumentError, ValueError)
    assert issubclass(pc.ClientClosedError, RuntimeError)
    assert issubclass(pc.APITimeoutError, pc.APIConnectionError)
    for name in pc.__all__:
        obj = getattr(pc, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, pc.PoderoError), name


@pytest.mark.parametrize("status", [400, 401])
def test_token_endpoint_refusal_is_an_authentication_error_with_secrets_masked(status: int) -> None:
    """A 400 or 401 from the token endpoint means refused credentials; its body never shows a token."""
    body = b'{"error": "invalid_grant", "refresh_token": "r-secret-2"}'
    error = status_error(_response(status, body), token_endpoint=True)
    assert type(error) is pc.AuthenticationError
    assert str(error).startswith("the token endpoint refused the credentials: ")
    assert "r-secret-2" not in f"{error} {error.body}"
    assert type(status_error(_response(400, body))) is pc.BadRequestError, "an API 400 stays a BadRequestError"
