"""A fake Podero server for tests: real HTTP on 127.0.0.1, with fault injection.

It serves every operation of the packaged spec (or of ``FakePodero(spec=...)``): requests
are validated against the spec, answers are schema-valid, and ``set_answer``, ``inject``
and ``requests`` work on any route, named ``"METHOD /path/template"``.

Needs the ``testing`` extra (``pip install "podero-client[testing]"``, which brings jsonschema).
In pytest, the ``fake_podero`` fixture starts one per test (the plugin is registered
when podero-client is installed)::

    async def test_my_poller(fake_podero):
        fake_podero.inject("wallbox", Fault(status=503), Fault(status=503))
        async with fake_podero.client() as podero:
            wallbox = await podero.get_wallbox(ORG_ID, USER_ID, WALLBOX_ID)

The wallboxes live on the fake's clock: ``FakePodero(speed=60)`` or ``advance(300)``.
"""

try:
    import jsonschema  # noqa: F401  # checked first, so that a missing extra is one clear line
except ImportError:
    from .._extras import install_hint

    raise ImportError(
        f"podero_client.testing needs the 'testing' extra: {install_hint('testing')}", name="jsonschema"
    ) from None

from ._payloads import ORG_ID, READING_INTERVAL, SESSION, USER_ID, WALLBOX_ID, ChargingSessions, wallbox_payload
from ._server import Endpoint, FakePodero, Fault, LoggedRequest

__all__ = [
    "ORG_ID",
    "READING_INTERVAL",
    "SESSION",
    "USER_ID",
    "WALLBOX_ID",
    "ChargingSessions",
    "Endpoint",
    "FakePodero",
    "Fault",
    "LoggedRequest",
    "wallbox_payload",
]
