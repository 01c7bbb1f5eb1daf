"""Outbound HTTP guard: where actions, REST sources and webhooks may connect.

In ``production`` mode, URLs whose host resolves to a loopback, link-local, private, multicast
or unspecified address are refused unless the host or a range containing the address is on the
allow-list. The check resolves the name (every address it resolves to must pass), so a public
name pointing at 127.0.0.1 is refused too. ``development`` mode allows everything, so local
test servers work.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from headwater.errors import InvalidInput
from headwater.settings import Settings

Resolver = Callable[[str], list[str]]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockedDestination(InvalidInput):
    """The URL points where this deployment does not allow outbound requests."""


def resolve(host: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise InvalidInput(f"Cannot resolve host {host!r}: {exc.strerror}") from None
    return sorted({str(info[4][0]) for info in infos})


def _restricted(address: Address) -> bool:
    return (
        address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
    )


@dataclass(frozen=True)
class OutboundPolicy:
    enforce: bool
    hosts: frozenset[str]
    networks: tuple[Network, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundPolicy:
        hosts: set[str] = set()
        networks: list[Network] = []
        for item in (part.strip() for part in settings.outbound_allowlist.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.lower())
        return cls(settings.mode == "production", frozenset(hosts), tuple(networks))

    def check(self, url: str, resolver: Resolver = resolve) -> None:
        """Raise ``BlockedDestination`` (a 400 with the reason) for a URL that may not be used."""
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise InvalidInput(f"Only http and https URLs with a host are allowed: {url!r}")
        if not self.enforce:
            return
        host = parts.hostname.lower()
        if host in self.hosts:
            return
        for text in resolver(host):
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if _restricted(address) and not any(address in net for net in self.networks):
                raise BlockedDestination(
                    f"Outbound requests to {host} ({address}) are blocked: it is a loopback, "
                    "link-local or private address. Add it to HEADWATER_OUTBOUND_ALLOWLIST to "
                    "allow it."
                )


#: The policy of the run or request in progress (set by the runner and connection tests).
_current: ContextVar[OutboundPolicy | None] = ContextVar("headwater_outbound_policy", default=None)


def current_policy() -> OutboundPolicy:
    """The policy in force here: the one set for this run or request, else the process's own
    (``HEADWATER_MODE`` / ``HEADWATER_OUTBOUND_ALLOWLIST``), which is what every ``headwater``
    process runs with. Connectors only see their properties, so they ask here."""
    policy = _current.get()
    return policy if policy is not None else OutboundPolicy.from_settings(Settings())


def set_policy(policy: OutboundPolicy | None) -> object:
    """Make ``policy`` current in this thread's context; returns a token for ``reset_policy``."""
    return _current.set(policy)


def reset_policy(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


def request_hook(policy: OutboundPolicy) -> Callable[[httpx.Request], None]:
    """An httpx ``request`` event hook: every request, redirects and next-page links included,
    is checked before it leaves, so a public URL redirecting to 169.254.169.254 is refused."""

    def check(request: httpx.Request) -> None:
        policy.check(str(request.url))

    return check
