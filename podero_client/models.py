"""The data models of the Podero Partner API, generated from its OpenAPI spec.

This module is the stable import path; ``podero_client._generated`` is not. Enums accept
values the spec did not list yet (``.is_known`` tells), unknown fields land in
``additional_properties``, and an action with an unknown ``code`` becomes ``UnknownAction``.

An optional field is ``UNSET`` (an ``Unset``) when the payload did not carry it and
``None`` when it was null; ``isinstance(wallbox.charge_rate_w, float)`` narrows to the
number (a JSON ``number`` is always a ``float`` here, 7360 included).
"""

from ._generated import models as _models
from ._generated.models import *  # noqa: F403  # the generated package's __all__ is the contract
from ._generated.types import UNSET, Unset

__all__ = [*_models.__all__, "UNSET", "Unset"]
