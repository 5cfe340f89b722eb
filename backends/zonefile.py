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


#: The largest SOA serial: RFC 1982 serial arithmetic counts modulo 2**32.
SERIAL_MAX = 2**32 - 1
# The years a YYYYMMDDnn serial may name: anything else is a counter that looks like one.
_DATE_YEARS = range(1990, 2101)


class SerialError(ValueError):
    """The serial cannot move forward without wrapping around (RFC 1982)."""


def is_date_serial(value: int) -> bool:
    """``value`` reads as YYYYMMDDnn: ten digits whose first eight are a real date, 1990-2100."""
    text = str(value)
    if len(text) != 10:
        return False
    try:
        day = date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return False
    return day.year in _DATE_YEARS


def next_serial(old: int | None, today: date) -> int:
    """The serial after ``old``, in the scheme ``old`` uses; always greater than ``old``.

    A new zone and a date-like serial (YYYYMMDDnn) get today's first serial, or ``old + 1``
    when ``old`` is already that far. Any other serial is a counter and keeps counting.
    A serial that cannot grow without wrapping past 2**32 - 1 raises :class:`SerialError`:
    RFC 1982 allows the wrap, but only as a deliberate, two-step operation.
    """
    first_today = int(today.strftime("%Y%m%d")) * 100 + 1
    if old is None:
        return first_today
    if old >= SERIAL_MAX:
        raise SerialError(
            f"the SOA serial {old} cannot be increased: serials stop at {SERIAL_MAX} "
            "(2^32 - 1), and mailauth does not wrap them around (RFC 1982 serial "
            "arithmetic); wrap it by hand: set a small serial (under 2147483647, which "
            "secondaries take as the next one) and check that they transfer the zone"
        )
    if is_date_serial(old) and old < first_today:
        return first_today
    return old + 1


def replace_serial(text: str, span: SerialSpan, serial: int) -> str:
    return text[: span.start] + str(serial) + text[span.end :]
