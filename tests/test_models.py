"""podero_client.models and the package face (__init__.py): __all__ is the surface, UNSET public, numbers floats."""

from __future__ import annotations

import podero_client
from podero_client import (
    models,
)
from podero_client.models import UNSET, Unset, WallboxDetailOutput
from podero_client.testing import wallbox_payload


def test_unset_is_public_and_reads_as_unset() -> None:
    """UNSET and Unset come from podero_client and podero_client.models; repr(UNSET) is 'UNSET'."""
    assert podero_client.UNSET is models.UNSET is UNSET
    assert podero_client.Unset is Unset
    assert {"UNSET", "Unset"} <= set(models.__all__)
    assert repr(UNSET) == "UNSET"
    assert not UNSET
    wallbox = WallboxDetailOutput.from_dict({k: v for k, v in wallbox_payload().items() if k != "comment"})
    assert "comment=UNSET" in repr(wallbox)


def test_numbers_are_floats_at_run_time() -> None:
    """A JSON number sent as an integer (7360) is a float, as the annotation says; null stays None."""
    wallbox = WallboxDetailOutput.from_dict(
        wallbox_payload(charge_rate_w=7360, optimization_score=1, consumption_last_day_kwh=18)
    )
    assert type(wallbox.charge_rate_w) is float
    assert wallbox.charge_rate_w == 7360.0
    assert type(wallbox.optimization_score) is float
    assert type(wallbox.consumption_last_day_kwh) is float
    assert wallbox.consumption_last_week_kwh == "96.25", "the spec allows a string here; it stays one"
    assert WallboxDetailOutput.from_dict(wallbox_payload(charge_rate_w=None)).charge_rate_w is None
    assert wallbox.to_dict()["charge_rate_w"] == 7360.0


def test_version() -> None:
    """__version__ is the installed distribution's version."""
    from importlib.metadata import version

    assert podero_client.__version__ == version("podero-client")


def test_public_names() -> None:
    """__all__ is the whole public surface: every name resolves, nothing private leaks."""
    assert sorted(podero_client.__all__) == sorted(
        ["PRODUCTION_URL", "SANDBOX_URL", "APIConnectionError", "APIResponse", "APIStatusError", "APITimeoutError",
         "AuthenticationError", "BadRequestError", "BearerToken", "ChangeStreamError", "ClientClosedError",
         "ClientCredentials", "ConflictError", "Credentials", "FleetBackendError", "FleetChange", "FleetChanges",
         "FleetChangesStats", "FleetEvent", "FleetStats", "FleetWatch",
         "InternalServerError", "InvalidArgumentError", "NotFoundError",
         "PasswordCredentials", "PermissionDeniedError", "PoderoClient", "PoderoError", "RateLimit",
         "RateLimitBackendError", "RateLimitError", "RateLimitState", "RedisBackendError", "RedisFleet",
         "RedisRateLimit",
         "ResponseTooLargeError", "ResponseValidationError", "RetryPolicy", "UnprocessableEntityError", "UNSET",
         "Unset", "WallboxChanged", "WallboxFailed"]
    )  # fmt: skip
    public = {name for name in vars(podero_client) if name[0] not in "_@"}  # @: pytest's assert rewriting
    assert public - set(podero_client.__all__) <= {"models", "testing"}, "submodules only"
