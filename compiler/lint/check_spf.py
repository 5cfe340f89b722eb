"""SPF rules (RFC 7208): syntax, the lookup budget, qualifiers, size, flattening."""

from __future__ import annotations

from mailauth.compiler.lint.engine import Context
from mailauth.compiler.lint.inventory import SpfSite
from mailauth.compiler.spf.budget import LOOKUP_LIMIT, VOID_LIMIT, count, render
from mailauth.compiler.spf.dnsview import CacheView
from mailauth.compiler.spf.flatten import RECORD_LIMIT, flatten
from mailauth.compiler.spf.syntax import parse

STRING_LIMIT = 255
UDP_LIMIT = 512


def check(ctx: Context) -> None:
    sites = ctx.inventory.spf
    owners: dict[str, list[SpfSite]] = {}
    for site in sites:
        owners.setdefault(site.owner, []).append(site)
    own = set(owners)
    for owner, group in owners.items():
        if len(group) > 1:
            for site in group[1:]:
                ctx.report(
                    "SPF001",
                    site.path,
                    f"{owner} would have {len(group)} SPF records; receivers answer permerror "
                    "when there is more than one",
                    domain=site.domain,
                )
    for site in sites:
        _syntax(ctx, site)
        _size(ctx, site)
        if site.kind == "chain":
            continue
        _semantics(ctx, site)
        _budget(ctx, site, own)
        if site.kind == "domain" and site.spf is not None and site.spf.flatten:
            _flatten(ctx, site)
    if ctx.live is not None:
        for failure in ctx.live.failures:
            ctx.report("SPF028", (), f"DNS query failed: {failure}")


def _syntax(ctx: Context, site: SpfSite) -> None:
    record = parse(site.text)
    for issue in record.issues:
        index = issue.term.index if issue.term is not None else None
        ctx.report(
            issue.rule,
            site.term_path(index),
            f"{site.owner}: {issue.message}",
            domain=site.domain,
        )


def _size(ctx: Context, site: SpfSite) -> None:
    octets = len(site.text.encode("utf-8"))
    if octets > RECORD_LIMIT:
        over = "the 512-octet UDP limit" if octets > UDP_LIMIT else f"{RECORD_LIMIT} octets"
        ctx.report(
            "SPF021",
            site.path,
            f"{site.owner}: the record is {octets} octets, over {over}; receivers may need "
            "TCP to fetch it",
            domain=site.domain,
        )
    elif octets > STRING_LIMIT and site.kind != "chain":  # chains are split on purpose
        strings = -(-octets // STRING_LIMIT)
        ctx.report(
            "SPF020",
            site.path,
            f"{site.owner}: the record is {octets} octets, published as {strings} strings",
            domain=site.domain,
        )


def _semantics(ctx: Context, site: SpfSite) -> None:
    record = parse(site.text)
    all_term = record.all_term
    redirect = record.modifier("redirect")
    for term in record.mechanisms:
        if term.name == "ptr":
            ctx.report(
                "SPF016",
                site.term_path(term.index),
                f"{site.owner}: {term.text} is slow and unreliable, and the RFC says not to use it",
                domain=site.domain,
            )
    if all_term is not None:
        after = [t for t in record.terms if t.index > all_term.index and not t.modifier]
        if after:
            shown = " ".join(t.text for t in after)
            ctx.report(
                "SPF009",
                site.term_path(after[0].index),
                f"{site.owner}: {shown} come(s) after {all_term.text} and is never evaluated",
                domain=site.domain,
            )
        if redirect is not None:
            ctx.report(
                "SPF010",
                site.term_path(redirect.index),
                f"{site.owner}: {redirect.text} is never followed because the record has "
                f"{all_term.text}",
                domain=site.domain,
            )
        where = site.term_path(all_term.index)
        if all_term.qualifier == "+":
            ctx.report(
                "SPF017",
                where,
                f"{site.owner}: {all_term.text} lets every host on the Internet pass SPF",
                domain=site.domain,
            )
        elif all_term.qualifier == "?" and _apex(site):
            ctx.report(
                "SPF018",
                where,
                f"{site.owner}: ?all answers neutral for every unlisted sender",
                domain=site.domain,
            )
        elif all_term.qualifier == "-" and _apex(site):
            ctx.report(
                "SPF022",
                where,
                f"{site.owner}: -all fails forwarded mail that DKIM does not carry through",
                domain=site.domain,
            )
    elif redirect is None and not record.issues and _apex(site):
        ctx.report(
            "SPF019",
            site.path,
            f"{site.owner}: the record ends with neither all nor redirect=, so unlisted "
            "senders get neutral",
            domain=site.domain,
        )


def _apex(site: SpfSite) -> bool:
    """A mail domain's own record (not a record made to be included)."""
    return site.kind == "domain" or site.owner == site.domain


def _budget(ctx: Context, site: SpfSite, own: set[str]) -> None:
    budget = count(site.owner, site.text, ctx.view, own=lambda name: name in own)
    ctx.budgets.append(budget)
    tree = render(budget)
    if budget.over is not None:
        over = budget.over
        nested = f" (inside the record of {over.domain})" if over.domain != site.owner else ""
        ctx.report(
            "SPF011",
            site.term_path(over.top),
            f"{site.owner}: {budget.lookups} DNS lookups, over the limit of {LOOKUP_LIMIT}; "
            f"the {LOOKUP_LIMIT + 1}th, {over.term}{nested}, makes receivers answer permerror "
            "and ignore the record (the lookups, term by term, below)",
            domain=site.domain,
            detail=tree,
        )
    if budget.void_over is not None:
        node = budget.void_over
        ctx.report(
            "SPF012",
            site.term_path(node.top),
            f"{site.owner}: {budget.voids} void lookups, over the limit of {VOID_LIMIT}; the "
            f"{VOID_LIMIT + 1}rd is {node.term} ({node.note})",
            domain=site.domain,
            detail=tree,
        )
    for found in budget.findings:
        ctx.report(found.rule, site.term_path(found.top), found.message, domain=site.domain)
    if budget.unknown and budget.over is None:
        # An include that was not followed may hold any number of lookups: the record may
        # be over the limit already, and nothing offline can tell.
        ctx.report(
            "SPF023",
            site.path,
            f"{site.owner}: the DNS lookup budget is unknown: {', '.join(budget.unknown)} "
            f"not resolved offline (at least {budget.lookups} of {LOOKUP_LIMIT} lookups "
            "counted; an include may hold more)",
            domain=site.domain,
            detail=tree if budget.void_over is None else (),
        )


def _flatten(ctx: Context, site: SpfSite) -> None:
    assert site.spf is not None and site.index is not None
    names = site.spf.flatten
    domain = ctx.config.domains[site.index]
    base = (
        ("domains", site.index, "spf")
        if domain.spf is not None
        and (domain.spf.raw is not None or "flatten" in domain.spf.model_fields_set)
        else ("defaults", "spf")
    )
    index_of = {name.lower().rstrip("."): k for k, name in enumerate(names)}
    cached = flatten(site.owner, site.declared, names, CacheView(ctx.cache))
    for issue in cached.issues:
        path = (*base, "flatten", index_of.get(issue.include, 0))
        ctx.report(issue.rule, path, f"{site.owner}: {issue.message}", domain=site.domain)
    if ctx.live is None:
        return
    fresh = flatten(site.owner, site.declared, names, ctx.live)
    for name, terms in sorted(cached.networks.items()):
        now = fresh.networks.get(name)
        if now is None or now == terms:
            continue
        added = sorted(set(now) - set(terms))
        removed = sorted(set(terms) - set(now))
        ctx.report(
            "SPF027",
            (*base, "flatten", index_of.get(name, 0)),
            f"{site.owner}: include:{name} now publishes other addresses than the SPF cache "
            f"holds ({len(added)} added, {len(removed)} removed)",
            domain=site.domain,
            detail=[*(f"+ {t}" for t in added), *(f"- {t}" for t in removed)],
        )
