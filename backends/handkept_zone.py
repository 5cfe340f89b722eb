"""Read a hand-kept zone (include mode) and check it against the fragment mailauth includes.

In include mode mailauth writes a fragment and the admin's own zone file pulls it in with
``$INCLUDE``. Two silent failures follow if nobody reads that zone:

- the zone already holds a record the fragment defines (``@ TXT "v=spf1 ..."``, a ``_dmarc``
  TXT): the zone then publishes two SPF or two DMARC records, and receivers answer permerror
  or ignore the policy;
- the zone has no ``$INCLUDE`` of the fragment: the serial is bumped and the records are never
  published.

So the zone is read here, without following any ``$INCLUDE`` (never another file: the
fragment itself is the thing being checked against), with the line of every record, so the
error names the file and line the admin must edit.

Records are read with dnspython's tokenizer and rdata parsers (the same ones
``dns.zone.from_text`` uses), entry by entry, because the zone reader does not give line
numbers. Owner, TTL and class follow RFC 1035 and BIND: a blank owner repeats the previous
one; no TTL means ``$TTL``, else the last explicit TTL, else (SOA only) its minimum.

How the backend uses this
-------------------------

In ``BindBackend.render`` for a zone in include mode with a ``serial_file`` (or the new
``zone_file``), the edit function that bumps the serial (it already gets the current bytes)
first calls::

    result = check_handkept_zone(
        current.decode(), path=zone_file, origin=zone.name,
        fragment_path=include_path, generated=generated_for(zone),  # GeneratedRecord per record
        directory=target.directory,
    )
    if result.errors: raise EditError("\\n".join(f.format() for f in result.errors))
    notes += [f.format() for f in result.warnings]

``generated_for`` maps the model's records: purpose "spf" -> kind "spf", "dmarc" -> "dmarc"
(``_report._dmarc`` names -> "report"), "dkim" -> "dkim", "mx" -> "mx", "tlsrpt" and "bimi"
alike, the rest "other".
lint can call the same function on ``--root`` files. The module is pure: text in, results out.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.SOA
import dns.rdtypes.txtbase
import dns.tokenizer
import dns.ttl

__all__ = [
    "GeneratedRecord",
    "HandRecord",
    "IncludeLine",
    "Kind",
    "ZoneCheck",
    "ZoneProblem",
    "check_handkept_zone",
    "find_include",
    "read_zone",
]

Kind = Literal["spf", "dmarc", "dkim", "report", "mx", "other", "tlsrpt", "bimi"]
Severity = Literal["error", "warning"]

_KIND_TEXT: dict[str, str] = {
    "spf": "an SPF record",
    "dmarc": "a DMARC record",
    "dkim": "a DKIM key",
    "report": "a DMARC report authorisation",
    "mx": "MX records",
    "other": "a record",
    "tlsrpt": "a TLS-RPT record",
    "bimi": "a BIMI record",
}
# A TXT at _smtp._tls or _bimi that does not start so is discarded by senders and receivers
# (RFC 8460 section 3; the BIMI draft): only one that does makes a second record.
_TXT_VERSION: dict[str, str] = {"tlsrpt": "v=tlsrptv1", "bimi": "v=bimi1"}


@dataclass(frozen=True)
class GeneratedRecord:
    """A record mailauth writes into the fragment. ``name`` is absolute (trailing dot)."""

    name: str
    type: str
    kind: Kind = "other"
    ttl: int | None = None


@dataclass(frozen=True)
class HandRecord:
    """One record of the hand-kept zone, where it is written."""

    name: dns.name.Name
    type: str
    ttl: int | None
    rdata: str
    line: int


@dataclass(frozen=True)
class IncludeLine:
    """A ``$INCLUDE`` line: the path exactly as written, and the origin argument if any."""

    line: int
    path: str
    origin: str | None = None


@dataclass(frozen=True)
class ZoneProblem:
    """A problem in the hand-kept zone. ``line`` is None when no line is to blame (a
    missing ``$INCLUDE``)."""

    path: str
    line: int | None
    severity: Severity
    message: str

    def format(self) -> str:
        """``file:line: message``, the way compilers and the rest of mailauth say it."""
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.message}"


@dataclass
class ZoneCheck:
    """Everything read from the zone, and what is wrong with it."""

    path: str
    records: list[HandRecord] = field(default_factory=list)
    includes: list[IncludeLine] = field(default_factory=list)
    include: IncludeLine | None = None
    findings: list[ZoneProblem] = field(default_factory=list)

    @property
    def errors(self) -> list[ZoneProblem]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[ZoneProblem]:
        return [f for f in self.findings if f.severity == "warning"]


# --------------------------------------------------------------------------- reading


class _ZoneSyntaxError(ValueError):
    """Zone text BIND would refuse, found by this reader rather than by dnspython."""


def _rest_of_line(tok: dns.tokenizer.Tokenizer) -> list[str]:
    """The remaining tokens of a directive line (comments dropped), consuming the EOL."""
    values: list[str] = []
    while True:
        token = tok.get()
        if token.is_eol_or_eof():
            return values
        values.append(token.value)


def _ttl_or_none(value: str) -> int | None:
    try:
        return dns.ttl.from_text(value)
    except dns.ttl.BadTTL:
        return None


def read_zone(
    text: str, origin: str, *, path: str = "zone"
) -> tuple[list[HandRecord], list[IncludeLine], list[ZoneProblem]]:
    """Records (with their lines) and ``$INCLUDE`` lines of zone text; ``$INCLUDE`` is never
    followed. A syntax error is a ZoneProblem on the line where its entry starts, and reading
    stops there (after an error the rest cannot be trusted: parentheses may be open)."""
    records: list[HandRecord] = []
    includes: list[IncludeLine] = []
    findings: list[ZoneProblem] = []
    try:
        current_origin = dns.name.from_text(origin, dns.name.root)
    except (dns.exception.DNSException, ValueError) as exc:
        return (
            records,
            includes,
            [ZoneProblem(path, None, "error", f"bad zone name {origin!r}: {exc}")],
        )
    tok = dns.tokenizer.Tokenizer(text, filename=path)
    default_ttl: int | None = None
    last_ttl: int | None = None
    owner: dns.name.Name | None = None
    line = 1
    try:
        while True:
            line = tok.line_number  # where the next entry starts: errors point here
            token = tok.get(want_leading=True)
            if token.is_eof():
                break
            if token.is_eol():
                continue
            line = tok.line_number
            if token.is_whitespace():
                token = tok.get()
                if token.is_eol_or_eof():
                    continue
                if owner is None:
                    raise _ZoneSyntaxError("no owner name for the first record")
            elif token.is_identifier() and token.value.startswith("$"):
                directive = token.value.upper()
                args = _rest_of_line(tok)
                if directive == "$ORIGIN" and len(args) == 1:
                    current_origin = dns.name.from_text(args[0], current_origin)
                elif directive == "$TTL" and len(args) == 1:
                    default_ttl = dns.ttl.from_text(args[0])
                elif directive == "$INCLUDE" and 1 <= len(args) <= 2:
                    includes.append(IncludeLine(line, args[0], args[1] if len(args) == 2 else None))
                elif directive == "$GENERATE":
                    findings.append(
                        ZoneProblem(path, line, "warning", "$GENERATE is not expanded; not checked")
                    )
                else:
                    raise _ZoneSyntaxError(f"bad directive {' '.join([token.value, *args])}")
                continue
            else:
                owner = (
                    current_origin
                    if token.value == "@"
                    else dns.name.from_text(token.value, current_origin)
                )
                token = tok.get()
            ttl = _ttl_or_none(token.value) if token.is_identifier() else None
            if ttl is not None:
                token = tok.get()
            rdclass = dns.rdataclass.IN
            if token.is_identifier():
                try:
                    rdclass = dns.rdataclass.from_text(token.value)
                    token = tok.get()
                except dns.rdataclass.UnknownRdataclass:
                    rdclass = dns.rdataclass.IN
            if ttl is None and token.is_identifier():
                ttl = _ttl_or_none(token.value)
                if ttl is not None:
                    token = tok.get()
            if rdclass != dns.rdataclass.IN:
                raise _ZoneSyntaxError("only class IN is supported")
            if not token.is_identifier():
                raise _ZoneSyntaxError("expected a record type")
            rdtype = dns.rdatatype.from_text(token.value)
            rdata = dns.rdata.from_text(rdclass, rdtype, tok, current_origin, relativize=False)
            if ttl is not None:
                last_ttl = ttl
            else:
                ttl = default_ttl if default_ttl is not None else last_ttl
                if ttl is None and isinstance(rdata, dns.rdtypes.ANY.SOA.SOA):
                    ttl = rdata.minimum
            assert owner is not None
            records.append(
                HandRecord(owner, dns.rdatatype.to_text(rdtype), ttl, rdata.to_text(), line)
            )
    except (dns.exception.DNSException, ValueError, UnicodeError) as exc:
        findings.append(ZoneProblem(path, line, "error", f"cannot read the zone: {exc}"))
    return records, includes, findings


def find_include(
    includes: Iterable[IncludeLine], fragment_path: str, *, directory: str | None = None
) -> IncludeLine | None:
    """The ``$INCLUDE`` that names ``fragment_path``: written as that absolute path, or
    relative to BIND's ``directory`` (named.conf ``options { directory ...; }``) when known."""
    wanted = posixpath.normpath(fragment_path)
    for include in includes:
        written = include.path
        if posixpath.isabs(written):
            if posixpath.normpath(written) == wanted:
                return include
        elif (
            directory is not None
            and posixpath.normpath(posixpath.join(directory, written)) == wanted
        ):
            return include
    return None


# --------------------------------------------------------------------------- checking


def _txt(record: HandRecord) -> str:
    """The TXT text as one string (character-strings joined), for the ``v=spf1`` test."""
    rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, record.rdata)
    assert isinstance(rdata, dns.rdtypes.txtbase.TXTBase)
    return b"".join(rdata.strings).decode("utf-8", "replace")


def _is_spf(record: HandRecord) -> bool:
    text = _txt(record).lower()
    return text == "v=spf1" or text.startswith("v=spf1 ")


def _conflict(ours: GeneratedRecord, theirs: HandRecord) -> bool:
    """Would publishing both break what ours is for?"""
    if theirs.type == "CNAME":
        return True  # nothing else may live at a CNAME (RFC 1034 3.6.2); BIND refuses it
    if theirs.type != ours.type:
        return False
    if ours.kind == "spf":
        return theirs.type == "TXT" and _is_spf(theirs)
    if ours.kind in _TXT_VERSION:
        return _txt(theirs).strip().lower().startswith(_TXT_VERSION[ours.kind])
    return ours.kind in ("dmarc", "dkim", "report", "mx")


def check_handkept_zone(
    text: str,
    *,
    path: str,
    origin: str,
    fragment_path: str,
    generated: Sequence[GeneratedRecord],
    directory: str | None = None,
) -> ZoneCheck:
    """Read the hand-kept zone at ``path`` (its text) and report: a missing ``$INCLUDE`` of
    the fragment, each record that clashes with one mailauth generates (errors), and TTLs
    that differ on an RRset both define (warnings)."""
    records, includes, findings = read_zone(text, origin, path=path)
    result = ZoneCheck(path=path, records=records, includes=includes, findings=findings)
    result.include = find_include(includes, fragment_path, directory=directory)
    if result.include is None:
        relative = [i for i in includes if not posixpath.isabs(i.path)]
        hint = ""
        if (
            relative
            and directory is None
            and any(
                posixpath.basename(i.path) == posixpath.basename(fragment_path) for i in relative
            )
        ):
            hint = " (a relative $INCLUDE names it, but BIND's directory is not known: set it)"
        result.findings.append(
            ZoneProblem(
                path,
                None,
                "error",
                f"no $INCLUDE of {fragment_path}: the records mailauth writes there would "
                f"never be published; add the line `$INCLUDE {fragment_path}`{hint}",
            )
        )
    seen: set[tuple[int, str]] = set()
    for ours in generated:
        try:
            name = dns.name.from_text(ours.name, dns.name.root)
        except (dns.exception.DNSException, ValueError):
            continue
        for theirs in records:
            if theirs.name != name:
                continue
            if _conflict(ours, theirs):
                if (theirs.line, ours.kind) in seen:
                    continue
                seen.add((theirs.line, ours.kind))
                shown = name.to_text()
                result.findings.append(
                    ZoneProblem(
                        path,
                        theirs.line,
                        "error",
                        f"{shown} {theirs.type} is already defined here, and mailauth "
                        f"generates {_KIND_TEXT[ours.kind]} for {shown}: remove this record or "
                        f"stop mailauth from managing it",
                    )
                )
            elif (
                theirs.type == ours.type
                and ours.ttl is not None
                and theirs.ttl is not None
                and theirs.ttl != ours.ttl
                and (theirs.line, ours.type) not in seen
            ):
                seen.add((theirs.line, ours.type))
                result.findings.append(
                    ZoneProblem(
                        path,
                        theirs.line,
                        "warning",
                        f"{name.to_text()} {theirs.type} has TTL {theirs.ttl} here and "
                        f"{ours.ttl} in {fragment_path}: one RRset has one TTL, BIND uses "
                        "the first it reads and warns",
                    )
                )
    result.findings.sort(key=lambda f: (f.line is None, f.line or 0, f.severity))
    return result
