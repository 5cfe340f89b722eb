"""DMARC report destinations in other organisations, and the records that authorise them.

A receiver sends aggregate or failure reports for example.net to an address at
example.org only when example.org publishes ``example.net._report._dmarc.example.org TXT
"v=DMARC1"`` (RFC 7489 section 7.1). When mailauth writes the destination's zone too, build
adds that record (:func:`report_authorizations`); otherwise the linter warns (DMARC008).

It lives outside the linter and imports nothing from the compiler, so build can use it.

Organisational domains come from the Public Suffix List (schema/orgdomain.py), as
receivers decide them: reports for example.co.uk sent to reports.example.co.uk stay in
the organisation, those sent to other.co.uk leave it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from mailauth.schema.names import norm, suffixes
from mailauth.schema.orgdomain import organizational_domain

REPORT_RECORD = "v=DMARC1"


class KnownNames:
    """The domains and zones of mailauth.yaml, normalised once.

    Answers "which known name contains this one" by looking up the name's suffixes, so
    asking it for every domain costs time in proportion to the domains, not their square.
    """

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(norm(n) for n in names)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def shortest(self, name: str) -> str | None:
        """The shortest known name that ``name`` lies in (normalised), if any."""
        found = None
        for suffix in suffixes(norm(name)):
            if suffix in self.names:
                found = suffix
        return found


def tag_list(text: str) -> list[tuple[str, str]]:
    """``[(tag, value)]`` of a DMARC or DKIM record, in the order written (tags lower-cased)."""
    tags: list[tuple[str, str]] = []
    for part in text.split(";"):
        if not part.strip():
            continue
        name, eq, value = part.partition("=")
        tags.append((name.strip().lower(), value.strip() if eq else ""))
    return tags


def report_uris(text: str) -> list[tuple[str, str]]:
    """``[(tag, uri)]`` for every rua/ruf URI of a DMARC record."""
    out: list[tuple[str, str]] = []
    for tag, value in tag_list(text):
        if tag in ("rua", "ruf"):
            out += [(tag, uri.strip()) for uri in value.split(",") if uri.strip()]
    return out


def uri_host(uri: str) -> str | None:
    """The domain of a ``mailto:`` report URI (size suffix ``!10m`` dropped), else None."""
    if not uri.lower().startswith("mailto:"):
        return None
    address = uri[len("mailto:") :].split("!", 1)[0]
    local, at, host = address.rpartition("@")
    if not at or not local or not host:
        return None
    return norm(host)


def external_destinations(domain: str, text: str) -> list[tuple[str, str, str]]:
    """``[(tag, uri, host)]`` of report URIs whose organisation is not ``domain``'s."""
    out: list[tuple[str, str, str]] = []
    mine: str | None = None  # asked only for a record with a mailto: (the list is big)
    for tag, uri in report_uris(text):
        host = uri_host(uri)
        if host is None:
            continue
        if mine is None:
            mine = organizational_domain(domain)
        if organizational_domain(host) != mine:
            out.append((tag, uri, host))
    return out


def authorization_name(domain: str, host: str) -> str:
    return f"{norm(domain)}._report._dmarc.{norm(host)}"


def report_authorizations(policies: Sequence[tuple[str, str]], zones: Sequence[str]) -> list[str]:
    """Owner names of the authorisation records to publish in the zones mailauth writes.

    ``policies`` are (domain, DMARC record) pairs; ``zones`` every zone build writes into.
    """
    written = KnownNames(zones)
    owners: set[str] = set()
    for domain, text in policies:
        for _, _, host in external_destinations(domain, text):
            if written.shortest(host) is not None:
                owners.add(authorization_name(domain, host))
    return sorted(owners)
