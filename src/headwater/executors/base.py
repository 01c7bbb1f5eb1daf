"""The executor interface: hand over a run group id; the run's state lives in the metadata DB."""

from __future__ import annotations

from abc import ABC, abstractmethod


class Executor(ABC):
    """Runs run groups somewhere. Messages carry ids only, never credentials."""

    name: str

    @abstractmethod
    def submit(self, run_group_id: str) -> None:
        """Queue the group; returns at once."""

    @abstractmethod
    def start(self) -> None:
        """Begin accepting work (called by the app's lifespan)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop accepting work and release resources."""
