"""The outbound policy: which hosts Headwater may open a connection to, for every connection.

One policy covers every outbound path a user can point somewhere: actions, REST sources and
their OAuth token URLs (httpx), webhooks, S3 ``endpoint_url`` (aiobotocore), database hosts
(PostgreSQL, MySQL/MariaDB) and any connector property that holds a host or a URL.

In ``production`` mode a host is refused when it, or any address it resolves to, is in a
special-purpose range of the IANA registries (``security.addresses``: loopback, private,
carrier-grade NAT and cloud metadata, link-local, documentation, multicast, the IPv6 forms that
carry such an IPv4 address...), unless the host name or a range containing the address is on
``HEADWATER_OUTBOUND_ALLOWLIST``. Unix-socket paths and multi-host lists are refused too.
``vet_host`` returns the addresses it checked, and the callers connect to exactly those
(``security.pinning``, psycopg ``hostaddr``, PyMySQL's host), so a name that resolves elsewhere
a moment later (DNS rebinding) cannot slip through. ``development`` mode allows everything, so
local test servers and databases work.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Collection, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from headwater.errors import InvalidInput
from headwater.security.addresses import Address, classify, parse_literal
from headwater.settings import Settings

Resolver = Callable[[str], list[str]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Property names that hold a bare host (``host``, ``db_host``, ``server``, ``endpoint``...).
HOST_PROPERTY = re.compile(r"(^|_)(host|hostname|server|address|endpoint)$", re.IGNORECASE)
#: A value that is a URL with a scheme (``https://``, ``postgresql://``...).
URL_VALUE = re.compile(r"^\s*[a-z][a-z0-9+.-]*://", re.IGNORECASE)
#: URL schemes whose "host" is a bucket or a local path, not a network host.
NON_NETWORK_SCHEMES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "file", "memory"})
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


class BlockedDestination(InvalidInput):
    """The host or URL points where this deployment does not allow outbound connections."""


def resolve(host: str) -> list[str]:
    """Every address ``host`` resolves to, as the clients' ``getaddrinfo`` sees it."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InvalidInput(f"Cannot resolve host {host!r}: {reason}") from None
    return sorted({str(info[4][0]).split("%", 1)[0] for info in infos})


def normalize_host(host: str) -> str:
    """Lower case, without brackets, zone id or trailing dots: ``LOCALHOST.`` is ``localhost``."""
    text = host.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return text.split("%", 1)[0] if ":" in text else text.rstrip(".")


def _ascii_name(host: str) -> str | None:
    """The IDNA (``xn--``) form of a host name, or None when it is not a valid name."""
    try:
        name = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        return None
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        return None
    return name


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
                hosts.add(normalize_host(item))
        return cls(settings.mode == "production", frozenset(hosts), tuple(networks))

    # -- URLs and hosts ------------------------------------------------------------------------

    def check(self, url: str, resolver: Resolver | None = None) -> None:
        """Raise ``BlockedDestination`` (a 400 with the reason) for an HTTP URL that may not be
        used; any URL that is not http(s) with a host is refused in every mode."""
        try:
            parts = urlsplit(url)
            hostname = parts.hostname
        except ValueError:
            raise InvalidInput(f"Not a valid URL: {url!r}") from None
        if parts.scheme not in {"http", "https"} or not hostname:
            raise InvalidInput(f"Only http and https URLs with a host are allowed: {url!r}")
        self.vet_host(hostname, resolver)

    def vet_host(self, host: str, resolver: Resolver | None = None) -> list[str] | None:
        """The addresses to connect to for ``host``, every one of them checked; None means
        "connect as the client would" (development mode, or an allow-listed host name).

        Raises ``BlockedDestination`` naming the host, the address and its range.
        """
        if not self.enforce:
            return None
        name = normalize_host(host)
        if name in self.hosts:
            return None
        if not name:
            raise BlockedDestination("An outbound connection needs a host; none was given")
        if name.startswith(("/", "@")) or "," in name:
            raise BlockedDestination(
                f"Outbound connections to {host!r} are blocked in production mode: only one "
                "network host is allowed (no Unix-socket paths, no host lists)"
            )
        literal = parse_literal(name)
        if literal is not None:
            self._judge(host, literal)
            return [str(literal)]
        ascii_name = _ascii_name(name)
        if ascii_name is None:
            raise BlockedDestination(f"{host!r} is not a valid host name")
        if ascii_name == "localhost" or ascii_name.endswith(".localhost"):
            self._judge(host, ipaddress.IPv4Address("127.0.0.1"))
        lookup = resolver or resolve  # looked up now, so a test can stand in for DNS
        addresses = [ipaddress.ip_address(text) for text in lookup(ascii_name)]
        if not addresses:
            raise InvalidInput(f"Cannot resolve host {host!r}: no address")
        for address in addresses:
            self._judge(host, address)
        return [str(address) for address in addresses]

    def _judge(self, host: str, address: Address) -> None:
        reason = classify(address)
        if reason is None or any(address in network for network in self.networks):
            return
        raise BlockedDestination(
            f"Outbound connections to {host} ({address}) are blocked in production mode: it is "
            f"a {reason} address. Add the host or a range containing it to "
            "HEADWATER_OUTBOUND_ALLOWLIST to allow it."
        )

    # -- connection properties -----------------------------------------------------------------

    def vet_properties(
        self,
        props: Mapping[str, Any],
        secret_names: Collection[str] = (),
        resolver: Resolver | None = None,
    ) -> None:
        """Check every host or URL in a connection's properties before anything connects.

        A property holds a host when its name says so (``HOST_PROPERTY``) and a URL when its
        value starts with a scheme, whatever its name, so a connector added later (a plugin's
        ``dsn``, ``server`` or ``api_url``) is covered without being listed anywhere.
        Secrets are not looked at (they are never echoed in a message).
        """
        if not self.enforce:
            return
        for name, value in props.items():
            if name in secret_names or not isinstance(value, str) or not value.strip():
                continue
            if URL_VALUE.match(value):
                self._vet_url_value(name, value.strip(), resolver)
            elif HOST_PROPERTY.search(name):
                self.vet_host(value, resolver)

    def _vet_url_value(self, name: str, url: str, resolver: Resolver | None) -> None:
        try:
            parts = urlsplit(url)
            hostname = parts.hostname
        except ValueError:
            raise InvalidInput(f"The property {name!r} is not a valid URL") from None
        if parts.scheme.lower() in NON_NETWORK_SCHEMES:
            return
        if not hostname:
            raise InvalidInput(f"The URL in the property {name!r} has no host")
        self.vet_host(hostname, resolver)


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
    is checked before it leaves, so a public URL redirecting to 169.254.169.254 is refused with
    a clear message (the pinned transport of ``security.pinning`` checks again at connect)."""

    def check(request: httpx.Request) -> None:
        policy.check(str(request.url))

    return check
