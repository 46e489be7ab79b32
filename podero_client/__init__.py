"""Async Python SDK for the Podero Partner API."""

__all__: list[str] = []
