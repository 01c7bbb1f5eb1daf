"""Connectors: specs, capabilities, sources and targets, and the registry that finds them."""

from headwater.connectors.base import (
    Capabilities,
    Column,
    ConnectorSpec,
    CursorState,
    PropertySpec,
    ReadRequest,
    Source,
    Table,
    TableRef,
    Target,
)
from headwater.connectors.errors import (
    Cancelled,
    ConnectorError,
    JobFailed,
    MissingDependency,
    Terminal,
    Transient,
)
from headwater.connectors.registry import Registry

__all__ = [
    "Cancelled",
    "Capabilities",
    "Column",
    "ConnectorError",
    "ConnectorSpec",
    "CursorState",
    "JobFailed",
    "MissingDependency",
    "PropertySpec",
    "ReadRequest",
    "Registry",
    "Source",
    "Table",
    "TableRef",
    "Target",
    "Terminal",
    "Transient",
]
