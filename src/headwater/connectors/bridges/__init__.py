"""Airbyte sources and Singer taps from PyPI, each in its own virtualenv, as Headwater sources."""
