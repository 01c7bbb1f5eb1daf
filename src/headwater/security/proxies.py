"""Which peers may tell us the client's address: ``HEADWATER_TRUSTED_PROXIES``.

``X-Forwarded-For`` is written by whoever sends the request. Believing it from any peer (or,
as uvicorn does by default, from any loopback peer) lets a client choose its own address and
so escape the per-address login throttle and rate limits and forge the audit trail's address.
It is believed only when the direct peer is a configured proxy; then the client is the
right-most address of the header that is not itself a trusted proxy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from headwater.settings import Network, parse_networks

__all__ = ["Network", "forwarded_client", "is_trusted", "parse_networks"]


def is_trusted(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip().split("%", 1)[0])
    except ValueError:
        return False
    return any(ip in network for network in networks)


def forwarded_client(peer: str, forwarded_for: str, networks: Sequence[Network]) -> str:
    """The client address: ``peer`` unless it is a trusted proxy, else the right-most entry of
    ``X-Forwarded-For`` that is not a trusted proxy (entries left of it are client-written)."""
    if not networks or not is_trusted(peer, networks):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop, networks):
            return hop if _is_ip(hop) else peer
    return hops[0] if hops and _is_ip(hops[0]) else peer


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
