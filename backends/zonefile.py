"""Zone-file text: TXT quoting and splitting, and finding an SOA serial in any zone file.

TXT escaping is left to dnspython: it knows which octets need ``\\"``, ``\\\\`` or ``\\DDD``,
and a hand-rolled quoter is exactly where injection bugs live.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import date

import dns.rdataclass
import dns.rdatatype
from dns.rdtypes.ANY.TXT import TXT

MAX_STRING = 255  # octets in one DNS character-string (RFC 1035 3.3)


def split_txt(value: str) -> list[bytes]:
    """The value's UTF-8 octets in character-strings of at most 255 octets each."""
    data = value.encode("utf-8")
    if not data:
        return [b""]
    return [data[i : i + MAX_STRING] for i in range(0, len(data), MAX_STRING)]


# Octets dnspython writes as they are inside quotes: printable ASCII but '"' and '\\'.
_VERBATIM = re.compile(rb"[ !#-\[\]-~]*")


def quote_string(chunk: bytes) -> str:
    """One character-string in zone-file syntax, quoted and escaped by dnspython."""
    if _VERBATIM.fullmatch(chunk):
        return '"' + chunk.decode("ascii") + '"'  # what dnspython writes for these
    rdata = TXT(dns.rdataclass.IN, dns.rdatatype.TXT, [chunk])
    return rdata.to_text()


def txt_rdata(value: str) -> list[str]:
    """The quoted strings that together carry ``value``."""
    return [quote_string(chunk) for chunk in split_txt(value)]


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|;[^\n]*|[()]|(?:[^\s;()"\\]|\\.)+')


@dataclass(frozen=True)
class SerialSpan:
    """Where the SOA serial sits in a zone file's text."""

    value: int
    start: int
    end: int


def find_serial(text: str) -> SerialSpan | None:
    """Locate the serial of the first SOA record, in any layout BIND accepts.

    Walks the tokens after ``SOA`` past parentheses and comments: MNAME, RNAME, then the
    serial. Returns None when there is no SOA or its serial is not a number.
    """
    tokens = _TOKEN.finditer(text)
    for match in tokens:
        if match.group().upper() != "SOA":
            continue
        # The next three words (a lookahead: the outer loop goes on after the SOA token).
        rest = _TOKEN.finditer(text, match.end())
        words = list(
            itertools.islice(
                (m for m in rest if not m.group().startswith(";") and m.group() not in ("(", ")")),
                3,
            )
        )
        if len(words) == 3 and words[2].group().isdigit():
            span = words[2]
            return SerialSpan(int(span.group()), span.start(), span.end())
        # Not a record type here (a host called "soa", say): keep looking.
    return None


def next_serial(old: int | None, today: date) -> int:
    """YYYYMMDDnn for today, or old + 1 when the old serial is already that far."""
    first_today = int(today.strftime("%Y%m%d")) * 100 + 1
    if old is None or old < first_today:
        return first_today
    return (old + 1) % 2**32


def replace_serial(text: str, span: SerialSpan, serial: int) -> str:
    return text[: span.start] + str(serial) + text[span.end :]
