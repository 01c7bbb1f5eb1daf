"""What Airbyte sources and Singer taps share as Headwater sources.

A connection names an installed package (or, for Airbyte, a declarative manifest), the
connector's own JSON config and, separately, its secret settings (``secret_config``, stored
encrypted; dotted keys reach into nested objects). Streams are tables: discovery runs the
connector's discover command once per source and maps each stream's JSON Schema to columns.

Reading one table runs the connector for that one stream and turns its records into Arrow
batches. The connector's state is the connector's business: with the capability
``connector_state`` the engine hands the committed state to :meth:`BridgeSource.resume` and,
after the read, commits :meth:`BridgeSource.checkpoint` (the last ``STATE`` message seen) in
the same transaction as the rows. In an append or merge load the read also yields a
:class:`StatePoint` after a ``STATE`` message once ``commit_records`` records or
``commit_seconds`` seconds have passed since the last one (table options, default 100,000 /
60 s): the engine commits the rows before it with that state, so a run killed mid-stream
keeps what it committed and the next one resumes from there (see
:mod:`headwater.engine.state_points`).
"""

from __future__ import annotations

import json
import time
from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pyarrow as pa

from headwater.connectors.base import Column, ReadRequest, Source, StatePoint, Table, TableRef
from headwater.connectors.bridges.jsonschema import BatchBuilder, NestedMode, columns_for_schema
from headwater.connectors.bridges.packages import InstalledConnector, find, remember_streams
from headwater.connectors.bridges.process import ConnectorProcess, ConnectorProcessError
from headwater.connectors.errors import ConfigurationError, ObjectNotFound
from headwater.security.redact import Redactor

LogFn = Callable[[str, str], None]
#: Records in one batch at most (and about ``batch_bytes`` / this many bytes per record).
MAX_BATCH_ROWS = 50_000
#: What one parsed record costs while it waits as a Python dict (a faker user with its nested
#: address is 1.5 to 2.5 KB), so 800 gives batches of about 5,000 records: with 10,000 the
#: pending dicts alone took 20 MB and a 1,000,000-user load into DuckDB peaked at 307 to
#: 318 MB, with 5,000 at 271 MB, at the same speed (the connector is the bottleneck).
RECORD_BYTES_GUESS = 800
#: Defaults of the table options ``commit_records`` and ``commit_seconds``.
COMMIT_RECORDS = 100_000
COMMIT_SECONDS = 60.0
TABLE_OPTIONS = ("nested", "commit_records", "commit_seconds")


def _no_log(level: str, message: str) -> None:
    return None


def _positive(options: Mapping[str, Any], name: str, default: float) -> Any:
    value = options.get(name)
    if value is None or value == "":
        return default
    try:
        number = type(default)(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"the table option {name!r} must be a number") from None
    if number <= 0:
        raise ConfigurationError(f"the table option {name!r} must be above 0")
    return number


def parse_json_object(text: Any, name: str) -> dict[str, Any]:
    if text is None or text == "":
        return {}
    if isinstance(text, Mapping):
        return dict(text)
    try:
        value = json.loads(str(text))
    except ValueError as exc:
        raise ConfigurationError(f"the connection property {name!r} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigurationError(f"the connection property {name!r} must be a JSON object")
    return value


def merge_secrets(config: dict[str, Any], secrets: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with each secret set at its dotted path (``credentials.api_token``)."""
    merged: dict[str, Any] = json.loads(json.dumps(config))
    for path, value in secrets.items():
        parts = str(path).split(".")
        node = merged
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return merged


def secret_values(value: Any) -> list[str]:
    """Every text leaf of a secret setting (what the run log must never show)."""
    if isinstance(value, Mapping):
        return [s for item in value.values() for s in secret_values(item)]
    if isinstance(value, list):
        return [s for item in value for s in secret_values(item)]
    return [str(value)] if value not in (None, "") and not isinstance(value, bool) else []


class Stream:
    """One discovered stream: its columns and what its catalogue entry says."""

    def __init__(
        self,
        name: str,
        schema: Mapping[str, Any],
        primary_key: tuple[str, ...],
        cursor_field: tuple[str, ...],
        raw: Mapping[str, Any],
        nested: NestedMode,
    ) -> None:
        self.name = name
        self.schema = schema
        self.primary_key = primary_key
        self.cursor_field = cursor_field
        self.raw = raw
        self.columns = columns_for_schema(schema, nested=nested, primary_key=primary_key)


class BridgeSource(Source):
    """Base of the ``airbyte`` and ``singer`` sources; subclasses speak the protocol."""

    protocol = ""

    def __init__(self, props: Mapping[str, Any]) -> None:
        super().__init__(props)
        self.log: LogFn = _no_log
        nested = str(props.get("nested") or "json").strip().lower()
        if nested not in ("json", "flatten"):
            raise ConfigurationError("the property 'nested' must be json or flatten")
        self.nested: NestedMode = "flatten" if nested == "flatten" else "json"
        self.idle_timeout = float(props.get("idle_timeout_seconds") or 600)
        self.user_config = parse_json_object(props.get("config"), "config")
        self.secrets = parse_json_object(props.get("secret_config"), "secret_config")
        self.config = merge_secrets(self.user_config, self.secrets)
        self.redactor = Redactor(secret_values(self.secrets))
        self._streams: dict[str, Stream] | None = None
        self._package: InstalledConnector | None = None
        self.incremental = False
        self.state_in: Any = None
        self.state_out: Any = None
        self._running: ConnectorProcess | None = None
        self.commit_records = COMMIT_RECORDS
        self.commit_seconds = COMMIT_SECONDS

    # -- the package --------------------------------------------------------------------------

    @property
    def package(self) -> InstalledConnector:
        if self._package is None:
            requirement = str(self.props.get("package") or self.default_package())
            self._package = find(requirement)
            if self._package.protocol != self.protocol and not self.props.get("executable"):
                self.log(
                    "warning",
                    f"{self._package.name} looks like a {self._package.protocol} connector, "
                    f"not {self.protocol}",
                )
        return self._package

    def default_package(self) -> str:
        raise ConfigurationError(f"the {self.protocol} connection needs a package")

    def executable(self) -> str:
        name = str(self.props.get("executable") or self.package.executable)
        if "/" in name or name.startswith("."):
            raise ConfigurationError("executable must be a program name from the package")
        path = self.package.bin(name)
        if not path.exists():
            scripts = ", ".join(self.package.scripts) or "none"
            raise ConfigurationError(
                f"{self.package.name} has no program {name!r} (it has: {scripts})"
            )
        return str(path)

    def process(self, argv: list[str], files: Mapping[str, Any], what: str) -> ConnectorProcess:
        return ConnectorProcess(
            [self.executable(), *argv],
            files,
            log=self.log,
            redactor=self.redactor,
            label=f"{self.package.name} {what}",
            idle_timeout=self.idle_timeout,
        )

    # -- Source -------------------------------------------------------------------------------

    def configure(self, options: Mapping[str, Any], log: LogFn | None = None) -> None:
        unknown = sorted(set(options) - set(TABLE_OPTIONS))
        if unknown:
            raise ConfigurationError(
                f"{self.protocol} tables take only the source options "
                + ", ".join(TABLE_OPTIONS)
                + " (got "
                + ", ".join(unknown)
                + ")"
            )
        if options.get("nested") in ("json", "flatten"):
            self.nested = options["nested"]
        self.commit_records = _positive(options, "commit_records", COMMIT_RECORDS)
        self.commit_seconds = _positive(options, "commit_seconds", COMMIT_SECONDS)
        self.log = log or _no_log

    def streams(self) -> dict[str, Stream]:
        if self._streams is None:
            self._streams = {s.name: s for s in self.discover_streams()}
            remember_streams(self.package, list(self._streams))
        return self._streams

    @abstractmethod
    def discover_streams(self) -> list[Stream]:
        """Run the connector's discovery."""

    @abstractmethod
    def read_process(self, stream: Stream) -> ConnectorProcess:
        """The connector process that reads ``stream`` (from ``self.state_in`` if set)."""

    @abstractmethod
    def classify(self, message: dict[str, Any], process: ConnectorProcess) -> tuple[str, Any, Any]:
        """``(kind, stream name, payload)`` of a message: ``record`` or ``state``; other
        kinds are handled (logged) here and come back as ``("", None, None)``."""

    @abstractmethod
    def state_for(self, stream: Stream, payload: Any) -> Any:
        """The state to commit after a STATE message, or None when it is not this stream's."""

    def discover(self, schema: str | None = None) -> list[Table]:
        return [Table(TableRef(s.name), s.columns) for s in self.streams().values()]

    def describe(self, ref: TableRef) -> Table:
        stream = self.streams().get(ref.name)
        if stream is None:
            known = ", ".join(sorted(self.streams())) or "none"
            raise ObjectNotFound(f"the connector has no stream {ref.name!r} (streams: {known})")
        return Table(TableRef(stream.name), stream.columns)

    def describe_query(self, query: str) -> tuple[Column, ...]:
        raise ConfigurationError(f"an {self.protocol} source has no SQL; name a stream as table")

    def resume(self, state: str | None) -> None:
        self.incremental = True
        self.state_in = json.loads(state) if state else None

    def checkpoint(self) -> str | None:
        if self.state_out is None:
            return None
        return json.dumps(self.state_out, sort_keys=True, separators=(",", ":"))

    def cancel(self) -> None:
        running = self._running
        if running is not None:
            running.stop()

    def read(self, request: ReadRequest) -> Iterator[pa.RecordBatch]:
        if request.table is None:
            raise ConfigurationError(f"an {self.protocol} source reads a stream, not a query")
        stream = self.streams().get(request.table.name)
        if stream is None:
            raise ObjectNotFound(f"the connector has no stream {request.table.name!r}")
        wanted = {c.name for c in request.columns}
        builder = BatchBuilder(
            tuple(c for c in stream.columns if c.name in wanted) or request.columns,
            self.nested,
            f"stream {stream.name}",
        )
        limit = max(1000, min(MAX_BATCH_ROWS, request.batch_bytes // RECORD_BYTES_GUESS))
        pending: list[dict[str, Any]] = []
        since_state = since_point = 0
        points = request.state_points and self.incremental
        last_point = time.monotonic()
        process = self.read_process(stream)
        self._running = process
        with process:
            for message in process.messages():
                kind, name, payload = self.classify(message, process)
                if kind == "record":
                    if name != stream.name:
                        continue
                    if not isinstance(payload, dict):
                        raise ConnectorProcessError(
                            f"{process.label}: a RECORD of {name!r} has no object data"
                        )
                    pending.append(payload)
                    since_state += 1
                    since_point += 1
                    if len(pending) >= limit:
                        yield builder.build(pending)
                        pending = []
                elif kind == "state":
                    # The rows before it are staged in the same load (one transaction), so a
                    # state needs no flush: it only has to cover every record read so far;
                    # at a state point the rows so far go out first, then the state.
                    state = self.state_for(stream, payload)
                    if state is None:
                        continue
                    self.state_out = state
                    since_state = 0
                    now = time.monotonic()
                    due = (
                        since_point >= self.commit_records
                        or now - last_point >= self.commit_seconds
                    )
                    if points and since_point and due:
                        if pending:
                            yield builder.build(pending)
                            pending = []
                        checkpoint = self.checkpoint()
                        assert checkpoint is not None
                        yield StatePoint(checkpoint)
                        since_point, last_point = 0, now
            process.finish()
        self._running = None
        if pending:
            yield builder.build(pending)
        if self.incremental and since_state:
            self.log(
                "warning",
                f"{process.label}: {since_state} record(s) came after the connector's last "
                "STATE message; an append may load them again next run",
            )
