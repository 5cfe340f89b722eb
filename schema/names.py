"""DNS names and name-server addresses: the checks, and the small helpers that compare names.

Each check returns the normalised value or raises ValueError with a sentence that tells the
user what is wrong; pydantic turns that into a positioned error. The helpers (:func:`norm`,
:func:`suffixes`, :func:`longest_suffix`, :func:`parse_nameserver`) are the one copy that
the compiler, the linter, SPF and verify share.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Container, Iterator

_LDH_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
# Owner names of auth records carry underscores (_dmarc, _domainkey, _mta-sts).
_OWNER_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _labels(value: str, *, what: str) -> list[str]:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text")
    name = value.strip().lower()
    if name.endswith("."):
        name = name[:-1]
    if not name:
        raise ValueError(f"{what} is empty")
    if len(name) > 253:
        raise ValueError(f"{what} is {len(name)} characters long; DNS names stop at 253")
    labels = name.split(".")
    for label in labels:
        if not label:
            raise ValueError(f"{what} {value!r} has an empty label (two dots in a row?)")
        if len(label.encode()) > 63:
            raise ValueError(
                f"{what} {value!r} has a label of {len(label.encode())} octets "
                f"({label[:12]!r}...); a DNS label holds at most 63"
            )
    return labels


def _foreign(value: str, allowed: str) -> str | None:
    """The characters of ``value`` outside ``allowed`` (a regex class body), quoted, or None."""
    bad = sorted(set(re.sub(f"[{allowed}]", "", value.strip().lower())))
    if not bad:
        return None
    return " ".join(repr(c) for c in bad)


def domain_name(value: str) -> str:
    """A host or domain name: letters, digits and hyphens, at least two labels."""
    if isinstance(value, str):
        bad = _foreign(value, "a-z0-9.-")
        if bad:
            # Checked first: for `../../etc` or `exa mple.org` the character is the news,
            # not the empty or odd label it leaves behind.
            raise ValueError(
                f"{value!r} is not a valid domain name: it holds {bad}; only letters, digits, "
                "hyphens and dots are allowed (use punycode for IDNs)"
            )
    labels = _labels(value, what="domain name")
    for label in labels:
        if not _LDH_LABEL.fullmatch(label):
            raise ValueError(
                f"{value!r} is not a valid domain name: label {label!r} may not start or "
                "end with a hyphen"
            )
    if len(labels) < 2:
        raise ValueError(f"{value!r} is not a fully qualified domain name (no dot)")
    return ".".join(labels)


def owner_name(value: str) -> str:
    """A record owner relative to its zone: ``@``, or labels that may hold underscores."""
    if value.strip() == "@":
        return "@"
    bad = _foreign(value, "a-z0-9._*-") if isinstance(value, str) else None
    if bad:
        raise ValueError(
            f"{value!r} is not a valid record name: it holds {bad}; only letters, digits, "
            "hyphens, underscores and dots are allowed"
        )
    labels = _labels(value, what="record name")
    for index, label in enumerate(labels):
        if label == "*" and index == 0:
            continue
        if not _OWNER_LABEL.fullmatch(label):
            raise ValueError(
                f"{value!r} is not a valid record name: label {label!r} may only hold letters, "
                "digits, hyphens and underscores"
            )
    return ".".join(labels)


def selector_name(value: str) -> str:
    """A DKIM selector (RFC 6376 3.1): one or more labels under ``_domainkey``.

    The grammar is RFC 5321's sub-domain: letters, digits and hyphens, not at a label's
    start or end. An underscore, which DNS itself would carry, is not allowed: signers and
    verifiers that follow the grammar refuse such a selector.
    """
    bad = _foreign(str(value), "a-z0-9._-")
    if bad:
        raise ValueError(
            f"{value!r} is not a valid DKIM selector: it holds {bad}; use letters, digits "
            "and hyphens"
        )
    labels = _labels(str(value), what="selector")
    if "_" in str(value):
        hyphenated = ".".join(label.replace("_", "-").strip("-") for label in labels)
        fix = ""
        if all(_LDH_LABEL.fullmatch(label) for label in hyphenated.split(".")):
            fix = f", e.g. {hyphenated!r}"
        raise ValueError(
            f"{value!r} is not a valid DKIM selector: RFC 6376 (section 3.1) allows only "
            "letters, digits and hyphens, not '_' (signers and verifiers may refuse it); "
            f"use a hyphen instead{fix}"
        )
    for label in labels:
        if not _LDH_LABEL.fullmatch(label):
            raise ValueError(
                f"{value!r} is not a valid DKIM selector: use letters, digits and hyphens "
                "(a hyphen may not start or end a label)"
            )
    return ".".join(labels)


_CONTROL_NAMES = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab"}


def safe_text(value: str, *, what: str = "value", forbid: str = '"\\') -> str:
    """Text that is copied into generated files: no control characters, no quoting tricks."""
    control = _CONTROL.search(value)
    if control:
        char = control.group()
        name = _CONTROL_NAMES.get(char, "a control character")
        raise ValueError(
            f"{what} holds {name} ({char!r}), which would break the generated file; "
            "write it on one line"
        )
    bad = sorted({c for c in value if c in forbid})
    if bad:
        shown = " ".join(repr(c) for c in bad)
        raise ValueError(
            f"{what} holds {shown}, which is not allowed here (it would break the quoting "
            "of the generated file)"
        )
    return value


def ip_network(value: str, version: int) -> str:
    """An IPv4/IPv6 address or CIDR range, as SPF's ip4:/ip6: take them."""
    text = str(value).strip()
    kind = "IPv4" if version == 4 else "IPv6"
    limit = 32 if version == 4 else 128
    if "%" in text:
        raise ValueError(f"{text!r}: an IPv6 zone index ('%...') is not allowed here")
    _, slash, prefix = text.partition("/")
    if slash and prefix.isdigit() and int(prefix) > limit:
        raise ValueError(f"{text!r}: the {kind} prefix length must be 0-{limit} (got /{prefix})")
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not a valid {kind} address or network") from None
    if net.version != version:
        raise ValueError(f"{text!r} is an IPv{net.version} value where {kind} is expected")
    return text


def ip_address(value: str, version: int) -> str:
    """A single IPv4 or IPv6 address, normalised."""
    text = str(value).strip()
    kind = "IPv4" if version == 4 else "IPv6"
    if "%" in text:
        raise ValueError(f"{text!r}: an IPv6 zone index ('%...') is not allowed here")
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a valid {kind} address") from None
    if addr.version != version:
        raise ValueError(f"{text!r} is an IPv{addr.version} address where {kind} is expected")
    return str(addr)


# --- comparing names ------------------------------------------------------------------------


def norm(name: str) -> str:
    """A DNS name as the compiler compares it: no surrounding blanks, no final dot, lower case."""
    return name.strip().rstrip(".").lower()


def suffixes(name: str) -> Iterator[str]:
    """``name`` and the names it lies in, longest first: ``a.b.c``, ``b.c``, ``c``."""
    while True:
        yield name
        dot = name.find(".")
        if dot < 0:
            return
        name = name[dot + 1 :]


def longest_suffix(name: str, names: Container[str]) -> str | None:
    """The longest of ``names`` that ``name`` lies in (itself included), or None.

    Asks ``names`` once per label of ``name``, so finding the zone or domain of every
    record costs time in proportion to the records, whatever the number of zones.
    """
    for suffix in suffixes(name):
        if suffix in names:
            return suffix
    return None


# --- name servers ---------------------------------------------------------------------------


def parse_nameserver(text: str) -> tuple[str, int]:
    """``IP``, ``IP:PORT``, ``[IPv6]:PORT`` or a bare IPv6 address -> (address, port).

    The one rule for ``--nameserver`` (lint, spf refresh, verify): an IP address, not a host
    name (resolving it would need the very DNS being checked); the port 1-65535 in ASCII
    digits, 53 when left out; the address comes back in its canonical spelling.
    """
    value = text.strip()
    host, port = value, 53
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        if not bracket:
            raise ValueError(f"{text!r}: missing ']'")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{text!r}: expected [IPv6]:PORT")
            port = _port(rest[1:], text)
    elif value.count(":") == 1:
        host, _, raw = value.partition(":")
        port = _port(raw, text)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an IP address (the name server must be an IP address: "
            "IP, IP:PORT or [IPv6]:PORT)"
        ) from None
    return str(address), port


def _port(raw: str, text: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 65536:
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
    return int(raw)
