"""Async Python SDK for the Podero Partner API.

    async with PoderoClient(credentials=ClientCredentials("id", "secret")) as podero:
        wallbox = await podero.get_wallbox(org_id, user_id, wallbox_id)

The models are in ``podero_client.models``; the fake server for tests in
``podero_client.testing``. ``UNSET`` marks a field the payload did not carry.
"""

from ._auth import BearerToken, ClientCredentials, Credentials, PasswordCredentials
from ._budget import RateLimit, RateLimitState
from ._client import PRODUCTION_URL, SANDBOX_URL, PoderoClient
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ChangeStreamError,
    ClientClosedError,
    ConflictError,
    FleetBackendError,
    InternalServerError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    PoderoError,
    RateLimitBackendError,
    RateLimitError,
    RedisBackendError,
    ResponseTooLargeError,
    ResponseValidationError,
    UnprocessableEntityError,
)
from ._fleet import FleetEvent, FleetStats, FleetWatch, WallboxChanged, WallboxFailed
from ._fleet_changes import FleetChange, FleetChanges, FleetChangesStats
from ._fleet_shared import RedisFleet
from ._generated.types import UNSET, APIResponse, Unset
from ._redis_budget import RedisRateLimit
from ._retry import RetryPolicy
from ._version import __version__ as __version__

__all__ = [
    "PRODUCTION_URL",
    "SANDBOX_URL",
    "UNSET",
    "APIConnectionError",
    "APIResponse",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BearerToken",
    "ChangeStreamError",
    "ClientClosedError",
    "ClientCredentials",
    "ConflictError",
    "Credentials",
    "FleetBackendError",
    "FleetChange",
    "FleetChanges",
    "FleetChangesStats",
    "FleetEvent",
    "FleetStats",
    "FleetWatch",
    "InternalServerError",
    "InvalidArgumentError",
    "NotFoundError",
    "PasswordCredentials",
    "PermissionDeniedError",
    "PoderoClient",
    "PoderoError",
    "RateLimit",
    "RateLimitBackendError",
    "RateLimitError",
    "RateLimitState",
    "RedisBackendError",
    "RedisFleet",
    "RedisRateLimit",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "RetryPolicy",
    "UnprocessableEntityError",
    "Unset",
    "WallboxChanged",
    "WallboxFailed",
]

# Tracebacks, reprs and pickles name the public path (podero_client.NotFoundError), as httpx's and
# openai's do. Only the errors: the attrs and dataclass settings keep their module, where
# typing.get_type_hints resolves their annotations.
for _name in __all__:
    _exported = globals()[_name]
    if isinstance(_exported, type) and issubclass(_exported, PoderoError):
        _exported.__module__ = __name__
del _name, _exported
