"""The ``airbyte`` source: an Airbyte Python source (or declarative manifest) as tables.

Commands are the Airbyte protocol's: ``spec`` (the config's JSON Schema; fields marked
``airbyte_secret`` belong in ``secret_config``), ``check`` (the connection test),
``discover`` (streams) and ``read`` with a configured catalog of one stream. A manifest
connection runs ``source-declarative-manifest`` (from ``airbyte-cdk``) with the manifest
injected into its config, as Airbyte's platform does.

State: a ``STREAM`` state of the stream read, a ``GLOBAL`` state, or a legacy ``data`` state is
kept as the whole message and given back, in the form the connector sent it, with ``--state``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from headwater.connectors.bridges.process import ConnectorProcess, ConnectorProcessError
from headwater.connectors.bridges.source import BridgeSource, Stream
from headwater.connectors.bridges.spec_rules import has_path, problems, secret_paths, summary
from headwater.connectors.errors import ConfigurationError, ConnectionFailed

MANIFEST_RUNNER = "source-declarative-manifest"
MANIFEST_KEY = "__injected_declarative_manifest"
_LOG_LEVELS = {"FATAL": "warning", "ERROR": "warning", "WARN": "warning", "WARNING": "warning"}


class AirbyteSource(BridgeSource):
    protocol = "airbyte"

    def __init__(self, props: Mapping[str, Any]) -> None:
        super().__init__(props)
        manifest = props.get("manifest")
        self.manifest: dict[str, Any] | None = None
        if manifest:
            try:
                loaded = yaml.safe_load(Path(str(manifest)).read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError) as exc:
                raise ConfigurationError(f"the manifest cannot be read: {exc}") from None
            if not isinstance(loaded, dict) or "streams" not in loaded:
                raise ConfigurationError("the manifest is not a declarative manifest (no streams)")
            if "spec" not in loaded:
                raise ConfigurationError("the manifest needs a `spec:` block")
            self.manifest = loaded

    def default_package(self) -> str:
        if self.manifest is not None:
            return "airbyte-cdk"
        return super().default_package()

    def executable(self) -> str:
        if self.manifest is not None and not self.props.get("executable"):
            path = self.package.bin(MANIFEST_RUNNER)
            if not path.exists():
                raise ConfigurationError(
                    f"{self.package.name} has no {MANIFEST_RUNNER}; install airbyte-cdk to "
                    "run manifests"
                )
            return str(path)
        return super().executable()

    def run_config(self) -> dict[str, Any]:
        if self.manifest is None:
            return self.config
        return {**self.config, MANIFEST_KEY: self.manifest}

    # -- commands -----------------------------------------------------------------------------

    def command(self, argv: list[str], files: Mapping[str, Any], wanted: str) -> dict[str, Any]:
        """Run a command that answers with one message of type ``wanted``."""
        found: dict[str, Any] | None = None
        with self.process(argv, files, argv[0]) as process:
            for message in process.messages():
                if message.get("type") == wanted:
                    found = message
                else:
                    self.classify(message, process)
            if found is None:
                process.finish()
                raise ConnectorProcessError(f"{process.label}: the connector sent no {wanted}")
            process.finish()
        return found

    def spec(self) -> dict[str, Any]:
        """The config's JSON Schema: the manifest's own ``spec`` block, or the connector's
        answer to ``spec``."""
        if self.manifest is not None:
            block = self.manifest.get("spec") or {}
            schema = block.get("connection_specification") if isinstance(block, dict) else None
            return schema if isinstance(schema, dict) else {}
        message = self.command(["spec"], {}, "SPEC")
        spec = message.get("spec") or {}
        schema = spec.get("connectionSpecification") or {}
        return schema if isinstance(schema, dict) else {}

    def validate(self, schema: Mapping[str, Any]) -> None:
        """The config against the spec (JSON Schema, see ``config_check``), secrets kept
        secret."""
        plain = [p for p in secret_paths(schema) if has_path(self.user_config, p)]
        if plain:
            raise ConfigurationError(
                "the connector marks "
                + ", ".join(plain)
                + " as secret: move "
                + ("it" if len(plain) == 1 else "them")
                + " from config to secret_config (stored encrypted)"
            )
        found = problems(schema, self.user_config, self.secrets)
        if found:
            raise ConfigurationError(summary(found))

    def test(self) -> None:
        self.validate(self.spec())
        message = self.command(
            ["check", "--config", "{config}"], {"config": self.run_config()}, "CONNECTION_STATUS"
        )
        status = message.get("connectionStatus") or {}
        if status.get("status") != "SUCCEEDED":
            detail = self.redactor.redact(str(status.get("message") or "no reason given"))
            raise ConnectionFailed(f"the connector's check failed: {detail}")

    def discover_streams(self) -> list[Stream]:
        message = self.command(
            ["discover", "--config", "{config}"], {"config": self.run_config()}, "CATALOG"
        )
        streams = []
        for raw in (message.get("catalog") or {}).get("streams") or []:
            keys = raw.get("source_defined_primary_key") or []
            primary_key = tuple(".".join(k) if isinstance(k, list) else str(k) for k in keys)
            cursor = raw.get("default_cursor_field") or []
            streams.append(
                Stream(
                    str(raw["name"]),
                    raw.get("json_schema") or {},
                    primary_key,
                    tuple(cursor),
                    raw,
                    self.nested,
                )
            )
        return streams

    def read_process(self, stream: Stream) -> ConnectorProcess:
        modes = stream.raw.get("supported_sync_modes") or ["full_refresh"]
        incremental = self.incremental and "incremental" in modes
        if self.incremental and not incremental:
            self.log("warning", f"stream {stream.name} cannot be read incrementally; reading all")
        configured: dict[str, Any] = {
            "stream": stream.raw,
            "sync_mode": "incremental" if incremental else "full_refresh",
            "destination_sync_mode": "append" if incremental else "overwrite",
        }
        if stream.cursor_field:
            configured["cursor_field"] = list(stream.cursor_field)
        if stream.raw.get("source_defined_primary_key"):
            configured["primary_key"] = stream.raw["source_defined_primary_key"]
        files: dict[str, Any] = {
            "config": self.run_config(),
            "catalog": {"streams": [configured]},
        }
        argv = ["read", "--config", "{config}", "--catalog", "{catalog}"]
        if incremental and self.state_in is not None:
            if "message" in self.state_in:
                files["state"] = [self.state_in["message"]]
            else:
                files["state"] = self.state_in.get("legacy") or {}
            argv += ["--state", "{state}"]
        return self.process(argv, files, f"read {stream.name}")

    def classify(self, message: dict[str, Any], process: ConnectorProcess) -> tuple[str, Any, Any]:
        kind = message.get("type")
        if kind == "RECORD":
            record = message.get("record") or {}
            return "record", record.get("stream"), record.get("data")
        if kind == "STATE":
            return "state", None, message.get("state") or {}
        if kind == "LOG":
            entry = message.get("log") or {}
            level = _LOG_LEVELS.get(str(entry.get("level", "")).upper(), "info")
            process.log_line(level, str(entry.get("message", "")))
        elif kind == "TRACE":
            trace = message.get("trace") or {}
            if trace.get("type") == "ERROR":
                error = trace.get("error") or {}
                text = str(error.get("message") or error.get("internal_message") or "error")
                process.errors.append(text)
                process.log_line("warning", f"error: {text}")
        elif kind is None:
            raise ConnectorProcessError(f"{process.label}: a message without a type")
        return "", None, None

    def state_for(self, stream: Stream, payload: Any) -> Any:
        if not isinstance(payload, dict):
            return None
        state_type = payload.get("type")
        if state_type == "STREAM":
            descriptor = (payload.get("stream") or {}).get("stream_descriptor") or {}
            if descriptor.get("name") != stream.name:
                return None
            return {"message": payload}
        if state_type == "GLOBAL":
            return {"message": payload}
        if "data" in payload:
            return {"legacy": payload["data"]}
        return None
