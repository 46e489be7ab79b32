"""The fake's token endpoints: a body that does not decode, and the memory of issued tokens."""

from __future__ import annotations

import logging

import httpx
import pytest

from podero_client.testing import FakePodero

DEEP_JSON = b"[" * 100_000 + b"]" * 100_000
NOT_UTF8 = b"grant_type=client_credentials&x=\xff\xfe"
ENDPOINTS = ["/oauth2/token/", "/api/partners/v2.0/auth/token"]


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    ("body", "content_type"),
    [(DEEP_JSON, "application/json"), (NOT_UTF8, "application/x-www-form-urlencoded"), (b"\xff{", "application/json")],
)
async def test_token_endpoint_bad_body_is_a_json_400(
    fake_podero: FakePodero, caplog: pytest.LogCaptureFixture, path: str, body: bytes, content_type: str
) -> None:
    """A deep JSON or a non-UTF-8 body at a token endpoint is a 400 with a JSON error, no logged traceback."""
    with caplog.at_level(logging.ERROR):
        async with httpx.AsyncClient() as http:
            response = await http.post(
                fake_podero.url + path,
                content=body,
                headers={"Content-Type": content_type},
                auth=(fake_podero.client_id, fake_podero.client_secret),
            )
    assert response.status_code == 400
    assert isinstance(response.json(), dict)
    assert not [record for record in caplog.records if record.exc_info]


async def test_expired_tokens_leave_memory(fake_podero: FakePodero) -> None:
    """Each issued access token is forgotten once it has expired: 200 short-lived tokens leave about one."""
    fake_podero.token_ttl = -1.0  # already expired when issued: each new one prunes the ones before
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            response = await http.post(
                fake_podero.url + "/oauth2/token/",
                data={"grant_type": "client_credentials"},
                auth=(fake_podero.client_id, fake_podero.client_secret),
            )
            assert response.status_code == 200
    assert len(fake_podero._access_tokens) <= 1
    assert len(fake_podero._expiries) <= 1
