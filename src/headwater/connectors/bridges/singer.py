"""The ``singer`` source: a Singer tap (``tap-*``, often built on Meltano's singer-sdk).

``--about --format json`` gives the tap's settings and which are secret (singer-sdk marks
them ``secret: true``); ``--discover`` prints the catalog and is the connection test; a sync
runs with ``--catalog`` (only the stream read is ``selected``) and, for incremental tables,
``--state`` holding the ``value`` of the last committed ``STATE`` message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from headwater.connectors.bridges.process import ConnectorProcess, ConnectorProcessError
from headwater.connectors.bridges.source import BridgeSource, Stream
from headwater.connectors.bridges.spec_rules import problems, summary
from headwater.connectors.errors import ConfigurationError


def _root_metadata(raw: Mapping[str, Any]) -> dict[str, Any]:
    for entry in raw.get("metadata") or []:
        if isinstance(entry, Mapping) and not entry.get("breadcrumb"):
            found = entry.get("metadata")
            return dict(found) if isinstance(found, Mapping) else {}
    return {}


def _selected(raw: Mapping[str, Any], selected: bool) -> dict[str, Any]:
    copy = orjson.loads(orjson.dumps(raw))
    metadata = [m for m in copy.get("metadata") or [] if m.get("breadcrumb")]
    root = _root_metadata(raw)
    root["selected"] = selected
    copy["metadata"] = [{"breadcrumb": [], "metadata": root}, *metadata]
    copy["selected"] = selected
    return dict(copy)


class SingerSource(BridgeSource):
    protocol = "singer"

    def output(self, argv: list[str], files: Mapping[str, Any], what: str) -> Any:
        """Run the tap for a command that prints one JSON document (about, discover)."""
        with self.process(argv, files, what) as process:
            try:
                document = process.document()
            finally:
                process.finish()
        if not isinstance(document, dict):
            raise ConnectorProcessError(f"{self.package.name} {what}: the tap printed no object")
        return document

    def about(self) -> dict[str, Any]:
        found = self.output(["--about", "--format", "json"], {}, "--about")
        return found if isinstance(found, dict) else {}

    def secret_settings(self, about: Mapping[str, Any] | None = None) -> list[str]:
        settings = (self.about() if about is None else about).get("settings") or {}
        properties = settings.get("properties") if isinstance(settings, Mapping) else None
        return sorted(
            name
            for name, field in (properties or {}).items()
            if isinstance(field, Mapping) and (field.get("secret") or field.get("writeOnly"))
        )

    def test(self) -> None:
        try:
            about: dict[str, Any] = self.about()
        except ConnectorProcessError:
            about = {}  # not every tap has --about
        plain = [name for name in self.secret_settings(about) if name in self.user_config]
        if plain:
            raise ConfigurationError(
                "the tap marks " + ", ".join(plain) + " as secret: move them from config to "
                "secret_config (stored encrypted)"
            )
        settings = about.get("settings")
        if isinstance(settings, dict) and settings:
            found = problems(settings, self.user_config, self.secrets)
            if found:
                raise ConfigurationError(summary(found))
        if not self.discover_streams():
            raise ConfigurationError("the tap's discovery found no streams")

    def discover_streams(self) -> list[Stream]:
        catalog = self.output(
            ["--config", "{config}", "--discover"], {"config": self.config}, "--discover"
        )
        streams = []
        for raw in catalog.get("streams") or []:
            root = _root_metadata(raw)
            keys = raw.get("key_properties") or root.get("table-key-properties") or []
            cursor = raw.get("replication_key") or root.get("replication-key")
            valid = root.get("valid-replication-keys") or []
            cursor_field = (cursor,) if cursor else tuple(valid[:1])
            name = str(raw.get("tap_stream_id") or raw.get("stream"))
            streams.append(
                Stream(name, raw.get("schema") or {}, tuple(keys), cursor_field, raw, self.nested)
            )
        return streams

    def read_process(self, stream: Stream) -> ConnectorProcess:
        catalog = {
            "streams": [
                _selected(other.raw, other.name == stream.name) for other in self.streams().values()
            ]
        }
        files: dict[str, Any] = {"config": self.config, "catalog": catalog}
        argv = ["--config", "{config}", "--catalog", "{catalog}"]
        if self.incremental and self.state_in is not None:
            files["state"] = self.state_in
            argv += ["--state", "{state}"]
        return self.process(argv, files, f"sync {stream.name}")

    def classify(self, message: dict[str, Any], process: ConnectorProcess) -> tuple[str, Any, Any]:
        kind = message.get("type")
        if kind == "RECORD":
            return "record", message.get("stream"), message.get("record")
        if kind == "STATE":
            return "state", None, message.get("value")
        if kind is None:
            raise ConnectorProcessError(f"{process.label}: a message without a type")
        return "", None, None

    def state_for(self, stream: Stream, payload: Any) -> Any:
        return payload if isinstance(payload, dict) else None
