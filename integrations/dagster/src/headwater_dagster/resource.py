"""``HeadwaterResource``: Headwater's base URL and token as a Dagster configurable resource."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import ConfigurableResource
from headwater_client import Client, RunGroup
from pydantic import Field


class HeadwaterResource(ConfigurableResource):  # type: ignore[misc]
    """A Headwater deployment and an API token (use ``EnvVar`` for the token)."""

    base_url: str = Field(description="Where Headwater serves its API, e.g. https://hw.example.com")
    token: str = Field(description="An API token (river:list, river:execute, activities:list).")
    account_id: str | None = Field(default=None, description="Default: the token's account.")
    environment_id: str | None = Field(default=None, description="Default: the token's first.")
    poll_interval: float = Field(default=5.0, description="Seconds between status checks.")
    timeout: float | None = Field(default=None, description="Seconds to wait for a run at most.")

    def get_client(self) -> Client:
        """A blocking client; close it (``with resource.get_client() as client:``)."""
        return Client(
            base_url=self.base_url,
            token=self.token,
            account_id=self.account_id,
            environment_id=self.environment_id,
        )

    def run_river(self, river: str, variables: Mapping[str, Any] | None = None) -> RunGroup:
        """Run ``river`` and wait for its run group; it is returned whatever its status."""
        with self.get_client() as client:
            return client.rivers.run(
                river,
                variables=variables,
                wait=True,
                timeout=self.timeout,
                poll_interval=self.poll_interval,
            )
