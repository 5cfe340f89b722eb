"""The record types mailauth knows, in one table: every other module reads it.

Per type: its name, where it sorts within an owner name, how its value maps to octodns's
record data (a plain string, or a dict of fields) and back, how a zone file presents it
(TXT quoted and split into character-strings, every other type as it is), where its data
holds domain names, and whether mailauth.yaml may declare it as an extra record. Values
are checked, and put in canonical form, by dnspython.

Imports nothing of mailauth, so that the schema, the compiler and the backends may all
read it.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from typing import Any, Literal

#: What one octodns field holds, and how it is read from dnspython's rdata: a number, a
#: domain name (absolute, lower case), one ASCII word, a text (quoted in a zone file), or
#: octets written as lower-case hex.
FieldKind = Literal["int", "name", "word", "text", "hex"]
#: The shape of a value that octodns holds as a plain string.
Scalar = Literal["address", "name", "text"]
#: One value as octodns's record data holds it.
OctodnsValue = str | dict[str, str | int]

#: Where a type not in the table sorts within an owner: after all of these.
OTHER_ORDER = 50


@dataclass(frozen=True)
class Field:
    """One field of an octodns value dict: its key there, and the rdata attribute it is."""

    key: str
    attr: str
    kind: FieldKind


@dataclass(frozen=True)
class RRType:
    """Everything mailauth knows about one record type.

    ``scalar`` or ``fields`` is the octodns layout (neither: octodns does not carry the
    type, as the SOA). ``words``/``names``: how many words the data has and which of them
    are domain names (a name not ending in a dot is relative to the zone); ``names`` empty
    means the data reads the same in any zone. ``text``: the value is the text itself,
    which a zone file quotes and splits into 255-octet strings (TXT).
    """

    name: str
    order: int = OTHER_ORDER
    scalar: Scalar | None = None
    fields: tuple[Field, ...] = ()
    words: int = 0
    names: tuple[int, ...] = ()
    text: bool = False
    single: bool = False  # octodns holds one value at most (CNAME)
    extra: bool = True  # mailauth.yaml may declare it under a zone's records

    @property
    def nameless(self) -> bool:
        """The data holds no domain name: its text does not depend on the zone."""
        return not self.names

    @property
    def octodns(self) -> bool:
        return self.scalar is not None or bool(self.fields)


def _ints(*pairs: tuple[str, str]) -> tuple[Field, ...]:
    return tuple(Field(key, attr, "int") for key, attr in pairs)


# In the order mailauth.yaml's error message lists them; SOA (the zone's own) last.
_TABLE = (
    RRType("A", order=3, scalar="address"),
    RRType("AAAA", order=4, scalar="address"),
    RRType("CNAME", order=5, scalar="name", words=1, names=(0,), single=True),
    RRType(
        "MX",
        order=2,
        fields=(*_ints(("preference", "preference")), Field("exchange", "exchange", "name")),
        words=2,
        names=(1,),
    ),
    RRType("TXT", order=6, scalar="text", text=True),
    RRType("NS", order=1, scalar="name", words=1, names=(0,)),
    RRType(
        "SRV",
        fields=(
            *_ints(("priority", "priority"), ("weight", "weight"), ("port", "port")),
            Field("target", "target", "name"),
        ),
        words=4,
        names=(3,),
    ),
    RRType(
        "CAA",
        fields=(
            Field("flags", "flags", "int"),
            Field("tag", "tag", "word"),
            Field("value", "value", "text"),
        ),
    ),
    RRType("PTR", scalar="name", words=1, names=(0,)),
    RRType(
        "TLSA",
        fields=(
            *_ints(("certificate_usage", "usage"), ("selector", "selector")),
            *_ints(("matching_type", "mtype")),
            Field("certificate_association_data", "cert", "hex"),
        ),
    ),
    RRType(
        "SSHFP",
        fields=(
            *_ints(("algorithm", "algorithm"), ("fingerprint_type", "fp_type")),
            Field("fingerprint", "fingerprint", "hex"),
        ),
    ),
    RRType("SOA", order=0, words=7, names=(0, 1), extra=False),
)

TYPES: dict[str, RRType] = {t.name: t for t in _TABLE}
#: The types mailauth.yaml may declare as extra records, in the order errors list them.
EXTRA_TYPES: tuple[str, ...] = tuple(t.name for t in _TABLE if t.extra)
#: The types that go to octodns; the octodns source reports exactly these as SUPPORTS.
OCTODNS_TYPES: frozenset[str] = frozenset(t.name for t in _TABLE if t.octodns)
#: Sort order within one owner name: the zone's skeleton first, then mail.
SORT_ORDER: dict[str, int] = {t.name: t.order for t in _TABLE if t.order != OTHER_ORDER}


def sort_order(rtype: str) -> int:
    return SORT_ORDER.get(rtype, OTHER_ORDER)


def is_text(rtype: str) -> bool:
    """The value is text that a zone file quotes and splits (TXT), not data as it is."""
    known = TYPES.get(rtype)
    return known is not None and known.text


def nameless(rtype: str) -> bool:
    """``rtype`` is known and its data holds no domain name (the same text in any zone)."""
    known = TYPES.get(rtype)
    return known is not None and known.nameless


def absolute(rtype: str, data: str) -> bool | None:
    """Every domain name in ``data`` is absolute (True), or may not be (False); None when
    the type is not in the table (its data may hold anything)."""
    known = TYPES.get(rtype)
    if known is None:
        return None
    if known.nameless:
        return True
    words = data.split()
    return len(words) == known.words and all(words[i].endswith(".") for i in known.names)


# ----------------------------------------------------------------------------- validation


@functools.lru_cache(maxsize=16384)
def check_value(rtype: str, value: str, zone: str) -> tuple[str, str | None]:
    """Let dnspython parse the value, so a typo fails when mailauth.yaml is read and not
    when named loads the zone. ``zone`` is the origin for relative names.

    Returns the value in canonical form and None, or the value as written and the error.
    """
    import dns.exception  # here: reading mailauth.yaml without extra records needs none
    import dns.name
    import dns.rdata
    import dns.tokenizer

    # A zone-file comment or a line break inside the value would be dropped by the parser
    # below and by named alike: what was written would not be what is published.
    try:
        tokens = dns.tokenizer.Tokenizer(value)
        while not (token := tokens.get(want_comment=True)).is_eof():
            if token.is_comment():
                return value, f"not a valid {rtype} value: ';' starts a zone-file comment"
            if token.is_eol():
                return value, f"not a valid {rtype} value: it must be one line"
    except dns.exception.DNSException as exc:
        return value, f"not a valid {rtype} value: {exc}"
    try:
        rdata = dns.rdata.from_text(
            "IN", rtype, value, origin=dns.name.from_text(zone), relativize=False
        )
    except (dns.exception.DNSException, ValueError) as exc:
        return value, f"not a valid {rtype} value: {exc}"
    return rdata.to_text(origin=None, relativize=False), None


# ----------------------------------------------------------------------------- octodns


def escape_txt(value: str) -> str:
    """A TXT value in octodns's notation: whole, ``;`` as ``\\;``.

    Raises ValueError for text that notation cannot carry: octodns refuses non-ASCII and
    empty values, reads ``\\;`` as an escaped ``;``, and strips a leading ``"`` and every
    ``" "`` (it takes them for presentation-format quoting).
    """
    problem = None
    if not value:
        problem = "an empty TXT value"
    elif not value.isascii():
        problem = "non-ASCII text (octodns TXT values are ASCII)"
    elif "\\;" in value:
        problem = "a backslash before ';' (octodns reads \\; as an escaped ';')"
    elif value.startswith('"') or '" "' in value:
        problem = "quote characters octodns would take for zone-file quoting"
    if problem is not None:
        raise ValueError(f"TXT value {value[:40]!r}: octodns cannot carry {problem}")
    return value.replace(";", "\\;")


def unescape_txt(value: str) -> str:
    """The text an octodns TXT value carries (``\\;`` read back as ``;``)."""
    return value.replace("\\;", ";")


def _field_value(field: Field, rdata: Any) -> str | int:
    raw = getattr(rdata, field.attr)
    if field.kind == "int":
        return int(raw)
    if field.kind == "name":
        return str(raw.to_text()).lower()
    if field.kind == "hex":
        return bytes(raw).hex()
    return bytes(raw).decode("ascii" if field.kind == "word" else "utf-8")


@functools.lru_cache(maxsize=16384)
def _to_octodns(rtype: str, text: str) -> OctodnsValue | None:
    """to_octodns, cached by type and value (the same MX recurs in every zone)."""
    import dns.name  # here: as in check_value
    import dns.rdata

    known = TYPES.get(rtype)
    if known is None or not known.octodns:
        return None
    if known.scalar == "text":
        return escape_txt(text)
    if known.scalar == "address":
        return str(ipaddress.ip_address(text.strip()))
    if known.scalar == "name":
        return dns.name.from_text(text).to_text().lower()
    rdata = dns.rdata.from_text("IN", rtype, text, origin=dns.name.root, relativize=False)
    return {f.key: _field_value(f, rdata) for f in known.fields}


def to_octodns(rtype: str, text: str) -> OctodnsValue | None:
    """A record's value (``text``: the TXT text itself, any other type in presentation
    form) as octodns's record data holds it, normalised as octodns does; None for a type
    octodns does not carry. Raises ValueError (or dnspython's errors) for a bad value.
    """
    value = _to_octodns(rtype, text)
    # A copy: the cached dict must not be shared by two zone files (YAML would alias it).
    return dict(value) if isinstance(value, dict) else value


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def from_octodns(rtype: str, value: OctodnsValue) -> str:
    """The value as mailauth's records hold it (to_octodns's inverse): for TXT the text
    itself, for other types the presentation form. Raises ValueError for a value that
    does not fit the type's layout (a hand-edited file)."""
    known = TYPES.get(rtype)
    if known is None or not known.octodns:
        raise ValueError(f"octodns value of a {rtype} record: not a type mailauth knows")
    if known.scalar is not None:
        if not isinstance(value, str):
            raise ValueError(f"octodns value of a {rtype} record: expected a string")
        return unescape_txt(value) if known.text else value
    if not isinstance(value, dict) or not {f.key for f in known.fields} <= set(value):
        raise ValueError(f"octodns value of a {rtype} record: expected its fields")
    words = (str(value[f.key]) for f in known.fields)
    return " ".join(
        _quoted(word) if f.kind == "text" else word
        for f, word in zip(known.fields, words, strict=True)
    )


def octodns_order(rtype: str, value: OctodnsValue) -> tuple[Any, ...]:
    """How octodns orders the values of one record (its value classes' own order)."""
    if isinstance(value, dict):
        return tuple(value[f.key] for f in TYPES[rtype].fields)
    return (value,)
