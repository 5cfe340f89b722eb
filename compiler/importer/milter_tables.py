"""Line parsers for the milters' own files: ``Name value`` configurations and the
OpenDKIM-style KeyTable, SigningTable and host lists (dkimpy-milter reads the same shapes).

Pure functions on text, no I/O, so the importer's reading of each line can be tested alone
(hypothesis). What a line cannot say in mailauth.yaml is reported by the caller as a Note;
these functions only say what the line means, or raise `LineError` with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from mailauth.schema import names

_WS = " \t"


class LineError(ValueError):
    """A table or configuration line that does not read as its file's format."""


@dataclass(frozen=True)
class Option:
    """One ``Name value`` line of opendkim.conf, opendmarc.conf or dkimpy-milter.conf."""

    name: str
    value: str
    line: int


def content_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number from 1, content) of each line that holds something: the text before a
    ``#`` (the daemons cut comments there), without CR/LF and surrounding blanks."""
    for number, raw in enumerate(text.split("\n"), 1):
        body = raw.split("#", 1)[0].strip(_WS + "\r")
        if body:
            yield number, body


def parse_options(text: str) -> list[Option]:
    """The option lines of a milter configuration, in file order (a repeated option keeps
    every line: the caller decides which one the daemon takes)."""
    options: list[Option] = []
    for number, body in content_lines(text):
        parts = re.split(r"[ \t]+", body, maxsplit=1)
        options.append(Option(parts[0], parts[1] if len(parts) > 1 else "", number))
    return options


def truth(value: str) -> bool | None:
    """A boolean option value as OpenDKIM, OpenDMARC and dkimpy-milter read it; None when
    it is none of their spellings."""
    folded = value.strip().casefold()
    if folded in ("yes", "true", "1", "y", "t", "on"):
        return True
    if folded in ("no", "false", "0", "n", "f", "off"):
        return False
    return None


@dataclass(frozen=True)
class KeyEntry:
    """A KeyTable line: ``name domain:selector:key`` (``key`` a path, or key data)."""

    name: str
    domain: str
    selector: str
    key: str


def parse_key_line(body: str) -> KeyEntry:
    """One KeyTable line (comments already cut). LineError when it is not
    ``name domain:selector:keypath`` with a domain and selector mailauth can name."""
    parts = re.split(r"[ \t]+", body.strip(_WS + "\r"), maxsplit=1)
    if len(parts) != 2:
        raise LineError("a KeyTable line is `name domain:selector:/path/to/key`")
    name, value = parts
    fields = value.split(":", 2)
    if len(fields) != 3 or not all(fields):
        raise LineError("a KeyTable value is `domain:selector:/path/to/key`")
    domain, selector, key = fields
    try:
        domain = names.domain_name(domain)
        selector = names.selector_name(selector)
    except ValueError as exc:
        raise LineError(str(exc)) from None
    return KeyEntry(name=name, domain=domain, selector=selector, key=key)


@dataclass(frozen=True)
class SigningEntry:
    """A SigningTable line: a From: address pattern and the key name(s) it selects."""

    pattern: str
    key_name: str
    signer: str | None  # `name:signer`, the i= identity


def parse_signing_line(body: str) -> SigningEntry:
    """One SigningTable line (comments already cut): ``pattern keyname[:signer]``."""
    parts = re.split(r"[ \t]+", body.strip(_WS + "\r"))
    if len(parts) != 2:
        raise LineError("a SigningTable line is `pattern keyname`")
    pattern, value = parts
    key_name, colon, signer = value.partition(":")
    if not key_name:
        raise LineError("a SigningTable line is `pattern keyname`")
    return SigningEntry(pattern=pattern, key_name=key_name, signer=signer if colon else None)


def signing_domain(pattern: str, *, regex: bool) -> str | None:
    """The From: domain a SigningTable pattern stands for, when it means "all mail of one
    domain" (what mailauth writes); None for anything else (per-user, wildcard domains).

    A ``refile:`` table matches ``*@domain`` (``*`` any text); a plain table is looked up by
    the address, then by the domain alone, so a bare ``domain`` means the whole domain.
    """
    if regex:
        if not pattern.startswith("*@"):
            return None
        domain = pattern[2:]
    else:
        if "@" in pattern:
            return None
        domain = pattern
    if "*" in domain:
        return None
    try:
        return names.domain_name(domain)
    except ValueError:
        return None


@dataclass(frozen=True)
class Dataset:
    """An OpenDKIM data set reference: a file (plain or ``refile:``), an inline list, or a
    kind the importer does not read (``db:``, ``ldap:``...)."""

    kind: Literal["file", "refile", "inline", "other"]
    path: str = ""
    items: tuple[str, ...] = ()


def parse_dataset(value: str) -> Dataset:
    """What an option naming a data set points at (opendkim.conf(5), "DATA SETS")."""
    value = value.strip()
    kind, colon, rest = value.partition(":")
    if colon and kind in ("file", "refile") and rest.startswith("/"):
        return Dataset(kind="file" if kind == "file" else "refile", path=rest)
    if value.startswith("/"):
        return Dataset(kind="file", path=value)
    if colon and kind == "csl":
        value = rest
    elif colon and re.fullmatch(r"[a-z]+", kind) and kind not in ("inet", "inet6"):
        return Dataset(kind="other", path=value)
    items = tuple(item.strip() for item in re.split(r"[, \t]+", value) if item.strip())
    return Dataset(kind="inline", items=items)
