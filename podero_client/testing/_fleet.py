"""A fleet of fake wallboxes: many, each in its own charging session, built on request.

Twenty thousand stored payloads would cost the fake some 200 MB; a fleet wallbox is one
index in a dict instead, and its payload is made from the shared base when it is asked for.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from .._errors import InvalidArgumentError
from ._payloads import ORG_ID, READING_INTERVAL, SESSION, ChargingSessions, wallbox_payload

# Deterministic ids: the same N gives the same keys in every process (serve-fake and its clients).
_NAMESPACE = uuid.UUID("5f0c1d4e-9a2b-4c3d-8e7f-6a5b4c3d2e1f")
_GOLDEN = (math.sqrt(5) - 1) / 2  # spreads the sessions' phases evenly, whatever N is
_CYCLE = READING_INTERVAL * len(SESSION)

Key = tuple[str, str, str]


def fleet_key(number: int) -> Key:
    """The key of the fleet's wallbox ``number`` (from 0): the fake's org, a user of its own."""
    user = uuid.uuid5(_NAMESPACE, f"user-{number}")
    wallbox = uuid.uuid5(_NAMESPACE, f"wallbox-{number}")
    return ORG_ID, str(user), str(wallbox)


class Fleet:
    """``size`` wallboxes, each ``offset`` fake seconds further on in its session than the last."""

    def __init__(self, size: int) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidArgumentError(f"wallboxes must be an int >= 0, got {size!r}")
        self.keys = [fleet_key(number) for number in range(size)]
        self._index = {key: number for number, key in enumerate(self.keys)}
        self._base = wallbox_payload()

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def payload(self, key: Key, sessions: ChargingSessions) -> dict[str, Any] | None:
        """The wallbox's payload as of now on ``sessions``' clock, or None for a key not in the fleet."""
        number = self._index.get(key)
        if number is None:
            return None
        # At least one reading in: every fleet wallbox is live from the start.
        offset = READING_INTERVAL + (number * _GOLDEN % 1.0) * _CYCLE
        owner = {**self._base["owner"], "id": key[1], "external_id": f"CUST-{number}"}
        own = {**self._base, "id": key[2], "owner": owner, "external_device_id": f"EH-{number}"}
        return sessions.state(own, offset)
