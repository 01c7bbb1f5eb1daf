"""Which IP addresses are special-purpose, and how odd host spellings map to addresses.

The ranges are the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and its
updates) plus the deprecated blocks still routed inside networks. An address is judged by what
it reaches: an IPv6 form that carries an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``,
IPv4-compatible ``::a.b.c.d``, NAT64 ``64:ff9b::a.b.c.d``, 6to4 ``2002:aabb:ccdd::``) is judged
by that IPv4 address, because a dual-stack kernel, a NAT64 gateway or a 6to4 relay delivers it
there. Everything outside the IPv6 global-unicast block ``2000::/3`` is refused as well: IANA has
allocated nothing there for the public Internet.

Host spellings are read the way ``getaddrinfo``/``inet_aton`` read them, so ``2130706433``,
``0x7f.1``, ``0177.0.0.1`` and ``127.1`` are all 127.0.0.1 here, as they are to every client.
"""

from __future__ import annotations

import ipaddress
import re

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

#: (range, why it is refused), IPv4 Special-Purpose Address Registry.
IPV4_SPECIAL: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("0.0.0.0/8"), "'this network' (RFC 791)"),
    (_V4("10.0.0.0/8"), "private (RFC 1918)"),
    (_V4("100.64.0.0/10"), "shared address space / carrier-grade NAT (RFC 6598)"),
    (_V4("127.0.0.0/8"), "loopback (RFC 1122)"),
    (_V4("169.254.0.0/16"), "link-local, cloud metadata (RFC 3927)"),
    (_V4("172.16.0.0/12"), "private (RFC 1918)"),
    (_V4("192.0.0.0/24"), "IETF protocol assignments (RFC 6890)"),
    (_V4("192.0.2.0/24"), "documentation TEST-NET-1 (RFC 5737)"),
    (_V4("192.31.196.0/24"), "AS112-v4 (RFC 7535)"),
    (_V4("192.52.193.0/24"), "AMT (RFC 7450)"),
    (_V4("192.88.99.0/24"), "deprecated 6to4 relay anycast (RFC 7526)"),
    (_V4("192.168.0.0/16"), "private (RFC 1918)"),
    (_V4("192.175.48.0/24"), "AS112 direct delegation (RFC 7534)"),
    (_V4("198.18.0.0/15"), "benchmarking (RFC 2544)"),
    (_V4("198.51.100.0/24"), "documentation TEST-NET-2 (RFC 5737)"),
    (_V4("203.0.113.0/24"), "documentation TEST-NET-3 (RFC 5737)"),
    (_V4("224.0.0.0/4"), "multicast (RFC 5771)"),
    (_V4("240.0.0.0/4"), "reserved (RFC 1112)"),
    (_V4("255.255.255.255/32"), "limited broadcast (RFC 919)"),
)

#: IPv6 forms that carry an IPv4 address, judged by that address (see ``embedded_ipv4``).
IPV6_EMBEDDING: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::ffff:0:0/96"), "IPv4-mapped"),
    (_V6("::/96"), "IPv4-compatible"),
    (_V6("64:ff9b::/96"), "NAT64"),
    (_V6("2002::/16"), "6to4"),
)

#: (range, why it is refused), IPv6 Special-Purpose Address Registry and neighbours.
IPV6_SPECIAL: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::/128"), "unspecified (RFC 4291)"),
    (_V6("::1/128"), "loopback (RFC 4291)"),
    (_V6("64:ff9b:1::/48"), "local-use NAT64 (RFC 8215)"),
    (_V6("100::/64"), "discard-only (RFC 6666)"),
    (_V6("100:0:0:1::/64"), "dummy prefix (RFC 9780)"),
    (_V6("2001::/23"), "IETF protocol assignments, Teredo 2001::/32 (RFC 2928, RFC 4380)"),
    (_V6("2001:db8::/32"), "documentation (RFC 3849)"),
    (_V6("2620:4f:8000::/48"), "AS112 direct delegation (RFC 7534)"),
    (_V6("3fff::/20"), "documentation (RFC 9637)"),
    (_V6("5f00::/16"), "SRv6 SIDs (RFC 9602)"),
    (_V6("fc00::/7"), "unique local (RFC 4193)"),
    (_V6("fe80::/10"), "link-local (RFC 4291)"),
    (_V6("fec0::/10"), "deprecated site-local (RFC 3879)"),
    (_V6("ff00::/8"), "multicast (RFC 4291)"),
)

_GLOBAL_UNICAST = _V6("2000::/3")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address delivers to, for the forms in ``IPV6_EMBEDDING``."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    value = int(address)
    if address in IPV6_EMBEDDING[1][0] and value > 1:  # ::a.b.c.d, but not :: and ::1
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if address in IPV6_EMBEDDING[2][0]:
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return None


def classify(address: Address) -> str | None:
    """Why ``address`` may not be reached from a production deployment, or None if it is a
    public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            address = ipaddress.IPv6Address(int(address))
        inner = embedded_ipv4(address)
        if inner is not None:
            reason = classify(inner)
            return f"{reason}, reached through {address}" if reason else None
        for network, reason in IPV6_SPECIAL:
            if address in network:
                return reason
        if address not in _GLOBAL_UNICAST:
            return "outside the IPv6 global unicast range 2000::/3"
        return None
    for v4network, reason in IPV4_SPECIAL:
        if address in v4network:
            return reason
    return None


_V4_PART = re.compile(r"^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$")


def _v4_part(text: str) -> int:
    if text[:2] in ("0x", "0X"):
        return int(text, 16)
    return int(text, 8) if text.startswith("0") else int(text)


def parse_ipv4(text: str) -> ipaddress.IPv4Address | None:
    """An IPv4 address in any spelling ``inet_aton`` accepts (``2130706433``, ``0x7f.1``,
    ``0177.0.0.1``, ``127.1``), else None."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(_V4_PART.match(p) for p in parts):
        return None
    values = [_v4_part(p) for p in parts]
    *leading, last = values
    if any(v > 0xFF for v in leading) or last >= 1 << (8 * (5 - len(parts))):
        return None
    value = last
    for index, part in enumerate(leading):
        value |= part << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def parse_literal(host: str) -> Address | None:
    """The address a host names literally (brackets, zone ids and odd IPv4 forms allowed)."""
    text = host.strip("[]")
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text.split("%", 1)[0])
        except ValueError:
            return None
    return parse_ipv4(text)
