"""One function maps a response to its error class, parsing the body leniently."""

from __future__ import annotations

import asyncio
import copy
import json
import pickle
import ssl
import traceback
from collections.abc import Callable

import httpx
import pytest
from _servers import RawRequest, ScriptedServer, make_client, respond

import podero_client as pc
from podero_client import (
    APIConnectionError,
    AuthenticationError,
    PasswordCredentials,
    PoderoClient,
    PoderoError,
    RateLimitError,
    ResponseValidationError,
)
from podero_client._errors import redact, redact_head, status_error, transport_error
from podero_client.testing import ORG_ID, USER_ID, WALLBOX_ID, FakePodero, Fault


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


def test_redact_masks_json_values_with_escaped_quotes() -> None:
    """Case 12: a JSON string value is masked whole, escaped quotes and backslashes included."""
    text = redact(r'{"password": "a\"b\\\"c tail", "client_secret": "x\\", "username": "u"}')
    assert "tail" not in text
    assert "x\\" not in text
    assert '"username": "u"' in text


def test_redact_masks_form_encoded_echoes() -> None:
    """Case 12: password=..., client_secret=... and tokens in a form or query string are masked."""
    text = redact("grant_type=password&username=u&password=p%22w%26d&client_secret=s3cr3t access_token=t0k")
    for secret in ("p%22w", "s3cr3t", "t0k"):
        assert secret not in text
    assert "username=u" in text


def test_redact_masks_authorization_schemes() -> None:
    """Case 12: an echoed Authorization header shows the scheme, not the credentials."""
    assert redact("got Bearer abc.def-ghi and Basic dXNlcjpwYXNz==") == "got Bearer [redacted] and Basic [redacted]"


def test_redact_masks_exact_values_the_client_holds() -> None:
    """Case 12: a held secret is masked wherever it shows; a short one only where it stands alone."""
    assert redact("echo: my-long-secret-1 (my-long-secret-1)", ["my-long-secret-1"]) == (
        "echo: [redacted] ([redacted])"
    )
    assert redact("token t was refused; try it", ["t"]) == "token [redacted] was refused; try it"


def test_a_deeply_nested_error_body_is_kept_as_text() -> None:
    """Case 4: an error body nested 100,000 deep is not a RecursionError; the body is the text."""
    deep = b"{" + b'"a":{' * 100_000
    error = status_error(_response(500, deep))
    assert type(error) is pc.InternalServerError
    assert error.body == deep.decode()


def test_an_untrusted_certificate_says_so() -> None:
    """Extra: a connect error caused by certificate verification is an APIConnectionError that names it."""
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate")
    error = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED]")
    error.__cause__ = cause
    mapped = transport_error(error, closed=False)
    assert type(mapped) is pc.APIConnectionError
    assert "certificate verification failed" in str(mapped)


def test_a_failure_after_close_is_client_closed() -> None:
    """Case 2: whatever an in-flight call meets once its client is closed is ClientClosedError."""
    for error in (httpx.ReadError("closed"), RuntimeError("Session is closed")):
        assert type(transport_error(error, closed=True)) is pc.ClientClosedError
    assert type(transport_error(RuntimeError("odd"), closed=False)) is pc.PoderoError


@pytest.mark.parametrize(
    "detail",
    [
        [{"loc": 5}],
        [{"loc": 0}],
        [{"loc": None, "msg": "m"}],
        [{"loc": {"a": 1}}],
        [{"loc": "query"}],
        [[1, 2]],
        [None],
        [{}],
    ],
)
def test_detail_is_total_over_any_json(detail: object) -> None:
    """Any JSON under "detail" gives a string, never a TypeError: {"loc": 5} is shown as 5."""
    response = httpx.Response(422, json={"detail": detail}, request=httpx.Request("GET", "https://x/y"))
    error = status_error(response)
    assert isinstance(error, pc.UnprocessableEntityError)
    assert isinstance(error.detail, str)


def test_redact_head_masks_a_secret_cut_at_the_end() -> None:
    """A truncated body that ends inside a secret, or inside a secret field, shows none of it."""
    assert redact_head('{"x": 1, "user": "hunter2-pass', ["hunter2-password"]) == '{"x": 1, "user": "[redacted]'
    assert "abc" not in redact_head('{"password": "abc', [])
    assert redact_head("all good", ["hunter2-password"]) == "all good"


EXPORTED_ERRORS = [
    getattr(pc, name)
    for name in pc.__all__
    if isinstance(getattr(pc, name), type) and issubclass(getattr(pc, name), pc.PoderoError)
]


def test_errors_are_shown_by_their_public_path() -> None:
    """Tracebacks and reprs name podero_client.NotFoundError, not the private module that defines it."""
    assert len(EXPORTED_ERRORS) >= 17
    assert {error.__module__ for error in EXPORTED_ERRORS} == {"podero_client"}
    error = status_error(_response(404, b'{"detail": "Not Found"}'))
    line = traceback.format_exception_only(error)[-1]
    assert line == "podero_client.NotFoundError: 404 from GET /api/partners/v2.0/x: Not Found\n"


@pytest.mark.parametrize(
    "copy_error",
    [copy.copy, copy.deepcopy, lambda error: pickle.loads(pickle.dumps(error))],  # noqa: S301  # our own bytes
    ids=["copy", "deepcopy", "pickle"],
)
def test_errors_survive_copy_and_pickle(copy_error: Callable[[pc.PoderoError], pc.PoderoError]) -> None:
    """Each error comes back as its class with its message and attributes, keyword-only arguments or not."""
    limited = status_error(_response(429, b'{"detail": "slow down"}', {"Retry-After": "3", "x-request-id": "r1"}))
    request = httpx.Request("GET", "https://app.podero.com/x")
    errors: list[pc.PoderoError] = [
        limited,
        pc.APIConnectionError("no response", request=request),
        pc.ResponseValidationError("bad body", body="<html>"),
        pc.InvalidArgumentError("bad id"),
    ]
    for error in errors:
        copied = copy_error(error)
        assert type(copied) is type(error)
        assert str(copied) == str(error)
        assert copied.__dict__.keys() == error.__dict__.keys()
    copied_limit = copy_error(limited)
    assert isinstance(copied_limit, pc.RateLimitError)
    assert (copied_limit.retry_after, copied_limit.status_code, copied_limit.request_id) == (3.0, 429, "r1")
    assert copied_limit.detail == "slow down"


@pytest.mark.parametrize("credentials", ["client", "token"])
async def test_a_refused_connection_names_the_request_and_the_host(
    refused_url: str, backend: str, credentials: str
) -> None:
    """Nothing listening: the message names the token request (or the call), scheme and host, the OS's reason."""
    base = refused_url.rsplit("/", 1)[0]
    given = pc.ClientCredentials("id", "secret-value") if credentials == "client" else pc.BearerToken("token-value")
    async with pc.PoderoClient(
        credentials=given, base_url=base, http_backend=backend,  # type: ignore[arg-type]
        retry=pc.RetryPolicy(max_attempts=1),
        allow_insecure_http=True,
    ) as podero:  # fmt: skip
        with pytest.raises(pc.APIConnectionError) as caught:
            await podero.get_wallbox(
                "7d3c5b2a-1e4f-4a6b-8c9d-0e1f2a3b4c5d",
                "3f1c6a8e-2b4d-4e7a-9c1f-5a6b7c8d9e0f",
                "b6e2d9f4-8a1c-4d3e-9f5a-7c2b1e0d4a68",
            )
    message = str(caught.value)
    if credentials == "client":
        assert message.startswith(f"no response to the token request (POST {base}/"), message
    else:
        assert message.startswith(f"no response to GET {base}/api/partners/v2.0/org/"), message
    assert message.endswith(": cannot connect: Connection refused"), message
    assert "ssl" not in message


IDS = (ORG_ID, USER_ID, WALLBOX_ID)


# Issue 11, case 12: redaction ------------------------------------------------------------------
async def test_echoed_secrets_are_masked_in_every_form(scripted_server: ScriptedServer, backend: str) -> None:
    """Case 12: a token endpoint echoing the password as escaped JSON, form-encoded and raw shows none of it."""
    password = 'pa"ss wörd&=\\1'
    echoes = [
        json.dumps({"password": password, "username": "u"}),
        "grant_type=password&username=u&password=" + httpx.QueryParams({"p": password}).get("p", ""),
        "password=" + str(httpx.QueryParams({"p": password})).removeprefix("p="),
        f"you said {password} and also {password!r}",
    ]

    async def echo(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 400, "\n".join(echoes).encode())

    scripted_server.token = echo
    credentials = PasswordCredentials("u", password)
    async with make_client(scripted_server, backend, credentials=credentials) as podero:
        with pytest.raises(AuthenticationError) as caught:
            await podero.get_wallbox(*IDS)
    shown = f"{caught.value}\n{caught.value!r}\n{caught.value.body}"
    forms = [password, json.dumps(password)[1:-1], str(httpx.QueryParams({"p": password})).removeprefix("p=")]
    assert [form for form in forms if form in shown] == []
    assert "[redacted]" in shown


async def test_an_api_error_echoing_the_bearer_token_is_masked(scripted_server: ScriptedServer, backend: str) -> None:
    """Case 12: a 400 from the API that echoes the access token it was sent does not show it."""

    async def echo(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        token = request.headers["authorization"].removeprefix("Bearer ")
        await respond(writer, 400, {"detail": f"bad request from token {token}", "echo": token})

    scripted_server.api = echo
    async with make_client(scripted_server, backend) as podero:
        with pytest.raises(PoderoError) as caught:
            await podero.get_wallbox(*IDS)
    shown = f"{caught.value}\n{caught.value!r}\n{getattr(caught.value, 'body', '')}"
    assert "tok-1" not in shown


# What each error carries besides its class: the response, the request, the body, the detail.
# Each test kills a mutant that `make mutants` found alive. -------------------------------------


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
