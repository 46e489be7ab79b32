"""A short fault soak (2,000 calls, ~10 % faults) keeps the full soak's pass criteria."""

from __future__ import annotations

import pytest
import soak

TRANSIENT = ("APITimeoutError", "APIConnectionError", "InternalServerError", "RateLimitError")
MAX_TRANSIENT_FAILURES = 5


@pytest.mark.parametrize("backend", ["aiohttp", "httpx"])  # the default wire first
async def test_short_soak_passes(backend: str) -> None:
    """Every call ends typed, counts add up, retries absorb transient faults, no socket leaks, RSS stays flat."""
    report = await soak.run(calls=2000, concurrency=50, chaos=0.1, backend=backend)
    assert report.failures() == [], report.table()
    assert report.outcomes["WallboxDetailOutput"] > 1000, report.table()
    assert set(report.outcomes) <= {"WallboxDetailOutput", "AuthenticationError", *TRANSIENT}, report.table()
    # Retries absorb the transient faults: about 8 % of attempts meet one, so without retries
    # some 160 calls would fail; with four attempts, a call fails only after four faults in a
    # row (about 0.1 calls per run). AuthenticationError is the never-loop rule, on purpose.
    transient_failures = sum(report.outcomes[name] for name in TRANSIENT)
    assert transient_failures <= MAX_TRANSIENT_FAILURES, report.table()


def test_report_flags_each_failed_criterion() -> None:
    """The criteria can fail: a leak, a lost call, an unhandled error and RSS growth are all named."""
    report = soak.SoakReport(calls=10, concurrency=1, backend="httpx", sockets_before=1, sockets_after=2)
    report.outcomes.update({"WallboxDetailOutput": 8, "unhandled KeyError": 1})
    report.rss_checkpoint, report.rss_end = 100, 120
    failures = "\n".join(report.failures())
    assert "unhandled exceptions: {'unhandled KeyError': 1}" in failures
    assert "outcomes add up to 9, not 10" in failures
    assert "1 socket(s) left open" in failures
    assert "RSS grew 20.0%" in failures
