"""The account and environment a domain call acts in, already authorised by its caller."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EnvScope:
    """Routes build it from path parameters after ``require_scope``; the CLI from its options.

    Services filter every lookup by both ids, so an object of another account or environment
    answers 404 exactly like a missing one.
    """

    account_id: str
    environment_id: str
