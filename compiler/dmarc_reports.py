"""DMARC report destinations in other organisations, and the records that authorise them.

A receiver sends aggregate or failure reports for example.net to an address at
example.org only when example.org publishes ``example.net._report._dmarc.example.org TXT
"v=DMARC1"`` (RFC 7489 section 7.1). When mailauth writes the destination's zone too, build
adds that record (:func:`report_authorizations`); otherwise the linter warns (DMARC008).

It lives outside the linter and imports nothing from the compiler, so build can use it.

Organisational domains are decided without the Public Suffix List: a name belongs to the
shortest domain or zone of mailauth.yaml that contains it, and otherwise to its last two
labels (which is wrong for names under suffixes such as co.uk; the only effect is a
warning or a record too many, never a report lost).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from mailauth.schema.names import norm, suffixes

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


def _known(known: Iterable[str]) -> KnownNames:
    return known if isinstance(known, KnownNames) else KnownNames(known)


def org_domain(name: str, known: Iterable[str]) -> str:
    """The organisational domain of ``name`` (see the module docstring).

    Pass a :class:`KnownNames` when asking about many names.
    """
    found = _known(known).shortest(name)
    if found is not None:
        return found
    return ".".join(norm(name).split(".")[-2:])


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


def external_destinations(
    domain: str, text: str, known: Iterable[str]
) -> list[tuple[str, str, str]]:
    """``[(tag, uri, host)]`` of report URIs whose organisation is not ``domain``'s."""
    known = _known(known)
    mine = org_domain(domain, known)
    out: list[tuple[str, str, str]] = []
    for tag, uri in report_uris(text):
        host = uri_host(uri)
        if host is not None and org_domain(host, known) != mine:
            out.append((tag, uri, host))
    return out


def authorization_name(domain: str, host: str) -> str:
    return f"{norm(domain)}._report._dmarc.{norm(host)}"


def report_authorizations(policies: Sequence[tuple[str, str]], zones: Sequence[str]) -> list[str]:
    """Owner names of the authorisation records to publish in the zones mailauth writes.

    ``policies`` are (domain, DMARC record) pairs; ``zones`` every zone build writes into.
    """
    known = KnownNames([*zones, *(d for d, _ in policies)])
    written = KnownNames(zones)
    owners: set[str] = set()
    for domain, text in policies:
        for _, _, host in external_destinations(domain, text, known):
            if written.shortest(host) is not None:
                owners.add(authorization_name(domain, host))
    return sorted(owners)
