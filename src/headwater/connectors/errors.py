"""Connector errors, classified so that callers can decide whether a retry can help.

Every error a connector raises on purpose derives from :class:`ConnectorError` and carries one
of two classification mixins: :class:`Terminal` (retrying the same run will fail again: wrong
password, missing table, a value the target cannot hold) or :class:`Transient` (the next attempt
may succeed: connection refused, server restarting, deadlock). The run service reads
``error.transient`` instead of matching exception types from each driver.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every error raised by connectors and the engine.

    The message is meant for humans (it ends up in a run's ``error_description``), so it names
    the object involved and the cause, never a password.
    """

    transient: bool = False


class Terminal:
    """Mixin: retrying without a change of configuration or data will fail the same way."""

    transient = False


class Transient:
    """Mixin: the failure may go away on its own (network, server restart, lock timeout)."""

    transient = True


class ConfigurationError(Terminal, ConnectorError):
    """The connection properties or the job definition are invalid."""


class AuthenticationFailed(Terminal, ConnectorError):
    """The server rejected the credentials."""


class ConnectionFailed(Transient, ConnectorError):
    """The server could not be reached or dropped the connection."""


class ObjectNotFound(Terminal, ConnectorError):
    """A database, schema, table or column named in the job does not exist."""


class ValueRejected(Terminal, ConnectorError):
    """The target refused a value (out of range, too long, invalid for the column type)."""


class SchemaDriftError(Terminal, ConnectorError):
    """The source schema changed in a way the job's drift policy does not allow."""


class LoadFailed(Terminal, ConnectorError):
    """A load failed for a reason the connector could not classify more precisely."""


class TransientLoadFailed(Transient, ConnectorError):
    """A load failed for a reason that a retry may fix (deadlock, serialization failure)."""


class Cancelled(Terminal, ConnectorError):
    """The run was cancelled on request; nothing was committed."""


class MissingDependency(Terminal, ConnectorError):
    """An optional Python package needed by a connector is not installed."""

    def __init__(self, connector: str, package: str) -> None:
        super().__init__(
            f"The {connector} connector needs the Python package {package!r}: "
            f"run `pip install {package}`"
        )
        self.connector = connector
        self.package = package


class JobFailed(ConnectorError):
    """A table job failed; the message names the table and the cause.

    The classification is inherited from the underlying error so a retry policy still works.
    """

    def __init__(self, message: str, *, transient: bool, cause: BaseException | None = None):
        super().__init__(message)
        self.transient = transient
        self.cause = cause
