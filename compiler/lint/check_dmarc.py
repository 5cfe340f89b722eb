"""DMARC rules (RFC 9989, read as RFC 7489 too): tags, reports, policy against alignment."""

from __future__ import annotations

import re

from mailauth.compiler.dmarc_reports import (
    REPORT_RECORD,
    KnownNames,
    authorization_name,
    external_destinations,
    report_uris,
    tag_list,
    uri_host,
)
from mailauth.compiler.dmarc_tags import unreadable
from mailauth.compiler.lint.engine import Context
from mailauth.compiler.lint.inventory import DmarcSite, SpfSite
from mailauth.compiler.model import DomainModel
from mailauth.compiler.spf.syntax import parse
from mailauth.schema.orgdomain import is_public_suffix, organizational_domain

_POLICY = ("none", "quarantine", "reject")
_VALUES: dict[str, re.Pattern[str]] = {
    "p": re.compile(r"none|quarantine|reject"),
    "sp": re.compile(r"none|quarantine|reject"),
    "np": re.compile(r"none|quarantine|reject"),
    "adkim": re.compile(r"[rs]"),
    "aspf": re.compile(r"[rs]"),
    "fo": re.compile(r"[01ds](?::[01ds])*"),
    "t": re.compile(r"[yn]"),
    "psd": re.compile(r"[ynu]"),
    "pct": re.compile(r"100|[1-9]?[0-9]"),
    "rf": re.compile(r"afrf(?::afrf)*", re.IGNORECASE),
    "ri": re.compile(r"[0-9]{1,10}"),
}
_KNOWN = {"v", "rua", "ruf", *_VALUES}
_REMOVED = ("pct", "rf", "ri")
_MAILTO = re.compile(
    r"mailto:[^\s,;!@]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?:![0-9]+[kmgt]?)?"
)


def check(ctx: Context) -> None:
    authorised = {
        r.fqdn(zone.name).rstrip(".").lower()
        for zone in ctx.model.zones
        for r in zone.records
        if r.type == "TXT" and r.value.strip().lower().startswith(REPORT_RECORD.lower())
    }
    managed = KnownNames(z.name for z in ctx.model.zones)
    built = {d.name: d for d in ctx.model.domains}
    spf = {s.owner: s for s in ctx.inventory.spf if s.kind == "domain"}
    seen: dict[str, int] = {}
    for site in ctx.inventory.dmarc:
        seen[site.owner] = seen.get(site.owner, 0) + 1
        if seen[site.owner] == 2:  # domains come first: the second one is hand-written
            ctx.report(
                "DMARC013",
                site.path,
                f"{site.owner} would have more than one DMARC record; receivers apply none",
                domain=site.domain,
            )
    for site in ctx.inventory.dmarc:
        if site.raw and _skipped(ctx, site):
            continue
        tags = _tags(ctx, site)
        if tags is None:
            continue
        policy_domain = site.owner.removeprefix("_dmarc.")
        if "fo" in tags and "ruf" not in tags:
            ctx.report(
                "DMARC004",
                site.tag_path("fo"),
                f"{site.owner}: fo={tags['fo']} without ruf: no failure report is sent anyway",
                domain=site.domain,
            )
        org = organizational_domain(policy_domain) if "sp" in tags else policy_domain
        if org != policy_domain:
            ctx.report(
                "DMARC006",
                site.tag_path("sp"),
                f"{site.owner}: sp={tags['sp']} has no effect: {policy_domain} is not an "
                f"organisational domain (that is {org})",
                domain=site.domain,
            )
        if tags.get("psd") == "y" and not is_public_suffix(policy_domain):
            ctx.report(
                "DMARC007",
                site.tag_path("psd"),
                f"{site.owner}: psd=y declares {policy_domain} a public suffix; receivers then "
                "treat each of its sub-domains as a separate organisation",
                domain=site.domain,
            )
        for tag, uri, host in external_destinations(policy_domain, site.text):
            owner = authorization_name(policy_domain, host)
            if owner in authorised:
                continue
            in_managed = managed.shortest(host) is not None
            hint = (
                " (mailauth writes that zone but not this name: check the address)"
                if (in_managed)
                else ""
            )
            ctx.report(
                "DMARC008",
                site.tag_path(tag),
                f"{site.owner}: reports go to {uri} in another organisation ({host}); "
                f'receivers send them only if {owner} TXT "{REPORT_RECORD}" exists{hint}',
                domain=site.domain,
            )
        if site.kind == "domain" and site.domain in built:
            _alignment(ctx, site, tags, built[site.domain], spf.get(site.domain))


#: What _skipped leaves out for a raw record it cannot read (check_bimi skips too).
SKIPPED = "DMARC001-012 and BIMI001-003"


def _skipped(ctx: Context, site: DmarcSite) -> bool:
    """Report a raw record whose text is no tag=value list; True: skip its checks."""
    why = unreadable(site.text)
    if why is None:
        return False
    ctx.report(
        "DMARC014",
        site.path,
        f"{site.owner}: the raw record cannot be read as tags ({why}); {SKIPPED} were "
        "skipped for it",
        domain=site.domain,
    )
    return True


def _tags(ctx: Context, site: DmarcSite) -> dict[str, str] | None:
    """The record's tags, after reporting what is malformed; None if it is not DMARC."""
    pairs = tag_list(site.text)
    if not pairs or pairs[0] != ("v", "DMARC1"):
        ctx.report(
            "DMARC001",
            site.path,
            f"{site.owner}: a DMARC record starts with v=DMARC1 (receivers ignore this one)",
            domain=site.domain,
        )
        return None
    tags: dict[str, str] = {}
    for name, value in pairs:
        if name in tags:
            ctx.report(
                "DMARC002",
                site.tag_path(name),
                f"{site.owner}: the tag {name}= appears more than once",
                domain=site.domain,
            )
            continue
        tags[name] = value
        if name not in _KNOWN:
            ctx.report(
                "DMARC012",
                site.path,
                f"{site.owner}: unknown tag {name}= (receivers ignore it)",
                domain=site.domain,
            )
            continue
        pattern = _VALUES.get(name)
        if pattern is not None and not pattern.fullmatch(value):
            ctx.report(
                "DMARC001",
                site.tag_path(name),
                f"{site.owner}: {name}={value} is not a valid value",
                domain=site.domain,
            )
        if name in _REMOVED:
            ctx.report(
                "DMARC003",
                site.tag_path(name),
                f"{site.owner}: {name}= was removed by RFC 9989; receivers may ignore it",
                domain=site.domain,
            )
    if "p" not in tags:
        ctx.report(
            "DMARC001",
            site.path,
            f"{site.owner}: no p= tag; RFC 7489 receivers ignore a record without a policy",
            domain=site.domain,
        )
    for tag, uri in report_uris(site.text):
        if not _MAILTO.fullmatch(uri) or uri_host(uri) is None:
            ctx.report(
                "DMARC005",
                site.tag_path(tag),
                f"{site.owner}: {tag}={uri} is not a mailto: address",
                domain=site.domain,
            )
    return tags


def _spf_can_pass(site: SpfSite | None) -> bool:
    """Whether the domain's SPF lists any sender (a pass term before all, or redirect)."""
    if site is None:
        return False
    record = parse(site.text)
    for term in record.terms:
        if term.modifier:
            if term.name == "redirect":
                return record.all_term is None
            continue
        if term.name == "all":
            return term.qualifier == "+"
        if term.qualifier == "+":
            return True
    return False


def _alignment(
    ctx: Context,
    site: DmarcSite,
    tags: dict[str, str],
    built: DomainModel,
    spf: SpfSite | None,
) -> None:
    policy = tags.get("p", "none")
    if not tags.get("rua"):
        ctx.report(
            "DMARC011",
            site.path,
            f"{site.owner}: no rua= address: nobody sees which mail fails DMARC",
            domain=site.domain,
        )
    if policy not in ("quarantine", "reject"):
        return
    signing = [k for k in built.keys if k.sign and k.public_key is not None]
    if signing:
        return
    if _spf_can_pass(spf):
        ctx.report(
            "DMARC010",
            site.tag_path("p"),
            f"{site.owner}: p={policy} with no DKIM signature: forwarded mail fails DMARC "
            f"and is {'rejected' if policy == 'reject' else 'quarantined'}",
            domain=site.domain,
        )
    elif built.keys:
        ctx.report(
            "DMARC009",
            site.tag_path("p"),
            f"{site.owner}: p={policy}, but no selector signs with a published key and SPF "
            "lists no sender: every message of the domain fails DMARC",
            domain=site.domain,
        )
