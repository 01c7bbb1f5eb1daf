"""The outbound policy (``security.ssrf``) as connectors use it: errors become connector errors.

Two checks, both no-ops in ``development`` mode:

- ``vet_properties`` runs when a source or target is opened (``Registry.open_source`` /
  ``open_target``), before anything connects, on every host- or URL-like property of every
  connector, plugins included; a blocked host fails there with the policy's message, so a
  connection test cannot tell an open private port from a closed one.
- ``checked_addresses`` runs again where a driver connects, and the driver is handed the
  addresses it returns (psycopg/ADBC ``hostaddr``, PyMySQL's host), so DNS cannot change the
  answer between the check and the connection.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from headwater.connectors.base import ConnectorSpec
from headwater.connectors.errors import ConfigurationError
from headwater.errors import InvalidInput
from headwater.security.ssrf import current_policy


def vet_properties(spec: ConnectorSpec, props: Mapping[str, Any]) -> None:
    """Refuse, before any connection, a connection whose hosts or URLs the policy blocks."""
    secrets = {p.name for p in spec.properties if p.secret or p.type == "password"}
    try:
        current_policy().vet_properties(props, secrets)
    except InvalidInput as exc:
        raise ConfigurationError(exc.message) from None


def checked_addresses(host: str) -> list[str] | None:
    """The addresses a driver must connect to for ``host``; None: connect to ``host`` as usual
    (development mode or an allow-listed name)."""
    try:
        return current_policy().vet_host(host)
    except InvalidInput as exc:
        raise ConfigurationError(exc.message) from None


def one_address(host: str) -> str:
    """The host a single-address driver (PyMySQL, ConnectorX) should connect to: the first
    checked IPv4 address (else IPv6) in production mode, ``host`` itself otherwise."""
    addresses = checked_addresses(host)
    if not addresses:
        return host
    return min(addresses, key=lambda text: ipaddress.ip_address(text).version)
