"""``HeadwaterCredentials``: a Prefect block holding the base URL and API token."""

from __future__ import annotations

from headwater_client import Client
from prefect.blocks.core import Block
from pydantic import Field, SecretStr


class HeadwaterCredentials(Block):  # type: ignore[misc]
    """Where Headwater is and the API token to use (saved encrypted with ``.save(name)``)."""

    _block_type_name = "Headwater Credentials"
    _description = "Base URL and API token of a Headwater deployment."

    base_url: str = Field(description="Where Headwater serves its API.")
    token: SecretStr = Field(description="An API token (river:list, river:execute, ...).")
    account_id: str | None = Field(default=None, description="Default: the token's account.")
    environment_id: str | None = Field(default=None, description="Default: the token's first.")

    def get_client(self) -> Client:
        """A blocking client; close it (``with credentials.get_client() as client:``)."""
        return Client(
            base_url=self.base_url,
            token=self.token.get_secret_value(),
            account_id=self.account_id,
            environment_id=self.environment_id,
        )
