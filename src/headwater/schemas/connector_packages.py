"""Connector packages (Airbyte sources, Singer taps) as the instance API shows them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

#: A PyPI requirement: name, optional extras, optional version specifiers (no URLs or paths).
REQUIREMENT_PATTERN = (
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}(\[[A-Za-z0-9,._-]{1,100}\])?"
    r"((~=|==|!=|<=|>=|<|>)[A-Za-z0-9.*+!-]{1,40}"
    r"(,(~=|==|!=|<=|>=|<|>)[A-Za-z0-9.*+!-]{1,40}){0,4})?$"
)


class ConnectorInstallRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    package: str = Field(
        min_length=1,
        max_length=300,
        pattern=REQUIREMENT_PATTERN,
        description="A PyPI requirement, e.g. airbyte-source-faker==7.2.1 or tap-github.",
    )


class InstalledConnectorOut(BaseModel):
    name: str
    requirement: str
    version: str
    protocol: str = Field(description="airbyte or singer")
    executable: str
    license: str
    streams: list[str] | None = Field(default=None, description="Once discovered")


class ConnectorInstallOut(BaseModel):
    id: str
    package: str
    name: str
    status: str = Field(description="running, succeeded or failed")
    started_at: datetime
    finished_at: datetime | None = None
    version: str | None = None
    error: str | None = None
    progress: list[str] = Field(description="pip's last output lines")


class ConnectorPackages(BaseModel):
    installed: list[InstalledConnectorOut]
    installs: list[ConnectorInstallOut]
