"""What each error carries besides its class: the response, the request, the body, the detail.

Beside tests/test_errors.py rather than in it, so that this issue's additions merge cleanly;
each test here kills a mutant that `make mutants` found alive.
"""

from __future__ import annotations

import httpx
import pytest

from podero_client import APIConnectionError, PoderoClient, RateLimitError, ResponseValidationError
from podero_client._errors import status_error
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID, FakePodero, Fault

IDS = (ORG_ID, USER_ID, WALLBOX_ID)


def _response(status: int, content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request("GET", "https://app.podero.com/api/partners/v2.0/x")
    return httpx.Response(status, content=content, headers=headers, request=request)


def test_status_error_keeps_its_response() -> None:
    """APIStatusError.response is the response it was made from."""
    response = _response(404, b'{"detail": "Not Found"}')
    assert status_error(response).response is response


def test_rate_limit_error_keeps_the_parsed_body() -> None:
    """RateLimitError has the body, the detail and retry_after, like any status error."""
    error = status_error(_response(429, b'{"detail": "slow down"}', {"Retry-After": "7"}))
    assert isinstance(error, RateLimitError)
    assert error.body == {"detail": "slow down"}
    assert error.retry_after == 7.0


@pytest.mark.parametrize(
    ("detail", "expected"),
    [
        ([{"msg": "no location"}], "no location"),
        ([{"loc": [], "msg": "empty location"}], "empty location"),
        ([{"loc": ["body", "mode"]}], "body.mode: "),
        ([{"type": "missing"}], "{'type': 'missing'}"),
    ],
)
def test_detail_items_without_every_field(detail: list[object], expected: str) -> None:
    """A detail item lacking loc or msg still gives a readable detail."""
    error = status_error(_response(422, httpx.Response(200, json={"detail": detail}).content))
    assert error.detail == expected


def test_json_body_without_detail_uses_the_reason_phrase() -> None:
    """A JSON error body with no detail: the message ends with the status's reason phrase."""
    error = status_error(_response(500, b'{"error": "boom"}'))
    assert str(error) == "500 from GET /api/partners/v2.0/x: Internal Server Error"


def test_text_body_is_cut_at_200_characters_in_the_message() -> None:
    """A long non-JSON body is in .body whole, and its first 200 characters in the message."""
    body = "x" * 300
    error = status_error(_response(502, body.encode()))
    assert error.body == body
    assert str(error) == f"502 from GET /api/partners/v2.0/x: {'x' * 200}"


async def test_connection_error_keeps_its_request(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """APIConnectionError.request is the request that got no answer."""
    fake_podero.inject("wallbox", *[Fault(drop=True)] * 4)
    with pytest.raises(APIConnectionError) as caught:
        await podero.get_wallbox(*IDS)
    assert caught.value.request is not None
    assert caught.value.request.url.path.endswith(f"/wallboxes/{WALLBOX_ID}")


async def test_validation_error_keeps_its_response(fake_podero: FakePodero, podero: PoderoClient) -> None:
    """ResponseValidationError.response is the 2xx response that did not fit."""
    fake_podero.inject("wallbox", Fault(body=b"<html>maintenance</html>"))
    with pytest.raises(ResponseValidationError) as caught:
        await podero.get_wallbox(*IDS)
    assert caught.value.response is not None
    assert caught.value.response.status_code == 200
