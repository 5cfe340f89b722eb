"""TLS-RPT rules (RFC 8460): where the domain's TLS failure reports go.

DMARC reports to another organisation need that organisation's consent record (RFC 7489
section 7.1; DMARC008). RFC 8460 has no such record: a sender delivers TLS reports to
whatever ``rua`` says, so a third-party destination breaks nothing and is not a warning.
It is still worth a reviewer's eye, since the reports describe the domain's mail servers
and their failures: TLS001 is an info. "Another organisation" is decided as for DMARC,
with the Public Suffix List (schema/orgdomain.py via compiler/dmarc_reports.py).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from mailauth.compiler.dmarc_reports import uri_host
from mailauth.compiler.lint.engine import Context
from mailauth.compiler.trust_records import tls_rpt_of, tls_rpt_path
from mailauth.schema.names import norm
from mailauth.schema.orgdomain import organizational_domain


def destination_host(uri: str) -> str | None:
    """The host a TLS-RPT URI delivers to: the mail domain of ``mailto:``, the web host of
    ``https:``."""
    if uri.lower().startswith("https:"):
        host = urlsplit(uri).hostname
        return norm(host) if host else None
    return uri_host(uri)


def check(ctx: Context) -> None:
    config = ctx.config
    for index, domain in enumerate(config.domains):
        policy = tls_rpt_of(config, domain)
        if policy is None:
            continue
        base = tls_rpt_path(config, domain, index)
        mine = organizational_domain(domain.name)
        for ui, uri in enumerate(policy.rua):
            host = destination_host(uri)
            if host is None or organizational_domain(host) == mine:
                continue
            ctx.report(
                "TLS001",
                (*base, "rua", ui),
                f"_smtp._tls.{domain.name}: TLS reports go to {uri}, in another organisation "
                f"({host}); RFC 8460 asks no consent of it, so they are sent",
                domain=domain.name,
            )
