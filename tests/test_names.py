"""The shared name helpers of schema/names.py: one rule each, checked on any input.

``parse_nameserver`` is the one reader of ``--nameserver`` (lint, spf refresh, verify);
``longest_suffix`` is the one "which declared zone or domain does this name lie in" of
build, the linter, SPF and verify.
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailauth.schema.names import longest_suffix, norm, parse_nameserver, suffixes

ports = st.integers(min_value=1, max_value=65535)
v4 = st.ip_addresses(v=4).map(str)
v6 = st.ip_addresses(v=6).map(str)


@given(v4, ports)
def test_ipv4_with_and_without_a_port(address: str, port: int) -> None:
    assert parse_nameserver(address) == (address, 53)
    assert parse_nameserver(f"{address}:{port}") == (address, port)
    assert parse_nameserver(f"[{address}]:{port}") == (address, port)


@given(v6, ports)
def test_ipv6_bare_or_bracketed(address: str, port: int) -> None:
    canonical = str(ipaddress.ip_address(address))
    assert parse_nameserver(address) == (canonical, 53)
    assert parse_nameserver(f"[{address}]") == (canonical, 53)
    assert parse_nameserver(f" [{address}]:{port} ") == (canonical, port)
    # Any spelling of the address comes back in one (canonical) spelling.
    assert parse_nameserver(ipaddress.ip_address(address).exploded)[0] == canonical


@given(v4, st.one_of(st.integers(max_value=0), st.integers(min_value=65536)))
def test_ports_outside_1_to_65535_are_refused(address: str, port: int) -> None:
    with pytest.raises(ValueError, match="port must be a number from 1 to 65535"):
        parse_nameserver(f"{address}:{port}")


@pytest.mark.parametrize(
    "text",
    [
        "ns1.example.org",
        "ns1.example.org:53",
        "127.0.0.1:",
        "127.0.0.1:x",
        "127.0.0.1:\u0665\u0663",  # Arabic-Indic digits: str.isdigit() says yes, the rule no
        "[::1",
        "[::1]53",
        "[::1]:",
        "1.2.3",
        "",
    ],
)
def test_what_is_not_an_address_and_port_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_nameserver(text)


def test_a_host_name_is_named_as_such() -> None:
    with pytest.raises(ValueError, match="not an IP address") as caught:
        parse_nameserver("dns.example.org")
    assert "the name server must be an IP address" in str(caught.value)


label = st.sampled_from(["a", "b", "c", "org", "example", "mail", "_dmarc", ""])
name = st.lists(label, min_size=1, max_size=5).map(".".join)


@given(name, st.sets(name, max_size=6))
def test_longest_suffix_is_the_longest_name_it_lies_in(wanted: str, names: set[str]) -> None:
    inside = [n for n in names if wanted == n or wanted.endswith("." + n)]
    expected = max(inside, key=len) if inside else None
    assert longest_suffix(wanted, names) == expected


@given(name)
def test_suffixes_are_the_label_boundaries_longest_first(wanted: str) -> None:
    found = list(suffixes(wanted))
    labels = wanted.split(".")
    assert found == [".".join(labels[i:]) for i in range(len(labels))]


def test_norm() -> None:
    assert norm("  Mail.Example.ORG. ") == "mail.example.org"
