"""Cross-checks: signing selectors against published keys, MX hosts against the zones."""

from __future__ import annotations

from mailauth.compiler.lint.engine import Context
from mailauth.compiler.spf.dnsview import ModelView, addresses
from mailauth.schema.names import norm


def check(ctx: Context) -> None:
    config = ctx.config
    selectors: dict[str, set[str]] = {}
    for domain in config.domains:
        dkim = domain.dkim if domain.dkim is not None else config.defaults.dkim
        selectors[domain.name] = {s.name for s in dkim.selectors}
    for site in ctx.inventory.dkim:
        if site.kind == "domain" and site.key is not None:
            if site.key.sign and site.key.public_key is None:
                ctx.report(
                    "XREF001",
                    site.path,
                    f"{site.owner}: signs mail, but no public key is published yet "
                    "(no key on this machine and none in mailauth.lock)",
                    domain=site.domain,
                )
        elif site.kind == "extra":
            mine = selectors.get(site.domain or "", set())
            if site.selector not in mine:
                ctx.report(
                    "XREF002",
                    site.path,
                    f"{site.owner}: a hand-written DKIM record for a selector mailauth does "
                    "not sign with",
                    domain=site.domain,
                )
    view = ModelView(ctx.model)
    for mx in ctx.inventory.mx:
        host = norm(mx.host)
        if not view.authoritative(host):
            continue
        if view.records.get((host, "cname")):
            ctx.report(
                "XREF004",
                mx.path,
                f"{mx.owner}: MX {host} is a CNAME; MX must name the host itself",
                domain=mx.domain,
            )
        elif addresses(view, host) == []:
            ctx.report(
                "XREF003",
                mx.path,
                f"{mx.owner}: MX {host} has no A or AAAA record in its zone, which mailauth "
                "writes whole",
                domain=mx.domain,
            )
