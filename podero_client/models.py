"""The data models of the Podero Partner API, generated from its OpenAPI spec.

This module is the stable import path; ``podero_client._generated`` is not. Enums accept
values the spec did not list yet (``.is_known`` tells), unknown fields land in
``additional_properties``, and an action with an unknown ``code`` becomes ``UnknownAction``.
"""

from ._generated import models as _models
from ._generated.models import *  # noqa: F403  # the generated package's __all__ is the contract

__all__ = list(_models.__all__)
