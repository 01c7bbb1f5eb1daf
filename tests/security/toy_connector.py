"""A connector the registry does not ship, standing for a third-party plugin in the sweep.

Its properties are named the ways plugins name them (``server``, ``dsn``, ``api_url``), and its
``test()`` opens a plain socket to whatever they say: the outbound policy must stop it because
of what the properties hold, not because anyone listed this connector anywhere.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from headwater.connectors.base import Capabilities, ConnectorSpec, PropertySpec


def spec() -> ConnectorSpec:
    return ConnectorSpec(
        name="toy_plugin",
        title="Toy plugin",
        properties=(
            PropertySpec("server", "string"),
            PropertySpec("port", "integer", default=1),
            PropertySpec("dsn", "string"),
            PropertySpec("api_url", "string"),
            PropertySpec("token", "password", secret=True),
        ),
        capabilities=Capabilities(),
        source_class="tests.security.toy_connector:ToySource",
    )


class ToySource:
    def __init__(self, props: Mapping[str, Any]) -> None:
        self.props = props

    def test(self) -> None:
        targets = []
        if self.props.get("server"):
            targets.append((str(self.props["server"]).strip("[]"), int(self.props["port"])))
        for name in ("dsn", "api_url"):
            parts = urlsplit(str(self.props.get(name) or ""))
            if parts.hostname and parts.port:
                targets.append((parts.hostname, parts.port))
        for host, port in targets:
            try:
                with socket.create_connection((host, port), timeout=2) as conn:
                    conn.recv(1)  # like a driver, wait for the server's first answer
            except OSError:
                pass

    def close(self) -> None:
        return None
