"""The connector registry: built-ins listed explicitly, third-party ones via entry points.

Third-party packages register a connector by exposing, in the entry-point group
``headwater.connectors``, a callable that returns a :class:`ConnectorSpec`. A plugin that fails
to import or returns something else is skipped with a logged warning so one broken package can
not take the whole catalogue down.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from headwater.connectors.base import ConnectorSpec, Source, Target
from headwater.connectors.errors import ConfigurationError, MissingDependency
from headwater.connectors.localpath import checked_props
from headwater.connectors.outbound import vet_properties
from headwater.connectors.statements import StatementRunner

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "headwater.connectors"

#: The built-in connectors, as ``module:function`` returning their spec. Keep this the only list.
BUILTIN_SPECS: tuple[str, ...] = (
    "headwater.connectors.postgres.spec:spec",
    "headwater.connectors.mysql.spec:spec",
    "headwater.connectors.sqlite.spec:spec",
    "headwater.connectors.duckdb.spec:spec",
    "headwater.connectors.snowflake.spec:spec",
    "headwater.connectors.files.spec:local_files",
    "headwater.connectors.files.spec:s3",
    "headwater.connectors.rest.spec:spec",
    "headwater.connectors.lakehouse.spec:iceberg",
    "headwater.connectors.lakehouse.spec:delta",
    "headwater.connectors.bridges.spec:airbyte",
    "headwater.connectors.bridges.spec:singer",
)


def load_object(path: str) -> Any:
    """The object a ``module:attribute`` path names (imports the module)."""
    module_name, _, attr = path.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr)


@cache
def default_registry() -> Registry:
    """The process-wide registry: built-ins that import, plus entry-point plugins.

    Built once per process (connector specs are immutable); pass it to whatever opens
    connectors rather than building another. A connector whose spec fails to load is reported
    once here, with its name and the error, and left out without hiding the others.
    """
    return Registry.default()


class Registry:
    """Looks up connector specs by name and opens sources and targets from them."""

    def __init__(self, specs: Iterable[ConnectorSpec] = ()) -> None:
        self._specs: dict[str, ConnectorSpec] = {}
        for spec in specs:
            self.register(spec)

    @classmethod
    def default(cls, *, plugins: bool = True) -> Registry:
        """Built-in connectors plus, when ``plugins``, those found through entry points.

        A fresh registry on every call: use :func:`default_registry` for the shared one.
        """
        registry = cls()
        for path in BUILTIN_SPECS:
            try:
                registry.register(load_object(path)())
            except Exception as exc:  # one missing driver must not hide the other connectors
                log.warning("Skipping built-in connector %s: %s", path, exc)
        if plugins:
            registry.load_plugins()
        return registry

    def register(self, spec: ConnectorSpec) -> None:
        if not isinstance(spec, ConnectorSpec):
            raise TypeError(f"expected a ConnectorSpec, got {type(spec).__name__}")
        if spec.name in self._specs:
            raise ValueError(f"a connector named {spec.name!r} is already registered")
        self._specs[spec.name] = spec

    def load_plugins(self) -> None:
        """Register connectors from the ``headwater.connectors`` entry-point group."""
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            try:
                factory: Callable[[], Any] = entry.load()
                spec = factory()
                if not isinstance(spec, ConnectorSpec):
                    raise TypeError(f"returned {type(spec).__name__}, not a ConnectorSpec")
                self.register(spec)
            except Exception as exc:  # a broken plugin must not break the platform
                log.warning("Skipping connector plugin %r (%s): %s", entry.name, entry.value, exc)

    def names(self) -> list[str]:
        return sorted(self._specs)

    def specs(self) -> list[ConnectorSpec]:
        """Every registered spec, by name."""
        return [self._specs[name] for name in self.names()]

    def find(self, name: str) -> ConnectorSpec | None:
        """The spec named ``name``, or None (``get`` raises instead)."""
        return self._specs.get(name)

    def get(self, name: str) -> ConnectorSpec:
        try:
            return self._specs[name]
        except KeyError:
            known = ", ".join(self.names())
            raise ConfigurationError(f"Unknown connector {name!r} (known: {known})") from None

    def catalogue(self) -> list[dict[str, Any]]:
        """JSON-serialisable description of every connector, for the API and the UI."""
        return [self._specs[name].to_dict() for name in self.names()]

    def open_source(self, name: str, props: Mapping[str, Any]) -> Source:
        spec = self.get(name)
        source: Source = self._open(spec, props, spec.source_class, "be used as a source")
        return source

    def open_target(self, name: str, props: Mapping[str, Any]) -> Target:
        spec = self.get(name)
        target: Target = self._open(spec, props, spec.target_class, "be used as a target")
        return target

    def open_statements(self, name: str, props: Mapping[str, Any]) -> StatementRunner:
        """The connector's SQL statement runner (logic SQL steps), checked like a source."""
        spec = self.get(name)
        runner: StatementRunner = self._open(
            spec, props, spec.statements_class, "run SQL statements"
        )
        return runner

    @staticmethod
    def _open(spec: ConnectorSpec, props: Mapping[str, Any], impl: str | None, role: str) -> Any:
        """One implementation class of ``spec``, built on resolved and vetted properties;
        ``role`` finishes the refusal when the connector has no such class."""
        if impl is None:
            raise ConfigurationError(f"The {spec.name} connector cannot {role}")
        resolved = spec.resolve_props(props)
        vet_properties(spec, resolved)
        return _import_impl(spec, impl)(_checked(spec, resolved))


def _checked(spec: ConnectorSpec, props: dict[str, Any]) -> dict[str, Any]:
    """Every ``path`` property checked against the local-path rule (data dir never, symlinks
    resolved) before any connector, a plugin's too, sees it."""
    names = [p.name for p in spec.properties if p.names_local_path(props.get(p.name) or "")]
    return checked_props(spec.name, names, props) if names else props


def _import_impl(spec: ConnectorSpec, path: str) -> Any:
    try:
        return load_object(path)
    except ModuleNotFoundError as exc:
        if exc.name and not exc.name.startswith("headwater"):
            raise MissingDependency(spec.name, exc.name.split(".")[0]) from exc
        raise
