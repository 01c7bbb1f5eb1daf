"""The address classifier against the IANA special-purpose registries, and odd host spellings."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.security.addresses import (
    IPV4_SPECIAL,
    IPV6_SPECIAL,
    classify,
    embedded_ipv4,
    parse_literal,
)

BLOCKED_V4 = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.31.196.0/24",
    "192.52.193.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "192.175.48.0/24",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "255.255.255.255/32",
]
BLOCKED_V6 = [
    "::/128",
    "::1/128",
    "64:ff9b:1::/48",
    "100::/64",
    "2001::/23",
    "2001::/32",
    "2001:db8::/32",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
]
#: One public IPv4 address per embedding form, and a blocked one.
EMBEDDINGS = {
    "::ffff:{}": "IPv4-mapped",
    "::{}": "IPv4-compatible",
    "64:ff9b::{}": "NAT64",
}


@pytest.mark.parametrize("cidr", BLOCKED_V4 + BLOCKED_V6)
def test_every_registry_range_is_blocked_at_both_ends(cidr: str) -> None:
    network = ipaddress.ip_network(cidr)
    for address in (network.network_address, network.broadcast_address):
        assert classify(address) is not None, address


@pytest.mark.parametrize(
    "text",
    ["100.100.100.200", "192.0.0.170", "169.254.169.254", "fd00:ec2::254", "100.64.0.1"],
)
def test_cloud_metadata_addresses_are_blocked(text: str) -> None:
    assert classify(ipaddress.ip_address(text)) is not None


@pytest.mark.parametrize(
    "text",
    ["8.8.8.8", "1.1.1.1", "93.184.216.34", "100.63.255.255", "100.128.0.0", "2606:4700::1111"],
)
def test_public_addresses_pass(text: str) -> None:
    assert classify(ipaddress.ip_address(text)) is None


@pytest.mark.parametrize("form", list(EMBEDDINGS))
@pytest.mark.parametrize(
    ("inner", "blocked"),
    [("127.0.0.1", True), ("169.254.169.254", True), ("100.100.100.200", True), ("8.8.8.8", False)],
)
def test_ipv6_forms_are_judged_by_the_ipv4_they_carry(form: str, inner: str, blocked: bool) -> None:
    address = ipaddress.IPv6Address(form.format(inner))
    assert embedded_ipv4(address) == ipaddress.IPv4Address(inner)
    assert (classify(address) is not None) is blocked


@pytest.mark.parametrize(("inner", "blocked"), [("127.0.0.1", True), ("8.8.8.8", False)])
def test_6to4_is_judged_by_its_ipv4(inner: str, blocked: bool) -> None:
    packed = ipaddress.IPv4Address(inner).packed.hex()
    address = ipaddress.IPv6Address(f"2002:{packed[:4]}:{packed[4:]}::1")
    assert (classify(address) is not None) is blocked


def test_outside_global_unicast_is_blocked_and_zone_ids_are_ignored() -> None:
    assert classify(ipaddress.IPv6Address("4000::1")) is not None
    assert classify(ipaddress.IPv6Address("fe80::1%eth0")) is not None


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("[::1]", "::1"),
        ("fe80::1%25eth0".replace("%25", "%"), "fe80::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
    ],
)
def test_odd_spellings_parse_like_inet_aton(host: str, expected: str) -> None:
    assert parse_literal(host) == ipaddress.ip_address(expected)


@pytest.mark.parametrize("host", ["256.1.1.1", "1.2.3.4.5", "08.1.1.1", "example.com", "0x", ""])
def test_names_and_invalid_numbers_are_not_literals(host: str) -> None:
    assert parse_literal(host) is None


def _inside(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> st.SearchStrategy[object]:
    first, last = int(network.network_address), int(network.broadcast_address)
    return st.integers(first, last).map(lambda n: ipaddress.ip_address(n))


_V4_RANGES = [network for network, _ in IPV4_SPECIAL]
_V6_RANGES = [network for network, _ in IPV6_SPECIAL]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_V4_RANGES + _V6_RANGES).flatmap(_inside))
def test_random_addresses_inside_every_range_are_blocked(address: object) -> None:
    assert isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address)
    assert classify(address) is not None


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([n for n in _V4_RANGES if n.prefixlen < 32]).flatmap(_inside),
    st.sampled_from(["::ffff:{}", "64:ff9b::{}", "::{}", "2002"]),
)
def test_random_blocked_ipv4_inside_every_ipv6_embedding_is_blocked(
    inner: object, form: str
) -> None:
    assert isinstance(inner, ipaddress.IPv4Address)
    if form == "2002":
        value = (0x2002 << 112) | (int(inner) << 80) | 1
        address = ipaddress.IPv6Address(value)
    else:
        address = ipaddress.IPv6Address(form.format(inner))
    if int(address) <= 1:  # ::0.0.0.0 and ::0.0.0.1 are :: and ::1, blocked as themselves
        assert classify(address) is not None
        return
    assert embedded_ipv4(address) == inner
    assert classify(address) is not None


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_random_ipv4_is_blocked_exactly_when_a_registry_range_holds_it(value: int) -> None:
    address = ipaddress.IPv4Address(value)
    expected = any(address in network for network in _V4_RANGES)
    assert (classify(address) is not None) is expected
